//! Demand response in the oracle: a site's miners curtail on schedule, the oracle measures the
//! curtailment on the facility meter (meter-before baseline), attests it as a leaf of the epoch in
//! which the event ends, and anyone can reproduce the leaf from the telemetry archives.

use std::path::Path;

use alloy::primitives::{Address, U256};
use compute_ledger_oracle::{
    BaselineMethod, Billing, CurtailWindow, CurtailmentWindow, DAY_S, DemandResponseConfig,
    LeaseAllocation, Oracle, OracleConfig, SampleRecord, SimRack, SimulatorConfig, SourceConfig,
    TelemetrySource, add_to_schedule, measure_curtailment, run_range,
};
use compute_ledger_types::verify_proof;

use crate::common::{GENESIS, sim_config};

const MINERS_KW: u32 = 500;
const CONTRACT: Address = Address::repeat_byte(0x77);
const BASELINE_S: u64 = 900;

/// The shared scenario's cluster with 500 kW of miners following `schedule`, attesting events.
fn miners_config(dir: &Path) -> OracleConfig {
    let mut config = sim_config(&dir.join("data"));
    let SourceConfig::Simulator(sim) = &config.source else { unreachable!("simulator scenario") };
    config.source = SourceConfig::Simulator(SimulatorConfig {
        flexible_kw: MINERS_KW,
        curtailment_schedule: Some(dir.join("curtailments.json")),
        racks: vec![],
        ..sim.clone()
    });
    config.demand_response = Some(DemandResponseConfig {
        contract: CONTRACT,
        baseline_s: BASELINE_S,
        baseline: BaselineMethod::MeterBefore,
        like_days: 10,
    });
    config
}

fn window(event: u64, start: u64, end: u64) -> CurtailmentWindow {
    CurtailmentWindow { demand_response: CONTRACT, event_id: U256::from(event), start, end }
}

fn open(config: &OracleConfig) -> Oracle {
    Oracle::open(config.clone(), TelemetrySource::from_config(&config.source).expect("source"))
        .expect("oracle")
}

fn archive_records(oracle: &Oracle, epochs: std::ops::RangeInclusive<u64>) -> Vec<SampleRecord> {
    epochs
        .flat_map(|e| {
            let text = std::fs::read_to_string(oracle.archive_path(e)).expect("archive");
            text.lines()
                .map(|l| serde_json::from_str(l).expect("line"))
                .collect::<Vec<SampleRecord>>()
        })
        .collect()
}

