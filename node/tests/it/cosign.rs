//! M-of-N between nodes on one anvil: three attestor nodes (owner, tenant, auditor) of a 2-of-3
//! set sample the same cluster, exchange signatures over `oracle_signedReport`, and get every
//! epoch on chain while two are up; with two down the epoch goes missed with the reason in
//! `ledger_syncStatus`; a node fed different telemetry is never combined.

use std::{path::Path, sync::Arc, time::Duration};

use alloy::primitives::Address;
use compute_ledger_node::{
    Indexer, Shutdown,
    cosign::{Cosigning, Peer},
    index::{DeliveriesArchive, Index},
    loops,
    metrics::Metrics,
    rpc::{Ledger, Limits, RpcServer, serve},
};
use compute_ledger_oracle::{
    KeyConfig, OracleConfig, ReportFile, SimulatorConfig, Site, SourceConfig, create_keystore,
};
use compute_ledger_sdk::{ClusterSpec, Reports, test_utils::Market};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::common::{call, produce_blocks};

pub(crate) const EPOCH: u32 = 10;
/// Owner, tenant and auditor: the three attestors of a 2-of-3 set.
const TRIO: [&str; 3] = ["owner", "tenant", "auditor"];
/// Generous: the machine may be loaded; every wait ends as soon as the state is observed.
const PATIENCE: Duration = Duration::from_secs(150);

/// One attestor's node: its server (serving `oracle_` to the others) and its oracle loop.
struct Node {
    url: String,
    server: RpcServer,
    ledger: Arc<Ledger>,
    stop: Shutdown,
    task: Option<JoinHandle<compute_ledger_node::Result<()>>>,
    data_dir: std::path::PathBuf,
}

impl Node {
    async fn stop(&mut self) {
        self.stop.trigger();
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("oracle loop");
        }
        let _ = self.server.handle.stop();
        self.server.handle.clone().stopped().await;
    }

    fn report_file(&self, epoch: u64) -> Option<ReportFile> {
        let path = self.data_dir.join("reports").join(format!("epoch-{epoch}.json"));
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).expect("report file"))
    }
}

pub(crate) struct Cluster {
    pub(crate) id: u64,
    pub(crate) genesis: u64,
    pub(crate) keys: Vec<KeyConfig>,
}

/// Registers a cluster with `names.len()` attestors (keystores in `dir`) and `threshold`.
pub(crate) async fn register(m: &Market, dir: &Path, names: &[&str], threshold: u8) -> Cluster {
    let password = dir.join("password");
    std::fs::write(&password, "cosign-test").expect("password");
    let mut keys = Vec::new();
    let mut attestors: Vec<Address> = Vec::new();
    for name in names {
        let (address, keystore) =
            create_keystore(&dir.join("keys"), name, "cosign-test").expect("keystore");
        attestors.push(address);
        keys.push(KeyConfig {
            keystore,
            password_file: Some(password.clone()),
            password_env: None,
        });
    }
    let mut sorted = attestors.clone();
    sorted.sort();
    let spec = ClusterSpec {
        metadata_uri: "ipfs://cosign".into(),
        metadata_hash: Default::default(),
        epoch_length: EPOCH,
        attestors: sorted,
        threshold,
    };
    let id = m.owner.register_cluster(&spec).await.expect("register");
    let genesis = m.governance.registry().clusterInfo(id).call().await.expect("info").genesis;
    Cluster { id, genesis, keys }
}

pub(crate) fn oracle_config(
    cluster: &Cluster,
    key: usize,
    seed: u64,
    dir: &Path,
    m: &Market,
) -> OracleConfig {
    let sim = SimulatorConfig {
        seed,
        gpus: 4,
        site: Site::TexasGas,
        origin: cluster.genesis,
        outages: vec![],
        flexible_kw: 0,
        curtailment_schedule: None,
        racks: vec![],
    };
    OracleConfig {
        cluster_id: cluster.id,
        chain_id: m.deployment.chain_id,
        registry: m.deployment.registry,
        genesis: cluster.genesis,
        epoch_length: EPOCH,
        data_dir: dir.join(format!("oracle-{key}")),
        inventory: compute_ledger_oracle::Simulator::new(sim.clone()).uuids().to_vec(),
        source: SourceConfig::Simulator(sim),
        facility: None,
        rack_meters: None,
        leases: vec![],
        signer: Some(cluster.keys[key].clone()),
        max_backfill_s: 0,
        demand_response: None,
    }
}

