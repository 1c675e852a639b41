//! The node as `compute-ledger run` and the demo assemble it ([`NodeBuilder`]): an oracle
//! stopped alone leaves the rest running and, once stopped, opens its store again; a loop that
//! fails stops every other loop, and [`RunningNode::stopped`] returns its error.

use std::{net::SocketAddr, path::Path, time::Duration};

use compute_ledger_node::{NodeBuilder, NodeOptions, RunningNode, ServerOptions, Shutdown};
use compute_ledger_oracle::{OracleConfig, Simulator, SimulatorConfig, Site, SourceConfig};
use compute_ledger_sdk::{Reports, test_utils::Market};

use crate::common::wait_for;

const PATIENCE: Duration = Duration::from_secs(90);

/// A 4-GPU simulated cluster sampled live (its epochs start now).
fn oracle_config(m: &Market, cluster_id: u64, data_dir: &Path) -> OracleConfig {
    let now = compute_ledger_oracle::unix_now();
    let sim = SimulatorConfig {
        seed: 3,
        gpus: 4,
        site: Site::TexasGas,
        origin: now,
        outages: vec![],
        flexible_kw: 0,
        curtailment_schedule: None,
        racks: vec![],
    };
    let uuids = Simulator::new(sim.clone()).uuids().to_vec();
    OracleConfig {
        cluster_id,
        chain_id: m.deployment.chain_id,
        registry: m.deployment.registry,
        genesis: now,
        epoch_length: 10,
        data_dir: data_dir.to_path_buf(),
        inventory: uuids,
        source: SourceConfig::Simulator(sim),
        facility: None,
        rack_meters: None,
        leases: vec![],
        signer: None,
        max_backfill_s: 60,
        demand_response: None,
    }
}

/// The sampler state `/health` shows for `cluster`.
async fn sampler(addr: SocketAddr, cluster: u64) -> Option<String> {
    let health: serde_json::Value =
        reqwest::get(format!("http://{addr}/health")).await.ok()?.json().await.ok()?;
    health["oracles"][cluster.to_string()]["sampler"].as_str().map(String::from)
}

async fn wait_for_sampler(addr: SocketAddr, cluster: u64, state: &str) {
    wait_for(&format!("cluster {cluster}'s sampler {state}"), PATIENCE, async || {
        (sampler(addr, cluster).await.as_deref() == Some(state)).then_some(())
    })
    .await;
}

async fn start_node(m: &Market, dir: &Path, shutdown: &Shutdown) -> (RunningNode, SocketAddr) {
    let options = NodeOptions {
        index_dir: dir.join("index"),
        deliveries_dir: dir.join("deliveries"),
        confirmations: 0,
        poll: Duration::from_millis(200),
    };
    let mut builder =
        NodeBuilder::open(&options, m.governance.provider().clone(), m.deployment.clone())
            .expect("open");
    let addr = builder
        .serve(ServerOptions {
            listen: "127.0.0.1:0".parse().expect("addr"),
            limits: Default::default(),
            public_url: "http://127.0.0.1".into(),
            decimals: 6,
        })
        .await
        .expect("serve");
    (builder.start(shutdown.clone()), addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oracle_stops_alone_and_a_failing_loop_stops_the_node() {
    let m = Market::start(10_000, 2_000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let shutdown = Shutdown::new();
    let (mut node, addr) = start_node(&m, dir.path(), &shutdown).await;
    let relayer = Reports::new(m.reports_client().await);
    let config = oracle_config(&m, 1, &dir.path().join("oracle-1"));

    let oracle = node.spawn_oracle(config.clone(), Default::default(), relayer.clone());
    wait_for_sampler(addr, 1, "running").await;
    oracle.stop();
    oracle.stopped().await;
    assert_eq!(sampler(addr, 1).await.as_deref(), Some("stopped"));
    assert!(!shutdown.is_triggered(), "one oracle stopping leaves the node running");

    // Its store was closed when `stopped` returned: a second sampler on it opens (sled locks
    // an open database; a failed open would stop the node).
    let _again = node.spawn_oracle(config, Default::default(), relayer.clone());
    wait_for_sampler(addr, 1, "running").await;
    assert!(!shutdown.is_triggered());

    // An oracle whose source cannot be read fails at start: it stops the whole node (indexer,
    // server and the other oracle), and `stopped` names the reason.
    let missing = dir.path().join("no-such-recording.jsonl");
    let broken = OracleConfig {
        source: SourceConfig::Replay { path: missing.clone() },
        ..oracle_config(&m, 2, &dir.path().join("oracle-2"))
    };
    let _broken = node.spawn_oracle(broken, Default::default(), relayer);
    tokio::time::timeout(PATIENCE, shutdown.wait()).await.expect("the failure stops the node");
    let error = node.stopped().await.expect_err("the oracle's failure");
    assert!(error.to_string().contains("no-such-recording.jsonl"), "{error}");
    assert!(reqwest::get(format!("http://{addr}/health")).await.is_err(), "the server stopped");
}
