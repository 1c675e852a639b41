//! Epoch clock and aggregation: 1 Hz samples into per-GPU tallies, then into the report's totals
//! and each lease's delivered GPU-seconds.
//!
//! Conservative toward the tenant: a second without a sample for a GPU counts as unavailable; a
//! GPU is busy only while healthy; every total stays within what the contract accepts.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy::primitives::U256;
use compute_ledger_types::{CurtailmentLeaf, DeliveryLeaf, Efficiency};
use serde::{Deserialize, Serialize};

use crate::{GpuSample, LeaseAllocation, OracleError, RackSample, Result, SampleRecord};

/// Millijoules in one watt-hour.
pub const MJ_PER_WH: u64 = 3_600_000;
/// Highest plausible draw of one GPU (W); a counter jump above it over the elapsed time is
/// treated as a glitch and ignored rather than billed.
pub const MAX_GPU_WATTS: u64 = 3_000;

/// Highest plausible draw of one powered-shell feed (W): a whole data hall.
pub const MAX_FEED_WATTS: u64 = 50_000_000;
/// Longest a meter may read the same value while its feed is powered before it is flagged as
/// stalled: sub-meters and their scrapes refresh every few tens of seconds, never this slowly.
pub const METER_STALL_S: u64 = 120;

/// Maps unix time to a cluster's epochs: epoch `e` spans `[genesis + e·len, genesis + (e+1)·len)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochClock {
    /// The cluster's genesis (its registration time on-chain).
    pub genesis: u64,
    /// Seconds per epoch.
    pub length: u32,
}

impl EpochClock {
    /// The epoch containing second `t` (`None` before genesis).
    pub fn epoch_of(&self, t: u64) -> Option<u64> {
        t.checked_sub(self.genesis).map(|d| d / u64::from(self.length))
    }

    /// First second of `epoch`.
    pub fn start(&self, epoch: u64) -> u64 {
        self.genesis + epoch * u64::from(self.length)
    }

    /// First second after `epoch`.
    pub fn end(&self, epoch: u64) -> u64 {
        self.start(epoch + 1)
    }
}

/// One GPU's running tally within an epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuTally {
    /// Seconds sampled healthy.
    pub healthy_s: u64,
    /// Σ utilization percent over healthy seconds (busy GPU-seconds × 100).
    pub busy_pct_s: u64,
    /// Energy attributed to this epoch, millijoules.
    pub energy_mj: u64,
    /// `(second the counter last changed, its value)`, carried across epochs: exporters refresh
    /// their counters every few tens of seconds, so a change is judged over the time since the
    /// previous change, not since the previous reading.
    pub last_counter: Option<(u64, u64)>,
}

impl GpuTally {
    /// Busy GPU-seconds (utilization-weighted), rounded down.
    pub fn busy_s(&self) -> u64 {
        self.busy_pct_s / 100
    }

    fn ingest(&mut self, t: u64, s: &GpuSample) {
        if s.healthy {
            self.healthy_s += 1;
            self.busy_pct_s += u64::from(s.util_pct.min(100));
        }
        self.energy_mj += advance_counter(&mut self.last_counter, (t, s.energy_mj), MAX_GPU_WATTS);
    }
}

/// One powered-shell feed's running tally within an epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RackTally {
    /// Seconds the feed had power available.
    pub powered_s: u64,
    /// Energy attributed to this epoch, millijoules.
    pub energy_mj: u64,
    /// `(second the counter last changed, its value)`, carried across epochs.
    pub last_counter: Option<(u64, u64)>,
}

impl RackTally {
    /// Adds one second; returns the meter's fault, if this reading shows one. A sub-meter's
    /// register never resets by design, so a reading below the last one is a fault (a swapped
    /// or broken meter): that interval bills nothing, and counting resumes from the new value.
    fn ingest(&mut self, t: u64, s: &RackSample) -> Option<MeterFaultKind> {
        self.powered_s += u64::from(s.powered);
        let fault = fault_of(self.last_counter, (t, s.energy_mj), s.powered);
        if fault == Some(MeterFaultKind::Backwards) {
            self.last_counter = Some((t, s.energy_mj));
        } else {
            self.energy_mj +=
                advance_counter(&mut self.last_counter, (t, s.energy_mj), MAX_FEED_WATTS);
        }
        fault
    }
}