/// A node's JSON-RPC server (serving `oracle_` to the others) before its oracle starts.
struct Served {
    url: String,
    server: RpcServer,
    ledger: Arc<Ledger>,
}

/// What every node of a test shares: the deliveries archive and the metrics.
struct Shared {
    archive: DeliveriesArchive,
    metrics: Arc<Metrics>,
}

/// `n` servers over one index (each with its own co-signing book), on free ports.
async fn servers(m: &Market, dir: &Path, n: usize) -> (Vec<Option<Served>>, Shared) {
    let index = Index::open(&dir.join("index")).expect("index");
    let archive = DeliveriesArchive::open(&dir.join("deliveries")).expect("archive");
    let metrics = Arc::new(Metrics::default());
    let indexer = Indexer::new(
        index.clone(),
        m.governance.provider().clone(),
        m.deployment.clone(),
        0,
        metrics.clone(),
    )
    .expect("indexer");
    let mut served = Vec::new();
    for _ in 0..n {
        let ledger = Ledger::new(
            index.clone(),
            archive.clone(),
            &indexer,
            metrics.clone(),
            Limits::default(),
            "http://127.0.0.1:8645".into(),
        );
        let server =
            serve("127.0.0.1:0".parse().expect("addr"), ledger.clone()).await.expect("serve");
        served.push(Some(Served { url: format!("http://{}", server.addr), server, ledger }));
    }
    (served, Shared { archive, metrics })
}

/// Starts `config`'s oracle loop on `served`, asking `peers` and relaying with `relayer`.
fn start_oracle(
    config: &OracleConfig,
    served: Served,
    peers: &[String],
    relayer: Reports,
    shared: &Shared,
) -> Node {
    let peers = peers.iter().map(|u| Peer::new(u.clone()).expect("peer")).collect();
    let stop = Shutdown::new();
    let task = tokio::spawn(loops::oracle_loop(
        config.clone(),
        loops::OracleOptions { peers, keep_files: None, samples: None },
        relayer,
        shared.archive.clone(),
        served.ledger.cosign.clone(),
        shared.metrics.clone(),
        stop.clone(),
    ));
    let Served { url, server, ledger } = served;
    Node { url, server, ledger, stop, task: Some(task), data_dir: config.data_dir.clone() }
}

/// The other servers' URLs.
fn others(all: &[String], me: &str) -> Vec<String> {
    all.iter().filter(|u| *u != me).cloned().collect()
}

/// Starts three nodes; node `i` samples with `seeds[i]` (equal seeds: identical telemetry).
async fn three_nodes(m: &Market, cluster: &Cluster, seeds: [u64; 3], dir: &Path) -> Vec<Node> {
    let (served, shared) = servers(m, dir, 3).await;
    let urls: Vec<String> = served.iter().flatten().map(|s| s.url.clone()).collect();
    let mut nodes = Vec::new();
    for (i, served) in served.into_iter().flatten().enumerate() {
        let config = oracle_config(cluster, i, seeds[i], dir, m);
        let peers = others(&urls, &served.url);
        // Each node relays with its own key, as separate operators would.
        let relayer = Reports::new(m.devnet.client(&m.deployment, 7 + i).await);
        nodes.push(start_oracle(&config, served, &peers, relayer, &shared));
    }
    nodes
}

async fn wait_for<T>(what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
    crate::common::wait_for(what, PATIENCE, probe).await
}

/// The first epoch that `node` finalized after `after` (a full epoch, sampled from its start).
async fn next_report(node: &Node, after: u64) -> u64 {
    wait_for("a finalized epoch", async || {
        (after + 1..after + 100).find(|e| node.report_file(*e).is_some())
    })
    .await
}

/// The last epoch `node` has written a report for.
fn latest_report(node: &Node) -> u64 {
    compute_ledger_node::outbox::reports_in_epoch_order(&node.data_dir.join("reports"))
        .last()
        .map_or(0, |(epoch, _)| *epoch)
}

pub(crate) async fn accepted(
    m: &Market,
    cluster: u64,
    epoch: u64,
) -> Option<compute_ledger_sdk::AcceptedReport> {
    m.reports.report_of(cluster, epoch).await.expect("reportOf")
}

