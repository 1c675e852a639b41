//! The market-scale history fixture, small (`HistorySize::SMALL`): the index holds exactly the
//! clusters, leases and positions the fixture made, and a sampled holder's positions are the
//! chain's balances. (The scale benchmark, `benches/scale.rs`, builds the same at full size.)

use alloy::primitives::U256;
use compute_ledger_node::index::{LeaseFilter, model::LeaseStatus};
use compute_ledger_sdk::test_utils::{History, HistorySize, Market};

use crate::common::index_fresh;

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
