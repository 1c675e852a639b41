//! Demand-response curtailment measured on the facility meter.
//!
//! Two baseline methods ([`BaselineMethod`], chosen per oracle in its `[demand_response]`):
//!
//! - **Meter-before** (the default). The baseline is the facility's mean power over the
//!   `baseline_s` seconds just before the event starts (no longer than the event itself), held
//!   for the event's length. This is the meter-before/meter-after family ERCOT uses for emergency
//!   response resources, without the after half (the event is attested in the report of the
//!   epoch it ends in, before any "after" exists). It suits loads that are flat over the minutes
//!   around an event (miners): a flat load has no better predictor than its last minutes.
//! - **Like-days.** The baseline is the mean of what the facility drew over the same window on
//!   each of the previous `like_days` days, read from the telemetry archives of those days (the
//!   node keeps archives `retention_days`). It suits sites whose load follows the day, where the
//!   minutes before an event say little about the event's hours; a site cannot inflate it by
//!   ramping up just before an event. Every one of those days must be measurable, or the event is
//!   not attested.
//!
//! Either way the actual is what the meter counted during `[start, end)`, and curtailment is
//! baseline − actual.
//!
//! Everything comes from the telemetry archive: the facility counter at second `t` is the meter's
//! reading stored with `t` (energy of every second before `t`). When the event ends exactly at an
//! epoch's end, the counter at `end` belongs to the next epoch, not yet sampled when the epoch is
//! finalized; it is then extrapolated from the event's last two seconds (`2·c(end−1) − c(end−2)`),
//! which errs by the change in the curtailed site's draw over one second.
//!
//! The oracle attests an event (a [`CurtailmentLeaf`] in the deliveries tree of the epoch in which
//! the event ends) only if the node saw the site acknowledge it on chain: an event the site never
//! received is never attested, so no payout is invented for load that merely varied.

use alloy::primitives::{Address, U256};
use compute_ledger_types::CurtailmentLeaf;
use serde::{Deserialize, Serialize};

use crate::{OracleError, Result, SampleRecord};

/// Milli-joules per watt-hour.
const MJ_PER_WH: u64 = 3_600_000;
/// A counter reading may be missing for at most this many seconds around a point; beyond that the
/// event is not attested.
const MAX_READING_GAP_S: u64 = 5;

/// Seconds per day (like-days windows are shifted by whole days).
pub const DAY_S: u64 = 86_400;

/// How a curtailment's baseline is taken (see the module docs for when to use which).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineMethod {
    /// The mean power of the minutes just before the event.
    #[default]
    MeterBefore,
    /// The mean energy of the same window on the previous days.
    LikeDays,
}

/// An acknowledged event the oracle must attest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurtailmentWindow {
    /// The `DemandResponse` deployment.
    pub demand_response: Address,
    /// Its event id.
    pub event_id: U256,
    /// First second of the event (unix).
    pub start: u64,
    /// End of the event (unix, exclusive).
    pub end: u64,
}

impl CurtailmentWindow {
    /// The first second the baseline reads, for a baseline of at most `baseline_s`.
    pub fn baseline_from(&self, baseline_s: u64) -> u64 {
        self.start.saturating_sub(self.baseline_len(baseline_s))
    }

    fn baseline_len(&self, baseline_s: u64) -> u64 {
        baseline_s.min(self.end - self.start).max(1)
    }
}

fn unmeasurable(window: &CurtailmentWindow, reason: String) -> OracleError {
    OracleError::Unmeasurable { event: window.event_id.to_string(), reason }
}

fn no_reading(window: &CurtailmentWindow, t: u64) -> OracleError {
    unmeasurable(window, format!("no facility-meter reading within {MAX_READING_GAP_S} s of {t}"))
}

fn backwards(window: &CurtailmentWindow, from: u64, to: u64) -> OracleError {
    unmeasurable(window, format!("the facility meter ran backwards between {from} and {to}"))
}

/// The facility counter readings `(t, mJ)` of `records`.
fn readings(records: &[SampleRecord]) -> Vec<(u64, u64)> {
    records.iter().filter_map(|r| r.facility_mj.map(|mj| (r.t, mj))).collect()
}

/// The counter at `t`, or why the event cannot be measured.
fn counter(window: &CurtailmentWindow, readings: &[(u64, u64)], t: u64) -> Result<u64> {
    match counter_at(readings, t) {
        Reading::At(c) => Ok(c),
        Reading::Missing => Err(no_reading(window, t)),
        Reading::Backwards(from, to) => Err(backwards(window, from, to)),
    }
}

/// What the meter counted over `[from, to)`.
fn energy(window: &CurtailmentWindow, readings: &[(u64, u64)], from: u64, to: u64) -> Result<u64> {
    let (c_from, c_to) = (counter(window, readings, from)?, counter(window, readings, to)?);
    c_to.checked_sub(c_from).ok_or_else(|| backwards(window, from, to))
}

