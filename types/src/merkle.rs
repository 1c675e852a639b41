//! The deliveries tree: a Merkle tree over `(leaseId, epoch, delivered, energyWh)` leaves in the
//! OpenZeppelin `StandardMerkleTree` convention, so `@openzeppelin/merkle-tree` with types
//! `["uint256", "uint64", "uint64", "uint64"]` builds the same root and proofs, and
//! `MerkleProof.verify` accepts them on-chain.
//!
//! Layout (as in the JS library): leaf hashes sorted ascending fill the end of an array of
//! `2n - 1` nodes in reverse; node `i` is `hash_pair(node 2i+1, node 2i+2)`; the root is node 0.

use std::collections::HashMap;

use alloy::primitives::{Address, B256, U256, keccak256};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One lease's attested delivery in one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveryLeaf {
    /// The lease (also its ERC-1155 share id).
    pub lease_id: U256,
    /// The epoch.
    pub epoch: u64,
    /// Unit-seconds delivered to the lease in the epoch, by its billing mode: GPU-seconds, or a
    /// powered shell's kW-seconds of power available to its racks.
    pub delivered: u64,
    /// The lease's metered energy in the epoch (Wh): its GPUs' attributed share of IT energy, or
    /// a powered shell's rack sub-meters (billed at its tariff).
    #[serde(default)]
    pub energy_wh: u64,
}

impl DeliveryLeaf {
    /// `keccak256(bytes.concat(keccak256(abi.encode(leaseId, epoch, delivered, energyWh))))`.
    pub fn hash(&self) -> B256 {
        let mut encoded = [0u8; 128];
        encoded[..32].copy_from_slice(&self.lease_id.to_be_bytes::<32>());
        encoded[56..64].copy_from_slice(&self.epoch.to_be_bytes());
        encoded[88..96].copy_from_slice(&self.delivered.to_be_bytes());
        encoded[120..128].copy_from_slice(&self.energy_wh.to_be_bytes());
        keccak256(keccak256(encoded))
    }
}

/// `keccak256("compute-ledger.curtailment.v1")`: the tag that opens every curtailment leaf, as
/// `DemandResponse.CURTAILMENT_LEAF_TAG`.
pub fn curtailment_leaf_tag() -> B256 {
    keccak256(b"compute-ledger.curtailment.v1")
}

/// A site's attested curtailment of one demand-response event: facility-meter energy over the
/// event window, expected (baseline) and measured (actual). It lives in the deliveries tree of the
/// epoch in which the event ends, beside the lease leaves; `DemandResponse.settle` proves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CurtailmentLeaf {
    /// The `DemandResponse` deployment the event belongs to (bound into the leaf).
    pub demand_response: Address,
    /// The `DemandResponse` event id.
    pub event_id: U256,
    /// The site's cluster.
    pub cluster_id: u64,
    /// What the facility would have drawn over the event window without curtailment (Wh).
    pub baseline_wh: u64,
    /// What it drew (Wh).
    pub actual_wh: u64,
}

impl CurtailmentLeaf {
    /// `keccak256(bytes.concat(keccak256(abi.encode(TAG, demandResponse, eventId, clusterId,
    /// baselineWh, actualWh))))`: six words, so never equal to a lease's four-word leaf, and bound
    /// to one deployment.
    pub fn hash(&self) -> B256 {
        let mut encoded = [0u8; 192];
        encoded[..32].copy_from_slice(curtailment_leaf_tag().as_slice());
        encoded[44..64].copy_from_slice(self.demand_response.as_slice());
        encoded[64..96].copy_from_slice(&self.event_id.to_be_bytes::<32>());
        encoded[120..128].copy_from_slice(&self.cluster_id.to_be_bytes());
        encoded[152..160].copy_from_slice(&self.baseline_wh.to_be_bytes());
        encoded[184..192].copy_from_slice(&self.actual_wh.to_be_bytes());
        keccak256(keccak256(encoded))
    }

    /// The Wh shed: baseline − actual, never below zero.
    pub fn curtailed_wh(&self) -> u64 {
        self.baseline_wh.saturating_sub(self.actual_wh)
    }
}

