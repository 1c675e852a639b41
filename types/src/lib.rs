//! Shared protocol types of compute-ledger, defined once so that the oracle, the SDK and the node
//! agree with the contracts by construction:
//!
//! - [`UsageReport`]: the EIP-712 struct an oracle signs for one cluster and one epoch, with
//!   [`report_domain`] (`ComputeLedger` / `1` / chain id / registry address);
//! - [`DeliveryLeaf`] and [`DeliveriesTree`]: the per-lease deliveries Merkle tree in the
//!   OpenZeppelin `StandardMerkleTree` convention, with proofs the `LeaseMarket` verifies.
//!
//! ```
//! use alloy::primitives::U256;
//! use compute_ledger_types::{DeliveriesTree, DeliveryLeaf, verify_proof};
//!
//! let leaves: Vec<DeliveryLeaf> = (1..=3u64)
//!     .map(|id| DeliveryLeaf { lease_id: U256::from(id), epoch: 7, delivered: 28_800, energy_wh: 5_600 })
//!     .collect();
//! let tree = DeliveriesTree::new(leaves.clone())?;
//! let proof = tree.proof(U256::from(2))?; // what `LeaseMarket.settle` takes for lease 2
//! assert!(verify_proof(leaves[1].hash(), &proof, tree.root()));
//! # Ok::<(), compute_ledger_types::Error>(())
//! ```

mod error;
mod merkle;
mod report;

pub use error::{Error, Result};
pub use merkle::{
    CurtailmentLeaf, DeliveriesTree, DeliveryLeaf, curtailment_leaf_tag, hash_pair, verify_proof,
};
pub use report::{
    DOMAIN_NAME, DOMAIN_VERSION, Efficiency, MAX_U40, UsageReport, encode_signature,
    recover_signer, report_domain,
};
