//! The deliveries archive: every deliveries tree this node's oracle built, by (cluster, epoch).
//!
//! It is local knowledge, not chain state, and on a serve-only node the only copy of the Merkle
//! proofs, so it lives in its own sled database in its own directory (`deliveries_dir`): the
//! index can be deleted and rebuilt from the chain at any time, the archive never needs to be.
//! `ledger_deliveryProof` and the keeper read proofs from it.

use std::path::{Path, PathBuf};

use alloy::primitives::{B256, U256};
use compute_ledger_sdk::{DeliveryProofs, SdkError};
use compute_ledger_types::{CurtailmentLeaf, DeliveriesTree, DeliveryLeaf};
use serde::{Deserialize, Serialize};

use super::Index;
use crate::{NodeError, Result};

/// The sled tree older nodes kept the archive in, inside the index's database.
const LEGACY_TREE: &str = "archive";

/// One epoch's leaves as stored. Older archives hold a bare array of lease leaves.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Leaves { leaves: Vec<DeliveryLeaf>, curtailments: Vec<CurtailmentLeaf> },
    Legacy(Vec<DeliveryLeaf>),
}

fn key(cluster: u64, epoch: u64) -> String {
    format!("{cluster:016x}/{epoch:016x}")
}

/// The deliveries archive: a sled database on disk. Cheap to clone; clones share the database.
#[derive(Debug, Clone)]
pub struct DeliveriesArchive {
    db: sled::Db,
    path: PathBuf,
}

impl DeliveriesArchive {
    /// Opens (or creates) the archive at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        // Proofs are read one epoch at a time: a small cache (sled's default is 1 GiB).
        let db = sled::Config::new().path(path).cache_capacity(64 * 1024 * 1024).open();
        let db = db.map_err(|e| NodeError::Deliveries {
            path: path.to_path_buf(),
            reason: format!("{e} (is another node using this directory?)"),
        })?;
        Ok(Self { db, path: path.to_path_buf() })
    }

    /// Where the archive lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: &sled::Error) -> NodeError {
        NodeError::Deliveries { path: self.path.clone(), reason: e.to_string() }
    }

    fn corrupt(&self, key: &str, reason: &dyn std::fmt::Display) -> NodeError {
        NodeError::Deliveries {
            path: self.path.clone(),
            reason: format!(
                "record {key} does not decode ({reason}); restore this directory from a backup, \
                 or re-run the oracle on its data directory to rebuild the tree"
            ),
        }
    }

    /// Keeps the leaves of (cluster, epoch)'s deliveries tree (leases and demand-response
    /// events), flushed to disk before it returns (blocks on disk I/O).
    pub fn put(&self, cluster: u64, epoch: u64, tree: &DeliveriesTree) -> Result<()> {
        self.put_leaves(cluster, epoch, tree.leaves(), tree.curtailments())
    }

    /// As [`put`](Self::put), from the leaves (not checked to make a tree).
    pub fn put_leaves(
        &self,
        cluster: u64,
        epoch: u64,
        leaves: &[DeliveryLeaf],
        curtailments: &[CurtailmentLeaf],
    ) -> Result<()> {
        let stored =
            Stored::Leaves { leaves: leaves.to_vec(), curtailments: curtailments.to_vec() };
        let body = serde_json::to_vec(&stored).expect("leaves serialize");
        self.db.insert(key(cluster, epoch), body).map_err(|e| self.err(&e))?;
        self.db.flush().map(drop).map_err(|e| self.err(&e))
    }

    /// The deliveries tree of (cluster, epoch), if this node built it.
    pub fn tree(&self, cluster: u64, epoch: u64) -> Result<Option<DeliveriesTree>> {
        let key = key(cluster, epoch);
        let Some(bytes) = self.db.get(&key).map_err(|e| self.err(&e))? else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| self.corrupt(&key, &e))?;
        let (leaves, curtailments) = match stored {
            Stored::Leaves { leaves, curtailments } => (leaves, curtailments),
            Stored::Legacy(leaves) => (leaves, Vec::new()),
        };
        DeliveriesTree::with_curtailments(leaves, curtailments)
            .map(Some)
            .map_err(|e| self.corrupt(&key, &e))
    }

    /// Forgets (cluster, epoch)'s tree (for retention); returns whether it was kept.
    pub fn remove(&self, cluster: u64, epoch: u64) -> Result<bool> {
        let removed = self.db.remove(key(cluster, epoch)).map_err(|e| self.err(&e))?;
        self.db.flush().map_err(|e| self.err(&e))?;
        Ok(removed.is_some())
    }

    /// Moves the archive an older node kept inside `index` into this store: copies every tree
    /// this store does not have yet, flushes, and only then drops the index's copy (a crash in
    /// between copies again on the next start). Returns how many trees were copied.
    pub fn import_from_index(&self, index: &Index) -> Result<usize> {
        let legacy = LEGACY_TREE.as_bytes();
        let has_legacy = index.db().tree_names().iter().any(|name| name.as_ref() == legacy);
        if !has_legacy {
            return Ok(0);
        }
        let tree = index.db().open_tree(LEGACY_TREE).map_err(|e| index.err(&e))?;
        let mut copied = 0;
        for entry in tree.iter() {
            let (key, value) = entry.map_err(|e| index.err(&e))?;
            let absent = self.db.compare_and_swap(key, None::<&[u8]>, Some(value));
            if absent.map_err(|e| self.err(&e))?.is_ok() {
                copied += 1;
            }
        }
        self.db.flush().map_err(|e| self.err(&e))?;
        index.db().drop_tree(LEGACY_TREE).map_err(|e| index.err(&e))?;
        index.flush_all()?;
        Ok(copied)
    }
}

/// The proofs this node can give: trees from its deliveries archive, checked against the report
/// the chain accepted (as indexed).
#[derive(Debug, Clone)]
pub struct NodeProofs {
    /// The index (for the accepted reports' roots).
    pub index: Index,
    /// The deliveries archive.
    pub archive: DeliveriesArchive,
}

impl DeliveryProofs for NodeProofs {
    fn delivery(
        &self,
        cluster_id: u64,
        epoch: u64,
        lease_id: U256,
    ) -> std::result::Result<Option<(DeliveryLeaf, Vec<B256>)>, SdkError> {
        let store = |e: NodeError| SdkError::ProofStore(e.to_string());
        let Some(tree) = self.archive.tree(cluster_id, epoch).map_err(store)? else {
            return Ok(None);
        };
        // A tree that is not the one the chain accepted would only produce failing proofs.
        if let Some(report) = self.index.report(cluster_id, epoch).map_err(store)?
            && report.deliveries_root != tree.root()
        {
            return Ok(None);
        }
        let Some(leaf) = tree.leaf(lease_id) else { return Ok(None) };
        Ok(tree.proof(lease_id).ok().map(|proof| (*leaf, proof)))
    }
}
