//! Demand response end to end, in real time: the grid's real OpenADR VTN (OpenLEADR over
//! PostgreSQL), anvil, and the node's oracle loop with its acknowledgement watch on a simulated
//! site running 500 kW of miners.
//!
//! - Event 1: the VEN receives it from the VTN, sheds the miners and acknowledges on chain; the
//!   oracle attests the curtailment measured on the facility meter within 1 % of the simulator's
//!   truth; the sponsor settles it at price × attested kWh; the VEN's report reaches the grid.
//! - Event 2: a site that acknowledges and does not curtail pays the shortfall's penalty.
//! - Event 3: the VTN is down; nobody receives the event: nothing is paid and nothing penalized.

use std::{sync::Arc, time::Duration};

use alloy::primitives::U256;
use compute_ledger_node::{
    Shutdown,
    index::DeliveriesArchive,
    loops::{self, OracleOptions},
    metrics::Metrics,
    openadr::{
        self,
        client::VtnClient,
        server::{VtnRole, VtnServer, VtnUser},
        ven::{FlexibleLoad, Ven},
    },
};
use compute_ledger_oracle::{
    BaselineMethod, DemandResponseConfig, KeyConfig, OracleConfig, SampleDb, SimulatorConfig,
    Site as SimSite, SourceConfig, create_keystore, load_keystore,
};
use compute_ledger_sdk::{
    Amount, ClusterSpec, Site, Sponsor,
    test_utils::{Market, dollars, mint},
};
use compute_ledger_types::{CurtailmentLeaf, DeliveriesTree};

use crate::common::{produce_blocks, wait_for};

const EPOCH: u32 = 10;
const MINERS_KW: u32 = 500;
const PATIENCE: Duration = Duration::from_secs(120);

fn usd(text: &str) -> Amount {
    Amount::parse(text, compute_ledger_sdk::STABLECOIN_DECIMALS).expect("amount")
}

fn vtn_user(client_id: &str, role: VtnRole) -> VtnUser {
    VtnUser { client_id: client_id.into(), secret: format!("{client_id}-secret"), role }
}

