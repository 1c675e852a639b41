//! NVML through `nvml-wrapper`: loads `libnvidia-ml.so.1` at run time, so this compiles
//! everywhere and fails with a clear message where no NVIDIA driver is installed.

use nvml_wrapper::{
    Nvml,
    enum_wrappers::device::{EccCounter, MemoryError},
};

use crate::{GpuSample, OracleError, Result};

/// Reads every GPU on this host through NVML.
pub struct NvmlSource {
    nvml: Nvml,
}

impl std::fmt::Debug for NvmlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NvmlSource")
    }
}

impl NvmlSource {
    /// Loads and initialises NVML.
    pub fn init() -> Result<Self> {
        let nvml = Nvml::init().map_err(|e| OracleError::NvmlUnavailable(e.to_string()))?;
        Ok(Self { nvml })
    }

    /// One sample per GPU. A GPU whose queries fail is reported unhealthy, not dropped.
    pub fn sample(&self) -> Result<Vec<GpuSample>> {
        let count = self.nvml.device_count().map_err(|e| OracleError::Nvml(e.to_string()))?;
        let mut out = Vec::with_capacity(count as usize);
        for index in 0..count {
            let device =
                self.nvml.device_by_index(index).map_err(|e| OracleError::Nvml(e.to_string()))?;
            let uuid = device.uuid().map_err(|e| OracleError::Nvml(e.to_string()))?;
            let util = device.utilization_rates().map(|u| u.gpu);
            let power = device.power_usage();
            let energy = device.total_energy_consumption();
            let memory = device.memory_info().map(|m| m.used / (1024 * 1024));
            // Not every board exposes ECC; absence is not an error.
            let ecc_dbe = device
                .total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile)
                .unwrap_or(0);
            let healthy = util.is_ok() && power.is_ok() && energy.is_ok() && ecc_dbe == 0;
            out.push(GpuSample {
                uuid,
                healthy,
                util_pct: util.map(|u| u.min(100) as u8).unwrap_or(0),
                power_mw: power.unwrap_or(0),
                energy_mj: energy.unwrap_or(0),
                mem_used_mib: memory.map(|m| m.min(u64::from(u32::MAX)) as u32).unwrap_or(0),
                ecc_dbe,
                xid: 0,
            });
        }
        Ok(out)
    }
}