#[tokio::test]
async fn acknowledged_curtailment_is_attested_within_one_percent_and_reproducible() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = miners_config(dir.path());
    let schedule = dir.path().join("curtailments.json");
    // Event 1 (acknowledged): 15 s ending exactly at epoch 2's end, so the reading at its end is
    // not sampled yet when epoch 2 is finalized. Event 2: the miners curtailed but the site never
    // acknowledged it (the node never recorded it): it is never attested.
    let (acked, unacked) =
        (window(1, GENESIS + 45, GENESIS + 60), window(2, GENESIS + 85, GENESIS + 95));
    for w in [&acked, &unacked] {
        let event = w.event_id.to_string();
        add_to_schedule(&schedule, CurtailWindow { event, start: w.start, end: w.end })
            .expect("schedule");
    }
    let mut oracle = open(&config);
    oracle.store().put_curtailment(&acked).expect("record");
    oracle.store().set_curtailments_synced(GENESIS + 10_000).expect("synced");
    run_range(&mut oracle, None, GENESIS, GENESIS + 120).await.expect("run");

    let outcome = oracle.outcome(2).expect("read").expect("epoch 2 finalized");
    assert_eq!(outcome.summary.curtailments.len(), 1, "only the acknowledged event");
    let leaf = outcome.summary.curtailments[0];
    assert_eq!(
        (leaf.event_id, leaf.cluster_id, leaf.demand_response),
        (U256::from(1), 1, CONTRACT)
    );
    let truth_wh = f64::from(MINERS_KW) * 1000.0 * 15.0 / 3600.0; // 500 kW off for 15 s
    let measured = leaf.curtailed_wh() as f64;
    assert!(
        (measured - truth_wh).abs() <= truth_wh * 0.01,
        "measured {measured} Wh, truth {truth_wh} Wh"
    );
    for epoch in 0..6 {
        if epoch != 2 {
            let other = oracle.outcome(epoch).expect("read").expect("finalized");
            assert!(other.summary.curtailments.is_empty(), "epoch {epoch} attests no event");
        }
    }

    let tree = outcome.tree().expect("tree").expect("leaves");
    assert_eq!(tree.root(), outcome.report.deliveriesRoot);
    let proof = tree.curtailment_proof(U256::from(1)).expect("proof");
    assert!(verify_proof(leaf.hash(), &proof, outcome.report.deliveriesRoot));

    // Anyone with the archives from the baseline's start through the report epoch gets the leaf.
    let records = archive_records(&oracle, 1..=2);
    let again = measure_curtailment(1, &acked, BASELINE_S, &records).expect("reproduced");
    assert_eq!(again, leaf);

    // Once its report epoch is pruned (settled on chain), the event's window is forgotten.
    oracle.prune_epoch(1).expect("prune");
    assert_eq!(oracle.store().curtailments().expect("read").len(), 1, "epoch 2 still kept");
    oracle.prune_epoch(2).expect("prune");
    assert!(oracle.store().curtailments().expect("read").is_empty());
}

/// `config` plus a 400 kW powered shell on two feeds (one loses power for 5 s) as lease 3.
fn with_powered_shell(mut config: OracleConfig) -> OracleConfig {
    let SourceConfig::Simulator(sim) = &config.source else { unreachable!("simulator scenario") };
    let feed = |id: &str, outages| SimRack { id: id.into(), kw: 200, outages };
    config.source = SourceConfig::Simulator(SimulatorConfig {
        racks: vec![feed("hall-a", vec![]), feed("hall-b", vec![(GENESIS + 50, GENESIS + 54)])],
        ..sim.clone()
    });
    config.leases.push(LeaseAllocation {
        lease_id: 3,
        billing: Billing::Reserved,
        start_epoch: 0,
        end_epoch: 9,
        gpus: vec![],
        racks: vec!["hall-a".into(), "hall-b".into()],
        kw: 400,
    });
    config
}

#[tokio::test]
async fn curtailing_the_miners_never_changes_the_gpu_or_powered_shell_tenants_deliveries() {
    let (with, without) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let curtailing = with_powered_shell(miners_config(with.path()));
    let event = window(1, GENESIS + 45, GENESIS + 60);
    add_to_schedule(
        &with.path().join("curtailments.json"),
        CurtailWindow { event: "1".into(), start: event.start, end: event.end },
    )
    .expect("schedule");
    let mut a = open(&curtailing);
    a.store().put_curtailment(&event).expect("record");
    a.store().set_curtailments_synced(GENESIS + 10_000).expect("synced");
    let mut b = open(&with_powered_shell(sim_config(&without.path().join("data"))));
    run_range(&mut a, None, GENESIS, GENESIS + 100).await.expect("run");
    run_range(&mut b, None, GENESIS, GENESIS + 100).await.expect("run");
    for epoch in 0..5 {
        let (x, y) =
            (a.outcome(epoch).expect("a").expect("a"), b.outcome(epoch).expect("b").expect("b"));
        assert_eq!(x.summary.deliveries, y.summary.deliveries, "epoch {epoch}: tenants' leaves");
        assert_eq!(x.summary.gpu_seconds_available, y.summary.gpu_seconds_available);
        let shell = x.summary.deliveries.iter().find(|d| d.lease_id == U256::from(3));
        let shell = shell.expect("the powered shell's leaf");
        let outage_s = if epoch == 2 { 5 } else { 0 };
        assert_eq!(shell.delivered, 400 * (2 * 20 - outage_s) / 2, "epoch {epoch}: kW-seconds");
        assert!(shell.energy_wh > 0, "epoch {epoch}: its sub-meters counted");
    }
}

