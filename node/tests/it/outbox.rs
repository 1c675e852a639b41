//! The oracle's outbox on one anvil: a report reorged out is sent again while its window is open;
//! an epoch's files are handed over for pruning only after the retention time, once its window
//! closed and every lease in it settled.

use std::sync::Arc;

use alloy::providers::Provider;
use compute_ledger_node::{
    index::DeliveriesArchive,
    metrics::Metrics,
    outbox::{Outbox, RetentionPolicy},
};
use compute_ledger_oracle::{
    Billing, EpochClock, LeaseAllocation, Oracle, OracleConfig, ReportFile, TelemetrySource,
    run_range,
};
use compute_ledger_sdk::{ProofBook, Reports, test_utils::Market};

use crate::cosign::{Cluster, EPOCH, accepted, oracle_config, register};

/// Samples `epoch` after the fact (the simulator reads the past) once it ended on chain, and
/// returns its report file.
async fn sample_epoch(
    m: &Market,
    cluster: &Cluster,
    config: &OracleConfig,
    epoch: u64,
) -> ReportFile {
    let clock = EpochClock { genesis: cluster.genesis, length: EPOCH };
    let now = m.governance.chain_time().await.expect("time");
    m.devnet.advance(clock.end(epoch).saturating_sub(now) + 1).await;
    let signer = cluster.keys[0].load().expect("key");
    let source = TelemetrySource::from_config(&config.source).expect("source");
    let mut oracle = Oracle::open(config.clone(), source).expect("oracle");
    let written = run_range(&mut oracle, Some(&signer), clock.start(epoch), clock.end(epoch))
        .await
        .expect("sampled");
    let text = std::fs::read_to_string(written.last().expect("a report")).expect("read");
    serde_json::from_str(&text).expect("report file")
}

async fn outbox(
    m: &Market,
    cluster: &Cluster,
    config: &OracleConfig,
    dir: &std::path::Path,
    retention: Option<RetentionPolicy>,
) -> Outbox {
    let signer = cluster.keys[0].load().expect("key");
    let archive = DeliveriesArchive::open(&dir.join("deliveries")).expect("archive");
    let relayer = Reports::new(m.devnet.client(&m.deployment, 7).await);
    Outbox::new(
        config,
        Some(signer.address()),
        relayer,
        archive,
        Arc::default(),
        Arc::new(Metrics::default()),
        Vec::new(),
        retention,
    )
    .expect("outbox")
}

#[tokio::test]
async fn a_report_reorged_out_is_sent_again_while_its_window_is_open() {
    let m = Market::start(1_000, 100).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = register(&m, dir.path(), &["owner"], 1).await;
    let config = oracle_config(&cluster, 0, 7, dir.path(), &m);
    let epoch = 2;
    sample_epoch(&m, &cluster, &config, epoch).await;

    let mut outbox = outbox(&m, &cluster, &config, dir.path(), None).await;
    assert_eq!(outbox.pending().collect::<Vec<_>>(), [epoch]);

    let provider = m.governance.provider();
    let snapshot: alloy::primitives::U256 =
        provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    outbox.round().await.expect("round");
    assert!(accepted(&m, cluster.id, epoch).await.is_some(), "submitted");
    assert_eq!(outbox.pending().count(), 0);

    // A reorg takes the report out; the window is still open: the next round sends it again.
    let reverted: bool =
        provider.raw_request("evm_revert".into(), (snapshot,)).await.expect("revert");
    assert!(reverted);
    assert!(accepted(&m, cluster.id, epoch).await.is_none(), "reorged out");
    outbox.round().await.expect("round");
    assert!(accepted(&m, cluster.id, epoch).await.is_some(), "sent again");
    assert_eq!(outbox.pending().count(), 0);
}

#[tokio::test]
async fn files_are_pruned_only_after_the_window_closed_and_every_lease_settled() {
    let m = Market::start(10_000, 2_000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = register(&m, dir.path(), &["owner"], 1).await;
    m.owner
        .deposit_bond(cluster.id, compute_ledger_sdk::test_utils::dollars(1_000))
        .await
        .expect("bond");
    let current = m.governance.registry().currentEpoch(cluster.id).call().await.expect("epoch");
    let epoch = current + 2;
    let offer =
        compute_ledger_sdk::LeaseOffer { cluster_id: cluster.id, ..m.lease_offer(4, epoch, 1) };
    let lease = m.funded_lease(&offer).await;
    let mut config = oracle_config(&cluster, 0, 7, dir.path(), &m);
    config.leases = vec![LeaseAllocation {
        lease_id: lease.to::<u64>(),
        billing: Billing::Reserved,
        start_epoch: epoch,
        end_epoch: epoch + 1,
        gpus: config.inventory.clone(),
        racks: vec![],
        kw: 0,
    }];
    let file = sample_epoch(&m, &cluster, &config, epoch).await;
    let (to_prune, mut prunable) = tokio::sync::mpsc::channel(8);
    let policy = RetentionPolicy { keep_s: 0, to_prune };
    let mut outbox = outbox(&m, &cluster, &config, dir.path(), Some(policy)).await;

    outbox.round().await.expect("round");
    assert!(accepted(&m, cluster.id, epoch).await.is_some(), "submitted");
    outbox.round().await.expect("round");
    assert!(prunable.try_recv().is_err(), "the reporting window is still open");

    // The window closes; the lease has not settled yet: its files stay.
    let window = m.reports.report_window().await.expect("window");
    m.devnet.advance(window + 1).await;
    outbox.round().await.expect("round");
    outbox.round().await.expect("round");
    assert!(prunable.try_recv().is_err(), "the lease has not settled");

    // Settled (proven from the report's tree): now the epoch is handed over, once.
    let mut proofs = ProofBook::default();
    proofs.insert(cluster.id, epoch, file.outcome.tree().expect("tree").expect("a leaf"));
    let run = m.keeper.settle_due(&proofs, 10).await.expect("settle");
    assert!(run.settled.iter().any(|s| s.lease_id == lease && s.epoch == epoch), "{run:?}");
    outbox.round().await.expect("round");
    assert_eq!(prunable.try_recv().ok(), Some(epoch));
    outbox.round().await.expect("round");
    assert!(prunable.try_recv().is_err(), "handed over once");
}