fn wh(mj: u128) -> u64 {
    u64::try_from(mj / u128::from(MJ_PER_WH)).unwrap_or(u64::MAX)
}

/// Measures `window` against a like-days baseline: `days[i]` holds the records around the window
/// shifted back `i + 1` days (ascending), `records` those of the window itself.
pub fn measure_like_days(
    cluster_id: u64,
    window: &CurtailmentWindow,
    days: &[Vec<SampleRecord>],
    records: &[SampleRecord],
) -> Result<CurtailmentLeaf> {
    if days.is_empty() {
        return Err(unmeasurable(window, "a like-days baseline needs at least one day".into()));
    }
    let mut total = 0u128;
    for (i, day) in days.iter().enumerate() {
        let shift = (i as u64 + 1) * DAY_S;
        let (from, to) = (window.start.saturating_sub(shift), window.end.saturating_sub(shift));
        total += u128::from(
            energy(window, &readings(day), from, to)
                .map_err(|e| unmeasurable(window, format!("like day -{}: {e}", i + 1)))?,
        );
    }
    let actual = energy(window, &readings(records), window.start, window.end)?;
    Ok(CurtailmentLeaf {
        demand_response: window.demand_response,
        event_id: window.event_id,
        cluster_id,
        baseline_wh: wh(total / days.len() as u128),
        actual_wh: actual / MJ_PER_WH,
    })
}

/// Measures `window` from the records covering `[start − baseline, end]` (ascending), with a
/// meter-before baseline of at most `baseline_s` seconds, as the leaf of `cluster_id`.
pub fn measure_curtailment(
    cluster_id: u64,
    window: &CurtailmentWindow,
    baseline_s: u64,
    records: &[SampleRecord],
) -> Result<CurtailmentLeaf> {
    let readings = readings(records);
    let at = |t: u64| counter(window, &readings, t);
    let len = window.baseline_len(baseline_s);
    let before = window.start - len;
    let (c_before, c_start, c_end) = (at(before)?, at(window.start)?, at(window.end)?);
    if c_start < c_before {
        return Err(backwards(window, before, window.start));
    }
    if c_end < c_start {
        return Err(backwards(window, window.start, window.end));
    }
    let duration = window.end - window.start;
    // Baseline energy over the event = mean baseline power × duration (u128: no overflow).
    let baseline_mj = u128::from(c_start - c_before) * u128::from(duration) / u128::from(len);
    let baseline_wh = u64::try_from(baseline_mj / u128::from(MJ_PER_WH)).unwrap_or(u64::MAX);
    Ok(CurtailmentLeaf {
        demand_response: window.demand_response,
        event_id: window.event_id,
        cluster_id,
        baseline_wh,
        actual_wh: (c_end - c_start) / MJ_PER_WH,
    })
}

/// The counter at `t`: its reading, or the latest within the gap before it extrapolated at that
/// reading's last one-second rate (only across the gap; a meter that is down longer measures
/// nothing).
fn counter_at(readings: &[(u64, u64)], t: u64) -> Reading {
    let upto = readings.partition_point(|&(s, _)| s <= t);
    let Some(&(s1, c1)) = upto.checked_sub(1).and_then(|i| readings.get(i)) else {
        return Reading::Missing;
    };
    if s1 == t {
        return Reading::At(c1);
    }
    if t - s1 > MAX_READING_GAP_S || upto < 2 {
        return Reading::Missing;
    }
    let (s0, c0) = readings[upto - 2];
    if c1 < c0 {
        return Reading::Backwards(s0, s1);
    }
    let rate = (c1 - c0) / (s1 - s0).max(1);
    Reading::At(c1 + rate * (t - s1))
}

