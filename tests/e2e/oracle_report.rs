//! The contracts on a real anvil accept a report built by the oracle library and signed in Rust
//! (2-of-3 attestors), and reject a tampered field, a non-attestor key, another chain's signature
//! and a replay with the expected custom errors.

use alloy::{
    primitives::{Address, Bytes, U256, keccak256},
    providers::{DynProvider, Provider},
    signers::local::PrivateKeySigner,
};
use compute_ledger_oracle::{
    Billing, LeaseAllocation, Oracle, OracleConfig, SignedReport, Simulator, SimulatorConfig, Site,
    SourceConfig, TelemetrySource, run_range,
};
use compute_ledger_sdk::{bindings::ClusterRegistry, test_utils::Devnet, to_binding};
use compute_ledger_types::{UsageReport, report_domain};

use ClusterRegistry::ClusterRegistryErrors as Errors;

const EPOCH: u32 = 30;

/// An 8-GPU simulated cluster starting at `genesis`, with a reserved and a metered lease (so the
/// report carries a deliveries tree).
fn sim_config(data_dir: &std::path::Path, genesis: u64) -> OracleConfig {
    let sim = SimulatorConfig {
        seed: 42,
        gpus: 8,
        site: Site::TexasGas,
        origin: genesis,
        outages: vec![],
        flexible_kw: 0,
        curtailment_schedule: None,
        racks: vec![],
    };
    let uuids = Simulator::new(sim.clone()).uuids().to_vec();
    let lease = |lease_id, billing, gpus: &[String]| LeaseAllocation {
        lease_id,
        billing,
        start_epoch: 0,
        end_epoch: 9,
        gpus: gpus.to_vec(),
        racks: vec![],
        kw: 0,
    };
    OracleConfig {
        cluster_id: 1,
        chain_id: 31_337,
        registry: Address::ZERO,
        genesis,
        epoch_length: EPOCH,
        data_dir: data_dir.to_path_buf(),
        inventory: uuids.clone(),
        source: SourceConfig::Simulator(sim),
        facility: None,
        rack_meters: None,
        leases: vec![
            lease(1, Billing::Reserved, &uuids[0..4]),
            lease(2, Billing::Metered, &uuids[4..6]),
        ],
        signer: None,
        max_backfill_s: 3_600,
        demand_response: None,
    }
}

/// Simulates the call first (a revert is decoded into the registry's custom error without
/// sending anything), then sends it and waits for the receipt.
async fn submit(
    registry: &ClusterRegistry::ClusterRegistryInstance<DynProvider>,
    report: &UsageReport,
    signatures: Vec<Bytes>,
) -> Result<(), Errors> {
    let call = registry.submitReport(to_binding(report), signatures);
    if let Err(e) = call.call().await {
        return Err(e
            .as_decoded_interface_error::<Errors>()
            .unwrap_or_else(|| panic!("undecoded revert: {e}")));
    }
    let receipt = call.send().await.expect("send").get_receipt().await.expect("receipt");
    assert!(receipt.status(), "mined and succeeded");
    Ok(())
}

#[tokio::test]
async fn rust_signed_report_is_accepted_and_forgeries_are_not() {
    let devnet = Devnet::spawn();
    let anvil = &devnet.anvil;
    let governance = devnet.signer(0);
    let provider = devnet.provider_for(governance.clone());
    let registry = ClusterRegistry::deploy(provider.clone(), governance.address(), 3_600)
        .await
        .expect("deploy");

    let mut keys: Vec<PrivateKeySigner> = (0..3).map(|_| PrivateKeySigner::random()).collect();
    keys.sort_by_key(|k| k.address());
    let attestors: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    registry
        .registerCluster("ipfs://rust-test".into(), keccak256("meta"), EPOCH, attestors, 2)
        .send()
        .await
        .expect("register")
        .get_receipt()
        .await
        .expect("receipt");
    let info = registry.clusterInfo(1).call().await.expect("info");
    let genesis = info.genesis;

    // The oracle samples epoch 0 of the simulated cluster against the chain's genesis.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = OracleConfig {
        chain_id: anvil.chain_id(),
        registry: *registry.address(),
        ..sim_config(dir.path(), genesis)
    };
    let mut oracle =
        Oracle::open(config.clone(), TelemetrySource::from_config(&config.source).expect("sim"))
            .expect("open");
    run_range(&mut oracle, None, genesis, genesis + u64::from(EPOCH)).await.expect("run");
    let report = oracle.outcome(0).expect("store").expect("epoch 0").report;
    assert!(report.metrics_valid(EPOCH));

    let domain = report_domain(anvil.chain_id(), *registry.address());
    let mut signed = SignedReport::new(report.clone());
    signed.sign(&keys[0], &domain).expect("sign");
    let mut cosigned = SignedReport::new(report.clone());
    cosigned.sign(&keys[2], &domain).expect("sign");
    signed.merge(cosigned).expect("merge");
    signed.verify(&domain).expect("verify");

    provider
        .raw_request::<_, U256>("evm_increaseTime".into(), (u64::from(EPOCH) + 1,))
        .await
        .expect("time");
    provider.raw_request::<_, String>("evm_mine".into(), ()).await.expect("mine");

    // Tampered field after signing.
    let tampered =
        UsageReport { gpusHealthy: report.gpusHealthy.saturating_sub(1), ..report.clone() };
    assert!(matches!(
        submit(&registry, &tampered, signed.ordered_signatures()).await,
        Err(Errors::NotAttestor(_))
    ));

    // A key outside the attestor set.
    let mut forged = SignedReport::new(report.clone());
    forged.sign(&keys[0], &domain).expect("sign");
    forged.sign(&PrivateKeySigner::random(), &domain).expect("sign");
    assert!(matches!(
        submit(&registry, &report, forged.ordered_signatures()).await,
        Err(Errors::NotAttestor(_))
    ));

    // Signatures for another chain id.
    let mut other_chain = SignedReport::new(report.clone());
    for key in &keys[..2] {
        other_chain.sign(key, &report_domain(1, *registry.address())).expect("sign");
    }
    assert!(matches!(
        submit(&registry, &report, other_chain.ordered_signatures()).await,
        Err(Errors::NotAttestor(_))
    ));

    // The genuine report is accepted and stored.
    submit(&registry, &report, signed.ordered_signatures()).await.expect("accepted");
    let stored = registry.reportOf(1, 0).call().await.expect("reportOf");
    assert_eq!(stored.deliveriesRoot, report.deliveriesRoot);

    // Replaying it is rejected.
    let replay = submit(&registry, &report, signed.ordered_signatures()).await;
    assert!(matches!(replay, Err(Errors::EpochAlreadyReported(_))), "{replay:?}");
}
