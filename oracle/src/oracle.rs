//! The oracle engine: sample each second, persist it, aggregate the epoch, and at each epoch's end
//! build the report, the deliveries tree and the telemetry archive.

use std::path::{Path, PathBuf};

use alloy::primitives::{B256, aliases::U40};
use compute_ledger_types::{DeliveriesTree, DeliveryLeaf, MAX_U40, UsageReport};
use serde::{Deserialize, Serialize};

use crate::{
    Carry, EpochAccumulator, EpochClock, EpochSummary, FacilityMeter, OracleConfig, OracleError,
    Result, SampleRecord, SampleStore, TelemetryHasher, TelemetrySource,
};

/// What the oracle produces for one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochOutcome {
    /// Totals and deliveries.
    pub summary: EpochSummary,
    /// The report to sign (`deliveriesRoot` and `telemetryRoot` filled in).
    pub report: UsageReport,
    /// The archived sample log (`telemetryRoot` is over its lines).
    pub archive: PathBuf,
}

impl EpochOutcome {
    /// The deliveries tree (rebuilt from the summary's leaves; `None` when no lease was active).
    pub fn tree(&self) -> Result<Option<DeliveriesTree>> {
        deliveries_tree(&self.summary.deliveries)
    }
}

fn deliveries_tree(leaves: &[DeliveryLeaf]) -> Result<Option<DeliveriesTree>> {
    if leaves.is_empty() { Ok(None) } else { Ok(Some(DeliveriesTree::new(leaves.to_vec())?)) }
}

fn u40(field: &'static str, value: u64) -> Result<U40> {
    if value > MAX_U40 {
        return Err(OracleError::MetricOutOfRange { field, value, max: MAX_U40 });
    }
    Ok(U40::from(value))
}

/// Builds the report of a summary: only values the contract accepts.
pub fn build_report(
    cluster_id: u64,
    summary: &EpochSummary,
    telemetry_root: B256,
) -> Result<UsageReport> {
    let root = deliveries_tree(&summary.deliveries)?.map_or(B256::ZERO, |t| t.root());
    Ok(UsageReport {
        clusterId: cluster_id,
        epoch: summary.epoch,
        gpusInstalled: summary.gpus_installed,
        gpusHealthy: summary.gpus_healthy,
        gpuSecondsAvailable: u40("gpuSecondsAvailable", summary.gpu_seconds_available)?,
        gpuSecondsBusy: u40("gpuSecondsBusy", summary.gpu_seconds_busy)?,
        itEnergyWh: u40("itEnergyWh", summary.it_energy_wh)?,
        facilityEnergyWh: u40("facilityEnergyWh", summary.facility_energy_wh)?,
        deliveriesRoot: root,
        telemetryRoot: telemetry_root,
    })
}

/// One cluster's oracle.
#[derive(Debug)]
pub struct Oracle {
    config: OracleConfig,
    clock: EpochClock,
    source: TelemetrySource,
    facility: Option<FacilityMeter>,
    client: reqwest::Client,
    store: SampleStore,
    acc: Option<EpochAccumulator>,
    carry: Carry,
    last_finalized: Option<u64>,
}

