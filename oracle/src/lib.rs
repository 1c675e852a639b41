//! The compute-ledger oracle: GPU telemetry in, signed EIP-712 usage reports out.
//!
//! - Sources ([`TelemetrySource`]): a seeded [`Simulator`], NVML ([`NvmlSource`]),
//!   dcgm-exporter scrapes ([`DcgmExporterSource`]), a Prometheus server holding DCGM series
//!   ([`PrometheusSource`]) and JSON-lines [`ReplaySource`]; plus a [`FacilityMeter`] for PUE.
//! - Aggregation ([`EpochAccumulator`]): 1 Hz samples into healthy and busy GPU-seconds and
//!   counter-based energy per GPU (attributed by when each counter changed), then cluster totals and per-lease deliveries by billing mode
//!   ([`LeaseAllocation`]). Missing seconds count as unavailable.
//! - Durability ([`SampleStore`], sled): every second is flushed before the next (off the async
//!   threads), and the epoch is rebuilt from disk on restart, so a kill -9 never changes a report.
//!   Settled epochs are deleted through [`Retention`] ([`Oracle::retention`]), which the node
//!   calls.
//! - Output ([`Oracle`] → [`EpochOutcome`]): the [`UsageReport`](compute_ledger_types::UsageReport),
//!   its deliveries tree, and the telemetry archive whose hash chain is `telemetryRoot`.
//! - Keys ([`KeyConfig`], [`SignedReport`]): encrypted keystores, M-of-N co-signing.

mod allocation;
mod config;
mod curtailment;
mod epoch;
mod error;
mod oracle;
mod retention;
mod runner;
mod sample;
mod signing;
mod source;
mod store;
mod telemetry;

pub use allocation::{Billing, LeaseAllocation};
pub use config::{DemandResponseConfig, OracleConfig, SourceConfig};
pub use curtailment::{
    BaselineMethod, CurtailmentWindow, DAY_S, measure_curtailment, measure_like_days,
};
pub use epoch::{
    Carry, EpochAccumulator, EpochClock, EpochSummary, GpuTally, MAX_FEED_WATTS, MAX_GPU_WATTS,
    METER_STALL_S, MJ_PER_WH, MeterFault, MeterFaultKind, RackTally, counter_delta,
};
pub use error::{OracleError, Result};
pub use oracle::{
    CURTAILMENT_SYNC_GRACE_S, EpochOutcome, LIVE_SAMPLE_TIMEOUT, MAX_SCRAPE_LAG_S, Oracle,
    build_report,
};
pub use retention::Retention;
pub use runner::{
    MAX_LIVE_LAG_S, ReportFile, publish, republish_missing, run_live, run_live_notifying,
    run_range, unix_now,
};
pub use sample::{GpuSample, RackSample, SampleRecord};
pub use signing::{KeyConfig, SignedReport, create_keystore, load_keystore};
pub use source::{
    CurtailWindow, DCGM_METRICS, DcgmExporterSource, EnergyUnit, FacilityMeter, NvmlSource,
    PrometheusSource, RackMeters, ReplaySource, SimRack, Simulator, SimulatorConfig, Site,
    SiteProfile, TelemetrySource, add_to_schedule, parse_exposition, read_schedule,
};
pub use store::{SampleDb, SampleStore};
pub use telemetry::{TELEMETRY_TAG, TelemetryHasher, telemetry_root_of_archive};
