//! Durable local state in sled: every sampled second, every finalized epoch with the energy
//! counters carried out of it, and the epochs pruned after settlement.
//!
//! Each second is one key (`t`, big-endian) holding its canonical JSON line. The oracle flushes
//! it (on tokio's blocking pool, off the async threads) before the next second is taken, so a
//! kill -9 loses at most the second being written, and the epoch's accumulator is rebuilt from
//! the stored lines on restart: a restarted oracle reports exactly what an uninterrupted one would
//! have. A node with many clusters keeps every oracle's trees in one [`SampleDb`] and groups
//! their fsyncs.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::{Serialize, de::DeserializeOwned};
use sled::{Transactional, transaction::TransactionError};

use crate::{Carry, CurtailmentWindow, OracleError, Result, SampleRecord};

/// `meta` key of the counters carried out of the last finalized epoch.
const CARRY_KEY: &[u8] = b"carry";
/// `meta` key prefix of the demand-response events to attest (then contract, event id).
const CURTAILMENT_PREFIX: &[u8] = b"curtailment/";
/// `meta` key of the time up to which the node has told this store every acknowledged event.
const CURTAILMENTS_SYNCED_KEY: &[u8] = b"curtailments-synced";
/// The next block the node's acknowledgement watch reads.
const ACK_CURSOR_KEY: &[u8] = b"ack-cursor";
/// `pruned` value while an epoch's files may still exist (a prune interrupted by a crash).
const PRUNE_PENDING: &[u8] = b"pending";
/// `pruned` value once an epoch's files are gone.
const PRUNE_DONE: &[u8] = b"done";

/// The trees of one oracle's store.
const TREES: [&str; 4] = ["samples", "epochs", "meta", "pruned"];

/// Grouped fsync: one flush covers every write made before it started, so oracles that ask while
/// a flush runs share the next one instead of each paying their own.
#[derive(Debug, Default)]
struct GroupFlush {
    /// Flush requests so far (each taken after its caller's writes).
    requested: AtomicU64,
    /// The request count covered by the last completed flush.
    covered: tokio::sync::Mutex<u64>,
    /// Flushes actually run (fsyncs), for operators and tests.
    flushes: AtomicU64,
}

impl GroupFlush {
    async fn flush(&self, db: &sled::Db) -> Result<()> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut covered = self.covered.lock().await;
        if *covered >= ticket {
            return Ok(()); // a flush that started after our writes has finished
        }
        let target = self.requested.load(Ordering::SeqCst);
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| OracleError::StoreTask(e.to_string()))??;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        *covered = target;
        Ok(())
    }
}

/// Opens a sample database with a small page cache (sled's default is 1 GiB): the oracle reads
/// back only the current epoch's seconds.
fn open_db(dir: &Path) -> Result<sled::Db> {
    Ok(sled::Config::new().path(dir).cache_capacity(64 * 1024 * 1024).open()?)
}

/// One sled database for every oracle of a process (a node serving many clusters): each
/// cluster's store is a set of trees named after it, and flushes are grouped, so a thousand
/// oracles sampling at 1 Hz cost a few fsyncs a second, not a thousand databases' worth.
#[derive(Debug, Clone)]
pub struct SampleDb {
    db: sled::Db,
    flusher: Arc<GroupFlush>,
}

impl SampleDb {
    /// Opens (or creates) the shared database in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(Self { db: open_db(dir)?, flusher: Arc::default() })
    }

    /// The store of `cluster_id`'s oracle. If its trees are empty and `legacy_dir` holds a store
    /// of its own (`data_dir/samples.sled`, as an oracle kept before sharing one database), that
    /// store is copied in first, so an upgraded node continues its epochs where it left them.
    pub fn store(&self, cluster_id: u64, legacy_dir: Option<&Path>) -> Result<SampleStore> {
        let name = |tree: &str| format!("cluster-{cluster_id}/{tree}");
        let store = SampleStore::from_trees(self.db.clone(), self.flusher.clone(), name)?;
        if let Some(legacy) = legacy_dir.filter(|dir| dir.exists())
            && store.is_empty()?
        {
            let old = sled::open(legacy)?;
            for tree in TREES {
                let (from, to) = (old.open_tree(tree)?, self.db.open_tree(name(tree))?);
                for entry in from.iter() {
                    let (key, value) = entry?;
                    to.insert(key, value)?;
                }
            }
            self.db.flush()?;
            tracing::info!(
                cluster_id,
                legacy = %legacy.display(),
                "copied the oracle's own store into the shared one (the old directory can go)"
            );
        }
        Ok(store)
    }

    /// Fsyncs run so far (fewer than flush requests when oracles share them).
    pub fn fsyncs(&self) -> u64 {
        self.flusher.flushes.load(Ordering::Relaxed)
    }
}

