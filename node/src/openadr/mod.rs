//! Demand response over OpenADR 3.1: the grid's VTN publishes curtailment events, the site's node
//! is the VEN.
//!
//! The chain is where money moves and the VTN is how the event reaches the site, so the two are
//! tied by name: the sponsor dispatches on `DemandResponse` first, then publishes the same window
//! on its VTN as an event named [`event_name`] (chain id, contract, event id), targeted at the
//! site's VEN ([`ven_target`]). The VEN ([`ven::Ven`]) accepts only an event whose window
//! equals the on-chain one for its own cluster, signs the acknowledgement with its attestor key,
//! relays it on chain, and hands the window to the site's flexible load ([`ven::FlexibleLoad`]).

pub mod client;
pub mod server;
pub mod ven;
pub mod watch;

use alloy::primitives::{Address, U256};
use chrono::{DateTime, SecondsFormat};

use self::client::{EventRequest, Interval, IntervalPeriod, ValuesMap};
use crate::{Backoff, NodeError, Result, Shutdown};

/// Longest wait between retries of a failing poll.
const MAX_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// Paces a polling loop: the next poll after `every`, or after a backoff (doubling up to a
/// minute) when the last one failed.
struct Pacer<'a> {
    every: std::time::Duration,
    backoff: Backoff,
    shutdown: &'a Shutdown,
}

impl<'a> Pacer<'a> {
    fn new(every: std::time::Duration, shutdown: &'a Shutdown) -> Self {
        Self { every, backoff: Backoff::new(every, MAX_RETRY), shutdown }
    }

    /// Logs a failed poll under `what`, waits until the next one, and tells whether the node
    /// is shutting down instead.
    async fn after(&mut self, what: &str, polled: Result<()>) -> bool {
        let wait = match polled {
            Ok(()) => {
                self.backoff.reset();
                self.every
            }
            Err(e) => {
                let wait = self.backoff.next_delay();
                tracing::warn!("{what}: {e}; retrying in {} s", wait.as_secs());
                wait
            }
        };
        self.shutdown.sleep(wait).await
    }
}

/// The OpenADR target of a cluster's VEN.
pub fn ven_target(cluster_id: u64) -> String {
    format!("cluster-{cluster_id}")
}

/// The VTN program name of a `DemandResponse` program.
pub fn program_name(chain_id: u64, demand_response: Address, program_id: U256) -> String {
    format!("compute-ledger:{chain_id}:{demand_response}:program:{program_id}")
}

/// The VTN event name of an on-chain event.
pub fn event_name(chain_id: u64, demand_response: Address, event_id: U256) -> String {
    format!("compute-ledger:{chain_id}:{demand_response}:{event_id}")
}

/// The on-chain event an event name refers to (`None`: not one of the ledger's).
pub fn parse_event_name(name: &str) -> Option<(u64, Address, U256)> {
    let mut parts = name.strip_prefix("compute-ledger:")?.split(':');
    let (chain, contract, event) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((chain.parse().ok()?, contract.parse().ok()?, event.parse().ok()?))
}

/// The VTN event for an on-chain event of `cluster_id` over `[start, end)` (unix seconds): one
/// interval, `SIMPLE` level 1 (shed the committed load).
pub fn event_request(
    vtn_program_id: &str,
    chain_id: u64,
    demand_response: Address,
    event_id: U256,
    cluster_id: u64,
    start: u64,
    end: u64,
) -> EventRequest {
    EventRequest {
        program_id: vtn_program_id.to_owned(),
        event_name: event_name(chain_id, demand_response, event_id),
        targets: vec![ven_target(cluster_id)],
        intervals: vec![Interval {
            id: 0,
            interval_period: Some(IntervalPeriod {
                start: rfc3339(start),
                duration: Some(format!("PT{}S", end.saturating_sub(start))),
            }),
            payloads: vec![ValuesMap { value_type: "SIMPLE".into(), values: vec![1.into()] }],
        }],
    }
}

