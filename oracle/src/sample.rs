//! One second of telemetry: what every source produces and the audit log records.

use serde::{Deserialize, Serialize};

/// One GPU at one second. Integers only, so the audit log hashes the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuSample {
    /// The GPU's UUID (`GPU-…`), the key leases are allocated by.
    pub uuid: String,
    /// Whether the GPU could serve work this second (responding, no XID or uncorrectable ECC).
    pub healthy: bool,
    /// Utilization in percent (0–100): the share of the second a kernel was running.
    pub util_pct: u8,
    /// Power draw in milliwatts.
    pub power_mw: u32,
    /// Energy counter in millijoules since the driver loaded (may reset; handled by aggregation).
    pub energy_mj: u64,
    /// Framebuffer memory used, MiB.
    pub mem_used_mib: u32,
    /// Volatile uncorrectable (double-bit) ECC errors.
    pub ecc_dbe: u64,
    /// Last XID error code (0: none).
    pub xid: u32,
}

/// One power feed's sub-meter at one second: a rack's PDU, a row's or a data hall's meter serving
/// a powered-shell tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RackSample {
    /// The feed's id, the key powered-shell leases are allocated by.
    pub id: String,
    /// Whether power was available at the feed this second.
    pub powered: bool,
    /// Energy counter in millijoules (a sub-meter's register; never expected to run backwards).
    pub energy_mj: u64,
}

/// Every GPU's sample at second `t`, plus the facility meter's energy counter and the sub-meters
/// of powered-shell feeds when they are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// Unix time, seconds.
    pub t: u64,
    /// GPUs that answered this second; a GPU absent here is unavailable for this second.
    pub gpus: Vec<GpuSample>,
    /// Facility energy counter in millijoules (whole site, for PUE), if metered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility_mj: Option<u64>,
    /// Sub-meters that answered this second; a feed absent here had no power available.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub racks: Vec<RackSample>,
}

impl SampleRecord {
    /// The canonical JSON line of this record: the audit-log line and the telemetry-root input.
    pub fn to_line(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a sample record always serializes")
    }
}
