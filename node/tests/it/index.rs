//! The index reproduces the chain: every holder's claimable rent equals the contract's to the
//! base unit, lease and cluster books match, range sizes do not matter, and a reorg is undone.

use alloy::primitives::U256;

use crate::common::{chain_claimable, holders, index_fresh, indexer_of, market_with_history};

#[tokio::test]
async fn index_matches_the_chain() {
    let (m, leases) = market_with_history().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let index = index_fresh(&m, dir.path(), 50_000).await;

    for &lease in &leases {
        let row = index.lease(lease).expect("read").expect("indexed");
        let chain = m.governance.lease(lease).await.expect("lease");
        assert_eq!(row.status, chain.status, "lease {lease}");
        assert_eq!(row.billing, chain.billing, "lease {lease}");
        assert_eq!(row.next_epoch, chain.next_epoch);
        let settled: U256 =
            index.settlements(lease).expect("settlements").iter().map(|s| s.rent).sum();
        assert_eq!(settled, row.rent_settled);
        for holder in holders(&m) {
            let indexed =
                index.position(holder, lease).expect("read").map_or(U256::ZERO, |p| p.claimable);
            assert_eq!(indexed, chain_claimable(&m, lease, holder).await, "{holder} in {lease}");
            let shares = m.governance.market().balanceOf(holder, lease).call().await.expect("bal");
            let held = index
                .position(holder, lease)
                .expect("read")
                .map_or(U256::ZERO, |p| p.position.shares);
            assert_eq!(held, shares, "{holder} shares of {lease}");
        }
    }
    let cluster = index.cluster(m.cluster_id).expect("read").expect("cluster");
    let bond = m.owner.bond(m.cluster_id).await.expect("bond");
    let indexed_bond = &cluster.bonds[&m.deployment.stablecoin];
    assert_eq!((indexed_bond.total, indexed_bond.locked), (bond.total.base(), bond.locked.base()));
    assert_eq!(cluster.reports, 2);
    assert!(cluster.latest_report.as_ref().expect("latest").efficiency.pue_milli.is_some());
    assert!(cluster.revenue_per_kwh().is_some_and(|r| r > U256::ZERO));

    // One block per range gives the same index as one range for everything.
    let small = tempfile::tempdir().expect("tempdir");
    let fine = index_fresh(&m, small.path(), 1).await;
    assert_eq!(fine.contents().expect("contents"), index.contents().expect("contents"));
}

#[tokio::test]
async fn a_reorg_is_rolled_back_and_the_new_chain_applied() {
    use alloy::providers::Provider;
    use compute_ledger_node::Step;

    let (m, leases) = market_with_history().await;
    let a = leases[0];
    let provider = m.governance.provider().clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let index = compute_ledger_node::index::Index::open(dir.path()).expect("open");
    let mut indexer = indexer_of(&m, &index).with_max_range(3);
    indexer.catch_up().await.expect("catch up");

    // Blocks the index applies, then loses to a reorg.
    let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    let [alice, bob, carol] = [&m.investors[0], &m.investors[1], &m.investors[2]];
    bob.claim(a).await.expect("bob claims");
    carol.claim(a).await.expect("carol claims");
    indexer.catch_up().await.expect("catch up");
    let bob_address = bob.client().address();
    assert_eq!(index.position(bob_address, a).expect("read").expect("bob").claimable, U256::ZERO);

    // The new chain: no claims, a transfer instead, and a longer chain.
    let reverted: bool =
        provider.raw_request("evm_revert".into(), (snapshot,)).await.expect("revert");
    assert!(reverted);
    alice.transfer_shares(a, bob_address, 10_000).await.expect("transfer");
    for _ in 0..3 {
        provider.raw_request::<_, String>("evm_mine".into(), ()).await.expect("mine");
    }
    assert!(matches!(indexer.step().await.expect("step"), Step::RolledBack(n) if n >= 1));
    indexer.catch_up().await.expect("catch up");
    assert_eq!(indexer.status().borrow().reorgs, 1);

    let fresh_dir = tempfile::tempdir().expect("tempdir");
    let fresh = index_fresh(&m, fresh_dir.path(), 50_000).await;
    assert_eq!(index.contents().expect("contents"), fresh.contents().expect("contents"));
    let claimable = index.position(bob_address, a).expect("read").expect("bob").claimable;
    assert!(claimable > U256::ZERO, "bob's claim is gone with the reorg");
    assert_eq!(claimable, chain_claimable(&m, a, bob_address).await);
}

/// Mines `blocks` empty blocks, an hour later than the chain's clock: after a revert they differ
/// from the blocks they replace.
async fn mine_new_history(provider: &alloy::providers::DynProvider, blocks: u64) {
    use alloy::providers::Provider;
    let _: i64 = provider.raw_request("evm_increaseTime".into(), (3_600,)).await.expect("time");
    let mined: serde_json::Value =
        provider.raw_request("anvil_mine".into(), (U256::from(blocks),)).await.expect("mine");
    assert!(mined.is_null(), "{mined}");
}

