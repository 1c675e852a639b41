//! Retention: deleting settled epochs' report files, archives and stored outcomes. The node
//! decides when (after the epoch is settled on chain and its deliveries tree archived elsewhere);
//! nothing is deleted on its own.

use std::path::PathBuf;

use crate::{EpochClock, OracleConfig, OracleError, Result, SampleStore};

/// Where an epoch's telemetry archive is written.
pub(crate) fn archive_path(config: &OracleConfig, epoch: u64) -> PathBuf {
    config
        .data_dir
        .join("archive")
        .join(format!("cluster-{}-epoch-{epoch}.jsonl", config.cluster_id))
}

/// Where an epoch's signed report file is written.
pub(crate) fn report_path(config: &OracleConfig, epoch: u64) -> PathBuf {
    config.data_dir.join("reports").join(format!("epoch-{epoch}.json"))
}

/// A handle that prunes finalized epochs while the oracle keeps running (the live loop holds the
/// [`Oracle`](crate::Oracle) itself). Cheap to clone; see
/// [`Oracle::retention`](crate::Oracle::retention). It shares the oracle's open store: drop every
/// handle before opening the oracle's data directory again.
#[derive(Debug, Clone)]
pub struct Retention {
    config: OracleConfig,
    store: SampleStore,
}

impl Retention {
    pub(crate) fn new(config: OracleConfig, store: SampleStore) -> Self {
        Self { config, store }
    }

    /// Finalized epochs whose outcome, report file and archive are still kept, ascending.
    pub fn finalized_epochs(&self) -> Result<Vec<u64>> {
        self.store.epochs()
    }

    /// Deletes a finalized epoch's report file, archive and stored outcome.
    ///
    /// Idempotent and crash-safe: the epoch is first marked pruned in the store (atomically with
    /// forgetting its outcome, so it is never republished or accumulated again), then its files
    /// are removed; a prune a crash interrupted is finished at the next
    /// [`Oracle::open`](crate::Oracle::open). Fails with [`OracleError::NotFinalized`] for an
    /// epoch the oracle has not finalized yet.
    pub fn prune_epoch(&self, epoch: u64) -> Result<()> {
        let last_finalized = self.store.last_epoch()?.max(self.store.last_pruned()?);
        if last_finalized.is_none_or(|last| epoch > last) {
            return Err(OracleError::NotFinalized { epoch, last_finalized });
        }
        self.store.mark_pruned(epoch)?;
        self.remove_files(epoch)?;
        // The demand-response events this epoch or an earlier one attested are done with.
        let clock = EpochClock { genesis: self.config.genesis, length: self.config.epoch_length };
        for window in self.store.curtailments()? {
            if clock.epoch_of(window.end.saturating_sub(1)).is_some_and(|e| e <= epoch) {
                self.store.remove_curtailment(&window)?;
            }
        }
        tracing::info!(epoch, "epoch pruned");
        Ok(())
    }

    /// Removes the files of epochs marked pruned whose removal a crash interrupted.
    pub(crate) fn finish_pending(&self) -> Result<()> {
        for epoch in self.store.pending_prunes()? {
            self.remove_files(epoch)?;
        }
        Ok(())
    }

    fn remove_files(&self, epoch: u64) -> Result<()> {
        for path in [report_path(&self.config, epoch), archive_path(&self.config, epoch)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(OracleError::io(path, e)),
            }
        }
        self.store.mark_prune_done(epoch)
    }
}
