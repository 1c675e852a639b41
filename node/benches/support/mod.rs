//! What the load benchmarks share: a bounded HTTP JSON-RPC load loop and the process's memory,
//! and the market-scale benchmarks' anvil and deployment. Calls go over raw HTTP JSON (not a
//! typed client), so they measure exactly what a wallet sends.

use std::time::{Duration, Instant};

use alloy::node_bindings::Anvil;
use compute_ledger_sdk::{DeployParams, test_utils::Devnet};
use serde_json::{Value, json};

/// Block gas limit of the market-scale anvil: large blocks, few of them, fewer state roots.
const MARKET_GAS_LIMIT: u64 = 1_000_000_000;
/// The market-scale deployment's report window, seconds.
pub(crate) const REPORT_WINDOW: u64 = 60;
/// The funded key that deploys (and governs) the market-scale deployment.
pub(crate) const GOVERNANCE_KEY: usize = 0;

/// Leases of a market-scale history: `var` if set (underscores allowed), else `default`.
pub(crate) fn leases_from_env(var: &str, default: u64) -> u64 {
    let leases = match std::env::var(var).unwrap_or_default().replace('_', "") {
        n if n.is_empty() => default,
        n => n.parse().unwrap_or_else(|_| panic!("{var}: a number of leases, e.g. 100000")),
    };
    assert!(leases >= 100, "{var}: at least 100 leases (1 % of them fall due)");
    leases
}

/// A local anvil for a market-scale history (from node_modules, huge blocks, pruned history).
pub(crate) fn market_devnet() -> Devnet {
    let anvil = Anvil::at(concat!(env!("CARGO_MANIFEST_DIR"), "/../node_modules/.bin/anvil"))
        .args(["--gas-limit", &MARKET_GAS_LIMIT.to_string(), "--prune-history"])
        .try_spawn()
        .expect("anvil from node_modules (run `make install`)");
    Devnet { anvil }
}

/// Deployment parameters of a market-scale deployment on `devnet`, governed by
/// [`GOVERNANCE_KEY`].
pub(crate) fn market_params(devnet: &Devnet) -> DeployParams {
    let governance = devnet.signer(GOVERNANCE_KEY).address();
    DeployParams {
        governance,
        arbiter: governance,
        report_window: REPORT_WINDOW,
        challenge_window: 15,
        resolution_window: 60,
        proof_grace: 15,
        challenge_bond_bps: 1_000,
        metadata_uri: "http://127.0.0.1/metadata/{id}.json".into(),
    }
}

/// Requests per second, p50 and p99 latency (ms) of a load run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    /// Requests per second over the run.
    pub(crate) rate: f64,
    /// Median latency, milliseconds.
    pub(crate) p50_ms: f64,
    /// 99th-percentile latency, milliseconds.
    pub(crate) p99_ms: f64,
}

/// What a load client checks in an answer: that it is one, and not an error. The answer is
/// parsed (every byte read) but not built into a JSON tree: the clients share the machine's cores
/// with the server, and building a tree of a 150 KB page costs them more than the server spends
/// on it.
#[derive(serde::Deserialize)]
struct Answer {
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

/// `workers` clients call `method` with `params` back to back for `seconds` at `url`; every
/// answer must be a result, not an error.
pub(crate) async fn load(
    url: &str,
    method: &str,
    params: Value,
    workers: usize,
    seconds: u64,
) -> Load {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (url, body) = (url.to_string(), body.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("request");
                    let body = response.bytes().await.expect("body");
                    let answer: Answer = serde_json::from_slice(&body).expect("json");
                    assert!(answer.error.is_none(), "{}", String::from_utf8_lossy(&body));
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("worker"));
    }
    all.sort();
    Load {
        rate: all.len() as f64 / seconds as f64,
        p50_ms: percentile_ms(&all, 0.50),
        p99_ms: percentile_ms(&all, 0.99),
    }
}

/// The `q` quantile of sorted `durations`, in milliseconds.
pub(crate) fn percentile_ms(durations: &[Duration], q: f64) -> f64 {
    let i = ((durations.len() as f64 * q) as usize).min(durations.len().saturating_sub(1));
    durations.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1_000.0)
}

/// Resident and peak resident memory of process `pid` ("self" for this one), MiB.
pub(crate) fn rss_mib(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
