//! The error type of the SDK.

use std::path::PathBuf;

use alloy::primitives::B256;

/// What can go wrong talking to the ledger. Transport, revert and configuration problems are kept
/// apart so callers can retry only what is worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The RPC endpoint could not be reached or answered with a transport error.
    #[error("RPC transport: {0}")]
    Transport(String),
    /// The RPC serves another chain than the deployment was made on.
    #[error(
        "RPC is on chain {actual}, but the deployment is on chain {expected}: point the client at the right RPC"
    )]
    WrongChain {
        /// Chain id in the deployment JSON.
        expected: u64,
        /// Chain id the RPC reports.
        actual: u64,
    },
    /// A contract rejected the call with one of its custom errors.
    #[error("contract error {0}")]
    Contract(crate::Revert),
    /// A call reverted without data the SDK can decode.
    #[error("transaction reverted: {0}")]
    Revert(String),
    /// The node refused a transaction that passed simulation (nonce, fee or pool limits): it was
    /// not sent, and the next send reads the nonce from the chain again.
    #[error("the node refused the transaction: {0}")]
    Rejected(String),
    /// A transaction was mined but failed (it passed simulation, so the chain changed between
    /// the two: retry after re-reading the state).
    #[error(
        "transaction {tx} was mined but reverted ({reason}); the state changed since it was \
         simulated"
    )]
    RevertedOnChain {
        /// The transaction hash.
        tx: B256,
        /// Why, from replaying the call on the state of the block it was mined in.
        reason: String,
    },
    /// A sent transaction was not mined within the wait; it may still be mined later.
    #[error(
        "transaction {tx} not mined within {seconds} s: check it on the node before sending again"
    )]
    Timeout {
        /// The transaction hash.
        tx: B256,
        /// How long the SDK waited.
        seconds: u64,
    },
    /// A sent transaction's receipt could not be obtained (dropped from the pool, or the watch
    /// failed).
    #[error("transaction {tx} not mined: {reason}")]
    NotMined {
        /// The transaction hash.
        tx: B256,
        /// What the node said.
        reason: String,
    },
    /// The caller asked for something the ledger state rules out before any transaction is
    /// built (e.g. no delivery proof for a reported epoch).
    #[error("{0}")]
    Invalid(String),
    /// A store of delivery proofs (e.g. a node's deliveries archive) could not be read: the
    /// keeper stops rather than treat the epoch as one it has no proof for.
    #[error("delivery proofs unreadable: {0}")]
    ProofStore(String),
    /// A log could not be decoded as the ledger event its topic names.
    #[error("undecodable log in block {block:?}: {reason}")]
    Log {
        /// The block of the log.
        block: Option<u64>,
        /// Why decoding failed.
        reason: String,
    },
    /// An amount string is not a valid decimal for the token.
    #[error("invalid amount {input:?}: {reason}")]
    Amount {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The deployment JSON could not be read or written.
    #[error("deployment file {path}: {reason}")]
    Deployment {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Result alias of the SDK.
pub type Result<T> = std::result::Result<T, SdkError>;

impl From<alloy::contract::Error> for SdkError {
    fn from(e: alloy::contract::Error) -> Self {
        if let Some(revert) =
            e.as_revert_data().and_then(|data| crate::revert::decode_revert(&data))
        {
            return Self::Contract(revert);
        }
        match e {
            alloy::contract::Error::TransportError(t) if t.as_error_resp().is_none() => {
                Self::Transport(t.to_string())
            }
            other => Self::Revert(other.to_string()),
        }
    }
}

impl From<alloy::transports::TransportError> for SdkError {
    fn from(e: alloy::transports::TransportError) -> Self {
        Self::Transport(e.to_string())
    }
}

impl From<alloy::providers::PendingTransactionError> for SdkError {
    fn from(e: alloy::providers::PendingTransactionError) -> Self {
        Self::Transport(e.to_string())
    }
}
