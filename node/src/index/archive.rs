//! The deliveries archive: every deliveries tree this node's oracle built, by (cluster, epoch).
//! It is local knowledge, not chain state, so it lives in its own sled tree that reorgs and
//! re-indexing never touch. `ledger_deliveryProof` and the keeper read proofs from it.

use alloy::primitives::{B256, U256};
use compute_ledger_sdk::DeliveryProofs;
use compute_ledger_types::{DeliveriesTree, DeliveryLeaf};

use super::Index;
use crate::{NodeError, Result};

const ARCHIVE: &str = "archive";

fn key(cluster: u64, epoch: u64) -> String {
    format!("{cluster:016x}/{epoch:016x}")
}

impl Index {
    fn archive(&self) -> Result<sled::Tree> {
        self.db().open_tree(ARCHIVE).map_err(|e| self.err(&e))
    }

    /// Keeps the leaves of (cluster, epoch)'s deliveries tree.
    pub fn archive_put(&self, cluster: u64, epoch: u64, leaves: &[DeliveryLeaf]) -> Result<()> {
        let tree = self.archive()?;
        let body = serde_json::to_vec(leaves).expect("leaves serialize");
        tree.insert(key(cluster, epoch), body).map_err(|e| self.err(&e))?;
        tree.flush().map(drop).map_err(|e| self.err(&e))
    }

    /// The deliveries tree of (cluster, epoch), if this node built it.
    pub fn archive_tree(&self, cluster: u64, epoch: u64) -> Result<Option<DeliveriesTree>> {
        let key = key(cluster, epoch);
        let Some(bytes) = self.archive()?.get(&key).map_err(|e| self.err(&e))? else {
            return Ok(None);
        };
        let leaves: Vec<DeliveryLeaf> = serde_json::from_slice(&bytes).map_err(|e| {
            NodeError::Corrupt { key: format!("archive/{key}"), reason: e.to_string() }
        })?;
        DeliveriesTree::new(leaves).map(Some).map_err(|e| NodeError::Corrupt {
            key: format!("archive/{key}"),
            reason: e.to_string(),
        })
    }
}

impl DeliveryProofs for Index {
    fn delivery(&self, cluster_id: u64, epoch: u64, lease_id: U256) -> Option<(u64, Vec<B256>)> {
        let tree = self.archive_tree(cluster_id, epoch).ok()??;
        // A tree that is not the one the chain accepted would only produce failing proofs.
        if let Ok(Some(report)) = self.report(cluster_id, epoch)
            && report.deliveries_root != tree.root()
        {
            return None;
        }
        Some((tree.leaf(lease_id)?.delivered, tree.proof(lease_id).ok()?))
    }
}