/// A counter value, or why there is none.
enum Reading {
    At(u64),
    Missing,
    Backwards(u64, u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A meter at `base_w` watts, shedding `shed_w` during [start, end).
    fn records(
        from: u64,
        to: u64,
        base_w: u64,
        shed_w: u64,
        start: u64,
        end: u64,
    ) -> Vec<SampleRecord> {
        let mut counter = 0u64;
        (from..=to)
            .map(|t| {
                let record =
                    SampleRecord { t, gpus: vec![], facility_mj: Some(counter), racks: vec![] };
                let draw = if (start..end).contains(&t) { base_w - shed_w } else { base_w };
                counter += draw * 1000;
                record
            })
            .collect()
    }

    fn window(start: u64, end: u64) -> CurtailmentWindow {
        CurtailmentWindow { demand_response: Address::ZERO, event_id: U256::from(1), start, end }
    }

    #[test]
    fn flat_load_shed_is_measured_exactly() {
        // 6 MW site shedding 5 MW for 60 s: 100 kWh of baseline, 16.67 kWh actual.
        let rs = records(900, 1_100, 6_000_000, 5_000_000, 1_000, 1_060);
        let leaf = measure_curtailment(7, &window(1_000, 1_060), 900, &rs).expect("measured");
        assert_eq!(leaf.baseline_wh, 100_000);
        assert_eq!(leaf.actual_wh, 16_666);
        assert_eq!(leaf.cluster_id, 7);
    }

    #[test]
    fn a_like_days_baseline_averages_the_same_window_on_previous_days_and_ignores_a_ramp() {
        // The event: 1 h at day 3 + 14:00, shedding 5 MW of a 6 MW site. The previous days drew
        // 5 MW and 7 MW over the same hour; just before the event the site ramped to 9 MW (a
        // meter-before baseline would pay for the ramp; like-days does not see it).
        let (start, end) = (3 * DAY_S + 14 * 3_600, 3 * DAY_S + 15 * 3_600);
        let day = |d: u64, watts: u64| {
            records(start - d * DAY_S - 10, end - d * DAY_S + 10, watts, 0, 0, 0)
        };
        let days = vec![day(1, 5_000_000), day(2, 7_000_000)];
        let mut event = records(start - 900, end + 5, 6_000_000, 5_000_000, start, end);
        let ramp = 3_000_000 * 1000 * 900; // 3 MW more for the 900 s before the start
        for r in &mut event {
            if let Some(c) = r.facility_mj.as_mut() {
                *c += ramp.min(ramp * (r.t.saturating_sub(start - 900)) / 900);
            }
        }
        let w = window(start, end);
        let leaf = measure_like_days(7, &w, &days, &event).expect("measured");
        assert_eq!(leaf.baseline_wh, 6_000_000, "the mean of 5 and 7 MWh");
        assert_eq!(leaf.actual_wh, 1_000_000, "1 MW left for the hour");
        let before = measure_curtailment(7, &w, 900, &event).expect("meter-before");
        assert!(before.baseline_wh > leaf.baseline_wh, "the ramp inflates meter-before only");
        // A like day with a meter gap makes the event unmeasurable, naming the day.
        let mut gappy = days;
        gappy[1].retain(|r| !(start - 2 * DAY_S - 10..start - 2 * DAY_S + 10).contains(&r.t));
        let err = measure_like_days(7, &w, &gappy, &event).expect_err("gap");
        assert!(err.to_string().contains("like day -2"), "{err}");
        assert!(measure_like_days(7, &w, &[], &event).is_err(), "no days, no baseline");
    }

    #[test]
    fn the_counter_at_the_epoch_end_is_extrapolated_from_the_last_seconds() {
        // Records stop at 1_059: the reading at `end` is not there yet.
        let rs = records(900, 1_059, 6_000_000, 5_000_000, 1_000, 1_060);
        let leaf = measure_curtailment(7, &window(1_000, 1_060), 900, &rs).expect("measured");
        assert_eq!(leaf.actual_wh, 16_666, "the last curtailed second extrapolated exactly");
    }

    #[test]
    fn a_missing_or_backward_meter_attests_nothing() {
        let mut rs = records(900, 1_100, 6_000_000, 5_000_000, 1_000, 1_060);
        rs.retain(|r| !(990..=1_010).contains(&r.t));
        let missing = measure_curtailment(7, &window(1_000, 1_060), 900, &rs).expect_err("gap");
        assert!(
            missing.to_string().contains("no facility-meter reading within 5 s of 1000"),
            "{missing}"
        );
        let mut rs = records(900, 1_100, 6_000_000, 5_000_000, 1_000, 1_060);
        rs[130].facility_mj = Some(0); // second 1_030 reads 0: the meter reset
        rs[160].facility_mj = Some(0);
        let reset = measure_curtailment(7, &window(1_000, 1_030), 900, &rs).expect_err("reset");
        assert!(reset.to_string().contains("ran backwards"), "{reset}");
    }

    #[test]
    fn the_baseline_is_no_longer_than_the_event() {
        // Load was 1 MW until 950, then 6 MW: a 30 s event reads only the 30 s before it.
        let mut rs = records(900, 1_100, 6_000_000, 5_000_000, 1_000, 1_030);
        let mut counter = 0;
        for r in &mut rs {
            r.facility_mj = Some(counter);
            let low = r.t < 950 || (1_000..1_030).contains(&r.t);
            let w: u64 = if low { 1_000_000 } else { 6_000_000 };
            counter += w * 1000;
        }
        let leaf = measure_curtailment(7, &window(1_000, 1_030), 900, &rs).expect("measured");
        assert_eq!(leaf.baseline_wh, 50_000, "6 MW for 30 s");
        assert_eq!(window(1_000, 1_030).baseline_from(900), 970);
    }
}
