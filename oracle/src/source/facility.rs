//! Facility energy meter (whole site: IT, cooling, losses), for PUE. Read as a Prometheus metric,
//! either scraped from an exporter or queried from a Prometheus server.

use serde::{Deserialize, Serialize};

use crate::{OracleError, Result};

/// Unit of the meter's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnergyUnit {
    /// Joules.
    Joules,
    /// Watt-hours.
    Wh,
    /// Kilowatt-hours.
    Kwh,
}

impl EnergyUnit {
    pub(crate) fn to_mj(self, value: f64) -> u64 {
        let factor = match self {
            Self::Joules => 1e3,
            Self::Wh => 3.6e6,
            Self::Kwh => 3.6e9,
        };
        (value.max(0.0) * factor) as u64
    }
}

/// A facility energy counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FacilityMeter {
    /// Scrape `metric` (first series) from an exporter's `/metrics`.
    Scrape {
        /// Exporter URL.
        url: String,
        /// Metric name, e.g. `facility_energy_kwh_total`.
        metric: String,
        /// The counter's unit.
        unit: EnergyUnit,
    },
    /// Instant PromQL `query` on a Prometheus server at each second.
    Prometheus {
        /// Server base URL.
        url: String,
        /// Query returning one series, e.g. `site_meter_energy_wh_total{site="tx1"}`.
        query: String,
        /// The counter's unit.
        unit: EnergyUnit,
    },
}

impl FacilityMeter {
    /// The counter in millijoules at second `t`.
    pub async fn read(&self, client: &reqwest::Client, t: u64) -> Result<u64> {
        match self {
            Self::Scrape { url, metric, unit } => {
                let text = super::http_get_text(client, url).await?;
                let lines = text.lines().map(|l| Ok(l.to_string()));
                let bad =
                    |reason: String| OracleError::BadTelemetry { source_name: url.clone(), reason };
                let scrape =
                    prometheus_parse::Scrape::parse(lines).map_err(|e| bad(e.to_string()))?;
                let value = scrape
                    .samples
                    .iter()
                    .find(|s| &s.metric == metric)
                    .and_then(|s| super::dcgm::scalar(&s.value))
                    .ok_or_else(|| {
                        bad(format!("no facility metric {metric} (set [facility] metric)"))
                    })?;
                Ok(unit.to_mj(value))
            }
            Self::Prometheus { url, query, unit } => {
                let series = super::instant_query(client, url, query, t).await?;
                let value = series.into_iter().next().map(|(_, value)| value).ok_or_else(|| {
                    OracleError::Http {
                        url: url.clone(),
                        reason: format!("query {query:?} returned no value at t={t}"),
                    }
                })?;
                Ok(unit.to_mj(value))
            }
        }
    }
}
