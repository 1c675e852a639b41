//! Powered-shell sub-meters: one energy counter per power feed (a rack's PDU, a row's or a hall's
//! meter), labelled by feed id, read as Prometheus metrics, either scraped from an exporter or
//! queried from a Prometheus server. An optional gauge says whether each feed has power; without
//! one, a feed whose meter answered is taken as powered.

use std::{collections::BTreeMap, ops::Add};

use serde::{Deserialize, Serialize};

use super::facility::EnergyUnit;
use crate::{OracleError, RackSample, Result};

/// Where the feeds' sub-meters are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RackMeters {
    /// Scrape an exporter's `/metrics` (a PDU or BMS exporter).
    Scrape {
        /// Exporter URL.
        url: String,
        /// Energy counter, one series per feed, e.g. `pdu_energy_wh_total`.
        energy_metric: String,
        /// Power-available gauge per feed (non-zero: powered), e.g. `pdu_input_powered`.
        #[serde(default)]
        powered_metric: Option<String>,
        /// The label naming the feed.
        #[serde(default = "default_label")]
        label: String,
        /// The counter's unit.
        unit: EnergyUnit,
    },
    /// Instant PromQL queries on a Prometheus server at each second.
    Prometheus {
        /// Server base URL.
        url: String,
        /// Query returning one energy series per feed, e.g. `pdu_energy_wh_total{site="tx1"}`.
        energy_query: String,
        /// Query returning one power-available series per feed (non-zero: powered).
        #[serde(default)]
        powered_query: Option<String>,
        /// The label naming the feed.
        #[serde(default = "default_label")]
        label: String,
        /// The counter's unit.
        unit: EnergyUnit,
    },
}

fn default_label() -> String {
    "rack".into()
}

impl RackMeters {
    /// Every feed's reading at second `t`.
    pub async fn read(&self, client: &reqwest::Client, t: u64) -> Result<Vec<RackSample>> {
        match self {
            Self::Scrape { url, energy_metric, powered_metric, label, unit } => {
                let text = super::http_get_text(client, url).await?;
                let bad =
                    |reason: String| OracleError::BadTelemetry { source_name: url.clone(), reason };
                let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.into())))
                    .map_err(|e| bad(e.to_string()))?;
                let series = |metric: &str, combine: Combine| -> BTreeMap<String, f64> {
                    by_feed(
                        scrape.samples.iter().filter(|s| s.metric == metric).filter_map(|s| {
                            let id = s.labels.get(label)?;
                            Some((id.to_string(), super::dcgm::scalar(&s.value)?))
                        }),
                        combine,
                    )
                };
                let energy = series(energy_metric, f64::add);
                if energy.is_empty() {
                    return Err(bad(format!(
                        "no {energy_metric} series with a {label:?} label (set energy_metric, label)"
                    )));
                }
                let powered = powered_metric.as_deref().map(|m| series(m, f64::min));
                Ok(samples(energy, powered.as_ref(), *unit))
            }
            Self::Prometheus { url, energy_query, powered_query, label, unit } => {
                let energy = query(client, url, energy_query, label, t, f64::add).await?;
                if energy.is_empty() {
                    return Err(OracleError::Http {
                        url: url.clone(),
                        reason: format!(
                            "{energy_query:?} returned no series with a {label:?} label"
                        ),
                    });
                }
                let powered = match powered_query {
                    Some(q) => Some(query(client, url, q, label, t, f64::min).await?),
                    None => None,
                };
                Ok(samples(energy, powered.as_ref(), *unit))
            }
        }
    }
}

/// One sample per feed with an energy reading; powered per the gauge when there is one.
fn samples(
    energy: BTreeMap<String, f64>,
    powered: Option<&BTreeMap<String, f64>>,
    unit: EnergyUnit,
) -> Vec<RackSample> {
    energy
        .into_iter()
        .map(|(id, value)| RackSample {
            // NaN or negative is not "powered".
            powered: powered.is_none_or(|p| p.get(&id).is_some_and(|v| *v > 0.0)),
            energy_mj: unit.to_mj(value),
            id,
        })
        .collect()
}

/// An instant query at `t`: each series' value by its `label`.
async fn query(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    label: &str,
    t: u64,
    combine: Combine,
) -> Result<BTreeMap<String, f64>> {
    let series = super::instant_query(client, url, query, t).await?;
    Ok(by_feed(
        series.into_iter().filter_map(|(labels, value)| Some((labels.get(label)?.clone(), value))),
        combine,
    ))
}

/// How two series of one feed combine: energy adds up (an A and a B supply of one rack); the
/// power gauge takes the lower (a feed is powered only if every series says so).
type Combine = fn(f64, f64) -> f64;

/// Values by feed, series of the same feed combined (never "the last one wins").
fn by_feed(pairs: impl Iterator<Item = (String, f64)>, combine: Combine) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (id, value) in pairs {
        out.entry(id).and_modify(|v: &mut f64| *v = combine(*v, value)).or_insert(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_series_of_one_feed_combine_instead_of_the_last_winning() {
        let pairs = || {
            [("r1".to_string(), 2.0), ("r1".to_string(), 3.0), ("r2".to_string(), f64::NAN)]
                .into_iter()
        };
        assert_eq!(by_feed(pairs(), f64::add)["r1"], 5.0, "A and B supplies add up");
        let gauge = by_feed(pairs().map(|(id, v)| (id, v - 2.0)), f64::min);
        assert_eq!(gauge["r1"], 0.0, "one supply down: not powered");
        let s = samples(BTreeMap::from([("r2".into(), 1.0)]), Some(&gauge), EnergyUnit::Wh);
        assert!(!s[0].powered, "a NaN gauge is not powered");
    }

    #[test]
    fn feeds_are_powered_per_the_gauge_or_when_their_meter_answers() {
        let energy = BTreeMap::from([("r1".to_string(), 2.0), ("r2".to_string(), 3.5)]);
        let all = samples(energy.clone(), None, EnergyUnit::Wh);
        assert!(all.iter().all(|s| s.powered), "no gauge: a meter that answers is powered");
        assert_eq!(all[1].energy_mj, 12_600_000, "3.5 Wh");
        let gauge = BTreeMap::from([("r1".to_string(), 0.0)]);
        let some = samples(energy, Some(&gauge), EnergyUnit::Kwh);
        assert_eq!(
            some.iter().map(|s| (s.id.as_str(), s.powered)).collect::<Vec<_>>(),
            vec![("r1", false), ("r2", false)],
            "gauge 0: off; no gauge series for r2: not known to be powered"
        );
    }
}
