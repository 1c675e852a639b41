//! Storage: keys, typed reads, atomic range application, rollback, queries.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use alloy::primitives::{Address, B256, U256};
use compute_ledger_sdk::{Deployment, LedgerLog};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{
    apply::{Changes, Update, apply_log},
    model::{
        ClusterRow, LeaseRow, LeaseState, PositionRow, PositionView, ReportRow, SettlementRow,
    },
};
use crate::{NodeError, Result};

/// Applied ranges whose undo records are kept by default (deeper reorgs need a re-index).
pub const UNDO_WINDOW: usize = 256;
/// Blocks below the head past which a range is final by default: it is applied without an undo
/// record (a backfill of a long history writes none; undo is only needed near the head).
pub const UNDO_DEPTH: u64 = 256;

const CURSOR: &str = "meta/cursor";
const DEPLOYMENT: &str = "meta/deployment";
/// The end block and hash of the newest range whose undo record was pruned: the deepest point a
/// reorg can be rolled back to.
const FLOOR: &str = "meta/floor";
const RANGE_PREFIX: &str = "range/";

pub(crate) fn cluster_key(id: u64) -> String {
    format!("cluster/{id:016x}")
}
pub(crate) fn attestors_key(cluster: u64) -> String {
    format!("attestors/{cluster:016x}")
}
pub(crate) fn report_key(cluster: u64, epoch: u64) -> String {
    format!("report/{cluster:016x}/{epoch:016x}")
}
pub(crate) fn lease_key(id: U256) -> String {
    format!("lease/{id:064x}")
}
pub(crate) fn position_key(holder: Address, lease: U256) -> String {
    format!("pos/{}/{lease:064x}", alloy::hex::encode(holder))
}
pub(crate) fn settlement_key(lease: U256, epoch: u64) -> String {
    format!("settle/{lease:064x}/{epoch:016x}")
}
fn range_key(end: u64) -> String {
    format!("{RANGE_PREFIX}{end:016x}")
}

/// One applied block range: its end block's hash and how to undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeRecord {
    /// First block.
    pub from: u64,
    /// Last block.
    pub to: u64,
    /// Hash of block `to` when it was applied.
    pub hash: B256,
    /// Each changed key and its value before the range (`None`: absent).
    pub undo: Vec<(String, Option<String>)>,
}

/// Filters of `ledger_leases`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaseFilter {
    /// Only this cluster's leases.
    pub cluster_id: Option<u64>,
    /// Only this tenant's leases.
    pub tenant: Option<Address>,
    /// Only leases in this state.
    pub status: Option<LeaseState>,
}

/// The end of the applied history that can no longer be undone: the newest range whose undo
/// record was pruned. A reorg whose common ancestor is older than `to` needs a re-index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Floor {
    /// Last block of the pruned range.
    pub to: u64,
    /// Its hash when it was applied.
    pub hash: B256,
}

/// The index: a sled database on disk. Cheap to clone; clones share the database.
#[derive(Debug, Clone)]
pub struct Index {
    db: sled::Db,
    path: PathBuf,
    undo_window: usize,
    undo_depth: u64,
}

