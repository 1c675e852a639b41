//! Faults drill: the `compute-ledger run` binary (oracle, keeper, indexer, server) is killed with
//! SIGKILL in the middle of an epoch and restarted, then cut off from the chain for a minute by a
//! stalled RPC. Every epoch of the lease still settles, proven, with the delivery its report
//! attested and nothing lost to the crash, and no epoch settles twice.

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use alloy::{primitives::U256, providers::Provider, rpc::types::Filter, sol_types::SolEvent};
use compute_ledger_oracle::{
    Billing, EpochClock, KeyConfig, LeaseAllocation, OracleConfig, ReportFile, Simulator,
    SimulatorConfig, Site, SourceConfig, create_keystore,
};
use compute_ledger_sdk::{
    ClusterSpec, LeaseStatus, Outcome,
    bindings::LeaseMarket::EpochSettled,
    test_utils::{Market, Proxy, dollars},
};

use crate::common::{free_port, produce_blocks, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_compute-ledger");
const EPOCH: u32 = 10;
const LEASE_EPOCHS: u64 = 6;
/// How long the chain RPC stalls.
const STALL: Duration = Duration::from_secs(60);

fn start_node(config: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log");
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("run")
        .env_remove("COMPUTE_LEDGER_RPC_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn node")
}

async fn healthy(url: &str) -> Option<()> {
    let health: serde_json::Value =
        reqwest::get(format!("{url}/health")).await.ok()?.json().await.ok()?;
    (health["status"] == "ok").then_some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_cut_off_node_still_settles_every_epoch_once() {
    // A reporting window longer than the stall: a real one is hours long.
    let m = Market::start_with_report_window(10_000, 2_000, 180).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = m.governance.provider().clone();
    // Blocks every second straight on anvil: the chain goes on while the node is cut off.
    let mining = produce_blocks(&m);

    // The operator's keys: an attestor (also the relayer) and a keeper, with gas.
    let password = dir.path().join("password");
    std::fs::write(&password, "drill").expect("password");
    let key = |name: &str| {
        let (address, keystore) =
            create_keystore(&dir.path().join("keys"), name, "drill").expect("keystore");
        (address, KeyConfig { keystore, password_file: Some(password.clone()), password_env: None })
    };
    let (attestor, attestor_key) = key("attestor");
    let (keeper, keeper_key) = key("keeper");
    for account in [attestor, keeper] {
        let _: serde_json::Value = provider
            .raw_request("anvil_setBalance".into(), (account, U256::from(10u128.pow(20))))
            .await
            .expect("gas money");
    }

    let spec = ClusterSpec {
        metadata_uri: "ipfs://drill".into(),
        metadata_hash: Default::default(),
        epoch_length: EPOCH,
        attestors: vec![attestor],
        threshold: 1,
    };
    let cluster = m.owner.register_cluster(&spec).await.expect("register");
    m.owner.deposit_bond(cluster, dollars(1_000)).await.expect("bond");
    let genesis = m.governance.registry().clusterInfo(cluster).call().await.expect("info").genesis;
    let clock = EpochClock { genesis, length: EPOCH };
    let start = m.governance.registry().currentEpoch(cluster).call().await.expect("epoch") + 2;
    let offer = compute_ledger_sdk::LeaseOffer {
        cluster_id: cluster,
        ..m.lease_offer(4, start, LEASE_EPOCHS)
    };
    let lease = m.funded_lease(&offer).await;

    let sim = SimulatorConfig {
        seed: 3,
        gpus: 4,
        site: Site::NordicHydro,
        origin: genesis,
        outages: vec![],
        flexible_kw: 0,
        curtailment_schedule: None,
        racks: vec![],
    };
    let uuids = Simulator::new(sim.clone()).uuids().to_vec();
    let oracle_dir = dir.path().join("oracle");
    let oracle = OracleConfig {
        cluster_id: cluster,
        chain_id: m.deployment.chain_id,
        registry: m.deployment.registry,
        genesis,
        epoch_length: EPOCH,
        data_dir: oracle_dir.clone(),
        inventory: uuids.clone(),
        source: SourceConfig::Simulator(sim),
        facility: None,
        rack_meters: None,
        leases: vec![LeaseAllocation {
            lease_id: lease.to::<u64>(),
            billing: Billing::Reserved,
            start_epoch: start,
            end_epoch: start + LEASE_EPOCHS,
            gpus: uuids,
            racks: vec![],
            kw: 0,
        }],
        signer: Some(attestor_key),
        max_backfill_s: 3_600,
        demand_response: None,
    };
    let oracle_toml = dir.path().join("oracle.toml");
    std::fs::write(&oracle_toml, toml::to_string(&oracle).expect("toml")).expect("write");

    // The node reaches the chain through a proxy the drill controls.
    let proxy = Proxy::for_devnet(&m.devnet).await;
    let deployment = dir.path().join("deployment.json");
    m.deployment.save(&deployment).expect("deployment");
    let listen = format!("127.0.0.1:{}", free_port());
    let node_toml = dir.path().join("node.toml");
    let keeper_keystore = keeper_key.keystore.display().to_string();
    std::fs::write(
        &node_toml,
        format!(
            "rpc_url = {:?}\ndeployment = {:?}\nindex_dir = {:?}\ndeliveries_dir = {:?}\nsamples_dir = {:?}\n[indexer]\npoll_ms = 500\n[server]\nlisten = {listen:?}\n[keeper]\nkey = {{ keystore = {keeper_keystore:?}, password_file = {:?} }}\ninterval_ms = 1000\n[[oracles]]\nconfig = {:?}\n",
            proxy.url(),
            deployment.display().to_string(),
            dir.path().join("index").display().to_string(),
            dir.path().join("deliveries").display().to_string(),
            dir.path().join("samples").display().to_string(),
            password.display().to_string(),
            oracle_toml.display().to_string(),
        ),
    )
    .expect("write");
    let log = dir.path().join("node.log");
    let url = format!("http://{listen}");
    let mut node = start_node(&node_toml, &log);
    let accepted = async |epoch: u64| m.reports.report_of(cluster, epoch).await.expect("reportOf");
    wait_for("the lease's first epoch on chain", Duration::from_secs(120), async || {
        accepted(start).await
    })
    .await;

    // SIGKILL in the middle of an epoch, then start again at once.
    wait_for("the middle of an epoch", Duration::from_secs(30), async || {
        let into = (compute_ledger_oracle::unix_now() - genesis) % u64::from(EPOCH);
        (4..=6).contains(&into).then_some(())
    })
    .await;
    let killed_in = clock.epoch_of(compute_ledger_oracle::unix_now()).expect("epoch");
    node.kill().expect("SIGKILL");
    node.wait().expect("reaped");
    node = start_node(&node_toml, &log);
    wait_for("the restarted node", Duration::from_secs(60), async || healthy(&url).await).await;
    wait_for("the epoch the kill cut through on chain", Duration::from_secs(120), async || {
        accepted(killed_in).await
    })
    .await;

    // The chain RPC stalls for a minute: calls hang, then time out and are retried.
    proxy.stall();
    tokio::time::sleep(STALL).await; // the fault's duration, not a wait for an outcome
    assert!(node.try_wait().expect("wait").is_none(), "the node must ride out a stalled RPC");
    proxy.resume();

    let market = m.governance.market();
    wait_for("the lease to end", Duration::from_secs(300), async || {
        let status = m.governance.lease(lease).await.expect("lease").status;
        (status == LeaseStatus::Ended).then_some(())
    })
    .await;

    // Every epoch settled exactly once, proven, with the delivery its report attested.
    let logs = provider
        .get_logs(
            &Filter::new()
                .address(m.deployment.market)
                .event_signature(EpochSettled::SIGNATURE_HASH)
                .topic1(lease)
                .from_block(0),
        )
        .await
        .expect("logs");
    let mut settled: BTreeMap<u64, Vec<EpochSettled>> = BTreeMap::new();
    for log in &logs {
        let event = log.log_decode::<EpochSettled>().expect("decode").inner.data;
        settled.entry(event.epoch).or_default().push(event);
    }
    let epochs: Vec<u64> = (start..start + LEASE_EPOCHS).collect();
    assert_eq!(settled.keys().copied().collect::<Vec<_>>(), epochs, "every epoch settled");
    for (epoch, events) in &settled {
        assert_eq!(events.len(), 1, "epoch {epoch} settled {} times", events.len());
        let event = &events[0];
        assert_eq!(Outcome::from_u8(event.outcome), Outcome::Proven, "epoch {epoch}");
        let text =
            std::fs::read_to_string(oracle_dir.join("reports").join(format!("epoch-{epoch}.json")))
                .expect("report file");
        let file: ReportFile = serde_json::from_str(&text).expect("report");
        let leaf =
            file.outcome.summary.deliveries.iter().find(|l| l.lease_id == lease).expect("leaf");
        assert_eq!(event.delivered, leaf.delivered, "epoch {epoch}");
    }
    // The kill lost no second: the epoch it cut through was sampled in full.
    let cut =
        std::fs::read_to_string(oracle_dir.join("reports").join(format!("epoch-{killed_in}.json")))
            .expect("report file");
    let cut: ReportFile = serde_json::from_str(&cut).expect("report");
    assert_eq!(cut.outcome.summary.seconds_sampled, u64::from(EPOCH), "seconds lost to the kill");
    assert_eq!(market.unsettledEpochs(lease).call().await.expect("unsettled"), 0);

    let status =
        Command::new("kill").args(["-TERM", &node.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || node.wait().expect("wait")).await.expect("join");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(exit.success() && text.contains("stopped cleanly"), "{text}");
    mining.abort();
}