/// A meter fault seen in an epoch: kept in the summary and logged, for the operator to fix and
/// for anyone checking a report; it never bills energy the meter did not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterFault {
    /// `facility`, or the feed's id.
    pub meter: String,
    /// What it did.
    pub kind: MeterFaultKind,
    /// The first second it showed in the epoch.
    pub t: u64,
}

/// How a meter misbehaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterFaultKind {
    /// Its counter read below its last value.
    Backwards,
    /// Its counter stayed the same for more than [`METER_STALL_S`] while power was on.
    Stalled,
}

/// What a new reading says about a meter whose last change was `last`, while `drawing`.
fn fault_of(
    last: Option<(u64, u64)>,
    reading: (u64, u64),
    drawing: bool,
) -> Option<MeterFaultKind> {
    let (t0, c0) = last?;
    let (t1, c1) = reading;
    if c1 < c0 {
        Some(MeterFaultKind::Backwards)
    } else if c1 == c0 && drawing && t1.saturating_sub(t0) > METER_STALL_S {
        Some(MeterFaultKind::Stalled)
    } else {
        None
    }
}

/// Attributes a counter reading at the second it changed: an unchanged reading (the exporter or
/// the scrape has not refreshed yet) adds nothing and keeps the time of the last change, so the
/// next change is judged over the whole time it covers.
fn advance_counter(last: &mut Option<(u64, u64)>, reading: (u64, u64), max_watts: u64) -> u64 {
    if last.is_some_and(|(_, value)| value == reading.1) {
        return 0;
    }
    let delta = counter_delta(*last, reading, max_watts);
    *last = Some(reading);
    delta
}

/// Energy between two counter readings (`(second, value)`; `previous` is the last *change*). A
/// counter that went backwards was reset (driver reload)
/// or wrapped: it counted up from zero, so the new reading is the delta. A jump above
/// `max_watts` over the elapsed time is a glitch and counts as nothing.
pub fn counter_delta(previous: Option<(u64, u64)>, current: (u64, u64), max_watts: u64) -> u64 {
    let Some((t0, c0)) = previous else { return 0 };
    let (t1, c1) = current;
    let delta = if c1 >= c0 { c1 - c0 } else { c1 };
    let ceiling = t1.saturating_sub(t0).max(1) * max_watts * 1000;
    if delta > ceiling { 0 } else { delta }
}

/// Counter readings carried from one epoch into the next: `(second it last changed, value)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carry {
    /// Last GPU counters by UUID.
    pub gpus: BTreeMap<String, (u64, u64)>,
    /// Last facility counter.
    pub facility: Option<(u64, u64)>,
    /// Last powered-shell feed counters by feed id.
    #[serde(default)]
    pub racks: BTreeMap<String, (u64, u64)>,
}

/// The running aggregation of one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochAccumulator {
    /// The epoch.
    pub epoch: u64,
    clock: EpochClock,
    last_t: Option<u64>,
    seconds: u64,
    gpus: HashMap<String, GpuTally>,
    facility_mj: u64,
    facility_last: Option<(u64, u64)>,
    facility_seen: bool,
    #[serde(default)]
    racks: BTreeMap<String, RackTally>,
    #[serde(default)]
    faults: Vec<MeterFault>,
}

/// Largest plausible facility draw (W) for glitch filtering: generous, a whole site.
const MAX_FACILITY_WATTS: u64 = 10_000_000_000;