impl Index {
    /// Opens (or creates) the index at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let db = sled::open(path).map_err(|e| NodeError::Index {
            path: path.to_path_buf(),
            reason: format!("{e} (is another node using this directory?)"),
        })?;
        Ok(Self { db, path: path.to_path_buf(), undo_window: UNDO_WINDOW, undo_depth: UNDO_DEPTH })
    }

    /// Keeps the undo records of the last `ranges` applied ranges instead of [`UNDO_WINDOW`]
    /// (at least 1); tests use a small window to reach its end.
    pub fn with_undo_window(mut self, ranges: usize) -> Self {
        self.undo_window = ranges.max(1);
        self
    }

    /// Ranges whose undo records are kept.
    pub fn undo_window(&self) -> usize {
        self.undo_window
    }

    /// Treats ranges ending more than `blocks` below the head as final (no undo record) instead
    /// of [`UNDO_DEPTH`]; tests use a small depth to reach it.
    pub fn with_undo_depth(mut self, blocks: u64) -> Self {
        self.undo_depth = blocks;
        self
    }

    /// Blocks below the head past which a range is applied without an undo record.
    pub fn undo_depth(&self) -> u64 {
        self.undo_depth
    }

    /// Applied ranges whose undo records are kept (for operators and tests).
    pub fn kept_ranges(&self) -> Result<usize> {
        let mut kept = 0;
        for key in self.db.scan_prefix(RANGE_PREFIX).keys() {
            key.map_err(|e| self.err(&e))?;
            kept += 1;
        }
        Ok(kept)
    }

    /// Where the index lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A sled error, with this index's directory named.
    pub(crate) fn err(&self, e: &sled::Error) -> NodeError {
        NodeError::Index { path: self.path.clone(), reason: e.to_string() }
    }

    pub(crate) fn db(&self) -> &sled::Db {
        &self.db
    }

    pub(crate) fn raw(&self, key: &str) -> Result<Option<sled::IVec>> {
        self.db.get(key).map_err(|e| self.err(&e))
    }

    pub(crate) fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.raw(key)?.map(|bytes| decode(key, &bytes)).transpose()
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &str) -> impl Iterator<Item = Result<T>> + '_ {
        self.db.scan_prefix(prefix).map(move |entry| {
            let (key, value) = entry.map_err(|e| self.err(&e))?;
            decode(&String::from_utf8_lossy(&key), &value)
        })
    }

    /// Ties the index to a deployment on first use; refuses another one later, so two ledgers
    /// never mix in one directory.
    pub fn bind(&self, deployment: &Deployment) -> Result<()> {
        match self.get::<Deployment>(DEPLOYMENT)? {
            Some(bound) if bound == *deployment => Ok(()),
            Some(bound) => Err(NodeError::Index {
                path: self.path.clone(),
                reason: format!(
                    "holds the ledger at {} on chain {}, not {} on chain {}: use another \
                     --index-dir or delete this one",
                    bound.market, bound.chain_id, deployment.market, deployment.chain_id
                ),
            }),
            None => {
                self.db.insert(DEPLOYMENT, encode(deployment)).map_err(|e| self.err(&e))?;
                self.flush()
            }
        }
    }

    /// The next block to index (`None` before the first range).
    pub fn cursor(&self) -> Result<Option<u64>> {
        self.get(CURSOR)
    }

    /// Applies the events of blocks `[from, to]` (whose last block has `hash`) in one atomic
    /// batch with their undo record and the new cursor, and flushes it to disk; returns what
    /// changed, for subscribers. Blocks on disk I/O: async callers run it in `spawn_blocking`.
    pub fn apply_range(
        &self,
        from: u64,
        to: u64,
        hash: B256,
        logs: &[LedgerLog],
    ) -> Result<Vec<Update>> {
        self.apply(from, to, hash, logs, true)
    }

    /// As [`apply_range`](Self::apply_range) for a range too deep below the head to reorganise
    /// (see [`UNDO_DEPTH`]): no undo record is written (nor are the old values read), every kept
    /// range is dropped (they are older still) and the range's end becomes the floor.
    pub fn apply_final_range(
        &self,
        from: u64,
        to: u64,
        hash: B256,
        logs: &[LedgerLog],
    ) -> Result<Vec<Update>> {
        self.apply(from, to, hash, logs, false)
    }

    fn apply(
        &self,
        from: u64,
        to: u64,
        hash: B256,
        logs: &[LedgerLog],
        keep_undo: bool,
    ) -> Result<Vec<Update>> {
        let mut changes = Changes::new(self);
        for log in logs {
            apply_log(&mut changes, log)?;
        }
        let (writes, updates) = changes.finish();
        let mut batch = sled::Batch::default();
        let mut undo = Vec::with_capacity(if keep_undo { writes.len() } else { 0 });
        for (key, value) in writes {
            if !keep_undo {
                match value {
                    Some(value) => batch.insert(key.as_bytes(), value),
                    None => batch.remove(key.as_bytes()),
                }
                continue;
            }
            let old = self.raw(&key)?.map(|v| String::from_utf8_lossy(&v).into_owned());
            match value {
                Some(value) => batch.insert(key.as_bytes(), value),
                None if old.is_none() => continue,
                None => batch.remove(key.as_bytes()),
            }
            undo.push((key, old));
        }
        batch.insert(CURSOR, encode(&(to + 1)));
        let ranges = self
            .db
            .scan_prefix(RANGE_PREFIX)
            .keys()
            .collect::<std::result::Result<Vec<sled::IVec>, _>>();
        let ranges = ranges.map_err(|e| self.err(&e))?;
        if !keep_undo {
            for old in ranges {
                batch.remove(old);
            }
            batch.insert(FLOOR, encode(&Floor { to, hash }));
            self.db.apply_batch(batch).map_err(|e| self.err(&e))?;
            self.flush()?;
            return Ok(updates);
        }
        let record = RangeRecord { from, to, hash, undo };
        batch.insert(range_key(to).as_bytes(), encode(&record));
        let pruned = ranges.len().saturating_sub(self.undo_window - 1);
        if let Some(newest_pruned) = pruned.checked_sub(1).map(|i| &ranges[i]) {
            // Remember where undoing stops, so a reorg below it is detected, not half undone.
            let key = String::from_utf8_lossy(newest_pruned).into_owned();
            let record: RangeRecord = self.get(&key)?.ok_or_else(|| NodeError::Corrupt {
                key: key.clone(),
                reason: "a range record vanished while the index was being written".into(),
            })?;
            batch.insert(FLOOR, encode(&Floor { to: record.to, hash: record.hash }));
        }
        for old in &ranges[..pruned] {
            batch.remove(old.clone());
        }
        self.db.apply_batch(batch).map_err(|e| self.err(&e))?;
        self.flush()?;
        Ok(updates)
    }

    /// The most recently applied range.
    pub fn last_range(&self) -> Result<Option<RangeRecord>> {
        match self.db.scan_prefix(RANGE_PREFIX).next_back() {
            Some(entry) => {
                let (key, value) = entry.map_err(|e| self.err(&e))?;
                Ok(Some(decode(&String::from_utf8_lossy(&key), &value)?))
            }
            None => Ok(None),
        }
    }

    /// The newest applied range ending before block `to`.
    pub fn range_before(&self, to: u64) -> Result<Option<RangeRecord>> {
        let (start, end) = (range_key(0), range_key(to));
        match self.db.range(start.as_bytes()..end.as_bytes()).next_back() {
            Some(entry) => {
                let (key, value) = entry.map_err(|e| self.err(&e))?;
                Ok(Some(decode(&String::from_utf8_lossy(&key), &value)?))
            }
            None => Ok(None),
        }
    }

    /// The newest range whose undo record was pruned (`None` while every range is kept).
    pub fn floor(&self) -> Result<Option<Floor>> {
        self.get(FLOOR)
    }

    /// Undoes the most recently applied range in one atomic batch and flushes it; the cursor goes
    /// back to its first block. Returns the range undone (`None` when no undo record is left).
    /// Blocks on disk I/O: async callers run it in `spawn_blocking`.
    pub fn rollback_last(&self) -> Result<Option<RangeRecord>> {
        let Some(range) = self.last_range()? else { return Ok(None) };
        let mut batch = sled::Batch::default();
        for (key, old) in range.undo.iter().rev() {
            match old {
                Some(value) => batch.insert(key.as_bytes(), value.as_bytes()),
                None => batch.remove(key.as_bytes()),
            }
        }
        batch.remove(range_key(range.to).as_bytes());
        batch.insert(CURSOR, encode(&range.from));
        self.db.apply_batch(batch).map_err(|e| self.err(&e))?;
        self.flush()?;
        Ok(Some(range))
    }

    /// Writes everything to disk (on shutdown).
    pub fn flush_all(&self) -> Result<()> {
        self.flush()
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map(drop).map_err(|e| self.err(&e))
    }

    /// Every ledger record (clusters, reports, leases, positions, settlements) as key → JSON,
    /// without cursor and undo bookkeeping: two indexes of the same chain compare equal.
    pub fn contents(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for entry in self.db.iter() {
            let (key, value) = entry.map_err(|e| self.err(&e))?;
            let key = String::from_utf8_lossy(&key).into_owned();
            if !key.starts_with("meta/") && !key.starts_with(RANGE_PREFIX) {
                out.insert(key, String::from_utf8_lossy(&value).into_owned());
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------------ queries

    /// One cluster.
    pub fn cluster(&self, id: u64) -> Result<Option<ClusterRow>> {
        self.get(&cluster_key(id))
    }

    /// Clusters in id order from `offset`, at most `limit`.
    pub fn clusters(&self, offset: usize, limit: usize) -> Result<Vec<ClusterRow>> {
        self.scan("cluster/").skip(offset).take(limit).collect()
    }

    /// A cluster's reports from `from_epoch` in epoch order, at most `limit`.
    pub fn reports(&self, cluster: u64, from_epoch: u64, limit: usize) -> Result<Vec<ReportRow>> {
        let start = report_key(cluster, from_epoch);
        let end = report_key(cluster, u64::MAX);
        self.db
            .range(start.as_bytes()..=end.as_bytes())
            .take(limit)
            .map(|entry| {
                let (key, value) = entry.map_err(|e| self.err(&e))?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }

    /// One report.
    pub fn report(&self, cluster: u64, epoch: u64) -> Result<Option<ReportRow>> {
        self.get(&report_key(cluster, epoch))
    }

    /// One lease.
    pub fn lease(&self, id: U256) -> Result<Option<LeaseRow>> {
        self.get(&lease_key(id))
    }

    /// Leases matching `filter` in id order from `offset`, at most `limit`.
    pub fn leases(
        &self,
        filter: &LeaseFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LeaseRow>> {
        let matches = |l: &LeaseRow| {
            filter.cluster_id.is_none_or(|c| l.cluster_id == c)
                && filter.tenant.is_none_or(|t| l.tenant == t)
                && filter.status.is_none_or(|s| l.status == s)
        };
        let mut out = Vec::new();
        for lease in self.scan::<LeaseRow>("lease/") {
            let lease = lease?;
            if matches(&lease) {
                out.push(lease);
            }
        }
        Ok(out.into_iter().skip(offset).take(limit).collect())
    }

    /// A lease's settlements in epoch order.
    pub fn settlements(&self, lease: U256) -> Result<Vec<SettlementRow>> {
        self.scan(&format!("settle/{lease:064x}/")).collect()
    }

    /// Every position `holder` has or had, with claimable rent from the lease's accumulator.
    pub fn positions(&self, holder: Address) -> Result<Vec<PositionView>> {
        self.scan::<PositionRow>(&format!("pos/{}/", alloy::hex::encode(holder)))
            .map(|position| self.view(position?))
            .collect()
    }

    /// One position with its claimable rent.
    pub fn position(&self, holder: Address, lease: U256) -> Result<Option<PositionView>> {
        let Some(position) = self.get::<PositionRow>(&position_key(holder, lease))? else {
            return Ok(None);
        };
        Ok(Some(self.view(position)?))
    }

    fn view(&self, position: PositionRow) -> Result<PositionView> {
        let lease = self.lease(position.lease_id)?.ok_or_else(|| NodeError::Corrupt {
            key: lease_key(position.lease_id),
            reason: "a position refers to a lease the index does not have".into(),
        })?;
        Ok(PositionView {
            claimable: position.claimable(&lease),
            total_shares: lease.total_shares,
            lease_status: lease.status,
            position,
        })
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("index records serialize")
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| NodeError::Corrupt { key: key.to_string(), reason: e.to_string() })
}