#[tokio::test]
async fn a_reorg_below_the_undo_window_stops_the_indexer_and_rolls_back_nothing() {
    use alloy::providers::Provider;
    use compute_ledger_node::{NodeError, Step, index::Index};

    let m = compute_ledger_sdk::test_utils::Market::start(1_000, 100).await;
    let provider = m.governance.provider().clone();
    let dir = tempfile::tempdir().expect("tempdir");
    // Three kept undo records, one block per range: a reorg four blocks deep is out of reach.
    let index = Index::open(dir.path()).expect("open").with_undo_window(3);
    let mut indexer = indexer_of(&m, &index).with_max_range(1);
    indexer.catch_up().await.expect("catch up");
    let deep: U256 = provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    provider.raw_request::<_, String>("evm_mine".into(), ()).await.expect("mine");
    let shallow: U256 = provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    mine_new_history(&provider, 3).await;
    indexer.catch_up().await.expect("catch up");

    // Every kept range is orphaned, but the block below them (the floor) is still on the chain:
    // rolled back to it, not refused.
    let reverted: bool = provider.raw_request("evm_revert".into(), (shallow,)).await.expect("rev");
    assert!(reverted);
    mine_new_history(&provider, 4).await;
    assert_eq!(indexer.step().await.expect("step"), Step::RolledBack(3));
    indexer.catch_up().await.expect("catch up");
    let fresh_dir = tempfile::tempdir().expect("tempdir");
    let fresh = crate::common::index_fresh(&m, fresh_dir.path(), 50_000).await;
    assert_eq!(index.contents().expect("contents"), fresh.contents().expect("contents"));

    // Now the floor itself is orphaned: the indexer stops, says what to do, and leaves the
    // index exactly as it was.
    let (cursor, newest) = (index.cursor().expect("cursor"), index.last_range().expect("range"));
    let contents = index.contents().expect("contents");
    let reverted: bool = provider.raw_request("evm_revert".into(), (deep,)).await.expect("rev");
    assert!(reverted);
    mine_new_history(&provider, 8).await;
    let err = indexer.step().await.expect_err("too deep");
    assert!(matches!(err, NodeError::ReorgTooDeep { window: 3, .. }), "{err:?}");
    let message = err.to_string();
    for advice in ["nothing was rolled back", "delete the index directory", "archive", "is kept"] {
        assert!(message.contains(advice), "{message:?} lacks {advice:?}");
    }
    assert!(message.contains(&dir.path().display().to_string()), "{message}");
    assert_eq!(index.cursor().expect("cursor"), cursor);
    assert_eq!(index.last_range().expect("range"), newest);
    assert_eq!(index.contents().expect("contents"), contents);
    // The loop stops on it too (it is not a transport error to retry).
    let stopped = indexer.run(std::time::Duration::from_millis(10), Default::default()).await;
    assert!(matches!(stopped, Err(NodeError::ReorgTooDeep { .. })), "{stopped:?}");
}

#[tokio::test]
async fn a_backfill_deep_below_the_head_writes_no_undo_records_and_indexes_the_same() {
    use alloy::providers::Provider;
    use compute_ledger_node::{Step, index::Index};

    let (m, _) = market_with_history().await;
    let provider = m.governance.provider().clone();
    let reference_dir = tempfile::tempdir().expect("tempdir");
    let reference = index_fresh(&m, reference_dir.path(), 50_000).await;
    // History well below the head: the ranges there cannot reorganise.
    let _: serde_json::Value =
        provider.raw_request("anvil_mine".into(), (U256::from(40),)).await.expect("mine");
    let head = provider.get_block_number().await.expect("head");

    let dir = tempfile::tempdir().expect("tempdir");
    let index = Index::open(dir.path()).expect("open").with_undo_depth(10);
    let mut indexer = indexer_of(&m, &index).with_max_range(4);
    let mut applied = 0;
    while let Step::Applied { .. } = indexer.step().await.expect("step") {
        applied += 1;
    }
    assert!(applied > 10, "only {applied} ranges");
    // Only the ranges ending within 10 blocks of the head keep an undo record (4 blocks each,
    // the last one maybe shorter).
    let kept = index.kept_ranges().expect("kept");
    assert!((1..=4).contains(&kept), "{kept} undo records kept of {applied} ranges");
    let floor = index.floor().expect("floor").expect("the backfill set a floor");
    assert!(floor.to + 10 >= head - 4 && floor.to < head, "floor {} head {head}", floor.to);
    assert_eq!(index.contents().expect("contents"), reference.contents().expect("contents"));

    // Near the head the undo records are back: a reorg there still rolls back.
    let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    mine_new_history(&provider, 2).await;
    indexer.catch_up().await.expect("catch up");
    let reverted: bool = provider.raw_request("evm_revert".into(), (snapshot,)).await.expect("rev");
    assert!(reverted);
    mine_new_history(&provider, 3).await;
    assert!(matches!(indexer.step().await.expect("step"), Step::RolledBack(_)));
    indexer.catch_up().await.expect("catch up");
    assert_eq!(index.contents().expect("contents"), reference.contents().expect("contents"));
}

#[tokio::test]
async fn a_dense_range_is_applied_in_block_aligned_batches_and_indexes_the_same() {
    use compute_ledger_node::{Step, index::Index};

    let (m, _) = market_with_history().await;
    let reference_dir = tempfile::tempdir().expect("tempdir");
    let reference = index_fresh(&m, reference_dir.path(), 50_000).await;
    let one_range = reference.kept_ranges().expect("kept");

    // The whole history in one range, at most 3 events per atomic batch.
    let dir = tempfile::tempdir().expect("tempdir");
    let index = Index::open(dir.path()).expect("open");
    let mut indexer = indexer_of(&m, &index).with_max_batch_logs(3);
    assert!(matches!(indexer.step().await.expect("step"), Step::Applied { .. }));
    indexer.catch_up().await.expect("catch up");
    let batches = index.kept_ranges().expect("kept");
    assert!(batches > one_range + 5, "{batches} batches vs {one_range} ranges");
    assert_eq!(index.contents().expect("contents"), reference.contents().expect("contents"));
    assert_eq!(index.cursor().expect("cursor"), reference.cursor().expect("cursor"));
}