impl EpochAccumulator {
    /// Starts `epoch`, continuing the energy counters in `carry`.
    pub fn new(epoch: u64, clock: EpochClock, carry: Carry) -> Self {
        let gpus = carry
            .gpus
            .into_iter()
            .map(|(uuid, last)| {
                (uuid, GpuTally { last_counter: Some(last), ..GpuTally::default() })
            })
            .collect();
        let racks = carry
            .racks
            .into_iter()
            .map(|(id, last)| (id, RackTally { last_counter: Some(last), ..RackTally::default() }))
            .collect();
        Self {
            epoch,
            clock,
            last_t: None,
            seconds: 0,
            gpus,
            facility_mj: 0,
            facility_last: carry.facility,
            facility_seen: false,
            racks,
            faults: Vec::new(),
        }
    }

    /// Adds one second. Seconds must increase and lie within the epoch.
    pub fn ingest(&mut self, record: &SampleRecord) -> Result<()> {
        let t = record.t;
        let in_epoch = self.clock.epoch_of(t) == Some(self.epoch);
        if !in_epoch || self.last_t.is_some_and(|last| t <= last) {
            return Err(OracleError::SampleOutOfOrder { t, epoch: self.epoch });
        }
        self.last_t = Some(t);
        self.seconds += 1;
        for sample in &record.gpus {
            self.gpus.entry(sample.uuid.clone()).or_default().ingest(t, sample);
        }
        if let Some(counter) = record.facility_mj {
            self.facility_seen = true;
            if let Some(kind) = fault_of(self.facility_last, (t, counter), true) {
                self.flag("facility", kind, t);
            }
            self.facility_mj +=
                advance_counter(&mut self.facility_last, (t, counter), MAX_FACILITY_WATTS);
        }
        for sample in &record.racks {
            if let Some(kind) = self.racks.entry(sample.id.clone()).or_default().ingest(t, sample) {
                self.flag(&sample.id, kind, t);
            }
        }
        Ok(())
    }

    /// Records a meter's fault once per epoch (and logs it then).
    fn flag(&mut self, meter: &str, kind: MeterFaultKind, t: u64) {
        if self.faults.iter().any(|f| f.meter == meter && f.kind == kind) {
            return;
        }
        tracing::warn!(meter, ?kind, t, epoch = self.epoch, "meter fault: nothing billed for it");
        self.faults.push(MeterFault { meter: meter.to_string(), kind, t });
    }

    /// The last second ingested.
    pub fn last_t(&self) -> Option<u64> {
        self.last_t
    }

    /// Counters to continue in the next epoch.
    pub fn carry(&self) -> Carry {
        Carry {
            gpus: self
                .gpus
                .iter()
                .filter_map(|(uuid, tally)| tally.last_counter.map(|c| (uuid.clone(), c)))
                .collect(),
            facility: self.facility_last,
            racks: self
                .racks
                .iter()
                .filter_map(|(id, tally)| tally.last_counter.map(|c| (id.clone(), c)))
                .collect(),
        }
    }

    /// Per-feed tallies so far.
    pub fn racks(&self) -> &BTreeMap<String, RackTally> {
        &self.racks
    }

    /// Per-GPU tallies so far.
    pub fn gpus(&self) -> &HashMap<String, GpuTally> {
        &self.gpus
    }

