//! The compute-ledger node: a sled index of the ledger's events, a JSON-RPC server for wallets,
//! and the oracle and keeper loops a cluster owner runs. The binary `compute-ledger` wraps it.

mod backoff;
mod builder;
pub mod commands;
pub mod config;
pub mod cosign;
mod error;
pub mod index;
mod indexer;
pub mod loops;
pub mod metrics;
pub mod openadr;
pub mod outbox;
pub mod rpc;
mod shutdown;

pub use backoff::Backoff;
pub use builder::{
    KeeperOptions, NodeBuilder, NodeOptions, OracleHandle, RunningNode, ServerOptions,
};
pub use error::{NodeError, Result};
pub use indexer::{FAULT_ABORT_AFTER_COMMITS, Indexer, MAX_BATCH_LOGS, Step, batch_end};
pub use shutdown::Shutdown;
