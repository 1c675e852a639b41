//! Oracle configuration (TOML), validated before anything runs.

use std::{collections::BTreeSet, path::PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::{
    BaselineMethod, Billing, FacilityMeter, KeyConfig, LeaseAllocation, OracleError, RackMeters,
    Result, SimulatorConfig,
};

/// Which telemetry source to sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    /// Deterministic simulation (devnets, demos, tests).
    Simulator(SimulatorConfig),
    /// This host's GPUs through NVML (needs the NVIDIA driver).
    Nvml,
    /// A dcgm-exporter `/metrics` URL.
    Dcgm {
        /// e.g. `http://127.0.0.1:9400/metrics`.
        url: String,
        /// A GPU whose energy counter has not changed for longer than this (seconds) is
        /// unavailable: the exposition carries no timestamps, and a powered GPU's counter moves
        /// at every exporter refresh.
        #[serde(default = "default_dcgm_stale_after_s")]
        stale_after_s: u64,
    },
    /// A Prometheus server that scrapes dcgm-exporter.
    Prometheus {
        /// Server base URL, e.g. `http://prometheus:9090`.
        url: String,
        /// Label selector picking this cluster's series, e.g. `Hostname=~"gpu-node-0[1-8]"`
        /// (braces optional). Required: a shared Prometheus holds other clusters' GPUs.
        #[serde(default)]
        selector: String,
        /// A value whose Prometheus sample is older than this (seconds) is unavailable, instead of
        /// Prometheus's 5-minute lookback keeping a dead host healthy.
        #[serde(default = "default_prometheus_stale_after_s")]
        stale_after_s: u64,
    },
    /// A JSON-lines recording in the audit-log format.
    Replay {
        /// The recording.
        path: PathBuf,
    },
}

fn default_backfill() -> u64 {
    3_600
}

/// dcgm-exporter refreshes its values every collect interval (30 s by default): two missed
/// refreshes plus 5 s for the scrape itself mean the GPU (or DCGM) stopped reporting.
pub(crate) const DEFAULT_DCGM_STALE_AFTER_S: u64 = 2 * 30 + 5;

/// Prometheus scrape intervals run 15-60 s: two missed scrapes at the slowest plus 10 s for the
/// scrape itself mean the host stopped reporting. Set it to 2x your scrape interval + a margin.
pub(crate) const DEFAULT_PROMETHEUS_STALE_AFTER_S: u64 = 2 * 60 + 10;

fn default_dcgm_stale_after_s() -> u64 {
    DEFAULT_DCGM_STALE_AFTER_S
}

fn default_prometheus_stale_after_s() -> u64 {
    DEFAULT_PROMETHEUS_STALE_AFTER_S
}

impl SourceConfig {
    /// Checks what the types cannot: a Prometheus selector is present, staleness limits are sane.
    pub fn validate(&self) -> Result<()> {
        let stale_after_s = match self {
            Self::Dcgm { stale_after_s, .. } => *stale_after_s,
            Self::Prometheus { selector, stale_after_s, .. } => {
                if crate::source::normalize_selector(selector).is_none() {
                    return Err(OracleError::Config(
                        "source.selector is required for a Prometheus source: a label selector \
                         picking only this cluster's GPUs, e.g. selector = 'Hostname=\"gpu-node-7\"' \
                         or '{Hostname=~\"gpu-node-0[1-8]\"}' (a shared Prometheus holds other \
                         clusters' GPUs)"
                            .into(),
                    ));
                }
                *stale_after_s
            }
            _ => return Ok(()),
        };
        if !(1..=3_600).contains(&stale_after_s) {
            return Err(OracleError::Config(format!(
                "source.stale_after_s = {stale_after_s} must be 1..=3600 seconds (about twice the \
                 exporter's refresh or scrape interval)"
            )));
        }
        Ok(())
    }
}

/// Everything one cluster's oracle needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleConfig {
    /// The cluster's on-chain id.
    pub cluster_id: u64,
    /// Chain id of the network the registry lives on (part of the signing domain).
    pub chain_id: u64,
    /// `ClusterRegistry` address (the signing domain's verifying contract).
    pub registry: Address,
    /// The cluster's genesis (registration time) as the registry reports it.
    pub genesis: u64,
    /// The cluster's epoch length in seconds, as registered.
    pub epoch_length: u32,
    /// Where samples, finalized epochs and archives are kept.
    pub data_dir: PathBuf,
    /// GPU UUIDs installed in the cluster (GPUs seen in telemetry are added).
    #[serde(default)]
    pub inventory: Vec<String>,
    /// Telemetry source.
    pub source: SourceConfig,
    /// Facility energy meter (for PUE); without one, facility energy is reported as IT energy.
    #[serde(default)]
    pub facility: Option<FacilityMeter>,
    /// Powered-shell feeds' sub-meters (the simulator meters its own feeds).
    #[serde(default)]
    pub rack_meters: Option<RackMeters>,
    /// Leases and the GPUs (or powered-shell feeds) serving them.
    #[serde(default)]
    pub leases: Vec<LeaseAllocation>,
    /// This node's attestor key.
    #[serde(default)]
    pub signer: Option<KeyConfig>,
    /// After a restart, how far back a source that can backfill is read again (seconds).
    #[serde(default = "default_backfill")]
    pub max_backfill_s: u64,
    /// Demand response: attest this cluster's acknowledged curtailment events.
    #[serde(default)]
    pub demand_response: Option<DemandResponseConfig>,
}