    /// Closes the epoch: cluster totals and each lease's delivery for the leases active in this
    /// epoch. With an `inventory`, exactly its GPUs count (a GPU never seen is installed but
    /// unavailable; a GPU outside it, say another cluster's on a shared Prometheus, is ignored);
    /// without one, every GPU seen counts.
    pub fn summarize(&self, inventory: &[String], leases: &[LeaseAllocation]) -> EpochSummary {
        let inventory: HashSet<&str> = inventory.iter().map(String::as_str).collect();
        let counted: Vec<&GpuTally> = self
            .gpus
            .iter()
            .filter(|(uuid, _)| inventory.is_empty() || inventory.contains(uuid.as_str()))
            .map(|(_, tally)| tally)
            .collect();
        let installed = if inventory.is_empty() { counted.len() } else { inventory.len() };
        let half_epoch = u64::from(self.clock.length).div_ceil(2);
        let empty = GpuTally::default();
        let tally = |uuid: &str| self.gpus.get(uuid).unwrap_or(&empty);
        let no_feed = RackTally::default();
        let feed = |id: &str| self.racks.get(id).unwrap_or(&no_feed);
        let (mut available, mut busy, mut it_mj, mut healthy_gpus) = (0u64, 0u64, 0u64, 0u32);
        for g in counted {
            available += g.healthy_s;
            busy += g.busy_s();
            it_mj += g.energy_mj;
            healthy_gpus += u32::from(g.healthy_s >= half_epoch);
        }

        let deliveries = leases
            .iter()
            .filter(|lease| lease.covers(self.epoch))
            .map(|lease| {
                let (delivered, energy_mj) = if lease.is_powered_shell() {
                    // Power available at the tenant's feeds, and what its own sub-meters counted.
                    let powered: u64 = lease.racks.iter().map(|id| feed(id).powered_s).sum();
                    let energy: u64 = lease.racks.iter().map(|id| feed(id).energy_mj).sum();
                    (lease.powered_kw_seconds(powered), energy)
                } else {
                    // The lease's GPUs' own energy, as their counters read it (by GPU).
                    let delivered =
                        lease.gpus.iter().map(|uuid| lease.billing.delivered(tally(uuid))).sum();
                    (delivered, lease.gpus.iter().map(|uuid| tally(uuid).energy_mj).sum())
                };
                DeliveryLeaf {
                    lease_id: U256::from(lease.lease_id),
                    epoch: self.epoch,
                    delivered,
                    energy_wh: energy_mj / MJ_PER_WH,
                }
            })
            .collect();

        // Critical IT energy: the GPUs' and the leased powered-shell feeds' (a feed no lease
        // names, say another site's on a shared exporter, is not this cluster's).
        let leased: HashSet<&str> =
            leases.iter().flat_map(|l| l.racks.iter().map(String::as_str)).collect();
        it_mj = self
            .racks
            .iter()
            .filter(|(id, _)| leased.contains(id.as_str()))
            .fold(it_mj, |sum, (_, r)| sum.saturating_add(r.energy_mj));
        let it_energy_wh = it_mj / MJ_PER_WH;
        let metered_wh = self.facility_mj / MJ_PER_WH;
        // Facility energy includes IT energy; a meter reading below it is a metering gap, and
        // the contract rejects it, so report IT energy (PUE 1.0) and say so.
        let facility_clamped = !self.facility_seen || metered_wh < it_energy_wh;
        EpochSummary {
            epoch: self.epoch,
            seconds_sampled: self.seconds,
            gpus_installed: u32::try_from(installed).unwrap_or(u32::MAX),
            gpus_healthy: healthy_gpus,
            gpu_seconds_available: available,
            gpu_seconds_busy: busy,
            it_energy_wh,
            facility_energy_wh: metered_wh.max(it_energy_wh),
            facility_clamped,
            deliveries,
            curtailments: Vec::new(),
            meter_faults: self.faults.clone(),
        }
    }
}

/// The totals of one closed epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochSummary {
    /// The epoch.
    pub epoch: u64,
    /// Seconds with a record (of the epoch's length).
    pub seconds_sampled: u64,
    /// GPUs in the inventory (without one: GPUs seen).
    pub gpus_installed: u32,
    /// GPUs healthy for at least half the epoch.
    pub gpus_healthy: u32,
    /// Σ healthy GPU-seconds.
    pub gpu_seconds_available: u64,
    /// Σ utilization-weighted busy GPU-seconds (healthy seconds only).
    pub gpu_seconds_busy: u64,
    /// IT energy (GPUs and powered-shell feeds), Wh.
    pub it_energy_wh: u64,
    /// Facility energy, Wh (≥ IT energy).
    pub facility_energy_wh: u64,
    /// Whether facility energy was missing or below IT energy and reported as IT energy.
    pub facility_clamped: bool,
    /// Each active lease's delivery.
    pub deliveries: Vec<DeliveryLeaf>,
    /// Each acknowledged demand-response event that ended in the epoch, as measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curtailments: Vec<CurtailmentLeaf>,
    /// Meters that ran backwards or stalled in the epoch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meter_faults: Vec<MeterFault>,
}

