//! The sled index: the ledger's state rebuilt from its events, for wallets to query.
//!
//! Everything lives in one sled tree under prefixed keys, so the events of a block range, the
//! undo record that reverses them and the cursor are written in **one atomic batch**: a kill -9
//! at any point leaves either all of a range or none of it, and re-indexing resumes from the
//! cursor without counting anything twice. Each applied range near the head keeps its block hash
//! and undo record (the last [`UNDO_WINDOW`] ranges), so a reorg rolls back range by range to the
//! common ancestor and re-applies the new chain; a reorg below the kept records stops the indexer
//! with [`crate::NodeError::ReorgTooDeep`] and rolls back nothing. Ranges more than
//! [`UNDO_DEPTH`] blocks below the head (a backfill) are final: no undo record is read or written
//! for them, only the floor moves.
//!
//! The [`DeliveriesArchive`] (Merkle proofs of this node's oracle reports) is a separate sled
//! database in its own directory: deleting the index to re-index never touches it.

mod apply;
mod archive;
mod demand;
mod due;
mod exchange;
pub mod model;
mod pricing;
mod routes;
mod store;

pub use apply::Update;
pub use archive::{DeliveriesArchive, NodeProofs};
pub use demand::site_history;
pub use due::{DueCursor, DueList};
pub use exchange::trade_cursor;
pub use routes::{PositionRoutes, PruneOnDrop, Routed, SUBSCRIBER_QUEUE};
#[cfg(test)]
pub(crate) use store::lease_key;
pub use store::{
    Floor, INDEX_CACHE_BYTES, Index, LeaseFilter, RangeRecord, UNDO_DEPTH, UNDO_WINDOW,
};
