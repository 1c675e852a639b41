//! Durable local state in sled: every sampled second, and every finalized epoch.
//!
//! Each second is one key (`t`, big-endian) holding its canonical JSON line, flushed before the
//! next second is taken. A kill -9 therefore loses at most the second being written, and the
//! epoch's accumulator is rebuilt from the stored lines on restart, so a restarted oracle reports
//! exactly what an uninterrupted one would have.

use std::path::Path;

use serde::{Serialize, de::DeserializeOwned};

use crate::{Result, SampleRecord};

/// The oracle's sled database.
#[derive(Debug, Clone)]
pub struct SampleStore {
    db: sled::Db,
    samples: sled::Tree,
    epochs: sled::Tree,
}

impl SampleStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let db = sled::open(dir)?;
        Ok(Self { samples: db.open_tree("samples")?, epochs: db.open_tree("epochs")?, db })
    }

    /// Persists one second durably.
    pub fn put_sample(&self, record: &SampleRecord) -> Result<()> {
        self.samples.insert(record.t.to_be_bytes(), record.to_line())?;
        self.db.flush()?;
        Ok(())
    }

    /// The stored lines for seconds in `[from, to)`, in order.
    pub fn lines(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        self.samples
            .range(from.to_be_bytes()..to.to_be_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                let t = u64::from_be_bytes(k.as_ref().try_into().expect("keys are 8 bytes"));
                Ok((t, v.to_vec()))
            })
            .collect()
    }

    /// The stored records for seconds in `[from, to)`, in order.
    pub fn records(&self, from: u64, to: u64) -> Result<Vec<SampleRecord>> {
        self.lines(from, to)?
            .into_iter()
            .map(|(_, line)| Ok(serde_json::from_slice(&line)?))
            .collect()
    }

    /// The latest stored second.
    pub fn last_t(&self) -> Result<Option<u64>> {
        Ok(self
            .samples
            .last()?
            .map(|(k, _)| u64::from_be_bytes(k.as_ref().try_into().expect("8 bytes"))))
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

    /// Records a finalized epoch's outcome durably.
    pub fn put_epoch<T: Serialize>(&self, epoch: u64, value: &T) -> Result<()> {
        self.epochs.insert(epoch.to_be_bytes(), serde_json::to_vec(value)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// A finalized epoch's outcome.
    pub fn epoch<T: DeserializeOwned>(&self, epoch: u64) -> Result<Option<T>> {
        self.epochs.get(epoch.to_be_bytes())?.map(|v| Ok(serde_json::from_slice(&v)?)).transpose()
    }

    /// Every finalized epoch, ascending.
    pub fn epochs(&self) -> Result<Vec<u64>> {
        self.epochs
            .iter()
            .keys()
            .map(|k| Ok(u64::from_be_bytes(k?.as_ref().try_into().expect("keys are 8 bytes"))))
            .collect()
    }

    /// The latest finalized epoch.
    pub fn last_epoch(&self) -> Result<Option<u64>> {
        Ok(self
            .epochs
            .last()?
            .map(|(k, _)| u64::from_be_bytes(k.as_ref().try_into().expect("8 bytes"))))
    }
}