fn status(node: &Node, cluster: u64) -> compute_ledger_node::cosign::OracleStatus {
    Cosigning::status(&node.ledger.cosign).get(&cluster).cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_report_every_epoch_while_two_are_up_and_miss_with_the_reason_when_not() {
    let m = Market::start(1_000, 100).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = register(&m, dir.path(), &TRIO, 2).await;
    let mining = produce_blocks(&m);
    let mut nodes = three_nodes(&m, &cluster, [7, 7, 7], dir.path()).await;

    // All up: the epoch goes on chain with the report every node built. (The first epoch is
    // partial and each node started in its own second: take the first whole one.)
    let partial = next_report(&nodes[0], 0).await;
    let first = next_report(&nodes[0], partial).await;
    let on_chain =
        wait_for("all-up epoch on chain", async || accepted(&m, cluster.id, first).await).await;
    let report = nodes[0].report_file(first).expect("file").signed.report;
    assert_eq!(on_chain.deliveries_root, report.deliveriesRoot);
    for node in &nodes[1..] {
        let theirs = wait_for("every node's report", async || node.report_file(first)).await;
        assert_eq!(theirs.signed.report, report, "same telemetry, same report");
    }

    // One down (the auditor): the other two still get the next epoch on chain.
    nodes[2].stop().await;
    let second = next_report(&nodes[0], latest_report(&nodes[0])).await;
    wait_for("epoch on chain with one co-signer down", async || {
        accepted(&m, cluster.id, second).await
    })
    .await;
    // Whoever submitted asked every peer first (it held one signature): it saw the auditor down.
    let auditor = nodes[2].url.clone();
    let peer_down = wait_for("the auditor shown unreachable", async || {
        nodes[..2].iter().find_map(|n| {
            status(n, cluster.id).peers.get(&auditor).filter(|p| !p.reachable).cloned()
        })
    })
    .await;
    assert!(peer_down.last_error.is_some(), "{peer_down:?}");

    // Two down: the survivor holds one signature of two and says so, then the window closes
    // and the epoch is missed — visible in `ledger_syncStatus`.
    nodes[1].stop().await;
    let third = next_report(&nodes[0], latest_report(&nodes[0])).await;
    let waiting = wait_for("the survivor to report why it waits", async || {
        status(&nodes[0], cluster.id).pending.into_iter().find(|p| p.epoch == third)
    })
    .await;
    assert_eq!((waiting.signatures, waiting.threshold), (1, 2), "{waiting:?}");
    assert!(waiting.waiting_for.contains("0 of 2 co-signers reachable"), "{waiting:?}");
    assert!(accepted(&m, cluster.id, third).await.is_none());
    // Close the reporting window by the chain's clock rather than waiting a minute.
    let window = m.reports.report_window().await.expect("window");
    m.devnet.advance(window + u64::from(EPOCH)).await;
    wait_for("the missed epoch in the status", async || {
        status(&nodes[0], cluster.id).missed.contains(&third).then_some(())
    })
    .await;
    let sync = call(&nodes[0].url, "ledger_syncStatus", json!([])).await;
    let shown = &sync["result"]["oracles"][cluster.id.to_string()];
    assert!(shown["missed"].as_array().expect("missed").contains(&json!(third)), "{sync}");
    assert!(accepted(&m, cluster.id, third).await.is_none());

    nodes[0].stop().await;
    mining.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_co_signer_with_different_telemetry_is_never_combined() {
    let m = Market::start(1_000, 100).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = register(&m, dir.path(), &TRIO, 2).await;
    let mining = produce_blocks(&m);
    // The auditor's exporter reads another site: its report differs.
    let mut nodes = three_nodes(&m, &cluster, [7, 7, 99], dir.path()).await;

    let partial = next_report(&nodes[0], 0).await;
    let epoch = next_report(&nodes[0], partial).await;
    let on_chain =
        wait_for("honest epoch on chain", async || accepted(&m, cluster.id, epoch).await).await;
    let honest = nodes[0].report_file(epoch).expect("file").signed.report;
    let odd = wait_for("the odd node's report", async || nodes[2].report_file(epoch)).await;
    assert_ne!(odd.signed.report, honest);
    assert_eq!(on_chain.deliveries_root, honest.deliveriesRoot);
    let stored =
        m.governance.registry().reportMetrics(cluster.id, epoch).call().await.expect("metrics");
    let chain = (stored.gpuSecondsAvailable, stored.gpuSecondsBusy, stored.itEnergyWh);
    let ours = (honest.gpuSecondsAvailable, honest.gpuSecondsBusy, honest.itEnergyWh);
    assert_eq!(chain, ours, "the honest two's report is on chain");

    // The honest node that submitted asked the odd node first (it held one signature): it names
    // the odd node and the fields it got wrong, in its status and metrics.
    let odd_url = nodes[2].url.clone();
    let (seen_by, mismatch) = wait_for("the mismatch in the status", async || {
        nodes[..2].iter().find_map(|n| {
            let found = status(n, cluster.id).last_mismatch.filter(|m| m.peer == odd_url)?;
            Some((n.url.clone(), found))
        })
    })
    .await;
    assert!(mismatch.fields.iter().any(|f| f.field == "telemetryRoot"), "{mismatch:?}");
    let metrics = reqwest::get(format!("{seen_by}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let line = format!("ledger_cosign_mismatches_total{{cluster=\"{}\"}}", cluster.id);
    assert!(metrics.lines().any(|l| l.starts_with(&line) && !l.ends_with(" 0")), "{metrics}");
    // The odd node never took an honest signature over its own report.
    let odd_status = status(&nodes[2], cluster.id);
    assert!(odd_status.peers.values().all(|p| p.signatures_taken == 0), "{odd_status:?}");

    for node in &mut nodes {
        node.stop().await;
    }
    mining.abort();
}

/// A lying tenant (an attestor of the 2-of-3 set) serves its genuine signature in its high-s
/// form. It recovers off chain, but OpenZeppelin's ECDSA in `submitReport` refuses it: combined
/// as sent, every submission would revert and the epoch settle as missed at the owner's cost.
/// Kept signatures are re-encoded canonically, so the honest owner and auditor get it on chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_serving_a_high_s_signature_cannot_block_the_honest_two() {
    use alloy::primitives::{Bytes, Signature, U256};
    let m = Market::start(1_000, 100).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = register(&m, dir.path(), &TRIO, 2).await;
    let mining = produce_blocks(&m);
    let (mut served, shared) = servers(&m, dir.path(), 3).await;
    let urls: Vec<String> = served.iter().flatten().map(|s| s.url.clone()).collect();
    let tenant_book = served[1].as_ref().expect("tenant").ledger.cosign.clone();
    let auditor_book = served[2].as_ref().expect("auditor").ledger.cosign.clone();
    // The honest owner (0) runs the oracle; the tenant (1) and the auditor (2) serve books this
    // test fills: the auditor's honest signature comes a little later than the tenant's.
    let owner = served[0].take().expect("owner");
    let peers = others(&urls, &owner.url);
    let config = oracle_config(&cluster, 0, 7, dir.path(), &m);
    let relayer = Reports::new(m.devnet.client(&m.deployment, 7).await);
    let mut nodes = vec![start_oracle(&config, owner, &peers, relayer, &shared)];
    // The tenant signs the honest report (it agrees with it!) and serves the high-s form.
    let tenant_key = cluster.keys[1].load().expect("tenant key");
    let cluster_id = cluster.id;
    let served = tenant_book.clone();
    let domain = m.reports.domain();
    let owner_reports = nodes[0].data_dir.join("reports");
    let liar = tokio::spawn(async move {
        let order = U256::from_str_radix(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
            16,
        )
        .expect("n");
        loop {
            for (epoch, path) in compute_ledger_node::outbox::reports_in_epoch_order(&owner_reports)
            {
                if tenant_book.get(cluster_id, epoch).is_some() {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else { continue };
                let Ok(file) = serde_json::from_str::<ReportFile>(&text) else { continue };
                let mut signed = compute_ledger_oracle::SignedReport::new(file.signed.report);
                signed.sign(&tenant_key, &domain).expect("sign");
                let low = signed.signatures[&tenant_key.address()].clone();
                let parsed = Signature::try_from(low.as_ref()).expect("65 bytes");
                let high = Signature::new(parsed.r(), order - parsed.s(), !parsed.v());
                signed
                    .signatures
                    .insert(tenant_key.address(), Bytes::copy_from_slice(&high.as_bytes()));
                tenant_book.offer(signed);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    // The tenant serves its (malleable) signature of an epoch before the auditor serves its own.
    let partial = next_report(&nodes[0], 0).await;
    let epoch = next_report(&nodes[0], partial).await;
    wait_for("the tenant to serve its signature", async || served.get(cluster.id, epoch)).await;
    // The honest auditor now signs the same report: owner + auditor are 2 of 2 needed.
    let auditor_key = cluster.keys[2].load().expect("auditor key");
    let report = nodes[0].report_file(epoch).expect("file").signed.report;
    let mut honest = compute_ledger_oracle::SignedReport::new(report);
    honest.sign(&auditor_key, &m.reports.domain()).expect("sign");
    auditor_book.offer(honest);
    wait_for("the honest two's report on chain despite the lying tenant", async || {
        accepted(&m, cluster.id, epoch).await
    })
    .await;

    liar.abort();
    for node in &mut nodes {
        node.stop().await;
    }
    mining.abort();
}

/// Owner and auditor (2 of 3) put a report on chain that differs from what the honest tenant's
/// node built, and don't answer it. The tenant's node compares what the chain accepted with its
/// own report and flags the difference (peer `chain`), in time to challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_report_on_chain_is_flagged_by_the_node_that_did_not_sign_it() {
    let m = Market::start(1_000, 100).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = register(&m, dir.path(), &TRIO, 2).await;
    let mining = produce_blocks(&m);
    let (mut served, shared) = servers(&m, dir.path(), 3).await;
    let urls: Vec<String> = served.iter().flatten().map(|s| s.url.clone()).collect();
    // Owner (0) and auditor (2) see telemetry 7 and ask only each other; the tenant (1) sees 99.
    let mut nodes = Vec::new();
    for (i, seed, peers) in
        [(0, 7, vec![urls[2].clone()]), (2, 7, vec![urls[0].clone()]), (1, 99, vec![])]
    {
        let node = served[i].take().expect("server");
        let mut config = oracle_config(&cluster, i, seed, dir.path(), &m);
        if i == 1 {
            // The tenant's view has a fifth GPU the colluders leave out of the bill.
            if let SourceConfig::Simulator(sim) = &mut config.source {
                sim.gpus = 5;
                config.inventory =
                    compute_ledger_oracle::Simulator::new(sim.clone()).uuids().to_vec();
            }
        }
        let relayer = Reports::new(m.devnet.client(&m.deployment, 7 + i).await);
        nodes.push(start_oracle(&config, node, &peers, relayer, &shared));
    }
    let tenant = &nodes[2];
    let partial = next_report(tenant, 0).await;
    let epoch = next_report(tenant, partial).await;
    let ours = tenant.report_file(epoch).expect("file").signed.report;
    wait_for("the colluders' report on chain", async || accepted(&m, cluster.id, epoch).await)
        .await;
    let stored =
        m.governance.registry().reportMetrics(cluster.id, epoch).call().await.expect("metrics");
    assert_ne!(stored.gpusInstalled, ours.gpusInstalled, "a different report is on chain");
    // The tenant's node has seen the epoch on chain...
    wait_for("the tenant's node to see the epoch on chain", async || {
        status(tenant, cluster.id).last_on_chain.filter(|e| *e >= epoch)
    })
    .await;
    // ...and must say that what is on chain is not what it built.
    let seen = status(tenant, cluster.id);
    assert!(
        seen.mismatches > 0 && seen.last_mismatch.as_ref().is_some_and(|mm| mm.epoch == epoch),
        "the tenant's node accepted a report it never signed without a word: {seen:?}"
    );

    for node in &mut nodes {
        node.stop().await;
    }
    mining.abort();
}

/// A submission that keeps failing (here the relayer has no gas money; equally a revert the
/// outbox does not map) leaves its epoch in `ledger_syncStatus`'s `pending` with the reason,
/// within its window, instead of aborting the round unseen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_submission_is_visible_in_sync_status() {
    let m = Market::start(1_000, 100).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = register(&m, dir.path(), &["owner"], 1).await;
    let mining = produce_blocks(&m);
    let (mut served, shared) = servers(&m, dir.path(), 1).await;
    let config = oracle_config(&cluster, 0, 7, dir.path(), &m);
    // A relayer with no gas money: every submission is refused.
    let broke = compute_ledger_sdk::Client::connect(
        &m.devnet.anvil.endpoint(),
        m.deployment.clone(),
        alloy::signers::local::PrivateKeySigner::random(),
    )
    .await
    .expect("client");
    let served = served[0].take().expect("server");
    let mut node = start_oracle(&config, served, &[], Reports::new(broke), &shared);
    let partial = next_report(&node, 0).await;
    let epoch = next_report(&node, partial).await;
    wait_for("the failing epoch in ledger_syncStatus's pending", async || {
        let sync = call(&node.url, "ledger_syncStatus", json!([])).await;
        let shown = &sync["result"]["oracles"][cluster.id.to_string()];
        let listed = |key: &str| {
            shown[key]
                .as_array()
                .is_some_and(|a| a.iter().any(|p| p == &json!(epoch) || p["epoch"] == json!(epoch)))
        };
        // Within its window it must show as pending, with the reason it is not on chain.
        listed("pending").then_some(())
    })
    .await;
    node.stop().await;
    mining.abort();
}