/// The archived tree of (cluster, epoch) once the node has built it.
async fn archived(archive: &DeliveriesArchive, cluster: u64, epoch: u64) -> DeliveriesTree {
    wait_for("the report epoch's tree", PATIENCE, async || {
        archive.tree(cluster, epoch).expect("archive readable")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_is_paid_for_measured_curtailment_penalized_for_none_and_untouched_without_the_vtn()
{
    let _ = tracing_subscriber::fmt().with_env_filter("info").with_test_writer().try_init();
    let m = Market::start(10_000, 2_000).await;
    let dir = tempfile::tempdir().expect("tmp");
    let _mining = produce_blocks(&m);

    // The site: a cluster whose attestor key is in a keystore, as on a real node.
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "demand-test").expect("password");
    let (attestor, keystore) =
        create_keystore(&dir.path().join("keys"), "attestor", "demand-test").expect("keystore");
    let attestor_key = load_keystore(&keystore, "demand-test").expect("key");
    let spec = ClusterSpec {
        metadata_uri: "ipfs://texas-miners".into(),
        metadata_hash: Default::default(),
        epoch_length: EPOCH,
        attestors: vec![attestor],
        threshold: 1,
    };
    let cluster = m.owner.register_cluster(&spec).await.expect("register");
    let genesis = m.governance.registry().clusterInfo(cluster).call().await.expect("info").genesis;

    // The program: $0.20 per curtailed kWh, $0.10 per kWh short; the site commits its 500 kW.
    let sponsor = Sponsor::new(m.governance.clone());
    let site = Site::new(m.owner.client().clone());
    mint(&m.governance, m.governance.address(), dollars(1_000)).await;
    let program = sponsor
        .create_program(usd("0.20"), usd("0.10"), m.governance.address())
        .await
        .expect("program");
    sponsor.fund_program(program, dollars(100)).await.expect("fund");
    let payee = m.investors[0].client().address();
    let enrollment = site.enroll(program, cluster, MINERS_KW, payee).await.expect("enroll");
    site.deposit_bond(enrollment, dollars(100)).await.expect("bond");

    // The grid's VTN, its program and the site's VEN object.
    let ven_id = format!("ven-cluster-{cluster}");
    let users = [vtn_user("grid", VtnRole::Grid), vtn_user(&ven_id, VtnRole::Ven)];
    let vtn_dir = dir.path().join("vtn");
    let mut vtn = tokio::task::spawn_blocking(move || VtnServer::start(&vtn_dir, &users))
        .await
        .expect("join")
        .expect("VTN up");
    let grid = VtnClient::new(vtn.url(), "grid", "grid-secret").expect("grid");
    let chain_id = m.deployment.chain_id;
    let contract = m.deployment.demand_response.expect("deployed");
    let vtn_program = grid
        .create_program(&openadr::program_name(chain_id, contract, program))
        .await
        .expect("VTN program");
    grid.create_ven(&ven_id, "texas-miners", &openadr::ven_target(cluster)).await.expect("VEN");

    // The node: the cluster's oracle on a simulated site whose miners follow the schedule.
    let schedule = dir.path().join("curtailments.json");
    let config = OracleConfig {
        cluster_id: cluster,
        chain_id,
        registry: m.deployment.registry,
        genesis,
        epoch_length: EPOCH,
        data_dir: dir.path().join("oracle"),
        inventory: vec![],
        source: SourceConfig::Simulator(SimulatorConfig {
            seed: 11,
            gpus: 4,
            site: SimSite::TexasGas,
            origin: genesis,
            outages: vec![],
            flexible_kw: MINERS_KW,
            curtailment_schedule: Some(schedule.clone()),
            racks: vec![],
        }),
        facility: None,
        rack_meters: None,
        leases: vec![],
        signer: Some(KeyConfig {
            keystore,
            password_file: Some(password_file),
            password_env: None,
        }),
        max_backfill_s: 60,
        demand_response: Some(DemandResponseConfig {
            contract,
            baseline_s: 900,
            baseline: BaselineMethod::MeterBefore,
            like_days: 10,
        }),
    };
    let archive = DeliveriesArchive::open(&dir.path().join("deliveries")).expect("archive");
    let samples = SampleDb::open(&dir.path().join("samples")).expect("samples");
    let shutdown = Shutdown::new();
    let oracle = tokio::spawn(loops::oracle_loop(
        config,
        OracleOptions { samples: Some(samples.clone()), ..OracleOptions::default() },
        compute_ledger_sdk::Reports::new(m.reports_client().await),
        archive.clone(),
        Arc::default(),
        Arc::new(Metrics::default()),
        shutdown.clone(),
    ));

    // Three 15-second events, far enough apart that no baseline reads another event.
    let now = m.governance.chain_time().await.expect("time");
    let windows = [(now + 25, now + 40), (now + 60, now + 75), (now + 95, now + 105)];
    let mut events = Vec::new();
    for (start, end) in windows {
        events.push(sponsor.dispatch(enrollment, start, end).await.expect("dispatch"));
    }
    let publish = async |event: U256, (start, end): (u64, u64)| {
        let request =
            openadr::event_request(&vtn_program.id, chain_id, contract, event, cluster, start, end);
        grid.create_event(&request).await
    };
    let ven_client =
        || VtnClient::new(vtn.url(), &ven_id, &format!("{ven_id}-secret")).expect("VEN client");

    // Event 1: published; the VEN sheds the miners and acknowledges.
    let vtn_event = publish(events[0], windows[0]).await.expect("published");
    let mut ven = Ven::new(
        ven_client(),
        site.clone(),
        attestor_key.clone(),
        cluster,
        FlexibleLoad::Schedule(schedule.clone()),
    )
    .with_archive(archive.clone());
    assert_eq!(ven.report_attested().await, 0, "nothing attested yet");
    let accepted = ven.poll().await.expect("VEN polls");
    assert_eq!(accepted, vec![events[0]]);
    assert!(m.governance.curtailment_event(events[0]).await.expect("event").acknowledged);

    // Event 2: the same site's load controller fails: acknowledged, nothing shed.
    publish(events[1], windows[1]).await.expect("published");
    let mut failing =
        Ven::new(ven_client(), site.clone(), attestor_key, cluster, FlexibleLoad::Nothing);
    let accepted = failing.poll().await.expect("VEN polls");
    assert!(accepted.contains(&events[1]), "{accepted:?}");
    assert!(m.governance.curtailment_event(events[1]).await.expect("event").acknowledged);

    // Event 1 is attested within 1 % of the simulator's truth, and the VEN reports it to the
    // grid over OpenADR.
    let info = m.governance.curtailment_event(events[0]).await.expect("event");
    let tree = archived(&archive, cluster, info.report_epoch).await;
    let leaf: CurtailmentLeaf = *tree.curtailment(events[0]).expect("event 1 attested");
    let truth_wh = f64::from(MINERS_KW) * 15.0 / 3.6; // 500 kW off for 15 s
    let measured = leaf.curtailed_wh() as f64;
    assert!(
        (measured - truth_wh).abs() <= truth_wh * 0.01,
        "measured {measured} Wh, truth {truth_wh} Wh"
    );
    // The VEN reports it from the archive (as its run loop does), once.
    assert_eq!(ven.report_attested().await, 1);
    assert_eq!(ven.report_attested().await, 0, "reported once");
    let reports = grid.reports(&vtn_event.id).await.expect("grid reads");
    let payloads = &reports[0].resources[0].intervals[0].payloads;
    assert_eq!(payloads[0].value_type, "BASELINE");
    assert_eq!(payloads[0].values[0], serde_json::json!(leaf.baseline_wh as f64 / 1000.0));

    // Event 3: the VTN is down; the grid cannot publish and the VEN hears nothing.
    vtn.stop_vtn();
    assert!(publish(events[2], windows[2]).await.is_err(), "the VTN is down");
    assert!(failing.poll().await.is_err(), "nothing to poll");

    // Event 1 settles at price × attested kWh, the shortfall (if any) penalized.
    let proof = tree.curtailment_proof(events[0]).expect("proof");
    let settled = wait_for("event 1's review window", PATIENCE, async || {
        sponsor.settle(&leaf, proof.clone()).await.ok()
    })
    .await;
    let committed_wh = u64::from(MINERS_KW) * 15 * 1000 / 3600;
    let credited = leaf.curtailed_wh().min(committed_wh);
    assert_eq!(settled.curtailed_wh, leaf.curtailed_wh());
    assert_eq!(settled.payout.base(), U256::from(credited * 200_000 / 1000), "$0.20 per kWh");
    assert_eq!(settled.penalty.base(), U256::from((committed_wh - credited) * 100_000 / 1000));

    // Event 2: attested at about zero curtailment; the whole commitment is penalized.
    let info = m.governance.curtailment_event(events[1]).await.expect("event");
    let tree = archived(&archive, cluster, info.report_epoch).await;
    let leaf = *tree.curtailment(events[1]).expect("event 2 attested");
    assert!(leaf.curtailed_wh() < committed_wh / 100, "nothing was shed: {leaf:?}");
    let proof = tree.curtailment_proof(events[1]).expect("proof");
    let failed = wait_for("event 2's review window", PATIENCE, async || {
        sponsor.settle(&leaf, proof.clone()).await.ok()
    })
    .await;
    let short_wh = committed_wh - leaf.curtailed_wh().min(committed_wh);
    assert_eq!(failed.penalty.base(), U256::from(short_wh * 100_000 / 1000));
    assert!(failed.penalty.base() > U256::ZERO);

    // Event 3: never acknowledged, never attested; closed after its deadline with nothing.
    let info = m.governance.curtailment_event(events[2]).await.expect("event");
    assert!(!info.acknowledged);
    let reports = compute_ledger_sdk::Reports::new(m.governance.clone());
    let report = wait_for("event 3's epoch reported", PATIENCE, async || {
        reports.report_of(cluster, info.report_epoch).await.expect("read")
    })
    .await;
    assert_eq!(
        report.deliveries_root,
        alloy::primitives::B256::ZERO,
        "no lease, no curtailment invented"
    );
    shutdown.trigger();
    oracle.await.expect("join").expect("oracle");
    // A restarted node's acknowledgement watch resumes near where this one stopped, not at the
    // deployment block.
    let store = samples.store(cluster, None).expect("store");
    let stopped_at = store.ack_cursor().expect("read").expect("the watch kept its cursor");
    use compute_ledger_node::openadr::watch::{ACK_REREAD_BLOCKS, AckWatch};
    let watch = AckWatch::new(m.reports_client().await, cluster, store).expect("watch");
    let (head, _) = m.governance.head().await.expect("head");
    assert!(stopped_at > m.deployment.deploy_block && stopped_at <= head + 1, "{stopped_at}");
    let resumed = stopped_at.saturating_sub(ACK_REREAD_BLOCKS).max(m.deployment.deploy_block);
    assert_eq!(watch.next_block(), resumed);
    let dr = m.governance.demand_response().expect("dr");
    let deadline = u64::try_from(dr.attestationDeadline(events[2]).call().await.expect("deadline"))
        .expect("time");
    let now = m.governance.chain_time().await.expect("time");
    m.devnet.advance(deadline.saturating_sub(now) + 1).await;
    let closed = sponsor.settle_unattested(events[2]).await.expect("closed");
    assert!(!closed.attested && closed.payout.base().is_zero() && closed.penalty.base().is_zero());
}
