//! Telemetry sources behind one type: simulator, NVML, dcgm-exporter, Prometheus server and
//! replay, plus the facility energy meter and powered-shell sub-meters.

mod dcgm;
mod facility;
mod nvml;
mod prometheus;
mod racks;
mod replay;
mod simulator;

pub use dcgm::{DcgmExporterSource, METRICS as DCGM_METRICS, parse_exposition};
pub use facility::{EnergyUnit, FacilityMeter};
pub use nvml::NvmlSource;
pub use prometheus::PrometheusSource;
pub use racks::RackMeters;
pub use replay::ReplaySource;
pub use simulator::{
    CurtailWindow, SimRack, Simulator, SimulatorConfig, Site, SiteProfile, add_to_schedule,
    read_schedule,
};

use crate::{OracleError, Result, SampleRecord};

/// Where GPU samples come from.
#[derive(Debug)]
pub enum TelemetrySource {
    /// Deterministic simulation.
    Simulator(Simulator),
    /// This host's GPUs through NVML (boxed: the library handle is large).
    Nvml(Box<NvmlSource>),
    /// A dcgm-exporter endpoint.
    Dcgm(DcgmExporterSource),
    /// A Prometheus server holding DCGM series.
    Prometheus(PrometheusSource),
    /// A recording.
    Replay(ReplaySource),
}

impl TelemetrySource {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Simulator(_) => "simulator",
            Self::Nvml(_) => "nvml",
            Self::Dcgm(_) => "dcgm",
            Self::Prometheus(_) => "prometheus",
            Self::Replay(_) => "replay",
        }
    }

    /// Whether past seconds can be read again (so a restart can fill the gap it caused).
    /// Live sources (NVML, exporter scrapes) only know now.
    pub fn can_backfill(&self) -> bool {
        matches!(self, Self::Simulator(_) | Self::Prometheus(_) | Self::Replay(_))
    }

    /// Every GPU's sample at second `t` (for live sources: now, stamped `t`).
    pub async fn sample(&mut self, t: u64) -> Result<SampleRecord> {
        let gpus = match self {
            Self::Simulator(sim) => return Ok(sim.sample(t)),
            Self::Replay(replay) => return Ok(replay.sample(t)),
            Self::Prometheus(prom) => {
                return prom.range(t, t).await?.pop().ok_or_else(|| OracleError::BadTelemetry {
                    source_name: "prometheus".into(),
                    reason: "empty range answer".into(),
                });
            }
            Self::Nvml(nvml) => nvml.sample()?,
            Self::Dcgm(dcgm) => dcgm.sample_at(t).await?,
        };
        Ok(SampleRecord { t, gpus, facility_mj: None, racks: vec![] })
    }
}

/// An instant PromQL query at second `t` on the Prometheus server at `url`: every series' labels
/// and value (series whose value is not a number are left out).
pub(crate) async fn instant_query(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    t: u64,
) -> Result<Vec<(std::collections::BTreeMap<String, String>, f64)>> {
    #[derive(serde::Deserialize)]
    struct Answer {
        status: String,
        data: Option<Data>,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        result: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        metric: std::collections::BTreeMap<String, String>,
        value: (f64, String),
    }
    let endpoint = format!("{}/api/v1/query", url.trim_end_matches('/'));
    let http = |reason: String| OracleError::Http { url: endpoint.clone(), reason };
    let params = [("query", query.to_string()), ("time", t.to_string())];
    let answer: Answer = client
        .get(&endpoint)
        .query(&params)
        .send()
        .await
        .map_err(|e| http(e.to_string()))?
        .json()
        .await
        .map_err(|e| http(e.to_string()))?;
    let Some(data) = (answer.status == "success").then_some(answer.data).flatten() else {
        return Err(http(format!("query {query:?} failed at t={t}")));
    };
    Ok(data
        .result
        .into_iter()
        .filter_map(|item| Some((item.metric, item.value.1.parse::<f64>().ok()?)))
        .collect())
}

/// GET `url` and return the body, with errors that name the URL.
pub(crate) async fn http_get_text(client: &reqwest::Client, url: &str) -> Result<String> {
    let http = |reason: String| OracleError::Http { url: url.to_string(), reason };
    let response = client.get(url).send().await.map_err(|e| http(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(http(format!("HTTP {status}")));
    }
    response.text().await.map_err(|e| http(e.to_string()))
}

impl TelemetrySource {
    /// Opens the configured source (NVML is loaded here and fails clearly without a driver).
    pub fn from_config(config: &crate::SourceConfig) -> Result<Self> {
        use crate::SourceConfig;
        config.validate()?;
        let client = || {
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .map_err(|e| OracleError::Config(format!("HTTP client: {e}")))
        };
        Ok(match config {
            SourceConfig::Simulator(sim) => Self::Simulator(Simulator::new(sim.clone())),
            SourceConfig::Nvml => Self::Nvml(Box::new(NvmlSource::init()?)),
            SourceConfig::Dcgm { url, stale_after_s } => Self::Dcgm(
                DcgmExporterSource::new(url.clone(), client()?).with_stale_after(*stale_after_s),
            ),
            SourceConfig::Prometheus { url, selector, stale_after_s } => Self::Prometheus(
                PrometheusSource::new(url.clone(), selector.clone(), client()?)
                    .with_stale_after(*stale_after_s),
            ),
            SourceConfig::Replay { path } => Self::Replay(ReplaySource::load(path)?),
        })
    }
}

/// A PromQL label selector in braces (`job="dcgm"` becomes `{job="dcgm"}`); `None` when it
/// selects nothing in particular (empty, or `{}`).
pub(crate) fn normalize_selector(selector: &str) -> Option<String> {
    let trimmed = selector.trim();
    let inner = trimmed.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(trimmed);
    if inner.trim().is_empty() {
        return None;
    }
    Some(if trimmed.starts_with('{') { trimmed.to_string() } else { format!("{{{trimmed}}}") })
}