/// `keccak256` of the two nodes in ascending order (commutative, as `Hashes.commutativeKeccak256`).
pub fn hash_pair(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// Whether `proof` links `leaf_hash` to `root` (what `MerkleProof.verify` computes).
pub fn verify_proof(leaf_hash: B256, proof: &[B256], root: B256) -> bool {
    proof.iter().fold(leaf_hash, |node, sibling| hash_pair(node, *sibling)) == root
}

/// A built deliveries tree for one epoch: one leaf per lease, and one per demand-response event
/// the site attests in this epoch.
#[derive(Debug, Clone)]
pub struct DeliveriesTree {
    nodes: Vec<B256>,
    leaves: Vec<DeliveryLeaf>,
    curtailments: Vec<CurtailmentLeaf>,
    node_of_lease: HashMap<U256, usize>,
    node_of_event: HashMap<U256, usize>,
}

impl DeliveriesTree {
    /// Builds the tree of lease leaves; each lease may appear once.
    pub fn new(leaves: Vec<DeliveryLeaf>) -> Result<Self> {
        Self::with_curtailments(leaves, Vec::new())
    }

    /// Builds the tree of lease leaves and curtailment leaves; each lease and each event may
    /// appear once.
    pub fn with_curtailments(
        leaves: Vec<DeliveryLeaf>,
        curtailments: Vec<CurtailmentLeaf>,
    ) -> Result<Self> {
        if leaves.is_empty() && curtailments.is_empty() {
            return Err(Error::EmptyTree);
        }
        // Leaf hashes tagged with where they came from: lease leaves first, then events.
        let mut hashed: Vec<(B256, usize)> = leaves
            .iter()
            .map(DeliveryLeaf::hash)
            .chain(curtailments.iter().map(CurtailmentLeaf::hash))
            .enumerate()
            .map(|(i, hash)| (hash, i))
            .collect();
        hashed.sort_unstable();

        let n = hashed.len();
        let len = 2 * n - 1;
        let mut nodes = vec![B256::ZERO; len];
        let mut node_of_lease = HashMap::with_capacity(leaves.len());
        let mut node_of_event = HashMap::with_capacity(curtailments.len());
        for (position, (hash, index)) in hashed.iter().enumerate() {
            let node = len - 1 - position;
            nodes[node] = *hash;
            if let Some(leaf) = leaves.get(*index) {
                if node_of_lease.insert(leaf.lease_id, node).is_some() {
                    return Err(Error::DuplicateLease { lease_id: leaf.lease_id });
                }
            } else {
                let event_id = curtailments[*index - leaves.len()].event_id;
                if node_of_event.insert(event_id, node).is_some() {
                    return Err(Error::DuplicateEvent { event_id });
                }
            }
        }
        for i in (0..len - n).rev() {
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2]);
        }
        Ok(Self { nodes, leaves, curtailments, node_of_lease, node_of_event })
    }

    /// The curtailment leaves, in the order given.
    pub fn curtailments(&self) -> &[CurtailmentLeaf] {
        &self.curtailments
    }

    /// The curtailment leaf of `event_id`, if present.
    pub fn curtailment(&self, event_id: U256) -> Option<&CurtailmentLeaf> {
        self.curtailments.iter().find(|leaf| leaf.event_id == event_id)
    }

    /// The proof for `event_id`'s curtailment leaf, as `DemandResponse.settle` takes it.
    pub fn curtailment_proof(&self, event_id: U256) -> Result<Vec<B256>> {
        let node = *self.node_of_event.get(&event_id).ok_or(Error::EventNotFound { event_id })?;
        Ok(self.path(node))
    }

    /// The root committed as `deliveriesRoot`.
    pub fn root(&self) -> B256 {
        self.nodes[0]
    }

    /// The leaves, in the order given.
    pub fn leaves(&self) -> &[DeliveryLeaf] {
        &self.leaves
    }

    /// The leaf of `lease_id`, if present.
    pub fn leaf(&self, lease_id: U256) -> Option<&DeliveryLeaf> {
        self.leaves.iter().find(|leaf| leaf.lease_id == lease_id)
    }

    /// The proof for `lease_id`'s leaf, bottom-up, as `LeaseMarket.settle` takes it.
    pub fn proof(&self, lease_id: U256) -> Result<Vec<B256>> {
        let node = *self.node_of_lease.get(&lease_id).ok_or(Error::LeafNotFound { lease_id })?;
        Ok(self.path(node))
    }

    /// Sibling hashes from `node` up to the root.
    fn path(&self, mut node: usize) -> Vec<B256> {
        let mut proof = Vec::new();
        while node > 0 {
            let sibling = if node % 2 == 1 { node + 1 } else { node - 1 };
            proof.push(self.nodes[sibling]);
            node = (node - 1) / 2;
        }
        proof
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(lease: u64, delivered: u64) -> DeliveryLeaf {
        DeliveryLeaf { lease_id: U256::from(lease), epoch: 7, delivered, energy_wh: delivered / 5 }
    }

    #[test]
    fn single_leaf_root_is_the_leaf() {
        let tree = DeliveriesTree::new(vec![leaf(1, 10)]).expect("tree");
        assert_eq!(tree.root(), leaf(1, 10).hash());
        assert!(tree.proof(U256::from(1)).expect("proof").is_empty());
    }

    #[test]
    fn every_proof_verifies_and_wrong_amounts_do_not() {
        for n in 1..40u64 {
            let leaves: Vec<_> = (1..=n).map(|i| leaf(i, i * 1000 + 3)).collect();
            let tree = DeliveriesTree::new(leaves.clone()).expect("tree");
            for l in &leaves {
                let proof = tree.proof(l.lease_id).expect("proof");
                assert!(verify_proof(l.hash(), &proof, tree.root()), "n={n} lease={}", l.lease_id);
                let inflated = DeliveryLeaf { delivered: l.delivered + 1, ..*l };
                assert!(!verify_proof(inflated.hash(), &proof, tree.root()));
                let more_energy = DeliveryLeaf { energy_wh: l.energy_wh + 1, ..*l };
                assert!(!verify_proof(more_energy.hash(), &proof, tree.root()));
            }
        }
    }

    #[test]
    fn curtailment_leaves_share_the_tree_and_prove_apart_from_lease_leaves() {
        let event = |id: u64| CurtailmentLeaf {
            demand_response: Address::with_last_byte(0xd7),
            event_id: U256::from(id),
            cluster_id: 3,
            baseline_wh: 2_600_000,
            actual_wh: 100_000 + id,
        };
        let tree = DeliveriesTree::with_curtailments(
            (1..=5).map(|i| leaf(i, i * 7)).collect(),
            vec![event(1), event(2)],
        )
        .expect("tree");
        for id in [1u64, 2] {
            let proof = tree.curtailment_proof(U256::from(id)).expect("proof");
            assert!(verify_proof(event(id).hash(), &proof, tree.root()));
            // Lease 1 and event 1 share an id but never a leaf or a proof.
            assert_ne!(event(id).hash(), leaf(id, id * 7).hash());
        }
        for i in 1..=5 {
            let proof = tree.proof(U256::from(i)).expect("proof");
            assert!(verify_proof(leaf(i, i * 7).hash(), &proof, tree.root()));
        }
        assert_eq!(
            tree.curtailment(U256::from(2)).map(CurtailmentLeaf::curtailed_wh),
            Some(2_499_998)
        );
        let only_events = DeliveriesTree::with_curtailments(vec![], vec![event(9)]).expect("tree");
        assert_eq!(only_events.root(), event(9).hash());
        let twice = DeliveriesTree::with_curtailments(vec![], vec![event(1), event(1)]);
        assert!(matches!(twice, Err(Error::DuplicateEvent { .. })));
    }

    #[test]
    fn rejects_empty_and_duplicate_leases() {
        assert!(matches!(DeliveriesTree::new(vec![]), Err(Error::EmptyTree)));
        let dup = DeliveriesTree::new(vec![leaf(1, 1), leaf(1, 2)]);
        assert!(matches!(dup, Err(Error::DuplicateLease { .. })));
        let tree = DeliveriesTree::new(vec![leaf(1, 1)]).expect("tree");
        assert!(matches!(tree.proof(U256::from(2)), Err(Error::LeafNotFound { .. })));
    }
}
