//! Shared protocol types of compute-ledger, defined once so that the oracle, the SDK and the node
//! agree with the contracts by construction:
//!
//! - [`UsageReport`]: the EIP-712 struct an oracle signs for one cluster and one epoch, with
//!   [`report_domain`] (`ComputeLedger` / `1` / chain id / registry address);
//! - [`DeliveryLeaf`] and [`DeliveriesTree`]: the per-lease deliveries Merkle tree in the
//!   OpenZeppelin `StandardMerkleTree` convention, with proofs the `LeaseMarket` verifies.

mod error;
mod merkle;
mod report;

pub use error::{Error, Result};
pub use merkle::{DeliveriesTree, DeliveryLeaf, hash_pair, verify_proof};
pub use report::{
    DOMAIN_NAME, DOMAIN_VERSION, MAX_U40, UsageReport, encode_signature, recover_signer,
    report_domain,
};