impl Oracle {
    /// Opens the store and rebuilds the current epoch from the seconds already persisted.
    pub fn open(config: OracleConfig, source: TelemetrySource) -> Result<Self> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| OracleError::io(&config.data_dir, e))?;
        let store = SampleStore::open(&config.data_dir.join("samples.sled"))?;
        let clock = EpochClock { genesis: config.genesis, length: config.epoch_length };
        let last_finalized = store.last_epoch()?;
        let mut oracle = Self {
            facility: config.facility.clone(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .map_err(|e| OracleError::Config(format!("HTTP client: {e}")))?,
            config,
            clock,
            source,
            store,
            acc: None,
            carry: Carry::default(),
            last_finalized,
        };
        oracle.rebuild()?;
        Ok(oracle)
    }

    fn rebuild(&mut self) -> Result<()> {
        let Some(last_t) = self.store.last_t()? else { return Ok(()) };
        let Some(epoch) = self.clock.epoch_of(last_t) else { return Ok(()) };
        if self.last_finalized.is_some_and(|f| f >= epoch) {
            // The last stored second's epoch is closed: continue counters from that second.
            self.carry = carry_of(&self.store.last_before(last_t + 1)?.expect("last_t is stored"));
            return Ok(());
        }
        let start = self.clock.start(epoch);
        self.carry = self.store.last_before(start)?.map(|r| carry_of(&r)).unwrap_or_default();
        let mut acc = EpochAccumulator::new(epoch, self.clock, self.carry.clone());
        for record in self.store.records(start, last_t + 1)? {
            acc.ingest(&record)?;
        }
        self.acc = Some(acc);
        Ok(())
    }

    /// The epoch clock.
    pub fn clock(&self) -> EpochClock {
        self.clock
    }

    /// The configuration.
    pub fn config(&self) -> &OracleConfig {
        &self.config
    }

    /// The sample store (finalized outcomes, stored seconds).
    pub fn store(&self) -> &SampleStore {
        &self.store
    }

    /// The epoch being accumulated.
    pub fn current_epoch(&self) -> Option<u64> {
        self.acc.as_ref().map(|a| a.epoch)
    }

    /// The second to sample next when the wall clock reads `now`: right after the last stored
    /// second when the source can read the past (within `max_backfill_s`), otherwise `now`.
    pub fn resume_at(&self, now: u64) -> Result<u64> {
        let Some(last) = self.store.last_t()? else { return Ok(now) };
        if last >= now {
            return Ok(last + 1);
        }
        if self.source.can_backfill() {
            Ok((last + 1).max(now.saturating_sub(self.config.max_backfill_s)))
        } else {
            Ok(now)
        }
    }

    /// Samples second `t`, persists it and adds it to its epoch. When `t` is in a later epoch
    /// than the one accumulated, that epoch is finalized first and returned.
    pub async fn tick(&mut self, t: u64) -> Result<Option<EpochOutcome>> {
        let Some(epoch) = self.clock.epoch_of(t) else { return Ok(None) };
        if self.last_finalized.is_some_and(|f| epoch <= f) {
            return Ok(None); // a late second of an epoch already reported
        }
        let outcome = match &self.acc {
            Some(acc) if acc.epoch < epoch => Some(self.finalize_current()?),
            _ => None,
        };
        let mut record = self.source.sample(t).await?;
        if let Some(meter) = &self.facility {
            match meter.read(&self.client, t).await {
                Ok(mj) => record.facility_mj = Some(mj),
                Err(e) => tracing::warn!(error = %e, t, "facility meter unreadable this second"),
            }
        }
        self.store.put_sample(&record)?;
        let carry = &self.carry;
        let acc =
            self.acc.get_or_insert_with(|| EpochAccumulator::new(epoch, self.clock, carry.clone()));
        acc.ingest(&record)?;
        Ok(outcome)
    }

    /// Finalizes the accumulated epoch if the wall clock (`now`) has passed its end, even when
    /// no sample of the next epoch arrived (source down at the boundary).
    pub fn finalize_due(&mut self, now: u64) -> Result<Option<EpochOutcome>> {
        match &self.acc {
            Some(acc) if self.clock.end(acc.epoch) <= now => self.finalize_current().map(Some),
            _ => Ok(None),
        }
    }

    fn finalize_current(&mut self) -> Result<EpochOutcome> {
        let acc = self.acc.take().expect("called with an accumulator");
        let epoch = acc.epoch;
        let (start, end) = (self.clock.start(epoch), self.clock.end(epoch));
        let summary = acc.summarize(&self.config.inventory, &self.config.leases);
        let lines = self.store.lines(start, end)?;
        let mut hasher = TelemetryHasher::new(self.config.cluster_id, epoch);
        lines.iter().for_each(|(_, line)| hasher.push(line));
        let archive = self.write_archive(epoch, &lines)?;
        let report = build_report(self.config.cluster_id, &summary, hasher.root())?;
        let outcome = EpochOutcome { summary, report, archive };
        self.store.put_epoch(epoch, &outcome)?;
        self.last_finalized = Some(epoch);
        self.carry = acc.carry();
        self.store.prune_before(start)?;
        tracing::info!(epoch, seconds = outcome.summary.seconds_sampled, "epoch finalized");
        Ok(outcome)
    }

    fn write_archive(&self, epoch: u64, lines: &[(u64, Vec<u8>)]) -> Result<PathBuf> {
        let dir = self.config.data_dir.join("archive");
        std::fs::create_dir_all(&dir).map_err(|e| OracleError::io(&dir, e))?;
        let path = dir.join(format!("cluster-{}-epoch-{epoch}.jsonl", self.config.cluster_id));
        let mut body = Vec::with_capacity(lines.iter().map(|(_, l)| l.len() + 1).sum());
        for (_, line) in lines {
            body.extend_from_slice(line);
            body.push(b'\n');
        }
        write_atomically(&path, &body)?;
        Ok(path)
    }

    /// A finalized epoch's outcome.
    pub fn outcome(&self, epoch: u64) -> Result<Option<EpochOutcome>> {
        self.store.epoch(epoch)
    }
}

fn carry_of(record: &SampleRecord) -> Carry {
    Carry {
        gpus: record.gpus.iter().map(|g| (g.uuid.clone(), (record.t, g.energy_mj))).collect(),
        facility: record.facility_mj.map(|f| (record.t, f)),
    }
}

/// Writes `path` via a temporary file and a rename, so a crash never leaves half a file.
pub(crate) fn write_atomically(path: &Path, body: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body).map_err(|e| OracleError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| OracleError::io(path, e))
}
