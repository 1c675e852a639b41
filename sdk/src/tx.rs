//! Sending transactions: simulate, send, wait for the receipt, and read events from it.

use std::time::Duration;

use alloy::{
    contract::{CallBuilder, CallDecoder},
    providers::{DynProvider, PendingTransactionError, WatchTxError},
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
};

use crate::{Result, SdkError};

/// How long to wait for a sent transaction's receipt.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Simulates a transaction first — a revert comes back as the contract's custom error and no
/// nonce is spent — then sends it and waits (up to [`RECEIPT_TIMEOUT`]) for a successful receipt.
pub(crate) async fn transact<D: CallDecoder>(
    call: CallBuilder<&DynProvider, D>,
) -> Result<TransactionReceipt> {
    call.call_raw().await?;
    let pending = call.send().await.map_err(refused)?;
    let tx = *pending.tx_hash();
    let receipt =
        pending.with_timeout(Some(RECEIPT_TIMEOUT)).get_receipt().await.map_err(|e| match e {
            PendingTransactionError::TxWatcher(WatchTxError::Timeout) => {
                SdkError::Timeout { tx, seconds: RECEIPT_TIMEOUT.as_secs() }
            }
            other => SdkError::NotMined { tx, reason: other.to_string() },
        })?;
    if !receipt.status() {
        return Err(SdkError::RevertedOnChain { tx });
    }
    Ok(receipt)
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