/// Which demand-response events the oracle attests, and how it measures them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandResponseConfig {
    /// The deployment's `DemandResponse` contract (bound into each curtailment leaf).
    pub contract: Address,
    /// Longest meter-before baseline, seconds (capped at each event's length).
    #[serde(default = "default_baseline")]
    pub baseline_s: u64,
    /// `meter_before` (default: flat loads such as miners) or `like_days` (loads that follow the
    /// day; needs `like_days` days of telemetry archives).
    #[serde(default)]
    pub baseline: BaselineMethod,
    /// Previous days a like-days baseline averages (1..=30).
    #[serde(default = "default_like_days")]
    pub like_days: u32,
}

/// Ten like days, as common in utility programs.
fn default_like_days() -> u32 {
    10
}

/// 15 minutes of meter-before baseline.
fn default_baseline() -> u64 {
    900
}

impl OracleConfig {
    /// Parses and validates a TOML document; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let config: Self =
            toml::from_str(text).map_err(|e| OracleError::Config(format!("{origin}: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| OracleError::io(path, e))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Checks what the types cannot: ranges, and that no GPU or feed serves two leases.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(OracleError::Config(msg));
        self.source.validate()?;
        if !(10..=604_800).contains(&self.epoch_length) {
            return bad(format!(
                "epoch_length {} must be 10..=604800 seconds, as registered",
                self.epoch_length
            ));
        }
        if let Some(dr) = &self.demand_response
            && dr.baseline == BaselineMethod::LikeDays
            && !(1..=30).contains(&dr.like_days)
        {
            return bad(format!("demand_response.like_days {} must be 1..=30", dr.like_days));
        }
        let inventory: BTreeSet<&str> = self.inventory.iter().map(String::as_str).collect();
        let mut allocated = BTreeSet::new();
        for lease in &self.leases {
            if lease.start_epoch >= lease.end_epoch {
                return bad(format!(
                    "lease {}: start_epoch must be below end_epoch",
                    lease.lease_id
                ));
            }
            if lease.is_powered_shell() {
                if !lease.gpus.is_empty() || lease.kw == 0 || lease.billing != Billing::Reserved {
                    return bad(format!(
                        "lease {}: a powered shell has racks, kw > 0, billing = \"reserved\" \
                         and no GPUs",
                        lease.lease_id
                    ));
                }
                for rack in &lease.racks {
                    if !allocated.insert(rack.as_str()) {
                        return bad(format!("feed {rack} is allocated to two leases"));
                    }
                }
                continue;
            }
            if lease.gpus.is_empty() || lease.kw != 0 {
                return bad(format!(
                    "lease {}: allocate GPUs (gpus = [...]) or, for a powered shell, racks and kw",
                    lease.lease_id
                ));
            }
            for gpu in &lease.gpus {
                if !inventory.is_empty() && !inventory.contains(gpu.as_str()) {
                    return bad(format!(
                        "lease {}: GPU {gpu} is not in the inventory",
                        lease.lease_id
                    ));
                }
                if !allocated.insert(gpu.as_str()) {
                    return bad(format!("GPU {gpu} is allocated to two leases"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
cluster_id = 1
chain_id = 31337
registry = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
genesis = 1750000000
epoch_length = 30
data_dir = "/tmp/oracle"
inventory = ["GPU-a", "GPU-b"]

[source]
kind = "simulator"
seed = 7
gpus = 2
site = "nordic_hydro"
origin = 1750000000

[[leases]]
lease_id = 1
billing = "reserved"
start_epoch = 2
end_epoch = 4
gpus = ["GPU-a"]
"#;

    #[test]
    fn parses_a_full_config() {
        let c = OracleConfig::from_toml(GOOD, "test").expect("valid");
        assert_eq!(c.epoch_length, 30);
        assert!(matches!(c.source, SourceConfig::Simulator(ref s) if s.gpus == 2));
        assert_eq!(c.max_backfill_s, 3_600);
    }

    #[test]
    fn rejects_unknown_keys_with_their_name() {
        let err =
            OracleConfig::from_toml(&GOOD.replace("epoch_length", "epoch_lenght"), "oracle.toml")
                .expect_err("typo");
        assert!(err.to_string().contains("epoch_lenght"), "{err}");
        assert!(err.to_string().contains("oracle.toml"), "{err}");
    }

    #[test]
    fn rejects_double_allocation_and_unknown_gpus() {
        let twice = format!(
            "{GOOD}\n[[leases]]\nlease_id = 2\nbilling = \"metered\"\nstart_epoch = 2\nend_epoch = 3\ngpus = [\"GPU-a\"]\n"
        );
        let err = OracleConfig::from_toml(&twice, "t").expect_err("double");
        assert!(err.to_string().contains("allocated to two leases"), "{err}");
        let err =
            OracleConfig::from_toml(&GOOD.replace("gpus = [\"GPU-a\"]", "gpus = [\"GPU-z\"]"), "t")
                .expect_err("unknown gpu");
        assert!(err.to_string().contains("not in the inventory"), "{err}");
        let err =
            OracleConfig::from_toml(&GOOD.replace("epoch_length = 30", "epoch_length = 5"), "t")
                .expect_err("short epoch");
        assert!(err.to_string().contains("epoch_length"), "{err}");
    }

    #[test]
    fn a_powered_shell_has_feeds_and_kw_and_no_gpus() {
        let shell = |extra: &str| {
            format!(
                "{GOOD}\n[[leases]]\nlease_id = 2\nbilling = \"reserved\"\nstart_epoch = 2\n\
                 end_epoch = 3\n{extra}\n\n[rack_meters]\nkind = \"scrape\"\n\
                 url = \"http://pdu/metrics\"\nenergy_metric = \"pdu_energy_wh_total\"\n\
                 unit = \"wh\"\n"
            )
        };
        let c = OracleConfig::from_toml(&shell("racks = [\"r1\", \"r2\"]\nkw = 500"), "t")
            .expect("powered shell");
        assert!(c.leases[1].is_powered_shell());
        assert_eq!(c.leases[1].powered_kw_seconds(30), 7_500, "500 kW over half of 2 x 30 s");
        assert!(
            matches!(c.rack_meters, Some(RackMeters::Scrape { ref label, .. }) if label == "rack")
        );
        for wrong in ["racks = [\"r1\"]", "racks = [\"r1\"]\nkw = 5\ngpus = [\"GPU-b\"]", "kw = 5"]
        {
            let err = OracleConfig::from_toml(&shell(wrong), "t").expect_err(wrong);
            assert!(err.to_string().contains("lease 2"), "{wrong}: {err}");
        }
        let twice = format!(
            "{}\n[[leases]]\nlease_id = 3\nbilling = \"reserved\"\nstart_epoch = 2\n\
             end_epoch = 3\nracks = [\"r2\"]\nkw = 1\n",
            shell("racks = [\"r1\", \"r2\"]\nkw = 500")
        );
        let err = OracleConfig::from_toml(&twice, "t").expect_err("double");
        assert!(err.to_string().contains("feed r2 is allocated to two leases"), "{err}");
    }

    #[test]
    fn prometheus_needs_a_selector_and_staleness_defaults_apply() {
        let (from, to) =
            (GOOD.find("[source]").expect("source"), GOOD.find("[[leases]]").expect("leases"));
        let simulator = GOOD[from..to].to_string();
        let with = |source: &str| GOOD.replace(&simulator, &format!("[source]\n{source}\n"));
        for empty in ["", "selector = \"\"", "selector = \" {} \""] {
            let toml = with(&format!("kind = \"prometheus\"\nurl = \"http://p:9090\"\n{empty}"));
            let err = OracleConfig::from_toml(&toml, "t").expect_err("no selector");
            assert!(
                err.to_string().contains("source.selector")
                    && err.to_string().contains("Hostname="),
                "{err}"
            );
        }
        let toml =
            with("kind = \"prometheus\"\nurl = \"http://p:9090\"\nselector = 'job=\"dcgm\"'");
        let c = OracleConfig::from_toml(&toml, "t").expect("selector given");
        assert!(matches!(c.source, SourceConfig::Prometheus { stale_after_s: 130, .. }));
        let c = OracleConfig::from_toml(&with("kind = \"dcgm\"\nurl = \"http://d/metrics\""), "t")
            .expect("dcgm");
        assert!(matches!(c.source, SourceConfig::Dcgm { stale_after_s: 65, .. }));
        let toml = with("kind = \"dcgm\"\nurl = \"http://d/metrics\"\nstale_after_s = 0");
        let err = OracleConfig::from_toml(&toml, "t").expect_err("zero");
        assert!(err.to_string().contains("stale_after_s"), "{err}");
    }

    #[test]
    fn rejects_bad_address() {
        let err = OracleConfig::from_toml(
            &GOOD.replace("0x5FbDB2315678afecb367f032d93F642f64180aa3", "0x12"),
            "t",
        )
        .expect_err("short address");
        assert!(err.to_string().contains("registry"), "{err}");
    }
}