/// Unix seconds as RFC 3339 UTC.
pub fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .map_or_else(|| unix.to_string(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The `[start, end)` unix window of an interval period.
pub fn window_of(period: &IntervalPeriod) -> Result<(u64, u64)> {
    let start = DateTime::parse_from_rfc3339(&period.start)
        .map_err(|e| NodeError::OpenAdr(format!("interval start {:?}: {e}", period.start)))?;
    let start = u64::try_from(start.timestamp()).map_err(|_| {
        NodeError::OpenAdr(format!("interval start {:?} is before 1970", period.start))
    })?;
    let duration = period
        .duration
        .as_deref()
        .ok_or_else(|| NodeError::OpenAdr("interval without a duration".into()))?;
    let end = start.checked_add(duration_seconds(duration)?).ok_or_else(|| {
        NodeError::OpenAdr(format!("interval duration {duration:?} runs past the end of time"))
    })?;
    Ok((start, end))
}

/// Seconds of an ISO 8601 duration of days, hours, minutes and seconds (`P1DT2H`, `PT90S`,
/// `P0Y0M0DT0H1M30S`); a duration in non-zero years or months has no fixed length and is refused.
pub fn duration_seconds(text: &str) -> Result<u64> {
    let bad = || {
        NodeError::OpenAdr(format!("duration {text:?} is not ISO 8601 days/hours/minutes/seconds"))
    };
    let body = text.strip_prefix('P').ok_or_else(bad)?;
    let (mut seconds, mut number, mut in_time) = (0f64, String::new(), false);
    for c in body.chars() {
        match c {
            'T' if number.is_empty() => in_time = true,
            '0'..='9' | '.' => number.push(c),
            unit => {
                let value: f64 = number.parse().map_err(|_| bad())?;
                number.clear();
                let scale = match (unit, in_time) {
                    ('D', false) => 86_400.0,
                    ('W', false) => 604_800.0,
                    ('Y' | 'M', false) if value == 0.0 => 0.0,
                    ('H', true) => 3_600.0,
                    ('M', true) => 60.0,
                    ('S', true) => 1.0,
                    _ => return Err(bad()),
                };
                seconds += value * scale;
            }
        }
    }
    // Anything longer than a year is no curtailment event (and would not fit the chain's u64).
    if !number.is_empty() || seconds.fract() != 0.0 || !(0.0..=31_536_000.0).contains(&seconds) {
        return Err(bad());
    }
    Ok(seconds as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip_and_foreign_names_are_ignored() {
        let contract = Address::repeat_byte(0xab);
        let name = event_name(31_337, contract, U256::from(7));
        assert_eq!(parse_event_name(&name), Some((31_337, contract, U256::from(7))));
        assert_eq!(parse_event_name("shed-250kW"), None);
        assert_eq!(parse_event_name(&format!("{name}:extra")), None);
    }

    #[test]
    fn windows_survive_the_vtn_round_trip() {
        let request =
            event_request("p", 1, Address::ZERO, U256::from(1), 3, 1_800_000_000, 1_800_000_090);
        let period = request.intervals[0].interval_period.as_ref().expect("period");
        assert_eq!(period.start, "2027-01-15T08:00:00Z");
        assert_eq!(window_of(period).expect("window"), (1_800_000_000, 1_800_000_090));
        // The VTN may write the same duration in its own normal form.
        let normal = IntervalPeriod {
            start: period.start.clone(),
            duration: Some("P0Y0M0DT0H1M30S".into()),
        };
        assert_eq!(window_of(&normal).expect("window"), (1_800_000_000, 1_800_000_090));
        assert_eq!(duration_seconds("P1DT2H").expect("d"), 93_600);
        assert!(duration_seconds("P1M").is_err(), "a month has no fixed length");
        assert!(duration_seconds("PT1.5S").is_err());
        assert!(duration_seconds("90S").is_err());
    }
}
