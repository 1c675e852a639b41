//! Deterministic GPU simulator: diurnal load, failures and recoveries, power as a function of
//! load, and a facility meter per site profile. Every value is a pure function of (seed, GPU, t)
//! except the energy counters, which integrate power from `origin`; a restarted simulator
//! recomputes them identically, so restarts never change a report.
//!
//! A site may also host powered-shell feeds (a tenant's racks behind sub-meters): each draws
//! 75–85 % of its kW, on its own counter and on the facility meter, except during its outages.
//!
//! A site may also run flexible load (bitcoin miners) on its facility meter: it draws
//! `flexible_kw` every second except inside the windows of its curtailment schedule, a JSON file
//! the node's VEN appends to when it accepts a demand-response event ([`add_to_schedule`]). Windows
//! are only ever added ahead of time, so recomputing the counters after a restart gives the
//! same values.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{GpuSample, OracleError, RackSample, Result, SampleRecord};

/// Seconds per day (diurnal period).
const DAY: u64 = 86_400;
/// Failures are decided per GPU per block of this many seconds.
const FAILURE_BLOCK: u64 = 300;

/// A site: power and cooling characteristics and typical load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SiteProfile {
    /// Power usage effectiveness ×1000 (facility energy / IT energy).
    pub pue_milli: u64,
    /// GPU idle draw, W.
    pub idle_w: u32,
    /// GPU full-load draw, W.
    pub max_w: u32,
    /// Mean utilization, percent.
    pub mean_util: u32,
    /// Diurnal swing around the mean, percent points.
    pub swing_util: u32,
    /// Chance per GPU per 5-minute block of a failure (XID), in parts per million.
    pub failure_ppm: u32,
}

/// Named site profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Site {
    /// A Nordic hydro site: free cooling, PUE about 1.10, busy around the clock.
    NordicHydro,
    /// A Texas gas site: hot climate, PUE about 1.35, more diurnal.
    TexasGas,
}

impl Site {
    /// The site's profile (H100 SXM: ~70 W idle, ~700 W at full load).
    pub fn profile(self) -> SiteProfile {
        match self {
            Self::NordicHydro => SiteProfile {
                pue_milli: 1_100,
                idle_w: 70,
                max_w: 700,
                mean_util: 82,
                swing_util: 10,
                failure_ppm: 2_000,
            },
            Self::TexasGas => SiteProfile {
                pue_milli: 1_350,
                idle_w: 70,
                max_w: 700,
                mean_util: 68,
                swing_util: 22,
                failure_ppm: 4_000,
            },
        }
    }
}

/// The simulator's knobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Seed: same seed, same telemetry.
    pub seed: u64,
    /// Number of GPUs.
    pub gpus: u32,
    /// Site profile.
    pub site: Site,
    /// When the counters start (the cluster's genesis is a good choice).
    pub origin: u64,
    /// Failure blocks forced for incident drills: `(gpu index, first second, last second)`.
    #[serde(default)]
    pub outages: Vec<(u32, u64, u64)>,
    /// Flexible load (miners) on the facility meter, kW; 0: none.
    #[serde(default)]
    pub flexible_kw: u32,
    /// The curtailment schedule the flexible load follows (read every second; absent file: no
    /// curtailment).
    #[serde(default)]
    pub curtailment_schedule: Option<PathBuf>,
    /// Powered-shell feeds with their own sub-meters.
    #[serde(default)]
    pub racks: Vec<SimRack>,
}

/// A simulated powered-shell feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimRack {
    /// Feed id (what a lease's `racks` names).
    pub id: String,
    /// Contracted kW; the tenant draws 75–85 % of it.
    pub kw: u32,
    /// Seconds without power, `(first, last)` inclusive, for drills.
    #[serde(default)]
    pub outages: Vec<(u64, u64)>,
}

/// One window in which the flexible load is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurtailWindow {
    /// Who asked (the demand-response event id).
    pub event: String,
    /// First second off (unix).
    pub start: u64,
    /// First second on again (unix; exclusive).
    pub end: u64,
}

/// The windows in the schedule at `path` (none when the file does not exist yet).
pub fn read_schedule(path: &Path) -> Result<Vec<CurtailWindow>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            OracleError::Config(format!("curtailment schedule {}: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(OracleError::io(path, e)),
    }
}

/// Adds `window` to the schedule at `path` (once per event; written atomically).
pub fn add_to_schedule(path: &Path, window: CurtailWindow) -> Result<()> {
    let mut windows = read_schedule(path)?;
    if windows.iter().any(|w| w.event == window.event) {
        return Ok(());
    }
    windows.push(window);
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(&windows).expect("windows serialize");
    std::fs::write(&tmp, bytes).map_err(|e| OracleError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| OracleError::io(path, e))
}

