//! Storage: keys, typed reads, atomic range application, rollback, queries.

use std::{
    collections::BTreeMap,
    ops::Bound,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use alloy::primitives::{Address, B256, U256};
use compute_ledger_sdk::{Deployment, LedgerLog};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{
    apply::{Changes, Update, apply_log},
    model::{
        ClusterRow, LeaseRow, MarketTotals, PositionRow, PositionView, ReportRow, SettlementRow,
    },
};
use crate::{NodeError, Result};
pub use compute_ledger_sdk::api::LeaseFilter;

/// Applied ranges whose undo records are kept by default (deeper reorgs need a re-index).
pub const UNDO_WINDOW: usize = 256;
/// The index's page cache (sled's default is 1 GiB): hot records stay in memory and the node's
/// resident memory stays bounded however large the index grows on disk.
pub const INDEX_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// Blocks below the head past which a range is final by default: it is applied without an undo
/// record (a backfill of a long history writes none; undo is only needed near the head).
pub const UNDO_DEPTH: u64 = 256;

const CURSOR: &str = "meta/cursor";
const DEPLOYMENT: &str = "meta/deployment";
/// The end block and hash of the newest range whose undo record was pruned: the deepest point a
/// reorg can be rolled back to.
const FLOOR: &str = "meta/floor";
const RANGE_PREFIX: &str = "range/";
/// The key layout the index was built with; an index of an older layout must be rebuilt, or
/// queries would miss what it never recorded: layout 2 added the secondary lease keys, layout 3
/// the demand-response events and each site's power totals.
const LAYOUT: &str = "meta/layout";
const CURRENT_LAYOUT: u32 = 3;

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
/// Prefix of the secondary lease keys: one key per lease for each non-empty combination of the
/// `ledger_leases` filters (cluster, tenant, status), so every filter is one prefix scan in id
/// order. Written and removed with the lease in the range's batch (and undone with it).
const LEASE_INDEX: &str = "lx/";
/// The market totals, kept with every range (and undone with it).
pub(crate) const MARKET_TOTALS: &str = "agg/market";

/// The secondary-key prefix that answers `filter` (`None`: no filter, scan `lease/`).
fn lease_index_prefix(filter: &LeaseFilter) -> Option<String> {
    let mut name = String::new();
    let mut values = String::new();
    if let Some(cluster) = filter.cluster_id {
        name.push('c');
        values.push_str(&format!("{cluster:016x}/"));
    }
    if let Some(tenant) = filter.tenant {
        name.push('t');
        values.push_str(&format!("{}/", alloy::hex::encode(tenant)));
    }
    if let Some(status) = filter.status {
        name.push('s');
        values.push_str(status.as_str());
        values.push('/');
    }
    (!name.is_empty()).then(|| format!("{LEASE_INDEX}{name}/{values}"))
}

/// Every secondary key of `lease` (one per filter combination it matches).
pub(crate) fn lease_index_keys(lease: &LeaseRow) -> Vec<String> {
    let (cluster, tenant, status) =
        (Some(lease.cluster_id), Some(lease.tenant), Some(lease.status));
    let combinations = [
        (cluster, None, None),
        (None, tenant, None),
        (None, None, status),
        (cluster, tenant, None),
        (cluster, None, status),
        (None, tenant, status),
        (cluster, tenant, status),
    ];
    combinations
        .into_iter()
        .filter_map(|(cluster_id, tenant, status)| {
            lease_index_prefix(&LeaseFilter { cluster_id, tenant, status })
        })
        .map(|prefix| format!("{prefix}{:064x}", lease.id))
        .collect()
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
    /// Keys read (gets and scanned entries) since open: what a query costs, for tests and
    /// metrics (a relaxed atomic: cheap beside a sled read).
    reads: Arc<AtomicU64>,
    /// Keys written (inserted or removed) by applied ranges since open.
    writes: Arc<AtomicU64>,
}

impl Index {
    /// Opens (or creates) the index at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let db = sled::Config::new().path(path).cache_capacity(INDEX_CACHE_BYTES).open();
        let db = db.map_err(|e| NodeError::Index {
            path: path.to_path_buf(),
            reason: format!("{e} (is another node using this directory?)"),
        })?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
            undo_window: UNDO_WINDOW,
            undo_depth: UNDO_DEPTH,
            reads: Arc::default(),
            writes: Arc::default(),
        })
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

    /// Keys read from sled since the index was opened (gets, and entries returned by scans).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Keys written (inserted or removed) by ranges applied since the index was opened.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn count_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn raw(&self, key: &str) -> Result<Option<sled::IVec>> {
        self.count_read();
        self.db.get(key).map_err(|e| self.err(&e))
    }

    pub(crate) fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.raw(key)?.map(|bytes| decode(key, &bytes)).transpose()
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &str) -> impl Iterator<Item = Result<T>> + '_ {
        self.db.scan_prefix(prefix).map(move |entry| {
            self.count_read();
            let (key, value) = entry.map_err(|e| self.err(&e))?;
            decode(&String::from_utf8_lossy(&key), &value)
        })
    }

    /// Up to `limit` entries under `prefix` whose keys sort after `prefix` + `after` (from the
    /// first when `after` is `None`), in key order: reads at most `limit` entries.
    pub(super) fn page_after(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, sled::IVec)>> {
        let start = match after {
            Some(after) => Bound::Excluded(format!("{prefix}{after}").into_bytes()),
            None => Bound::Included(prefix.as_bytes().to_vec()),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for entry in self.db.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            if out.len() == limit {
                break;
            }
            self.count_read();
            let (key, value) = entry.map_err(|e| self.err(&e))?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push((String::from_utf8_lossy(&key).into_owned(), value));
        }
        Ok(out)
    }

    /// Ties the index to a deployment on first use; refuses another one later, so two ledgers
    /// never mix in one directory.
    pub fn bind(&self, deployment: &Deployment) -> Result<()> {
        let layout = self.get::<u32>(LAYOUT)?;
        if layout != Some(CURRENT_LAYOUT) && self.cursor()?.is_some() {
            return Err(NodeError::Index {
                path: self.path.clone(),
                reason: format!(
                    "was built with key layout {} but this node needs layout {CURRENT_LAYOUT} \
                     (secondary lease keys, demand response and power totals): delete the \
                     directory to re-index",
                    layout.unwrap_or(1)
                ),
            });
        }
        if layout.is_none() {
            self.db.insert(LAYOUT, encode(&CURRENT_LAYOUT)).map_err(|e| self.err(&e))?;
        }
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
        let (writes, updates) = changes.finish()?;
        self.writes.fetch_add(writes.len() as u64, Ordering::Relaxed);
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

    /// Clusters in id order after cluster `after` (from the first when `None`), at most
    /// `limit`.
    pub fn clusters(&self, after: Option<u64>, limit: usize) -> Result<Vec<ClusterRow>> {
        let after = after.map(|id| format!("{id:016x}"));
        self.page_after("cluster/", after.as_deref(), limit)?
            .into_iter()
            .map(|(key, value)| decode(&key, &value))
            .collect()
    }

    /// A cluster's reports from `from_epoch` in epoch order, at most `limit`.
    pub fn reports(&self, cluster: u64, from_epoch: u64, limit: usize) -> Result<Vec<ReportRow>> {
        let start = report_key(cluster, from_epoch);
        let end = report_key(cluster, u64::MAX);
        self.db
            .range(start.as_bytes()..=end.as_bytes())
            .take(limit)
            .map(|entry| {
                self.count_read();
                let (key, value) = entry.map_err(|e| self.err(&e))?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }

    /// One report.
    pub fn report(&self, cluster: u64, epoch: u64) -> Result<Option<ReportRow>> {
        self.get(&report_key(cluster, epoch))
    }

    /// Market-wide totals (one read).
    pub fn market(&self) -> Result<MarketTotals> {
        Ok(self.get(MARKET_TOTALS)?.unwrap_or_default())
    }

    /// One lease.
    pub fn lease(&self, id: U256) -> Result<Option<LeaseRow>> {
        self.get(&lease_key(id))
    }

    /// Leases matching `filter` in id order after lease `after` (from the first when `None`), at
    /// most `limit`. Each filter combination has its own secondary keys, so this reads at most
    /// `limit` index keys and `limit` leases whatever the table's size.
    pub fn leases(
        &self,
        filter: &LeaseFilter,
        after: Option<U256>,
        limit: usize,
    ) -> Result<Vec<LeaseRow>> {
        let after = after.map(|id| format!("{id:064x}"));
        let Some(prefix) = lease_index_prefix(filter) else {
            return self
                .page_after("lease/", after.as_deref(), limit)?
                .into_iter()
                .map(|(key, value)| decode(&key, &value))
                .collect();
        };
        let mut out = Vec::new();
        for (key, _) in self.page_after(&prefix, after.as_deref(), limit)? {
            let id = U256::from_str_radix(&key[prefix.len()..], 16).map_err(|e| {
                NodeError::Corrupt { key: key.clone(), reason: format!("not a lease id: {e}") }
            })?;
            out.push(self.lease(id)?.ok_or_else(|| NodeError::Corrupt {
                key: key.clone(),
                reason: "a secondary key refers to a lease the index does not have".into(),
            })?);
        }
        Ok(out)
    }

    /// Every settlement of a lease in epoch order (for the node's own loops; wallets page them
    /// with [`Index::settlements_page`]).
    pub fn settlements(&self, lease: U256) -> Result<Vec<SettlementRow>> {
        self.scan(&format!("settle/{lease:064x}/")).collect()
    }

    /// A lease's settlements in epoch order after epoch `after` (from the first when `None`), at
    /// most `limit`.
    pub fn settlements_page(
        &self,
        lease: U256,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<SettlementRow>> {
        let after = after.map(|epoch| format!("{epoch:016x}"));
        self.page_after(&format!("settle/{lease:064x}/"), after.as_deref(), limit)?
            .into_iter()
            .map(|(key, value)| decode(&key, &value))
            .collect()
    }

    /// Every position `holder` has or had, with claimable rent from the lease's accumulator.
    pub fn positions(&self, holder: Address) -> Result<Vec<PositionView>> {
        self.scan::<PositionRow>(&format!("pos/{}/", alloy::hex::encode(holder)))
            .map(|position| self.view(position?))
            .collect()
    }

    /// `holder`'s positions after lease `after` in lease id order, at most `limit`, with their
    /// claimable rent: reads O(limit) keys.
    pub fn positions_page(
        &self,
        holder: Address,
        after: Option<U256>,
        limit: usize,
    ) -> Result<Vec<PositionView>> {
        let after = after.map(|lease| format!("{lease:064x}"));
        let prefix = format!("pos/{}/", alloy::hex::encode(holder));
        self.page_after(&prefix, after.as_deref(), limit)?
            .into_iter()
            .map(|(key, value)| self.view(decode(&key, &value)?))
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

pub(super) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| NodeError::Corrupt { key: key.to_string(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256, U256};
    use compute_ledger_sdk::{
        LedgerEvent, LedgerLog,
        bindings::{
            ClusterRegistry::{ClusterRegistered, ClusterRegistryEvents},
            LeaseMarket::{LeaseCreated, LeaseFunded, LeaseMarketEvents, LeaseTerms},
        },
    };

    use super::*;
    use crate::index::model::LeaseStatus;

    const CLUSTERS: u64 = 10;
    const TENANTS: u64 = 3;
    const LEASES: u64 = 1_000;

    fn log(block: u64, event: LedgerEvent) -> LedgerLog {
        LedgerLog {
            block_number: block,
            block_hash: B256::with_last_byte(1),
            tx_hash: B256::ZERO,
            log_index: 0,
            block_timestamp: Some(block * 2),
            event,
        }
    }

    fn tenant(n: u64) -> Address {
        Address::with_last_byte(u8::try_from(n % TENANTS + 1).expect("small"))
    }

    fn created(id: u64) -> LedgerEvent {
        LedgerEvent::Market(LeaseMarketEvents::LeaseCreated(LeaseCreated {
            leaseId: U256::from(id),
            clusterId: id % CLUSTERS + 1,
            tenant: tenant(id),
            terms: LeaseTerms {
                clusterId: id % CLUSTERS + 1,
                tenant: tenant(id),
                stablecoin: Address::with_last_byte(0xee),
                units: 8,
                startEpoch: 10,
                endEpoch: 20,
                pricePerUnitHour: 2_000_000,
                billing: 0,
                slaBps: 9_000,
                creditBps: 5_000,
                totalShares: 1_000_000,
                unit: 0,
                energyPricePerKwh: 0,
            },
            bondLocked: U256::ZERO,
        }))
    }

    fn funded(id: u64) -> LedgerEvent {
        LedgerEvent::Market(LeaseMarketEvents::LeaseFunded(LeaseFunded {
            leaseId: U256::from(id),
            tenant: tenant(id),
            escrow: U256::from(1_000),
            startEpoch: 10,
        }))
    }

    /// An index with 10 clusters, 3 tenants and 1,000 leases (every 7th funded, in a later range).
    fn market_index(dir: &Path) -> Index {
        let index = Index::open(dir).expect("open");
        let clusters = (1..=CLUSTERS).map(|id| {
            log(
                1,
                LedgerEvent::Registry(ClusterRegistryEvents::ClusterRegistered(
                    ClusterRegistered {
                        clusterId: id,
                        owner: Address::with_last_byte(0xaa),
                        epochLength: 3_600,
                        genesis: 0,
                        metadataUri: String::new(),
                        metadataHash: B256::ZERO,
                    },
                )),
            )
        });
        let leases = (1..=LEASES).map(|id| log(1, created(id)));
        let logs: Vec<LedgerLog> = clusters.chain(leases).collect();
        index.apply_range(1, 1, B256::with_last_byte(1), &logs).expect("created");
        let funding: Vec<LedgerLog> =
            (1..=LEASES).filter(|id| id % 7 == 0).map(|id| log(2, funded(id))).collect();
        index.apply_range(2, 2, B256::with_last_byte(2), &funding).expect("funded");
        index
    }

    fn matching(filter: &LeaseFilter) -> Vec<U256> {
        (1..=LEASES)
            .filter(|id| filter.cluster_id.is_none_or(|c| id % CLUSTERS + 1 == c))
            .filter(|id| filter.tenant.is_none_or(|t| tenant(*id) == t))
            .filter(|id| {
                let status = if id % 7 == 0 { LeaseStatus::Active } else { LeaseStatus::Offered };
                filter.status.is_none_or(|s| s == status)
            })
            .map(U256::from)
            .collect()
    }

    fn all_pages(index: &Index, filter: &LeaseFilter, limit: usize) -> Vec<U256> {
        let (mut out, mut after) = (Vec::new(), None);
        loop {
            let page = index.leases(filter, after, limit).expect("page");
            out.extend(page.iter().map(|l| l.id));
            match page.last() {
                Some(last) if page.len() == limit => after = Some(last.id),
                _ => return out,
            }
        }
    }

    #[test]
    fn an_index_of_an_older_layout_is_refused_with_how_to_rebuild_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = market_index(dir.path());
        let deployment = Deployment {
            chain_id: 31_337,
            registry: Address::with_last_byte(1),
            market: Address::with_last_byte(2),
            disputes: Address::with_last_byte(3),
            stablecoin: Address::with_last_byte(4),
            exchange: None,
            collateral: None,
            morpho: None,
            pricer: None,
            demand_response: Some(Address::with_last_byte(5)),
            deploy_block: 1,
        };
        // Built by a node before demand response was indexed: its events were never read.
        index.db.insert(LAYOUT, encode(&2u32)).expect("old layout");
        let err = index.bind(&deployment).expect_err("older layout");
        assert!(
            err.to_string().contains("layout 2") && err.to_string().contains("re-index"),
            "{err}"
        );
        let fresh = Index::open(&dir.path().join("fresh")).expect("open");
        fresh.bind(&deployment).expect("a new index takes the current layout");
    }

    #[test]
    fn a_filtered_page_reads_its_size_not_the_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = market_index(dir.path());
        let filters = [
            LeaseFilter::default(),
            LeaseFilter { cluster_id: Some(3), ..LeaseFilter::default() },
            LeaseFilter { tenant: Some(tenant(7)), ..LeaseFilter::default() },
            LeaseFilter { status: Some(LeaseStatus::Active), ..LeaseFilter::default() },
            LeaseFilter { cluster_id: Some(2), status: Some(LeaseStatus::Active), tenant: None },
            LeaseFilter { cluster_id: Some(2), tenant: Some(tenant(1)), status: None },
            LeaseFilter {
                cluster_id: Some(2),
                tenant: Some(tenant(1)),
                status: Some(LeaseStatus::Offered),
            },
        ];
        for filter in &filters {
            let expected = matching(filter);
            assert!(expected.len() > 10, "{filter:?} matches {}", expected.len());
            // A page of 10: at most 10 index keys and 10 leases read, of 1,000 leases.
            let before = index.reads();
            let page = index.leases(filter, None, 10).expect("page");
            let reads = index.reads() - before;
            assert_eq!(page.iter().map(|l| l.id).collect::<Vec<_>>(), expected[..10], "{filter:?}");
            assert!(reads <= 2 * 10 + 1, "{filter:?}: {reads} reads for a page of 10");
            // A page from the middle costs the same.
            let before = index.reads();
            let page = index.leases(filter, Some(expected[5]), 10).expect("page");
            let reads = index.reads() - before;
            assert_eq!(page[0].id, expected[6], "{filter:?}");
            assert!(reads <= 2 * 10 + 1, "{filter:?}: {reads} reads for a later page");
            // Walking every page lists exactly the matching leases, in id order, once each.
            assert_eq!(all_pages(&index, filter, 7), expected, "{filter:?}");
        }
    }

    #[test]
    fn secondary_keys_follow_a_status_change_and_its_rollback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = market_index(dir.path());
        let active = LeaseFilter { status: Some(LeaseStatus::Active), ..LeaseFilter::default() };
        let offered = LeaseFilter { status: Some(LeaseStatus::Offered), ..LeaseFilter::default() };
        assert_eq!(all_pages(&index, &active, 50).len(), 142);
        assert_eq!(all_pages(&index, &offered, 50).len(), 858, "funded leases left `offered`");
        // The totals were kept on write: one read, no recount.
        let reads = index.reads();
        let totals = index.market().expect("totals");
        assert_eq!(index.reads() - reads, 1);
        assert_eq!(
            (totals.clusters, totals.leases_offered, totals.leases_active),
            (CLUSTERS, 858, 142)
        );
        assert_eq!(totals.escrow_funded, U256::from(142 * 1_000));
        // Undoing the funding range puts every lease back under `offered` only.
        index.rollback_last().expect("rollback").expect("a range");
        assert_eq!(all_pages(&index, &active, 50), Vec::<U256>::new());
        assert_eq!(all_pages(&index, &offered, 50).len(), 1_000);
        let totals = index.market().expect("totals");
        assert_eq!((totals.leases_offered, totals.leases_active), (1_000, 0));
        assert_eq!(totals.escrow_funded, U256::ZERO);
    }
}
