//! NVIDIA DCGM exporter: scrape its Prometheus endpoint and map the DCGM fields to samples.
//!
//! Fields used (all per GPU, labelled `UUID`): `DCGM_FI_DEV_GPU_UTIL` (%),
//! `DCGM_FI_DEV_POWER_USAGE` (W), `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION` (mJ since boot),
//! `DCGM_FI_DEV_FB_USED` (MiB), `DCGM_FI_DEV_XID_ERRORS` (last XID), and
//! `DCGM_FI_DEV_ECC_DBE_VOL_TOTAL` (uncorrectable ECC). The first three are required.

use std::collections::{BTreeMap, HashMap};

use crate::{GpuSample, OracleError, Result};

/// Utilization metric.
pub(crate) const GPU_UTIL: &str = "DCGM_FI_DEV_GPU_UTIL";
/// Power metric (W).
pub(crate) const POWER_USAGE: &str = "DCGM_FI_DEV_POWER_USAGE";
/// Energy counter metric (mJ).
pub(crate) const TOTAL_ENERGY: &str = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION";
/// Framebuffer used (MiB).
pub(crate) const FB_USED: &str = "DCGM_FI_DEV_FB_USED";
/// Last XID error.
pub(crate) const XID_ERRORS: &str = "DCGM_FI_DEV_XID_ERRORS";
/// Volatile double-bit ECC errors.
pub(crate) const ECC_DBE: &str = "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL";

/// Every DCGM metric read, in query order.
pub const METRICS: [&str; 6] = [GPU_UTIL, POWER_USAGE, TOTAL_ENERGY, FB_USED, XID_ERRORS, ECC_DBE];

/// Values of the DCGM metrics for one GPU.
#[derive(Debug, Default, Clone)]
pub(crate) struct DcgmValues(pub(crate) BTreeMap<&'static str, f64>);

impl DcgmValues {
    /// Builds the sample; `source_name` names the endpoint in errors.
    pub(crate) fn into_sample(self, uuid: String, source_name: &str) -> Result<GpuSample> {
        let get = |metric: &'static str| self.0.get(metric).copied();
        let need = |metric: &'static str| {
            get(metric).ok_or_else(|| OracleError::BadTelemetry {
                source_name: source_name.to_string(),
                reason: format!(
                    "no {metric} for {uuid}: enable the field in the exporter's counters CSV \
                     (e.g. dcp-metrics-included.csv)"
                ),
            })
        };
        let util = need(GPU_UTIL)?;
        let power_w = need(POWER_USAGE)?;
        let energy = need(TOTAL_ENERGY)?;
        let xid = get(XID_ERRORS).unwrap_or(0.0);
        let ecc_dbe = get(ECC_DBE).unwrap_or(0.0);
        Ok(GpuSample {
            healthy: xid == 0.0 && ecc_dbe == 0.0,
            util_pct: util.clamp(0.0, 100.0).round() as u8,
            power_mw: (power_w.max(0.0) * 1000.0).round() as u32,
            energy_mj: energy.max(0.0) as u64,
            mem_used_mib: get(FB_USED).unwrap_or(0.0).max(0.0) as u32,
            ecc_dbe: ecc_dbe.max(0.0) as u64,
            xid: xid.max(0.0) as u32,
            uuid,
        })
    }
}

/// The number of a counter, gauge or untyped sample (histograms and summaries have none).
pub(crate) fn scalar(value: &prometheus_parse::Value) -> Option<f64> {
    match *value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => Some(v),
        _ => None,
    }
}

/// Parses a DCGM exporter payload (Prometheus text format) into one sample per GPU.
pub fn parse_exposition(text: &str, source_name: &str) -> Result<Vec<GpuSample>> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).map_err(|e| OracleError::BadTelemetry {
        source_name: source_name.to_string(),
        reason: format!("not Prometheus text format: {e}"),
    })?;
    let mut by_gpu: BTreeMap<String, DcgmValues> = BTreeMap::new();
    for sample in scrape.samples {
        let Some(metric) = METRICS.iter().find(|m| **m == sample.metric) else { continue };
        let Some(uuid) = sample.labels.get("UUID") else {
            return Err(OracleError::BadTelemetry {
                source_name: source_name.to_string(),
                reason: format!("{metric} sample without a UUID label"),
            });
        };
        let Some(value) = scalar(&sample.value) else { continue };
        by_gpu.entry(uuid.to_string()).or_default().0.insert(metric, value);
    }
    if by_gpu.is_empty() {
        return Err(OracleError::BadTelemetry {
            source_name: source_name.to_string(),
            reason: format!("no {GPU_UTIL} series: is this a dcgm-exporter /metrics endpoint?"),
        });
    }
    by_gpu.into_iter().map(|(uuid, values)| values.into_sample(uuid, source_name)).collect()
}

/// Scrapes a dcgm-exporter `/metrics` endpoint.
///
/// The exposition carries no timestamps, so a GPU's age is judged by when its energy counter last
/// changed: a powered GPU's counter moves at every exporter refresh, and a counter frozen for
/// longer than the staleness limit means the GPU (or DCGM) stopped reporting.
#[derive(Debug, Clone)]
pub struct DcgmExporterSource {
    url: String,
    client: reqwest::Client,
    stale_after_s: u64,
    /// Per GPU: the last energy counter value and the second it was first seen.
    changed: HashMap<String, (u64, u64)>,
}

impl DcgmExporterSource {
    /// A source for `url` (e.g. `http://gpu-node-1:9400/metrics`), with the default staleness
    /// limit (two 30 s exporter refreshes and a margin).
    pub fn new(url: impl Into<String>, client: reqwest::Client) -> Self {
        Self {
            url: url.into(),
            client,
            stale_after_s: crate::config::DEFAULT_DCGM_STALE_AFTER_S,
            changed: HashMap::new(),
        }
    }

    /// Sets the staleness limit: a GPU whose counter has not changed for longer is unavailable.
    pub fn with_stale_after(mut self, seconds: u64) -> Self {
        self.stale_after_s = seconds;
        self
    }

    /// One scrape, every GPU as the exporter shows it (stale or not).
    pub async fn sample(&self) -> Result<Vec<GpuSample>> {
        let text = super::http_get_text(&self.client, &self.url).await?;
        parse_exposition(&text, &self.url)
    }

    /// One scrape for second `t`: GPUs whose energy counter has not changed for longer than the
    /// staleness limit are left out (unavailable this second). A GPU first seen counts as fresh.
    pub async fn sample_at(&mut self, t: u64) -> Result<Vec<GpuSample>> {
        let mut gpus = self.sample().await?;
        gpus.retain(|gpu| {
            let (value, since) = self
                .changed
                .entry(gpu.uuid.clone())
                .and_modify(|(value, since)| {
                    if *value != gpu.energy_mj {
                        (*value, *since) = (gpu.energy_mj, t);
                    }
                })
                .or_insert((gpu.energy_mj, t));
            let fresh = t.saturating_sub(*since) <= self.stale_after_s;
            if !fresh {
                tracing::debug!(uuid = %gpu.uuid, value, since, t, "energy counter frozen: stale");
            }
            fresh
        });
        Ok(gpus)
    }
}