impl EpochSummary {
    /// Utilization, availability, PUE and Wh per GPU-hour of the epoch (`epoch_length` seconds).
    pub fn efficiency(&self, epoch_length: u32) -> Efficiency {
        Efficiency::of(
            self.gpu_seconds_available,
            self.gpu_seconds_busy,
            u64::from(self.gpus_installed) * u64::from(epoch_length),
            self.it_energy_wh,
            self.facility_energy_wh,
        )
    }

    /// Busy / available, in basis points.
    pub fn utilization_bps(&self) -> u64 {
        self.efficiency(0).utilization_bps
    }

    /// Power usage effectiveness × 1000 (facility / IT energy).
    pub fn pue_milli(&self) -> Option<u64> {
        self.efficiency(0).pue_milli
    }

    /// Facility watt-hours per busy GPU-hour.
    pub fn wh_per_gpu_hour(&self) -> Option<u64> {
        self.efficiency(0).wh_per_gpu_hour
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Billing;

    const CLOCK: EpochClock = EpochClock { genesis: 1_000, length: 10 };

    fn gpu(uuid: &str, healthy: bool, util: u8, energy_mj: u64) -> GpuSample {
        GpuSample {
            uuid: uuid.into(),
            healthy,
            util_pct: util,
            power_mw: 0,
            energy_mj,
            mem_used_mib: 0,
            ecc_dbe: 0,
            xid: 0,
        }
    }

    fn lease(id: u64, billing: Billing, gpus: &[&str]) -> LeaseAllocation {
        LeaseAllocation {
            lease_id: id,
            billing,
            start_epoch: 0,
            end_epoch: 5,
            gpus: gpus.iter().map(|g| g.to_string()).collect(),
            racks: vec![],
            kw: 0,
        }
    }

    #[test]
    fn clock_maps_seconds_to_epochs() {
        assert_eq!(CLOCK.epoch_of(999), None);
        assert_eq!(CLOCK.epoch_of(1_000), Some(0));
        assert_eq!(CLOCK.epoch_of(1_009), Some(0));
        assert_eq!(CLOCK.epoch_of(1_010), Some(1));
        assert_eq!((CLOCK.start(2), CLOCK.end(2)), (1_020, 1_030));
    }

    #[test]
    fn missing_seconds_count_as_unavailable_and_busy_needs_healthy() {
        let mut acc = EpochAccumulator::new(0, CLOCK, Carry::default());
        // GPU a: 6 healthy seconds at 50 %; GPU b: 4 seconds sick at 100 % then silent.
        for t in 1_000..1_006 {
            let mut gpus = vec![gpu("a", true, 50, 0)];
            if t < 1_004 {
                gpus.push(gpu("b", false, 100, 0));
            }
            acc.ingest(&SampleRecord { t, gpus, facility_mj: None, racks: vec![] })
                .expect("ingest");
        }
        let inventory = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let s = acc.summarize(&inventory, &[]);
        assert_eq!(s.gpus_installed, 3, "c never answered but is installed");
        assert_eq!(s.gpu_seconds_available, 6, "4 silent seconds of 10 are unavailable");
        assert_eq!(s.gpu_seconds_busy, 3, "50 % of 6 healthy seconds; sick seconds never busy");
        assert_eq!(s.gpus_healthy, 1, "a was healthy for half the epoch, b never");
        assert_eq!(s.utilization_bps(), 5_000);
    }

    #[test]
    fn deliveries_follow_billing_and_term() {
        let mut acc = EpochAccumulator::new(0, CLOCK, Carry::default());
        for t in 1_000..1_010 {
            let gpus =
                vec![gpu("a", true, 30, 0), gpu("b", t % 2 == 0, 100, 0), gpu("c", true, 10, 0)];
            acc.ingest(&SampleRecord { t, gpus, facility_mj: None, racks: vec![] })
                .expect("ingest");
        }
        let mut later = lease(3, Billing::Reserved, &["c"]);
        later.start_epoch = 1;
        let leases =
            [lease(1, Billing::Reserved, &["a", "b"]), lease(2, Billing::Metered, &["c"]), later];
        let s = acc.summarize(&[], &leases);
        let delivered: Vec<(u64, u64)> =
            s.deliveries.iter().map(|d| (d.lease_id.to::<u64>(), d.delivered)).collect();
        assert_eq!(
            delivered,
            vec![(1, 10 + 5), (2, 1)],
            "reserved: healthy seconds; metered: busy; lease 3 not begun"
        );
        assert!(
            s.deliveries.iter().all(|d| d.delivered <= 2 * 10),
            "never above GPUs x epoch length"
        );
    }

    #[test]
    fn energy_from_counters_with_reset_and_glitch() {
        // 1 W steady = 1,000 mJ/s; the driver reloads at t=1003 (counter restarts at 500).
        assert_eq!(counter_delta(None, (1, 5_000), MAX_GPU_WATTS), 0, "first reading has no delta");
        assert_eq!(counter_delta(Some((1, 5_000)), (2, 6_000), MAX_GPU_WATTS), 1_000);
        assert_eq!(
            counter_delta(Some((2, 6_000)), (3, 500), MAX_GPU_WATTS),
            500,
            "reset counts from zero"
        );
        assert_eq!(
            counter_delta(Some((3, 500)), (4, 500 + 4_000_000), MAX_GPU_WATTS),
            0,
            "4 kW jump is a glitch"
        );
        assert_eq!(
            counter_delta(Some((3, 500)), (13, 500 + 20_000_000), MAX_GPU_WATTS),
            20_000_000,
            "gap keeps energy"
        );
    }

    #[test]
    fn energy_carries_across_epochs_without_loss() {
        // 2 kW steady: 2,000,000 mJ per second.
        let reading = |t: u64| gpu("a", true, 90, (t - 1_000) * 2_000_000);
        let mut acc = EpochAccumulator::new(0, CLOCK, Carry::default());
        for t in 1_000..1_010 {
            acc.ingest(&SampleRecord {
                t,
                gpus: vec![reading(t)],
                facility_mj: None,
                racks: vec![],
            })
            .expect("ingest");
        }
        assert_eq!(acc.gpus()["a"].energy_mj, 9 * 2_000_000, "nine intervals inside epoch 0");
        assert_eq!(acc.summarize(&[], &[]).it_energy_wh, 5, "18,000 J = 5 Wh");
        let mut next = EpochAccumulator::new(1, CLOCK, acc.carry());
        next.ingest(&SampleRecord {
            t: 1_010,
            gpus: vec![reading(1_010)],
            facility_mj: None,
            racks: vec![],
        })
        .expect("ingest");
        assert_eq!(
            next.gpus()["a"].energy_mj,
            2_000_000,
            "the boundary interval belongs to epoch 1"
        );
    }

    #[test]
    fn a_counter_refreshed_every_30_s_keeps_all_its_energy() {
        // dcgm-exporter refreshes every 30 s: 550 W shows up as a 16.5 kJ jump every 30th second,
        // above 3 kW x 1 s but exactly 550 W over the 30 s since the counter last changed.
        let clock = EpochClock { genesis: 0, length: 60 };
        let reading = |t: u64| gpu("a", true, 90, (t / 30) * 30 * 550_000);
        let mut acc = EpochAccumulator::new(0, clock, Carry::default());
        for t in 0..60 {
            acc.ingest(&SampleRecord {
                t,
                gpus: vec![reading(t)],
                facility_mj: None,
                racks: vec![],
            })
            .expect("ingest");
        }
        assert_eq!(acc.gpus()["a"].energy_mj, 30 * 550_000, "the first reading only starts it");
        assert_eq!(acc.carry().gpus["a"], (30, 30 * 550_000), "carry keeps when it changed");
        let mut next = EpochAccumulator::new(1, clock, acc.carry());
        for t in 60..120 {
            next.ingest(&SampleRecord {
                t,
                gpus: vec![reading(t)],
                facility_mj: None,
                racks: vec![],
            })
            .expect("ingest");
        }
        assert_eq!(next.gpus()["a"].energy_mj, 60 * 550_000, "a full epoch of 550 W");
    }

    #[test]
    fn with_an_inventory_foreign_gpus_are_ignored() {
        let mut acc = EpochAccumulator::new(0, CLOCK, Carry::default());
        for t in 1_000..1_010 {
            let gpus = vec![
                gpu("a", true, 100, (t - 1_000) * 1_000_000),
                gpu("other-cluster", true, 100, (t - 1_000) * 2_000_000),
            ];
            acc.ingest(&SampleRecord { t, gpus, facility_mj: None, racks: vec![] })
                .expect("ingest");
        }
        let s = acc.summarize(&["a".to_string(), "b".to_string()], &[]);
        assert_eq!(s.gpus_installed, 2, "a and b (never seen), not the foreign GPU");
        assert_eq!((s.gpu_seconds_available, s.gpu_seconds_busy, s.gpus_healthy), (10, 10, 1));
        assert_eq!(s.it_energy_wh, 2, "a's 9 kJ only (the foreign GPU drew 18 kJ)");
        assert_eq!(acc.summarize(&[], &[]).gpus_installed, 2, "no inventory: every GPU seen");
    }

    #[test]
    fn facility_below_it_energy_is_clamped_and_flagged() {
        let mut acc = EpochAccumulator::new(0, CLOCK, Carry::default());
        for (i, t) in (1_000..1_003).enumerate() {
            let i = i as u64;
            let r = SampleRecord {
                t,
                gpus: vec![gpu("a", true, 90, i * 1_800_000)],
                facility_mj: Some(i * 1_500_000),
                racks: vec![],
            };
            acc.ingest(&r).expect("ingest");
        }
        let s = acc.summarize(&[], &[]);
        assert_eq!(s.it_energy_wh, 1);
        assert_eq!(
            s.facility_energy_wh, 1,
            "metered 0.83 Wh < IT 1 Wh: the contract requires facility >= IT"
        );
        assert!(s.facility_clamped);
    }

    fn feed(id: &str, powered: bool, energy_mj: u64) -> RackSample {
        RackSample { id: id.into(), powered, energy_mj }
    }

    fn shell(id: u64, kw: u32, racks: &[&str]) -> LeaseAllocation {
        LeaseAllocation {
            racks: racks.iter().map(|r| r.to_string()).collect(),
            kw,
            ..lease(id, Billing::Reserved, &[])
        }
    }

    #[test]
    fn a_powered_shell_is_billed_for_power_available_and_its_own_sub_meters() {
        // Two 100 kW feeds drawing 80 kW each (80,000,000 mJ/s); feed b loses power for 4 s.
        let mut acc = EpochAccumulator::new(0, CLOCK, Carry::default());
        let mut b_counter = 0;
        for t in 1_000..1_010 {
            let i = t - 1_000;
            let b_on = !(1_003..1_007).contains(&t);
            let racks = vec![feed("a", true, i * 80_000_000), feed("b", b_on, b_counter)];
            b_counter += if b_on { 80_000_000 } else { 0 };
            let gpus = vec![gpu("g", true, 50, i * 700_000)];
            acc.ingest(&SampleRecord { t, gpus, facility_mj: None, racks }).expect("ingest");
        }
        let leases = [shell(7, 200, &["a", "b"]), lease(8, Billing::Reserved, &["g"])];
        let s = acc.summarize(&[], &leases);
        let leaf = |id: u64| s.deliveries.iter().find(|d| d.lease_id == U256::from(id)).cloned();
        let shell_leaf = leaf(7).expect("shell leaf");
        assert_eq!(shell_leaf.delivered, 200 * 16 / 2, "200 kW x 16 of 20 feed-seconds powered");
        assert_eq!(
            shell_leaf.energy_wh,
            (9 + 5) * 80_000_000 / MJ_PER_WH,
            "a: 9 intervals; b: the 5 whose draw its counter shows by the last second"
        );
        assert_eq!(leaf(8).expect("gpu leaf").delivered, 10, "the GPU lease is counted as before");
        assert_eq!(
            s.it_energy_wh,
            (9 * 700_000 + 14 * 80_000_000) / MJ_PER_WH,
            "IT energy: GPUs and feeds"
        );
        assert!(s.meter_faults.is_empty(), "an unpowered feed that stops counting is no fault");
    }

    #[test]
    fn a_sub_meter_that_runs_backwards_or_stalls_is_flagged_and_bills_nothing_more() {
        let clock = EpochClock { genesis: 0, length: 600 };
        let mut acc = EpochAccumulator::new(0, clock, Carry::default());
        // Feed a: 1 kW, then its meter is swapped at t=100 (reads 5 J), then counts on.
        // Feed b: powered but its counter freezes from t=50 until t=300, then jumps.
        for t in 0..400 {
            let a = if t < 100 { t * 1_000_000 } else { 5_000 + (t - 100) * 1_000_000 };
            let b = t.min(50) * 1_000_000 + if t >= 300 { 250 * 1_000_000 } else { 0 };
            let racks = vec![feed("a", true, a), feed("b", true, b)];
            acc.ingest(&SampleRecord { t, gpus: vec![], facility_mj: Some(t * 3_000_000), racks })
                .expect("ingest");
        }
        let summary = acc.summarize(&[], &[]);
        let faults: Vec<(&str, MeterFaultKind, u64)> =
            summary.meter_faults.iter().map(|f| (f.meter.as_str(), f.kind, f.t)).collect();
        assert_eq!(
            faults,
            vec![("a", MeterFaultKind::Backwards, 100), ("b", MeterFaultKind::Stalled, 171)],
            "each fault once, at the second it showed"
        );
        assert_eq!(
            acc.racks()["a"].energy_mj,
            (99 + 299) * 1_000_000,
            "the backwards interval bills nothing; counting resumes from the new meter"
        );
        assert_eq!(
            acc.racks()["b"].energy_mj,
            (50 + 250) * 1_000_000,
            "a stalled meter's catch-up counts once it moves, within the feed's ceiling"
        );
        let mut facility = EpochAccumulator::new(0, clock, Carry::default());
        for (t, counter) in [(0, 10_000_000), (1, 11_000_000), (2, 1_000_000), (200, 1_000_000)] {
            let r = SampleRecord { t, gpus: vec![], facility_mj: Some(counter), racks: vec![] };
            facility.ingest(&r).expect("ingest");
        }
        let kinds: Vec<MeterFaultKind> =
            facility.summarize(&[], &[]).meter_faults.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![MeterFaultKind::Backwards, MeterFaultKind::Stalled]);
    }

