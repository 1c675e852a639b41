//! An existing Prometheus server that already scrapes dcgm-exporter on every GPU host: read the
//! same DCGM series with PromQL range queries over its HTTP API (`/api/v1/query_range`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::dcgm::{DcgmValues, METRICS};
use crate::{OracleError, Result, SampleRecord};

/// Prometheus answers at most 11,000 points per series; stay below it.
const MAX_POINTS: u64 = 10_000;

/// Reads DCGM series from a Prometheus server.
#[derive(Debug, Clone)]
pub struct PrometheusSource {
    base_url: String,
    selector: String,
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

impl PrometheusSource {
    /// A source for the server at `base_url` (e.g. `http://prometheus:9090`), restricted by the
    /// label `selector` (e.g. `{Hostname=~"gpu-node-.*"}`; empty for all GPUs).
    pub fn new(
        base_url: impl Into<String>,
        selector: impl Into<String>,
        client: reqwest::Client,
    ) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            selector: selector.into(),
            client,
        }
    }

    /// One record per second in `[start, end]`, each with the GPUs that had every required
    /// series at that second (a GPU missing there is unavailable for the second).
    pub async fn range(&self, start: u64, end: u64) -> Result<Vec<SampleRecord>> {
        let mut by_t: BTreeMap<u64, BTreeMap<String, DcgmValues>> = BTreeMap::new();
        let mut chunk_start = start;
        while chunk_start <= end {
            let chunk_end = end.min(chunk_start + MAX_POINTS - 1);
            for metric in METRICS {
                for series in self.query_range(metric, chunk_start, chunk_end).await? {
                    let Some(uuid) = series.metric.get("UUID") else { continue };
                    for (ts, value) in series.values {
                        let Ok(value) = value.parse::<f64>() else { continue };
                        by_t.entry(ts as u64)
                            .or_default()
                            .entry(uuid.clone())
                            .or_default()
                            .0
                            .insert(metric, value);
                    }
                }
            }
            chunk_start = chunk_end + 1;
        }
        Ok((start..=end)
            .map(|t| {
                let gpus = by_t
                    .remove(&t)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(uuid, values)| values.into_sample(uuid, &self.base_url).ok())
                    .collect();
                SampleRecord { t, gpus, facility_mj: None }
            })
            .collect())
    }

    async fn query_range(&self, metric: &str, start: u64, end: u64) -> Result<Vec<Series>> {
        let url = format!("{}/api/v1/query_range", self.base_url);
        let query = format!("{metric}{}", self.selector);
        let params = [
            ("query", query.clone()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", "1".into()),
        ];
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
