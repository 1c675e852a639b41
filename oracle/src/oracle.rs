//! The oracle engine: sample each second, persist it, aggregate the epoch, and at each epoch's end
//! build the report, the deliveries tree and the telemetry archive.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::primitives::{B256, aliases::U40};
use compute_ledger_types::{CurtailmentLeaf, DeliveriesTree, MAX_U40, UsageReport};
use serde::{Deserialize, Serialize};

use crate::{
    BaselineMethod, Carry, CurtailmentWindow, DAY_S, EpochAccumulator, EpochClock, EpochSummary,
    FacilityMeter, OracleConfig, OracleError, RackMeters, Result, Retention, SampleRecord,
    SampleStore, TelemetryHasher, TelemetrySource, measure_curtailment, measure_like_days,
    retention,
};

/// How long after an epoch's end the oracle waits for the node to report every demand-response
/// acknowledgement up to that end (a chain outage); then it finalizes with the events it knows.
pub const CURTAILMENT_SYNC_GRACE_S: u64 = 60;

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
    /// The deliveries tree (rebuilt from the summary's leaves; `None` when no lease was active
    /// and no event ended).
    pub fn tree(&self) -> Result<Option<DeliveriesTree>> {
        deliveries_tree(&self.summary)
    }
}

fn deliveries_tree(summary: &EpochSummary) -> Result<Option<DeliveriesTree>> {
    if summary.deliveries.is_empty() && summary.curtailments.is_empty() {
        return Ok(None);
    }
    let tree = DeliveriesTree::with_curtailments(
        summary.deliveries.clone(),
        summary.curtailments.clone(),
    )?;
    Ok(Some(tree))
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
    let root = deliveries_tree(summary)?.map_or(B256::ZERO, |t| t.root());
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

/// Default bound on one live sample (and one facility-meter read): the loop runs at 1 Hz, so a
/// source slower than this is treated as down for the second rather than holding the loop.
pub const LIVE_SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Oldest second (behind the wall clock) a scraped sub-meter reading may be stamped onto.
pub const MAX_SCRAPE_LAG_S: u64 = 2;

/// One cluster's oracle.
#[derive(Debug)]
pub struct Oracle {
    config: OracleConfig,
    clock: EpochClock,
    source: TelemetrySource,
    facility: Option<FacilityMeter>,
    rack_meters: Option<RackMeters>,
    client: reqwest::Client,
    store: SampleStore,
    acc: Option<EpochAccumulator>,
    carry: Carry,
    last_finalized: Option<u64>,
    sample_timeout: Duration,
}

impl Oracle {
    /// Opens the store (`data_dir/samples.sled`) and rebuilds the current epoch from the seconds
    /// already persisted.
    pub fn open(config: OracleConfig, source: TelemetrySource) -> Result<Self> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| OracleError::io(&config.data_dir, e))?;
        let store = SampleStore::open(&Self::own_store_dir(&config))?;
        Self::open_in(config, source, store)
    }

    /// Where [`open`](Self::open) keeps the oracle's own store.
    pub fn own_store_dir(config: &OracleConfig) -> std::path::PathBuf {
        config.data_dir.join("samples.sled")
    }

    /// As [`open`](Self::open), with `store` (e.g. this cluster's trees in a process-wide
    /// [`crate::SampleDb`]) instead of a database of its own.
    pub fn open_in(
        config: OracleConfig,
        source: TelemetrySource,
        store: SampleStore,
    ) -> Result<Self> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| OracleError::io(&config.data_dir, e))?;
        let clock = EpochClock { genesis: config.genesis, length: config.epoch_length };
        // A pruned epoch stays closed: its late seconds are never accumulated again.
        let last_finalized = store.last_epoch()?.max(store.last_pruned()?);
        let mut oracle = Self {
            facility: config.facility.clone(),
            rack_meters: config.rack_meters.clone(),
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
            sample_timeout: LIVE_SAMPLE_TIMEOUT,
        };
        oracle.retention().finish_pending()?; // prunes a crash interrupted
        oracle.rebuild()?;
        Ok(oracle)
    }

    /// Bounds each live sample (sources that cannot backfill) and each facility-meter read;
    /// default [`LIVE_SAMPLE_TIMEOUT`]. A sample that takes longer counts as unavailable.
    pub fn with_sample_timeout(mut self, timeout: Duration) -> Self {
        self.sample_timeout = timeout;
        self
    }

    fn rebuild(&mut self) -> Result<()> {
        let Some(last_t) = self.store.last_t()? else { return Ok(()) };
        let Some(epoch) = self.clock.epoch_of(last_t) else { return Ok(()) };
        // Counters continue from where the last finalized epoch left them (the second each last
        // changed); a store from before that was kept falls back to the last stored second.
        let stored = self.store.carry()?;
        if self.last_finalized.is_some_and(|f| f >= epoch) {
            self.carry = match stored {
                Some(carry) => carry,
                None => {
                    self.store.last_before(last_t + 1)?.map(|r| carry_of(&r)).unwrap_or_default()
                }
            };
            return Ok(());
        }
        let start = self.clock.start(epoch);
        self.carry = match stored {
            Some(carry) => carry,
            None => self.store.last_before(start)?.map(|r| carry_of(&r)).unwrap_or_default(),
        };
        let mut acc = EpochAccumulator::new(epoch, self.clock, self.carry_into(epoch));
        for record in self.store.records(start, last_t + 1) {
            acc.ingest(&record?)?;
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

    /// Whether the source can read past seconds again (see [`TelemetrySource::can_backfill`]).
    pub fn can_backfill(&self) -> bool {
        self.source.can_backfill()
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
        let mut record = match self.sample_source(t).await {
            Ok(record) => record,
            Err(e) if outcome.is_some() => {
                // The finalized epoch must reach the caller; this second is just unavailable.
                tracing::warn!(error = %e, t, "sample failed; second counts as unavailable");
                return Ok(outcome);
            }
            Err(e) => return Err(e),
        };
        if let Some(meter) = &self.facility {
            match tokio::time::timeout(self.sample_timeout, meter.read(&self.client, t)).await {
                Ok(Ok(mj)) => record.facility_mj = Some(mj),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, t, "facility meter unreadable this second")
                }
                Err(_) => tracing::warn!(t, "facility meter timed out this second"),
            }
        }
        // A feed whose sub-meter cannot be read this second had no power available as far as
        // anyone can prove: conservative toward the tenant. A scraped exporter only knows now,
        // so a second caught up after a restart or held at an epoch boundary gets no scrape
        // (reading now onto a past second would bill power the feed may not have had).
        let scrape_too_late = matches!(self.rack_meters, Some(RackMeters::Scrape { .. }))
            && self.source.can_backfill()
            && crate::unix_now() > t + MAX_SCRAPE_LAG_S;
        if scrape_too_late {
            tracing::debug!(t, "sub-meters not scraped for a past second: no power counted");
        }
        if let Some(meters) = self.rack_meters.as_ref().filter(|_| !scrape_too_late) {
            match tokio::time::timeout(self.sample_timeout, meters.read(&self.client, t)).await {
                Ok(Ok(racks)) => record.racks = racks,
                Ok(Err(e)) => tracing::warn!(error = %e, t, "sub-meters unreadable this second"),
                Err(_) => tracing::warn!(t, "sub-meters timed out this second"),
            }
        }
        self.store.put_sample(&record)?;
        self.store.flush().await?;
        if self.acc.is_none() {
            self.acc = Some(EpochAccumulator::new(epoch, self.clock, self.carry_into(epoch)));
        }
        let acc = self.acc.as_mut().expect("just set");
        acc.ingest(&record)?;
        Ok(outcome)
    }

    /// The counters `epoch` continues from. After epochs that were never reported (the oracle
    /// was down), the powered-shell feeds start afresh: what they counted meanwhile belongs to
    /// epochs that bill no energy, and must not be billed in this one.
    fn carry_into(&self, epoch: u64) -> Carry {
        let mut carry = self.carry.clone();
        if self.last_finalized.is_some_and(|last| epoch > last + 1) {
            carry.racks.clear();
        }
        carry
    }

    async fn sample_source(&mut self, t: u64) -> Result<SampleRecord> {
        if self.source.can_backfill() {
            return self.source.sample(t).await;
        }
        // A live source stamps *now* onto `t`: a hung one must not hold the loop.
        let (source_name, after_ms) = (self.source.name(), millis(self.sample_timeout));
        tokio::time::timeout(self.sample_timeout, self.source.sample(t))
            .await
            .map_err(|_| OracleError::SampleTimeout { source_name, after_ms })?
    }

    /// Finalizes the accumulated epoch if the wall clock (`now`) has passed its end, even when
    /// no sample of the next epoch arrived (source down at the boundary), unless it still waits
    /// for demand-response acknowledgements ([`Self::waiting_for_curtailments`]).
    pub fn finalize_due(&mut self, now: u64) -> Result<Option<EpochOutcome>> {
        match &self.acc {
            Some(acc) if self.clock.end(acc.epoch) <= now => {
                if !self.curtailments_ready(acc.epoch, now)? {
                    return Ok(None);
                }
                self.finalize_current().map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Whether sampling second `t` would close an epoch whose demand-response events are not all
    /// known yet: the node has not reported every acknowledgement up to the epoch's end, and the
    /// grace ([`CURTAILMENT_SYNC_GRACE_S`]) after it has not passed by `now`. The runner then
    /// holds `t` back; only a source that backfills is held (it loses nothing).
    pub fn waiting_for_curtailments(&self, t: u64, now: u64) -> Result<bool> {
        match (&self.acc, self.clock.epoch_of(t)) {
            (Some(acc), Some(epoch)) if acc.epoch < epoch => {
                Ok(!self.curtailments_ready(acc.epoch, now)?)
            }
            _ => Ok(false),
        }
    }

    fn curtailments_ready(&self, epoch: u64, now: u64) -> Result<bool> {
        // A live source cannot be read again later: holding it back would cost the tenants
        // seconds of availability, so it finalizes with the events known at the boundary.
        if self.config.demand_response.is_none() || !self.can_backfill() {
            return Ok(true);
        }
        let end = self.clock.end(epoch);
        if self.store.curtailments_synced()?.is_some_and(|synced| synced >= end) {
            return Ok(true);
        }
        let late = now >= end + CURTAILMENT_SYNC_GRACE_S;
        if late {
            tracing::warn!(
                epoch,
                "demand-response acknowledgements not synced {CURTAILMENT_SYNC_GRACE_S} s after the \
                 epoch's end (chain unreachable?): finalizing with the events known"
            );
        }
        Ok(late)
    }

    /// The acknowledged events whose window ends in `epoch`, measured on the facility meter; an
    /// event that cannot be measured is logged and left out (never guessed).
    fn attest_curtailments(&self, epoch: u64) -> Result<Vec<CurtailmentLeaf>> {
        let Some(dr) = self.config.demand_response else { return Ok(Vec::new()) };
        let mut leaves = Vec::new();
        for window in self.pending_windows(epoch)? {
            if self.report_epoch(&window) != Some(epoch) {
                continue;
            }
            let cluster = self.config.cluster_id;
            let measured = match dr.baseline {
                BaselineMethod::MeterBefore => {
                    let from = window.baseline_from(dr.baseline_s);
                    let records: Vec<SampleRecord> =
                        self.store.records(from, window.end + 1).collect::<Result<_>>()?;
                    measure_curtailment(cluster, &window, dr.baseline_s, &records)
                }
                BaselineMethod::LikeDays => {
                    let records: Vec<SampleRecord> =
                        self.store.records(window.start, window.end + 1).collect::<Result<_>>()?;
                    let mut days = Vec::new();
                    for day in 1..=u64::from(dr.like_days) {
                        let shift = day * DAY_S;
                        let (from, to) = (window.start - shift, window.end - shift);
                        days.push(self.archived_records(from.saturating_sub(5), to + 5)?);
                    }
                    measure_like_days(cluster, &window, &days, &records)
                }
            };
            match measured {
                Ok(leaf) => leaves.push(leaf),
                Err(e) => tracing::warn!(epoch, "not attested: {e}"),
            }
        }
        Ok(leaves)
    }

    /// The records of seconds `[from, to]` from the telemetry archives of the epochs that hold
    /// them (an epoch whose archive is gone contributes nothing).
    fn archived_records(&self, from: u64, to: u64) -> Result<Vec<SampleRecord>> {
        let (Some(first), Some(last)) = (self.clock.epoch_of(from), self.clock.epoch_of(to)) else {
            return Ok(Vec::new());
        };
        let mut records = Vec::new();
        for epoch in first..=last {
            let path = self.archive_path(epoch);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(OracleError::io(path, e)),
            };
            for line in text.lines() {
                let record: SampleRecord = serde_json::from_str(line)?;
                if (from..=to).contains(&record.t) {
                    records.push(record);
                }
            }
        }
        Ok(records)
    }

    /// The recorded events of this oracle's contract whose report epoch is `epoch` or later.
    fn pending_windows(&self, epoch: u64) -> Result<Vec<CurtailmentWindow>> {
        let Some(dr) = self.config.demand_response else { return Ok(Vec::new()) };
        Ok(self
            .store
            .curtailments()?
            .into_iter()
            .filter(|w| w.demand_response == dr.contract)
            .filter(|w| self.report_epoch(w).is_some_and(|e| e >= epoch))
            .collect())
    }

    /// The epoch whose report attests `window` (the one its last second falls in), as on chain.
    fn report_epoch(&self, window: &CurtailmentWindow) -> Option<u64> {
        self.clock.epoch_of(window.end.checked_sub(1)?)
    }

    /// The first second to keep after finalizing `epoch`: its start, or earlier for an event
    /// whose baseline reaches back further (recorded already, or still to be acknowledged).
    fn keep_from(&self, epoch: u64) -> Result<u64> {
        let start = self.clock.start(epoch);
        let baseline_s = self.config.demand_response.map_or(0, |dr| dr.baseline_s);
        // An event acknowledged later may start in the next epoch: its baseline reaches back up
        // to `baseline_s` before that, so that much is always kept.
        Ok(self
            .pending_windows(epoch + 1)?
            .iter()
            .map(|w| w.baseline_from(baseline_s))
            .fold(self.clock.end(epoch).saturating_sub(baseline_s).min(start), u64::min))
    }

    fn finalize_current(&mut self) -> Result<EpochOutcome> {
        // The accumulator is dropped only once the epoch is stored: a failed write (disk full)
        // is retried at the next call instead of losing the epoch.
        let acc = self.acc.as_ref().expect("called with an accumulator");
        let epoch = acc.epoch;
        let start = self.clock.start(epoch);
        let mut summary = acc.summarize(&self.config.inventory, &self.config.leases);
        summary.curtailments = self.attest_curtailments(epoch)?;
        let carry = acc.carry();
        let (archive, telemetry_root) = self.write_archive(epoch)?;
        let report = build_report(self.config.cluster_id, &summary, telemetry_root)?;
        let outcome = EpochOutcome { summary, report, archive };
        self.store.put_finalized(epoch, &outcome, &carry)?;
        self.acc = None;
        self.carry = carry;
        self.last_finalized = Some(epoch);
        self.store.prune_before(self.keep_from(epoch)?.min(start))?;
        tracing::info!(epoch, seconds = outcome.summary.seconds_sampled, "epoch finalized");
        Ok(outcome)
    }

    /// Streams the epoch's stored lines into the archive file and the telemetry hash chain at
    /// once, one line in memory at a time; returns the file and `telemetryRoot`.
    fn write_archive(&self, epoch: u64) -> Result<(PathBuf, B256)> {
        let path = self.archive_path(epoch);
        let dir = path.parent().expect("archive files live in a directory");
        std::fs::create_dir_all(dir).map_err(|e| OracleError::io(dir, e))?;
        let mut hasher = TelemetryHasher::new(self.config.cluster_id, epoch);
        write_atomically_with(&path, |out| {
            for line in self.store.lines(self.clock.start(epoch), self.clock.end(epoch)) {
                let (_, line) = line?;
                hasher.push(&line);
                out.write_all(&line)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        })?;
        Ok((path, hasher.root()))
    }

    /// Where `epoch`'s telemetry archive is written.
    pub fn archive_path(&self, epoch: u64) -> PathBuf {
        retention::archive_path(&self.config, epoch)
    }

    /// Where `epoch`'s signed report file is written.
    pub fn report_path(&self, epoch: u64) -> PathBuf {
        retention::report_path(&self.config, epoch)
    }

    /// A handle that prunes settled epochs while this oracle runs (see [`Retention`]).
    pub fn retention(&self) -> Retention {
        Retention::new(self.config.clone(), self.store.clone())
    }

    /// Finalized epochs whose outcome, report file and archive are still kept, ascending.
    pub fn finalized_epochs(&self) -> Result<Vec<u64>> {
        self.store.epochs()
    }

    /// Deletes a finalized epoch's report file, archive and stored outcome (see
    /// [`Retention::prune_epoch`]); for the node to call once the epoch is settled on chain and
    /// its deliveries tree is archived elsewhere.
    pub fn prune_epoch(&self, epoch: u64) -> Result<()> {
        self.retention().prune_epoch(epoch)
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
        racks: record.racks.iter().map(|r| (r.id.clone(), (record.t, r.energy_mj))).collect(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Writes `path` via a temporary file and a rename, so a crash never leaves half a file.
pub(crate) fn write_atomically(path: &Path, body: &[u8]) -> Result<()> {
    write_atomically_with(path, |out| Ok(out.write_all(body)?))
}

/// Something that went wrong while writing a file's body: an I/O error, or the producer's own.
pub(crate) enum WriteError {
    Io(std::io::Error),
    Oracle(OracleError),
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<OracleError> for WriteError {
    fn from(e: OracleError) -> Self {
        Self::Oracle(e)
    }
}

/// Writes `path` through a buffered temporary file filled by `body`, fsyncs it, renames it over
/// `path` and fsyncs the directory: after a crash the file is either the old one or the whole new
/// one, and once this returns it survives a power cut. On failure the temporary file is removed.
pub(crate) fn write_atomically_with(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<File>) -> std::result::Result<(), WriteError>,
) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut out = BufWriter::new(File::create(&tmp)?);
        body(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok::<(), WriteError>(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(match e {
            WriteError::Io(e) => OracleError::io(&tmp, e),
            WriteError::Oracle(e) => e,
        });
    }
    std::fs::rename(&tmp, path).map_err(|e| OracleError::io(path, e))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| OracleError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_the_whole_file_or_the_old_one_and_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("epoch-1.json");
        write_atomically(&path, b"first").expect("write");
        write_atomically_with(&path, |out| {
            out.write_all(b"half of a new body")?;
            Err(OracleError::Config("the producer failed".into()).into())
        })
        .expect_err("failing body");
        assert_eq!(std::fs::read(&path).expect("read"), b"first", "the old file stays whole");
        write_atomically(&path, b"second").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("epoch-1.json")], "no temporary file");
    }
}