    #[test]
    fn feed_counters_carry_across_epochs() {
        let mut acc = EpochAccumulator::new(0, CLOCK, Carry::default());
        let reading = |t: u64| vec![feed("a", true, (t - 1_000) * 1_000_000)];
        for t in 1_000..1_010 {
            acc.ingest(&SampleRecord { t, gpus: vec![], facility_mj: None, racks: reading(t) })
                .expect("ingest");
        }
        let mut next = EpochAccumulator::new(1, CLOCK, acc.carry());
        next.ingest(&SampleRecord {
            t: 1_010,
            gpus: vec![],
            facility_mj: None,
            racks: reading(1_010),
        })
        .expect("ingest");
        assert_eq!(next.racks()["a"].energy_mj, 1_000_000, "the boundary interval is epoch 1's");
    }

    #[test]
    fn rejects_out_of_order_and_foreign_seconds() {
        let mut acc = EpochAccumulator::new(0, CLOCK, Carry::default());
        acc.ingest(&SampleRecord { t: 1_005, gpus: vec![], facility_mj: None, racks: vec![] })
            .expect("ingest");
        for t in [1_005, 1_004, 1_010, 999] {
            let err =
                acc.ingest(&SampleRecord { t, gpus: vec![], facility_mj: None, racks: vec![] });
            assert!(matches!(err, Err(OracleError::SampleOutOfOrder { .. })), "t={t}");
        }
    }
}
