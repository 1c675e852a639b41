//! Prometheus metrics of the node, served at `/metrics` in the text exposition format.

use std::{
    fmt::Write,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Upper bounds (seconds) of the RPC latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];

/// Counters and gauges the node updates as it works.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Last block indexed.
    pub indexed_block: AtomicU64,
    /// Head block at the last poll.
    pub head_block: AtomicU64,
    /// Reports indexed since start.
    pub reports_indexed: AtomicU64,
    /// Settlements indexed since start.
    pub settlements_indexed: AtomicU64,
    /// Reorgs rolled back since start.
    pub reorgs: AtomicU64,
    /// Reports this node's oracle submitted since start.
    pub reports_submitted: AtomicU64,
    /// Epochs this node's keeper settled since start.
    pub epochs_settled: AtomicU64,
    latency: Mutex<Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Records one JSON-RPC HTTP request's latency.
    pub fn observe_rpc(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut h = self.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (bucket, bound) in h.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let indexed = self.indexed_block.load(Ordering::Relaxed);
        let head = self.head_block.load(Ordering::Relaxed);
        let gauges = [
            ("ledger_indexed_block", "Last block whose events are indexed.", indexed),
            ("ledger_head_block", "Head block at the last poll.", head),
            (
                "ledger_index_lag_blocks",
                "Blocks the index trails the head.",
                head.saturating_sub(indexed),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        let counters = [
            ("ledger_reports_indexed_total", "Reports indexed since start.", &self.reports_indexed),
            (
                "ledger_settlements_indexed_total",
                "Settlements indexed since start.",
                &self.settlements_indexed,
            ),
            ("ledger_reorgs_total", "Reorgs rolled back since start.", &self.reorgs),
            (
                "ledger_reports_submitted_total",
                "Reports the oracle submitted since start.",
                &self.reports_submitted,
            ),
            (
                "ledger_epochs_settled_total",
                "Epochs the keeper settled since start.",
                &self.epochs_settled,
            ),
        ];
        for (name, help, value) in counters {
            let value = value.load(Ordering::Relaxed);
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        }
        let h = self.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let name = "ledger_rpc_request_duration_seconds";
        let _ =
            writeln!(out, "# HELP {name} JSON-RPC HTTP request latency.\n# TYPE {name} histogram");
        for (bucket, bound) in h.buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {bucket}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", h.sum, h.count);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_gauges_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.indexed_block.store(90, Ordering::Relaxed);
        m.head_block.store(100, Ordering::Relaxed);
        m.observe_rpc(Duration::from_micros(700));
        m.observe_rpc(Duration::from_millis(30));
        let text = m.render();
        assert!(text.contains("ledger_index_lag_blocks 10"), "{text}");
        assert!(text.contains("ledger_rpc_request_duration_seconds_bucket{le=\"0.001\"} 1"));
        assert!(text.contains("ledger_rpc_request_duration_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("ledger_rpc_request_duration_seconds_count 2"));
    }
}
