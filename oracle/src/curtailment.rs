//! Demand-response curtailment measured on the facility meter.
//!
//! **Baseline method: meter-before.** The baseline is the facility's mean power over the
//! `baseline_s` seconds just before the event starts (no longer than the event itself), held for
//! the event's length; the actual is what the meter counted during `[start, end)`; curtailment is
//! baseline − actual. This is the meter-before/meter-after family ERCOT uses for emergency
//! response resources, without the after half (the site is paid for the event window only). It
//! suits loads that are flat over the minutes around an event (miners, powered shells); a
//! like-days average is not used.
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

/// Measures `window` from the records covering `[start − baseline, end]` (ascending), with a
/// baseline of at most `baseline_s` seconds, as the leaf of `cluster_id`.
pub fn measure_curtailment(
    cluster_id: u64,
    window: &CurtailmentWindow,
    baseline_s: u64,
    records: &[SampleRecord],
) -> Result<CurtailmentLeaf> {
    let readings: Vec<(u64, u64)> =
        records.iter().filter_map(|r| r.facility_mj.map(|mj| (r.t, mj))).collect();
    let at = |t: u64| match counter_at(&readings, t) {
        Reading::At(c) => Ok(c),
        Reading::Missing => Err(no_reading(window, t)),
        Reading::Backwards(from, to) => Err(backwards(window, from, to)),
    };
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
