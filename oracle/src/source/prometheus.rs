//! An existing Prometheus server that already scrapes dcgm-exporter on every GPU host: read the
//! same DCGM series' raw samples with their own timestamps (a range-vector instant query over the
//! HTTP API, `/api/v1/query`), and give each second the latest sample at or before it, unless
//! that sample is older than the staleness limit. Prometheus's own 5-minute lookback would keep
//! a host that stopped reporting healthy; the sample timestamps do not.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::dcgm::{DcgmValues, METRICS};
use crate::{OracleError, Result, SampleRecord};

/// Seconds read per query: bounds each answer (15 minutes of 1 s scrapes are 900 points a series,
/// about 2.8 million for 512 GPUs' six series).
const CHUNK_S: u64 = 900;

/// Reads DCGM series from a Prometheus server.
#[derive(Debug, Clone)]
pub struct PrometheusSource {
    base_url: String,
    selector: String,
    stale_after_s: u64,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<MatrixData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct MatrixData {
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// One series' raw samples: (timestamp in ms, value), ascending.
type Points = Vec<(u64, f64)>;

impl PrometheusSource {
    /// A source for the server at `base_url` (e.g. `http://prometheus:9090`), restricted by the
    /// label `selector` (e.g. `{Hostname=~"gpu-node-.*"}` or `Hostname="gpu-node-7"`), with the
    /// default staleness limit. [`SourceConfig`](crate::SourceConfig) refuses an empty selector.
    pub fn new(
        base_url: impl Into<String>,
        selector: impl Into<String>,
        client: reqwest::Client,
    ) -> Self {
        let selector = selector.into();
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            selector: super::normalize_selector(&selector).unwrap_or(selector),
            stale_after_s: crate::config::DEFAULT_PROMETHEUS_STALE_AFTER_S,
            client,
        }
    }

    /// Sets the staleness limit: a sample older than this many seconds is unavailable.
    pub fn with_stale_after(mut self, seconds: u64) -> Self {
        self.stale_after_s = seconds;
        self
    }

    /// One record per second in `[start, end]`, each with the GPUs that had a fresh sample (at
    /// most `stale_after_s` old, at or before the second) of every required series (a GPU
    /// missing there is unavailable for the second). A counter's new value appears at the second
    /// of its sample's own timestamp, so energy is attributed by when the counter changed.
    pub async fn range(&self, start: u64, end: u64) -> Result<Vec<SampleRecord>> {
        let mut records = Vec::new();
        let mut chunk_start = start;
        while chunk_start <= end {
            let chunk_end = end.min(chunk_start.saturating_add(CHUNK_S - 1));
            records.extend(self.chunk(chunk_start, chunk_end).await?);
            chunk_start = chunk_end + 1;
        }
        Ok(records)
    }

    async fn chunk(&self, start: u64, end: u64) -> Result<Vec<SampleRecord>> {
        // Reach back one staleness limit before `start`, so its first seconds see the last
        // sample taken before them.
        let window_s = end - start + self.stale_after_s + 1;
        // Per GPU and metric: the raw samples, and the index of the first one after the second.
        let mut series: BTreeMap<String, Vec<(&'static str, Points, usize)>> = BTreeMap::new();
        for metric in METRICS {
            for s in self.raw_samples(metric, window_s, end).await? {
                let Some(uuid) = s.metric.get("UUID") else { continue };
                let points = s
                    .values
                    .iter()
                    .filter_map(|(ts, v)| Some(((ts * 1000.0).round() as u64, v.parse().ok()?)))
                    .collect();
                series.entry(uuid.clone()).or_default().push((metric, points, 0));
            }
        }
        let stale_after_ms = self.stale_after_s * 1000;
        let mut records = Vec::with_capacity(usize::try_from(end - start + 1).unwrap_or(0));
        for t in start..=end {
            let t_ms = t * 1000;
            let mut gpus = Vec::new();
            for (uuid, metrics) in &mut series {
                let mut values = DcgmValues::default();
                for (metric, points, cursor) in metrics.iter_mut() {
                    while points.get(*cursor).is_some_and(|(ts, _)| *ts <= t_ms) {
                        *cursor += 1;
                    }
                    let latest = cursor.checked_sub(1).and_then(|i| points.get(i));
                    if let Some((ts, value)) = latest
                        && t_ms - ts <= stale_after_ms
                    {
                        values.0.insert(metric, *value);
                    }
                }
                // A GPU lacking a fresh required series is unavailable this second.
                if let Ok(sample) = values.into_sample(uuid.clone(), &self.base_url) {
                    gpus.push(sample);
                }
            }
            records.push(SampleRecord { t, gpus, facility_mj: None, racks: vec![] });
        }
        Ok(records)
    }

    /// The raw samples of `metric` for this selector in the `window_s` seconds up to `at`.
    async fn raw_samples(&self, metric: &str, window_s: u64, at: u64) -> Result<Vec<Series>> {
        let url = format!("{}/api/v1/query", self.base_url);
        let query = format!("{metric}{}[{window_s}s]", self.selector);
        let params = [("query", query.clone()), ("time", at.to_string())];
        let http = |reason: String| OracleError::Http { url: url.clone(), reason };
        let response =
            self.client.get(&url).query(&params).send().await.map_err(|e| http(e.to_string()))?;
        let body: ApiResponse =
            response.json().await.map_err(|e| http(format!("not a Prometheus API answer: {e}")))?;
        if body.status != "success" {
            return Err(http(format!(
                "query {query:?} failed: {}",
                body.error.unwrap_or(body.status)
            )));
        }
        Ok(body.data.map(|d| d.result).unwrap_or_default())
    }
}
