//! The market-scale history fixture, small (`HistorySize::SMALL`): the index holds exactly the
//! clusters, leases and positions the fixture made, and a sampled holder's positions are the
//! chain's balances; a backfill fetched ahead in chunks builds the same index as ranges near the
//! head. (The scale benchmark, `benches/scale.rs`, builds the same at full size.)

use alloy::primitives::U256;
use compute_ledger_node::index::{Index, LeaseFilter, model::LeaseStatus};
use compute_ledger_sdk::test_utils::{History, HistorySize, Market};

use crate::common::{index_fresh, indexer_of};

#[tokio::test]
async fn small_history_indexes_exactly_what_the_fixture_made() {
    let m = Market::start(1_000, 1_000).await;
    let size = HistorySize::SMALL;
    let history = History::build(&m.devnet, &m.deployment, size, |_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let index = index_fresh(&m, dir.path(), 50_000).await;

    // The market fixture's own cluster, then the history's.
    let clusters = index.clusters(None, usize::MAX).expect("clusters");
    assert_eq!(clusters.len() as u64, 1 + size.clusters);
    let leases = index.leases(&LeaseFilter::default(), None, usize::MAX).expect("leases");
    assert_eq!(leases.len() as u64, size.leases);
    assert!(leases.iter().all(|l| l.status == LeaseStatus::Active), "every lease is funded");
    let first_cluster =
        LeaseFilter { cluster_id: Some(history.first_cluster), ..Default::default() };
    let of_first = index.leases(&first_cluster, None, usize::MAX).expect("leases of a cluster");
    assert_eq!(of_first.len() as u64, size.leases / size.clusters, "round-robin over clusters");
    let positions =
        index.contents().expect("contents").keys().filter(|k| k.starts_with("pos/")).count();
    assert_eq!(positions as u64, size.positions(), "holders' positions and the fixture's own");

    // A sampled holder: the index's positions are exactly its non-zero balances on chain.
    let provider = m.governance.provider();
    let holder = history.holder(provider, 537).await;
    let indexed = index.positions(holder).expect("positions");
    assert_eq!(indexed.len() as u64, size.leases * size.holders_per_lease / size.holder_pool);
    let market = m.governance.market();
    let mut on_chain = Vec::new();
    for lease in history.leases() {
        let balance = market.balanceOf(holder, lease).call().await.expect("balanceOf");
        if balance != U256::ZERO {
            on_chain.push((lease, balance));
        }
    }
    let indexed: Vec<_> =
        indexed.iter().map(|p| (p.position.lease_id, p.position.shares)).collect();
    assert_eq!(indexed, on_chain);
}

#[tokio::test]
async fn a_backfill_fetched_ahead_in_chunks_builds_the_same_index_as_ranges_near_the_head() {
    let m = Market::start(1_000, 1_000).await;
    History::build(&m.devnet, &m.deployment, HistorySize::SMALL, |_| {}).await;
    let near_head_dir = tempfile::tempdir().expect("tempdir");
    // The whole history lies within the reorg window: ranges with undo records.
    let near_head = index_fresh(&m, near_head_dir.path(), 50_000).await;
    assert!(near_head.kept_ranges().expect("ranges") > 0);

    // Every block but the head final: the backfill path, in chunks and batches far smaller
    // than the history's blocks (the fixture puts thousands of events in one block).
    let backfill_dir = tempfile::tempdir().expect("tempdir");
    let backfilled = Index::open(backfill_dir.path()).expect("open").with_undo_depth(0);
    indexer_of(&m, &backfilled).with_max_batch_logs(997).catch_up().await.expect("catch up");
    assert!(backfilled.kept_ranges().expect("ranges") <= 1, "only the head's range can reorg");
    assert_eq!(backfilled.cursor().expect("cursor"), near_head.cursor().expect("cursor"));
    assert_eq!(backfilled.contents().expect("contents"), near_head.contents().expect("contents"));
}
