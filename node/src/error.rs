//! The error type of the node.

use std::path::PathBuf;

/// What can stop the node. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error("config {origin}: {reason}")]
    Config {
        /// The file, variable or flag.
        origin: String,
        /// What is wrong, and how to fix it.
        reason: String,
    },
    /// The sled index could not be opened, read or written.
    #[error("index at {path}: {reason}")]
    Index {
        /// The index directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The deliveries archive could not be opened, read or written. It is not rebuilt from the
    /// chain: never delete it to get past an error.
    #[error("deliveries archive at {path}: {reason}")]
    Deliveries {
        /// The archive directory.
        path: PathBuf,
        /// What went wrong, and what to do.
        reason: String,
    },
    /// A stored index record is not what this version of the node wrote.
    #[error(
        "index record {key} is corrupt: {reason}; re-index: stop the node, delete the index \
         directory and start it again (the deliveries archive lives in its own directory and is \
         kept)"
    )]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why it does not decode.
        reason: String,
    },
    /// The chain reorganised deeper than the index keeps undo records for. Nothing was rolled
    /// back: the index is left as it was.
    #[error(
        "the chain reorganised below block {block}, deeper than the last {window} ranges this \
         index can undo; nothing was rolled back. Re-index: stop the node, delete the index \
         directory {index} and start the node again (it re-indexes from the deployment block; \
         the deliveries archive lives in its own directory and is kept)"
    )]
    ReorgTooDeep {
        /// Oldest block the kept undo records reach; the chain no longer has the blocks below.
        block: u64,
        /// Ranges of undo records kept.
        window: usize,
        /// The index directory to delete.
        index: PathBuf,
    },
    /// The chain or a contract call failed.
    #[error(transparent)]
    Sdk(#[from] compute_ledger_sdk::SdkError),
    /// The oracle failed.
    #[error(transparent)]
    Oracle(#[from] compute_ledger_oracle::OracleError),
    /// A server could not start.
    #[error("server: {0}")]
    Server(String),
    /// The OpenADR VTN refused, failed or could not be reached (the message names which).
    #[error("OpenADR: {0}")]
    OpenAdr(String),
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl NodeError {
    /// A file or directory that could not be read, written or created.
    pub(crate) fn io(path: &std::path::Path, e: &std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), reason: e.to_string() }
    }
}

/// Result alias of the node.
pub type Result<T> = std::result::Result<T, NodeError>;