/// The oracle's sled store: its own database ([`SampleStore::open`]) or its trees in a
/// process-wide [`SampleDb`].
#[derive(Debug, Clone)]
pub struct SampleStore {
    db: sled::Db,
    flusher: Arc<GroupFlush>,
    samples: sled::Tree,
    epochs: sled::Tree,
    meta: sled::Tree,
    pruned: sled::Tree,
}

fn key_u64(key: &[u8]) -> u64 {
    u64::from_be_bytes(key.try_into().expect("keys are 8-byte big-endian numbers"))
}

fn transaction_error(e: TransactionError<()>) -> OracleError {
    match e {
        TransactionError::Storage(e) => OracleError::Store(e),
        TransactionError::Abort(()) => OracleError::StoreTask("store transaction aborted".into()),
    }
}

impl SampleStore {
    /// Opens (or creates) a store with a database of its own in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::from_trees(open_db(dir)?, Arc::default(), |tree| tree.to_string())
    }

    fn from_trees(
        db: sled::Db,
        flusher: Arc<GroupFlush>,
        name: impl Fn(&str) -> String,
    ) -> Result<Self> {
        Ok(Self {
            samples: db.open_tree(name(TREES[0]))?,
            epochs: db.open_tree(name(TREES[1]))?,
            meta: db.open_tree(name(TREES[2]))?,
            pruned: db.open_tree(name(TREES[3]))?,
            db,
            flusher,
        })
    }

    /// Whether nothing was ever stored.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.samples.is_empty()
            && self.epochs.is_empty()
            && self.meta.is_empty()
            && self.pruned.is_empty())
    }

    /// Stores one second; durable after the next [`flush`](Self::flush).
    pub fn put_sample(&self, record: &SampleRecord) -> Result<()> {
        self.samples.insert(record.t.to_be_bytes(), record.to_line())?;
        Ok(())
    }

    /// Makes everything stored so far durable. The fsync runs on tokio's blocking pool, so the
    /// async threads keep serving while the disk works; stores sharing a [`SampleDb`] share it.
    pub async fn flush(&self) -> Result<()> {
        self.flusher.flush(&self.db).await
    }

    /// The stored lines for seconds in `[from, to)`, in order, read one at a time from disk.
    pub fn lines(&self, from: u64, to: u64) -> impl Iterator<Item = Result<(u64, sled::IVec)>> {
        self.samples.range(from.to_be_bytes()..to.to_be_bytes()).map(|kv| {
            let (k, v) = kv?;
            Ok((key_u64(&k), v))
        })
    }

    /// The stored records for seconds in `[from, to)`, in order, parsed one at a time.
    pub fn records(&self, from: u64, to: u64) -> impl Iterator<Item = Result<SampleRecord>> {
        self.lines(from, to).map(|line| Ok(serde_json::from_slice(&line?.1)?))
    }

    /// The latest stored second.
    pub fn last_t(&self) -> Result<Option<u64>> {
        Ok(self.samples.last()?.map(|(k, _)| key_u64(&k)))
    }

    /// The latest stored second before `t`.
    pub fn last_before(&self, t: u64) -> Result<Option<SampleRecord>> {
        match self.samples.range(..t.to_be_bytes()).next_back() {
            Some(kv) => Ok(Some(serde_json::from_slice(&kv?.1)?)),
            None => Ok(None),
        }
    }

    /// Drops seconds before `t` (after they were archived).
    pub fn prune_before(&self, t: u64) -> Result<()> {
        let mut batch = sled::Batch::default();
        for key in self.samples.range(..t.to_be_bytes()).keys() {
            batch.remove(key?);
        }
        self.samples.apply_batch(batch)?;
        Ok(())
    }

    /// Records a finalized epoch's outcome and the counters carried out of it, atomically and
    /// durably (a restart continues exactly where the epoch left its counters).
    pub fn put_finalized<T: Serialize>(&self, epoch: u64, value: &T, carry: &Carry) -> Result<()> {
        let (value, carry) = (serde_json::to_vec(value)?, serde_json::to_vec(carry)?);
        (&self.epochs, &self.meta)
            .transaction(|(epochs, meta)| {
                epochs.insert(&epoch.to_be_bytes(), value.as_slice())?;
                meta.insert(CARRY_KEY, carry.as_slice())?;
                Ok(())
            })
            .map_err(transaction_error)?;
        self.db.flush()?;
        Ok(())
    }

    /// The counters carried out of the last finalized epoch (`None` before the first, or in a
    /// store written by an older version).
    pub fn carry(&self) -> Result<Option<Carry>> {
        self.meta.get(CARRY_KEY)?.map(|v| Ok(serde_json::from_slice(&v)?)).transpose()
    }

    /// A finalized epoch's outcome (`None` if never finalized, or pruned).
    pub fn epoch<T: DeserializeOwned>(&self, epoch: u64) -> Result<Option<T>> {
        self.epochs.get(epoch.to_be_bytes())?.map(|v| Ok(serde_json::from_slice(&v)?)).transpose()
    }

    /// Every finalized epoch whose outcome is kept (not pruned), ascending.
    pub fn epochs(&self) -> Result<Vec<u64>> {
        self.epochs.iter().keys().map(|k| Ok(key_u64(&k?))).collect()
    }

    /// The latest finalized epoch whose outcome is kept.
    pub fn last_epoch(&self) -> Result<Option<u64>> {
        Ok(self.epochs.last()?.map(|(k, _)| key_u64(&k)))
    }

    /// Forgets an epoch's outcome and marks it pruned, pending its files' removal, atomically and
    /// durably: from here on it is never republished, even if the files outlive a crash.
    pub fn mark_pruned(&self, epoch: u64) -> Result<()> {
        (&self.epochs, &self.pruned)
            .transaction(|(epochs, pruned)| {
                epochs.remove(&epoch.to_be_bytes())?;
                pruned.insert(&epoch.to_be_bytes(), PRUNE_PENDING)?;
                Ok(())
            })
            .map_err(transaction_error)?;
        self.db.flush()?;
        Ok(())
    }

    /// Records that a pruned epoch's files are gone.
    pub fn mark_prune_done(&self, epoch: u64) -> Result<()> {
        self.pruned.insert(epoch.to_be_bytes(), PRUNE_DONE)?;
        Ok(())
    }

    /// Pruned epochs whose files may still exist (a prune interrupted by a crash), ascending.
    pub fn pending_prunes(&self) -> Result<Vec<u64>> {
        self.pruned
            .iter()
            .filter_map(|kv| match kv {
                Ok((k, v)) => (v.as_ref() == PRUNE_PENDING).then(|| Ok(key_u64(&k))),
                Err(e) => Some(Err(e.into())),
            })
            .collect()
    }

    /// The latest pruned epoch.
    pub fn last_pruned(&self) -> Result<Option<u64>> {
        Ok(self.pruned.last()?.map(|(k, _)| key_u64(&k)))
    }

    /// Whether `epoch` was pruned.
    pub fn is_pruned(&self, epoch: u64) -> Result<bool> {
        Ok(self.pruned.contains_key(epoch.to_be_bytes())?)
    }

    /// Records an acknowledged demand-response event this cluster's reports must attest
    /// (idempotent); durable after the next flush.
    pub fn put_curtailment(&self, window: &CurtailmentWindow) -> Result<()> {
        let mut key = CURTAILMENT_PREFIX.to_vec();
        key.extend_from_slice(window.demand_response.as_slice());
        key.extend_from_slice(&window.event_id.to_be_bytes::<32>());
        self.meta.insert(key, serde_json::to_vec(window)?)?;
        Ok(())
    }

    /// Forgets a recorded event (once the report that attests it is pruned).
    pub fn remove_curtailment(&self, window: &CurtailmentWindow) -> Result<()> {
        let mut key = CURTAILMENT_PREFIX.to_vec();
        key.extend_from_slice(window.demand_response.as_slice());
        key.extend_from_slice(&window.event_id.to_be_bytes::<32>());
        self.meta.remove(key)?;
        Ok(())
    }

    /// Every recorded event, in (contract, event id) order.
    pub fn curtailments(&self) -> Result<Vec<CurtailmentWindow>> {
        self.meta
            .scan_prefix(CURTAILMENT_PREFIX)
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// Records that every event acknowledged on chain up to `t` (unix) has been recorded.
    pub fn set_curtailments_synced(&self, t: u64) -> Result<()> {
        self.meta.insert(CURTAILMENTS_SYNCED_KEY, &t.to_be_bytes())?;
        Ok(())
    }

    /// Up to when every acknowledged event is known (`None`: never synced).
    pub fn curtailments_synced(&self) -> Result<Option<u64>> {
        Ok(self.meta.get(CURTAILMENTS_SYNCED_KEY)?.map(|v| key_u64(&v)))
    }

    /// Records the next block the node's acknowledgement watch reads (so a restart resumes there
    /// instead of re-reading the chain from the deployment).
    pub fn set_ack_cursor(&self, block: u64) -> Result<()> {
        self.meta.insert(ACK_CURSOR_KEY, &block.to_be_bytes())?;
        Ok(())
    }

    /// The next block the acknowledgement watch reads (`None`: it never ran).
    pub fn ack_cursor(&self) -> Result<Option<u64>> {
        Ok(self.meta.get(ACK_CURSOR_KEY)?.map(|v| key_u64(&v)))
    }
}