/// A seeded, deterministic telemetry source.
#[derive(Debug, Clone)]
pub struct Simulator {
    config: SimulatorConfig,
    profile: SiteProfile,
    uuids: Vec<String>,
    counters_at: u64,
    energy_mj: Vec<u64>,
    facility_mj: u64,
    rack_energy_mj: Vec<u64>,
    curtailed: Vec<(u64, u64)>,
}

/// splitmix64: a tiny, well-mixed hash for reproducible pseudo-randomness.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Simulator {
    /// A simulator for `config`.
    pub fn new(config: SimulatorConfig) -> Self {
        let uuids = (0..config.gpus)
            .map(|i| {
                let h = mix(config.seed ^ mix(u64::from(i)));
                format!(
                    "GPU-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                    h >> 32,
                    (h >> 16) & 0xffff,
                    h & 0xffff,
                    i & 0xffff,
                    mix(h) & 0xffff_ffff_ffff
                )
            })
            .collect();
        let n = config.gpus as usize;
        Self {
            profile: config.site.profile(),
            counters_at: config.origin,
            energy_mj: vec![0; n],
            facility_mj: 0,
            rack_energy_mj: vec![0; config.racks.len()],
            curtailed: Vec::new(),
            uuids,
            config,
        }
    }

    /// The simulated GPUs' UUIDs, in index order.
    pub fn uuids(&self) -> &[String] {
        &self.uuids
    }

    fn failed(&self, gpu: u32, t: u64) -> bool {
        let forced =
            self.config.outages.iter().any(|&(g, from, to)| g == gpu && (from..=to).contains(&t));
        let block = t / FAILURE_BLOCK;
        let roll = mix(self.config.seed ^ mix(u64::from(gpu) << 32 ^ block)) % 1_000_000;
        forced || roll < u64::from(self.profile.failure_ppm)
    }

    /// Utilization (percent) of a healthy GPU at `t`: diurnal curve plus per-second jitter.
    fn util(&self, gpu: u32, t: u64) -> u8 {
        let p = self.profile;
        let phase = (t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
        let diurnal = f64::from(p.mean_util) + f64::from(p.swing_util) * (phase - 1.0).sin();
        let jitter = (mix(self.config.seed ^ mix(t ^ (u64::from(gpu) << 40))) % 11) as f64 - 5.0;
        (diurnal + jitter).clamp(0.0, 100.0) as u8
    }

    /// Power (mW) at `t`: idle when failed, otherwise linear in load.
    fn power_mw(&self, gpu: u32, t: u64) -> (u32, bool, u8) {
        let p = self.profile;
        if self.failed(gpu, t) {
            return (p.idle_w * 1000, false, 0);
        }
        let util = self.util(gpu, t);
        (p.idle_w * 1000 + (p.max_w - p.idle_w) * 10 * u32::from(util), true, util)
    }

    /// Advances the energy counters to second `t` (each second draws its power for 1 s).
    fn advance_to(&mut self, t: u64) {
        if t < self.counters_at {
            // Going back in time: recompute from the origin.
            self.counters_at = self.config.origin;
            self.energy_mj.iter_mut().for_each(|e| *e = 0);
            self.facility_mj = 0;
            self.rack_energy_mj.iter_mut().for_each(|e| *e = 0);
        }
        for s in self.counters_at..t {
            let mut it = 0u64;
            for gpu in 0..self.config.gpus {
                let (mw, _, _) = self.power_mw(gpu, s);
                self.energy_mj[gpu as usize] += u64::from(mw);
                it += u64::from(mw);
            }
            for (i, rack) in self.config.racks.iter().enumerate() {
                let mw = self.rack_mw(i, rack, s);
                self.rack_energy_mj[i] += mw;
                it += mw;
            }
            self.facility_mj += it * self.profile.pue_milli / 1000 + self.flexible_mw(s);
        }
        self.counters_at = self.counters_at.max(t);
    }

    /// A powered-shell feed's draw at `t`, mW: 0 in an outage, otherwise 75–85 % of its kW.
    fn rack_mw(&self, index: usize, rack: &SimRack, t: u64) -> u64 {
        if rack.outages.iter().any(|&(from, to)| (from..=to).contains(&t)) {
            return 0;
        }
        let pct = 75 + mix(self.config.seed ^ mix(t ^ ((index as u64 + 1) << 48))) % 11;
        u64::from(rack.kw) * 10_000 * pct
    }

    /// The flexible load's draw at `t`, mW (1 s of it is that many mJ).
    pub fn flexible_mw(&self, t: u64) -> u64 {
        let off = self.curtailed.iter().any(|&(start, end)| (start..end).contains(&t));
        if off { 0 } else { u64::from(self.config.flexible_kw) * 1_000_000 }
    }

    /// Re-reads the curtailment schedule; an unreadable one keeps the last windows (logged).
    fn refresh_schedule(&mut self) {
        let Some(path) = &self.config.curtailment_schedule else { return };
        match read_schedule(path) {
            Ok(windows) => self.curtailed = windows.iter().map(|w| (w.start, w.end)).collect(),
            Err(e) => tracing::warn!("simulator keeps its last curtailment windows: {e}"),
        }
    }

    /// Every GPU's sample at `t`, with the site meter.
    pub fn sample(&mut self, t: u64) -> SampleRecord {
        self.refresh_schedule();
        self.advance_to(t);
        let gpus = (0..self.config.gpus)
            .map(|gpu| {
                let (power_mw, healthy, util_pct) = self.power_mw(gpu, t);
                GpuSample {
                    uuid: self.uuids[gpu as usize].clone(),
                    healthy,
                    util_pct,
                    power_mw,
                    energy_mj: self.energy_mj[gpu as usize],
                    mem_used_mib: u32::from(util_pct) * 800,
                    ecc_dbe: 0,
                    xid: if healthy { 0 } else { 79 },
                }
            })
            .collect();
        let racks = (self.config.racks.iter().zip(&self.rack_energy_mj))
            .map(|(rack, &energy_mj)| RackSample {
                id: rack.id.clone(),
                powered: !rack.outages.iter().any(|&(from, to)| (from..=to).contains(&t)),
                energy_mj,
            })
            .collect();
        SampleRecord { t, gpus, facility_mj: Some(self.facility_mj), racks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(seed: u64) -> Simulator {
        Simulator::new(SimulatorConfig {
            seed,
            gpus: 8,
            site: Site::NordicHydro,
            origin: 1_000,
            outages: vec![],
            flexible_kw: 0,
            curtailment_schedule: None,
            racks: vec![],
        })
    }

    #[test]
    fn same_seed_same_telemetry_even_after_restart() {
        let mut a = sim(7);
        let mut b = sim(7);
        for t in 1_000..1_200 {
            assert_eq!(a.sample(t), b.sample(t));
        }
        let mut restarted = sim(7);
        assert_eq!(restarted.sample(1_500), a.sample(1_500), "counters recomputed from the origin");
        assert_ne!(sim(8).sample(1_100), sim(7).sample(1_100));
    }

    #[test]
    fn power_follows_load_and_counters_integrate_it() {
        let mut s = sim(1);
        let r0 = s.sample(2_000);
        let r1 = s.sample(2_001);
        for (a, b) in r0.gpus.iter().zip(&r1.gpus) {
            assert_eq!(
                b.energy_mj - a.energy_mj,
                u64::from(a.power_mw),
                "1 s at the sampled power"
            );
            if a.healthy {
                assert_eq!(a.power_mw, 70_000 + 6_300 * u32::from(a.util_pct));
            }
        }
        let it: u64 = r1.gpus.iter().map(|g| g.energy_mj).sum();
        let facility = r1.facility_mj.expect("metered");
        assert!(facility * 1000 / it >= 1_099 && facility * 1000 / it <= 1_100, "PUE 1.1");
    }

    #[test]
    fn forced_outage_makes_gpu_unhealthy_and_idle() {
        let mut s = Simulator::new(SimulatorConfig {
            seed: 3,
            gpus: 2,
            site: Site::TexasGas,
            origin: 0,
            outages: vec![(1, 100, 199)],
            flexible_kw: 0,
            curtailment_schedule: None,
            racks: vec![],
        });
        let r = s.sample(150);
        assert!(!r.gpus[1].healthy);
        assert_eq!(r.gpus[1].power_mw, 70_000);
        assert_eq!(r.gpus[1].xid, 79);
    }

    #[test]
    fn flexible_load_follows_its_schedule_on_the_facility_meter() {
        let dir = tempfile::tempdir().expect("tmp");
        let schedule = dir.path().join("curtailments.json");
        let config = |kw| SimulatorConfig {
            seed: 5,
            gpus: 2,
            site: Site::TexasGas,
            origin: 0,
            outages: vec![],
            flexible_kw: kw,
            curtailment_schedule: Some(schedule.clone()),
            racks: vec![],
        };
        let (mut miners, mut none) = (Simulator::new(config(500)), Simulator::new(config(0)));
        let window = CurtailWindow { event: "1".into(), start: 100, end: 160 };
        add_to_schedule(&schedule, window.clone()).expect("add");
        add_to_schedule(&schedule, window).expect("added once");
        assert_eq!(read_schedule(&schedule).expect("read").len(), 1);
        let flexible = |sim: &mut Simulator, other: &mut Simulator, t| {
            sim.sample(t).facility_mj.expect("metered")
                - other.sample(t).facility_mj.expect("metered")
        };
        // 500 kW for 100 s, then off for 60 s, then on for 40 s.
        assert_eq!(flexible(&mut miners, &mut none, 100), 500_000_000 * 100);
        assert_eq!(flexible(&mut miners, &mut none, 160), 500_000_000 * 100);
        assert_eq!(flexible(&mut miners, &mut none, 200), 500_000_000 * 140);
        let mut restarted = Simulator::new(config(500));
        assert_eq!(
            restarted.sample(200),
            miners.sample(200),
            "a restart recomputes the same counters"
        );
    }
}
