//! The deliveries tree: a Merkle tree over `(leaseId, epoch, delivered, energyWh)` leaves in the
//! OpenZeppelin `StandardMerkleTree` convention, so `@openzeppelin/merkle-tree` with types
//! `["uint256", "uint64", "uint64", "uint64"]` builds the same root and proofs, and
//! `MerkleProof.verify` accepts them on-chain.
//!
//! Layout (as in the JS library): leaf hashes sorted ascending fill the end of an array of
//! `2n - 1` nodes in reverse; node `i` is `hash_pair(node 2i+1, node 2i+2)`; the root is node 0.

use std::collections::HashMap;

use alloy::primitives::{B256, U256, keccak256};
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

/// A built deliveries tree for one epoch.
#[derive(Debug, Clone)]
pub struct DeliveriesTree {
    nodes: Vec<B256>,
    leaves: Vec<DeliveryLeaf>,
    node_of_lease: HashMap<U256, usize>,
}

impl DeliveriesTree {
    /// Builds the tree; each lease may appear once.
    pub fn new(leaves: Vec<DeliveryLeaf>) -> Result<Self> {
        if leaves.is_empty() {
            return Err(Error::EmptyTree);
        }
        let mut hashed: Vec<(B256, usize)> =
            leaves.iter().enumerate().map(|(i, leaf)| (leaf.hash(), i)).collect();
        hashed.sort_unstable();

        let n = leaves.len();
        let len = 2 * n - 1;
        let mut nodes = vec![B256::ZERO; len];
        let mut node_of_lease = HashMap::with_capacity(n);
        for (position, (hash, leaf_index)) in hashed.iter().enumerate() {
            let node = len - 1 - position;
            nodes[node] = *hash;
            let lease_id = leaves[*leaf_index].lease_id;
            if node_of_lease.insert(lease_id, node).is_some() {
                return Err(Error::DuplicateLease { lease_id });
            }
        }
        for i in (0..len - n).rev() {
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2]);
        }
        Ok(Self { nodes, leaves, node_of_lease })
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
        let mut node =
            *self.node_of_lease.get(&lease_id).ok_or(Error::LeafNotFound { lease_id })?;
        let mut proof = Vec::new();
        while node > 0 {
            let sibling = if node % 2 == 1 { node + 1 } else { node - 1 };
            proof.push(self.nodes[sibling]);
            node = (node - 1) / 2;
        }
        Ok(proof)
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
    fn rejects_empty_and_duplicate_leases() {
        assert!(matches!(DeliveriesTree::new(vec![]), Err(Error::EmptyTree)));
        let dup = DeliveriesTree::new(vec![leaf(1, 1), leaf(1, 2)]);
        assert!(matches!(dup, Err(Error::DuplicateLease { .. })));
        let tree = DeliveriesTree::new(vec![leaf(1, 1)]).expect("tree");
        assert!(matches!(tree.proof(U256::from(2)), Err(Error::LeafNotFound { .. })));
    }
}
