//! The node's loops end to end on anvil in real time: an oracle samples a simulated cluster,
//! submits its signed report once per epoch and archives the deliveries tree; the keeper settles
//! the lease from that archive; the index and `ledger_deliveryProof` agree with the chain; a
//! restarted oracle does not submit again.

use std::{sync::Arc, sync::atomic::Ordering, time::Duration};

use alloy::providers::Provider;
use compute_ledger_node::{
    Indexer, Shutdown,
    index::{DeliveriesArchive, Index, NodeProofs},
    loops,
    metrics::Metrics,
};
use compute_ledger_oracle::{
    Billing, KeyConfig, LeaseAllocation, OracleConfig, Simulator, SimulatorConfig, Site,
    SourceConfig, create_keystore,
};
use compute_ledger_sdk::{
    ClusterSpec, DeliveryProofs, LeaseStatus,
    test_utils::{Market, dollars},
};

const EPOCH: u32 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_and_keeper_loops_settle_a_lease() {
    let m = Market::start(10_000, 2_000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The password comes from a file: setting an environment variable would race the other
    // tests of this binary, which run on parallel threads.
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "loops-test").expect("password file");
    let (attestor, keystore) =
        create_keystore(&dir.path().join("keys"), "attestor", "loops-test").expect("keystore");

    // Blocks every second, as on a live chain (the keeper judges time by the latest block).
    let mining = crate::common::produce_blocks(&m);

    let spec = ClusterSpec {
        metadata_uri: "ipfs://texas-gas".into(),
        metadata_hash: Default::default(),
        epoch_length: EPOCH,
        attestors: vec![attestor],
        threshold: 1,
    };
    let cluster = m.owner.register_cluster(&spec).await.expect("register");
    m.owner.deposit_bond(cluster, dollars(1_000)).await.expect("bond");
    let info = m.governance.registry().clusterInfo(cluster).call().await.expect("info");
    let start = m.governance.registry().currentEpoch(cluster).call().await.expect("epoch") + 2;
    let offer =
        compute_ledger_sdk::LeaseOffer { cluster_id: cluster, ..m.lease_offer(4, start, 1) };
    let lease = m.funded_lease(&offer).await;

    let sim = SimulatorConfig {
        seed: 7,
        gpus: 4,
        site: Site::TexasGas,
        origin: info.genesis,
        outages: vec![],
        flexible_kw: 0,
        curtailment_schedule: None,
        racks: vec![],
    };
    let uuids = Simulator::new(sim.clone()).uuids().to_vec();
    let config = OracleConfig {
        cluster_id: cluster,
        chain_id: m.deployment.chain_id,
        registry: m.deployment.registry,
        genesis: info.genesis,
        epoch_length: EPOCH,
        data_dir: dir.path().join("oracle"),
        inventory: uuids.clone(),
        source: SourceConfig::Simulator(sim),
        facility: None,
        rack_meters: None,
        leases: vec![LeaseAllocation {
            lease_id: lease.to::<u64>(),
            billing: Billing::Reserved,
            start_epoch: start,
            end_epoch: start + 1,
            gpus: uuids,
            racks: vec![],
            kw: 0,
        }],
        signer: Some(KeyConfig {
            keystore,
            password_file: Some(password_file),
            password_env: None,
        }),
        max_backfill_s: 60,
        demand_response: None,
    };

    let index = Index::open(&dir.path().join("index")).expect("index");
    let archive = DeliveriesArchive::open(&dir.path().join("deliveries")).expect("archive");
    let proofs = NodeProofs { index: index.clone(), archive: archive.clone() };
    let metrics = Arc::new(Metrics::default());
    let shutdown = Shutdown::new();
    let indexer = Indexer::new(
        index.clone(),
        m.governance.provider().clone(),
        m.deployment.clone(),
        0,
        metrics.clone(),
    )
    .expect("indexer");
    let indexing = tokio::spawn(indexer.run(Duration::from_millis(200), shutdown.clone()));
    let relayer = compute_ledger_sdk::Reports::new(m.reports_client().await);
    let oracle = tokio::spawn(loops::oracle_loop(
        config.clone(),
        Default::default(),
        relayer.clone(),
        archive.clone(),
        Arc::default(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let keeper = tokio::spawn(loops::keeper_loop(
        m.keeper.clone(),
        proofs.clone(),
        10,
        Duration::from_secs(1),
        metrics.clone(),
        shutdown.clone(),
    ));

    // Wait for the lease to end: reported, past the challenge window, settled.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let status = m.governance.lease(lease).await.expect("lease").status;
        if status == LeaseStatus::Ended {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lease did not settle in time (status {status:?})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The indexer has seen the settlement, and the keeper's round has finished and counted it
    // (the lease ends on chain before the keeper's receipt watcher returns; a shutdown in
    // between would cut that round short).
    while index.settlements(lease).expect("settlements").is_empty()
        || metrics.epochs_settled.load(Ordering::Relaxed) == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the index never saw the settlement, or the keeper never counted it"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.trigger();
    indexing.await.expect("join").expect("indexer");
    oracle.await.expect("join").expect("oracle");
    keeper.await.expect("join");

    assert!(metrics.reports_submitted.load(Ordering::Relaxed) >= 1);
    assert_eq!(metrics.epochs_settled.load(Ordering::Relaxed), 1);
    let settled = index.settlements(lease).expect("settlements");
    assert_eq!(settled.len(), 1);
    assert!(!settled[0].missed && settled[0].delivered > 0, "{settled:?}");
    let (leaf, proof) =
        proofs.delivery(cluster, start, lease).expect("readable").expect("archived proof");
    assert_eq!(leaf.delivered, settled[0].delivered);
    assert!(!proof.is_empty() || archive.tree(cluster, start).expect("tree").is_some());

    // Restart the oracle on the same data: it resumes and submits nothing twice. Its first pass
    // re-archives every tree before asking the chain whether to submit; seeing the removed tree
    // back means that pass reached the epoch, and shutdown lets a started pass finish.
    assert!(archive.remove(cluster, start).expect("remove"));
    let again = Arc::new(Metrics::default());
    let shutdown = Shutdown::new();
    let restarted = tokio::spawn(loops::oracle_loop(
        config,
        Default::default(),
        relayer,
        archive.clone(),
        Arc::default(),
        again.clone(),
        shutdown.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while archive.tree(cluster, start).expect("tree").is_none() {
        assert!(std::time::Instant::now() < deadline, "the restarted oracle never got to epoch");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.trigger();
    restarted.await.expect("join").expect("oracle");
    let reported: Vec<u64> = m
        .governance
        .provider()
        .get_logs(&alloy::rpc::types::Filter::new().address(m.deployment.registry).event_signature(
            <compute_ledger_sdk::bindings::ClusterRegistry::ReportAccepted as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
        ).from_block(0))
        .await
        .expect("logs")
        .iter()
        .filter_map(|log| log.log_decode::<compute_ledger_sdk::bindings::ClusterRegistry::ReportAccepted>().ok())
        .filter(|e| e.inner.data.clusterId == cluster)
        .map(|e| e.inner.data.epoch)
        .collect();
    let unique: std::collections::BTreeSet<_> = reported.iter().collect();
    assert_eq!(unique.len(), reported.len(), "an epoch was reported twice: {reported:?}");
    mining.abort();
}
