//! Sending transactions: simulate, send, wait for the receipt, and read events from it.

use std::time::Duration;

use alloy::{
    contract::{CallBuilder, CallDecoder},
    primitives::TxHash,
    providers::{DynProvider, Provider},
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
};

use tokio::time::Instant;

use crate::{Result, SdkError};

/// How long to wait for a sent transaction's receipt.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Simulates a transaction first — a revert comes back as the contract's custom error and no
/// nonce is spent — then sends it and waits (up to [`RECEIPT_TIMEOUT`]) for a successful receipt.
pub(crate) async fn transact<D: CallDecoder + Clone>(
    call: CallBuilder<&DynProvider, D>,
) -> Result<TransactionReceipt> {
    call.call_raw().await?;
    let pending = call.send().await.map_err(refused)?;
    let receipt = receipt_within(pending.provider(), *pending.tx_hash(), RECEIPT_TIMEOUT).await?;
    if !receipt.status() {
        let reason = replayed_revert(&call, receipt.block_number).await;
        return Err(SdkError::RevertedOnChain { tx: receipt.transaction_hash, reason });
    }
    Ok(receipt)
}

/// Why a mined call reverted, by replaying it on the state of its block: what the transactions
/// before it changed is there (what came after it in the block is too, so this is a diagnosis,
/// not a proof).
async fn replayed_revert<D: CallDecoder + Clone>(
    call: &CallBuilder<&DynProvider, D>,
    block: Option<u64>,
) -> String {
    let Some(block) = block else { return "its block is unknown".into() };
    match call.clone().block(block.into()).call_raw().await {
        Err(e) => SdkError::from(e).to_string(),
        Ok(_) => format!("replayed on block {block} it succeeds"),
    }
}

/// Polls for `tx`'s receipt for up to `timeout`. Not alloy's block watcher: it trusts the blocks
/// it saw, so a transaction sent again after a reorg (same nonce, same bytes, same hash) counts as
/// mined at once, and the missing receipt then fails the send.
pub(crate) async fn receipt_within(
    provider: &impl Provider,
    tx: TxHash,
    timeout: Duration,
) -> Result<TransactionReceipt> {
    let give_up = Instant::now() + timeout;
    let mut poll = tokio::time::interval(provider.client().poll_interval());
    loop {
        poll.tick().await;
        let receipt = provider
            .get_transaction_receipt(tx)
            .await
            .map_err(|e| SdkError::NotMined { tx, reason: e.to_string() })?;
        if let Some(receipt) = receipt {
            return Ok(receipt);
        }
        if Instant::now() >= give_up {
            return Err(SdkError::Timeout { tx, seconds: timeout.as_secs() });
        }
    }
}

/// A send's error: an answer from the node that is no decodable revert is a refusal (a send
/// executes nothing, and the simulation passed), not a revert.
fn refused(e: alloy::contract::Error) -> SdkError {
    match SdkError::from(e) {
        SdkError::Revert(reason) => SdkError::Rejected(reason),
        other => other,
    }
}

/// The first `E` event in a receipt.
pub(crate) fn event_in<E: SolEvent>(receipt: &TransactionReceipt) -> Result<E> {
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<E>().ok())
        .map(|log| log.inner.data)
        .ok_or_else(|| {
            SdkError::Invalid(format!(
                "transaction {} emitted no {} event",
                receipt.transaction_hash,
                E::SIGNATURE
            ))
        })
}
