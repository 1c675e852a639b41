//! The error type of this crate.

/// What can go wrong with protocol types.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Merkle tree needs at least one leaf.
    #[error("a deliveries tree needs at least one leaf")]
    EmptyTree,
    /// A proof was asked for a leaf that is not in the tree.
    #[error("lease {lease_id} has no leaf in the deliveries tree")]
    LeafNotFound {
        /// The lease asked for.
        lease_id: alloy::primitives::U256,
    },
    /// Two leaves name the same lease.
    #[error("lease {lease_id} appears twice in one deliveries tree")]
    DuplicateLease {
        /// The repeated lease.
        lease_id: alloy::primitives::U256,
    },
    /// A proof was asked for an event that has no curtailment leaf in the tree.
    #[error("event {event_id} has no curtailment leaf in the deliveries tree")]
    EventNotFound {
        /// The event asked for.
        event_id: alloy::primitives::U256,
    },
    /// Two curtailment leaves name the same event.
    #[error("event {event_id} appears twice in one deliveries tree")]
    DuplicateEvent {
        /// The repeated event.
        event_id: alloy::primitives::U256,
    },
    /// A signature is not 65 bytes or does not recover to a signer.
    #[error("invalid signature: {0}")]
    Signature(#[from] alloy::primitives::SignatureError),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