#[tokio::test]
async fn an_epoch_waits_for_the_node_to_sync_acknowledgements() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = miners_config(dir.path());
    let mut oracle = open(&config);
    run_range(&mut oracle, None, GENESIS, GENESIS + 20).await.expect("epoch 0 sampled");
    let end = GENESIS + 20;
    assert!(oracle.waiting_for_curtailments(end, end + 1).expect("ask"), "nothing synced yet");
    assert!(oracle.finalize_due(end + 1).expect("due").is_none(), "held open");
    oracle.store().set_curtailments_synced(end).expect("synced");
    assert!(!oracle.waiting_for_curtailments(end, end + 1).expect("ask"));
    // A node that never syncs (chain down) holds the epoch at most the grace.
    let stuck_dir = tempfile::tempdir().expect("tmp");
    let mut stuck = open(&miners_config(stuck_dir.path()));
    run_range(&mut stuck, None, GENESIS, GENESIS + 20).await.expect("sampled");
    let late = end + compute_ledger_oracle::CURTAILMENT_SYNC_GRACE_S;
    assert!(!stuck.waiting_for_curtailments(end, late).expect("ask"));
    assert!(stuck.finalize_due(late).expect("due").is_some());
}

#[tokio::test]
async fn a_like_days_baseline_is_read_from_the_previous_days_archives() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = miners_config(dir.path());
    config.demand_response = Some(DemandResponseConfig {
        contract: CONTRACT,
        baseline_s: BASELINE_S,
        baseline: BaselineMethod::LikeDays,
        like_days: 1,
    });
    // The event: 15 s a day after genesis, ending at an epoch's end; the day before, the same
    // window ran with the miners on.
    let acked = window(1, GENESIS + DAY_S + 45, GENESIS + DAY_S + 60);
    add_to_schedule(
        &dir.path().join("curtailments.json"),
        CurtailWindow { event: "1".into(), start: acked.start, end: acked.end },
    )
    .expect("schedule");
    let mut oracle = open(&config);
    oracle.store().put_curtailment(&acked).expect("record");
    oracle.store().set_curtailments_synced(GENESIS + 2 * DAY_S).expect("synced");
    run_range(&mut oracle, None, GENESIS, GENESIS + 100).await.expect("the day before");
    run_range(&mut oracle, None, GENESIS + DAY_S, GENESIS + DAY_S + 100).await.expect("the day");

    let epoch = (DAY_S + 59) / 20;
    let outcome = oracle.outcome(epoch).expect("read").expect("finalized");
    let leaf = *outcome.summary.curtailments.first().expect("attested");
    let truth_wh = f64::from(MINERS_KW) * 15.0 / 3.6;
    let measured = leaf.curtailed_wh() as f64;
    assert!(
        (measured - truth_wh).abs() <= truth_wh * 0.02,
        "measured {measured} Wh against a like day, truth {truth_wh} Wh ({leaf:?})"
    );

    // Without the previous day's archive there is no baseline: nothing is attested.
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = miners_config(dir.path());
    config.demand_response = oracle.config().demand_response;
    let mut fresh = open(&config);
    fresh.store().put_curtailment(&acked).expect("record");
    fresh.store().set_curtailments_synced(GENESIS + 2 * DAY_S).expect("synced");
    run_range(&mut fresh, None, GENESIS + DAY_S, GENESIS + DAY_S + 100).await.expect("the day");
    let outcome = fresh.outcome(epoch).expect("read").expect("finalized");
    assert!(outcome.summary.curtailments.is_empty(), "no like day, no leaf");
}
