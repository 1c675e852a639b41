//! A whole lease through every role, with the oracle going dark for an epoch, a tenant's
//! challenge resolved by the arbiter, and a reorg during settlement.

use alloy::{primitives::U256, providers::Provider};
use compute_ledger_e2e::{World, dec};
use compute_ledger_sdk::{
    Amount, Arbiter, LeaseStatus, ProofBook,
    api::LedgerApiClient,
    test_utils::{CHALLENGE_WINDOW, EPOCH, REPORT_WINDOW, dollars},
};
use serde_json::json;

#[tokio::test]
async fn every_base_unit_is_accounted_for() {
    let w = World::start(10_000, 5_000).await;
    let m = &w.m;
    let market = m.deployment.market;
    let start = m.current_epoch().await + 2;
    let lease = m.owner.create_lease(&m.lease_offer(32, start, 4)).await.expect("lease");
    let tenant = m.tenant.address();
    let tenant_before = w.balance(tenant).await;
    m.tenant.approve_escrow(lease).await.expect("approve");
    let escrow = m.tenant.fund(lease).await.expect("fund").base();
    let price = Amount::from_base(U256::from(2), 6);
    m.owner.offer_shares(lease, 1_000_000, price).await.expect("offer");
    let [alice, bob, carol] = [&m.investors[0], &m.investors[1], &m.investors[2]];
    let mut paid_for_shares = U256::ZERO;
    for (investor, shares) in [(alice, 500_000u128), (bob, 300_000), (carol, 200_000)] {
        paid_for_shares += investor.buy_shares(lease, shares, price).await.expect("buy").base();
    }
    let cap = 32 * u64::from(EPOCH);
    let mut proofs = ProofBook::default();

    // Epoch 1: full delivery. Epoch 2: reported at 100 %, challenged, resolved at 70 %.
    // Epoch 3: the oracle is dark. Epoch 4: 90 % delivered (below the 95 % SLA).
    m.advance_past_epoch(start, 1).await;
    proofs.insert(m.cluster_id, start, m.report(start, &[(lease, cap)]).await);
    // Alice sells half her shares to bob before epoch 1 settles: its rent stays hers (she held
    // when it ended); the index must attribute it exactly as the market does.
    alice.transfer_shares(lease, bob.client().address(), 250_000).await.expect("transfer");
    m.devnet.advance(CHALLENGE_WINDOW).await;
    m.keeper.settle_due(&proofs, 10).await.expect("settle 1");
    w.sync().await;
    let epoch_one = w.lease(lease).await.lease.rent_settled;
    assert_eq!(w.chain_claimable(alice.client().address(), lease).await, epoch_one / U256::from(2));
    assert_eq!(
        w.claimable(alice.client().address(), lease).await,
        w.chain_claimable(alice.client().address(), lease).await,
        "the index follows the balance each holder had when the epoch ended"
    );

    m.advance_past_epoch(start + 1, 1).await;
    proofs.insert(m.cluster_id, start + 1, m.report(start + 1, &[(lease, cap)]).await);
    m.tenant.challenge(lease, start + 1).await.expect("challenge");
    w.sync().await;
    let open = w.lease(lease).await.lease;
    assert_eq!(open.open_challenges, vec![start + 1], "the wallet sees the dispute");
    let dispute = &open.disputes[0];
    assert_eq!((dispute.epoch, dispute.status.as_str()), (start + 1, "open"));
    assert!(dispute.resolve_by > 0, "{dispute:?}");
    Arbiter::new(m.governance.clone())
        .resolve(lease, start + 1, cap * 7 / 10, 0, true)
        .await
        .expect("resolve");
    m.devnet.advance(CHALLENGE_WINDOW).await;
    m.keeper.settle_due(&proofs, 10).await.expect("settle 2");

    m.advance_past_epoch(start + 2, REPORT_WINDOW + 1).await;
    m.keeper.settle_due(&proofs, 10).await.expect("settle 3 as missed");

    m.advance_past_epoch(start + 3, 1).await;
    proofs.insert(m.cluster_id, start + 3, m.report(start + 3, &[(lease, cap * 9 / 10)]).await);
    m.devnet.advance(CHALLENGE_WINDOW).await;
    m.keeper.settle_due(&proofs, 10).await.expect("settle 4");

    // The index, over JSON-RPC, matches the chain for every holder before anyone claims.
    w.sync().await;
    let holders = [alice.client().address(), bob.client().address(), carol.client().address()];
    for holder in holders {
        assert_eq!(w.claimable(holder, lease).await, w.chain_claimable(holder, lease).await);
    }
    let row = w.lease(lease).await;
    assert_eq!(row.lease.status, LeaseStatus::Ended);
    assert_eq!(row.lease.missed_epochs, 1);
    let settlements = &row.settlements;
    let delivered: Vec<u64> = settlements.iter().map(|s| s.delivered).collect();
    assert_eq!(delivered, vec![cap, cap * 7 / 10, 0, cap * 9 / 10]);
    let rent: U256 = settlements.iter().map(|s| s.rent).sum();
    let credits: U256 = settlements.iter().map(|s| s.sla_credit).sum();
    let compensation: U256 = settlements.iter().map(|s| s.compensation).sum();
    let outcomes: Vec<&str> = settlements.iter().map(|s| s.outcome.as_str()).collect();
    assert_eq!(outcomes, ["proven", "arbitrated", "missed", "proven"]);
    assert_eq!(row.lease.compensation, compensation);
    assert_eq!(compensation, settlements[0].rent, "a dark epoch pays holders a full epoch");
    assert_eq!(row.lease.rent_settled, rent);
    assert!(!credits.is_zero(), "epochs 2, 3 and 4 were below the SLA");

    // Everyone takes what is theirs.
    let mut claimed = U256::ZERO;
    for investor in [alice, bob, carol] {
        claimed += investor.claim(lease).await.expect("claim").base();
    }
    let paid = m.tenant.withdraw(lease).await.expect("withdraw");
    assert_eq!(paid.credits.base(), credits);
    assert_eq!(paid.remainder.base(), escrow - rent);
    // The challenge was upheld: its bond comes back from the dispute desk.
    let challenge_bond =
        compute_ledger_sdk::withdraw_payout(m.tenant.client()).await.expect("bond");
    assert!(!challenge_bond.base().is_zero());

    // Every base unit: the tenant paid rent less credits; holders got the rent and the dark
    // epoch's compensation less dust; the bond paid credits and compensation; the market keeps
    // the bond and the dust; the desk keeps nothing.
    let tenant_after = w.balance(tenant).await;
    assert_eq!(tenant_before - tenant_after, rent - credits);
    let dust = rent + compensation - claimed;
    assert!(dust < U256::from(3 * 4), "at most a base unit per holder and settlement: {dust}");
    let bond = m.owner.bond(m.cluster_id).await.expect("bond");
    assert_eq!(bond.total.base(), dollars(5_000).base() - credits - compensation);
    assert_eq!(w.balance(m.deployment.disputes).await, U256::ZERO);
    assert_eq!(w.balance(market).await, bond.total.base() + dust);
    assert_eq!(paid_for_shares, U256::from(2_000_000), "shares sold at 2 base units each");

    w.sync().await;
    for holder in holders {
        assert_eq!(w.claimable(holder, lease).await, U256::ZERO);
    }
    let total_claimed: U256 = {
        let mut sum = U256::ZERO;
        for holder in holders {
            let positions = w.node.positions(holder, None).await.expect("positions").items;
            sum += positions[0].position.claimed;
        }
        sum
    };
    assert_eq!(total_claimed, claimed, "the index saw every claim");
    let cluster = w.node.cluster(w.m.cluster_id).await.expect("cluster").cluster;
    assert_eq!(cluster.credits_paid, credits);
    let indexed_bond = &cluster.bonds[&w.m.deployment.stablecoin];
    assert_eq!(indexed_bond.total, bond.total.base());
    // The raw wire format: bonds keyed by token address, amounts as decimal strings.
    let raw = w.rpc("ledger_cluster", json!([w.m.cluster_id])).await;
    let token = w.m.deployment.stablecoin.to_string();
    let bonds = raw["bonds"].as_object().expect("bonds by token");
    let (_, raw_bond) =
        bonds.iter().find(|(t, _)| t.eq_ignore_ascii_case(&token)).expect("bond in the stablecoin");
    assert_eq!(dec(&raw_bond["total"]), bond.total.base());
}

#[tokio::test]
async fn a_reorg_during_settlement_is_undone_in_the_index() {
    let w = World::start(10_000, 5_000).await;
    let m = &w.m;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(16, start, 2)).await;
    m.advance_past_epoch(start, 1).await;
    let cap = 16 * u64::from(EPOCH);
    let mut proofs = ProofBook::default();
    proofs.insert(m.cluster_id, start, m.report(start, &[(lease, cap)]).await);
    m.devnet.advance(CHALLENGE_WINDOW).await;

    // Settled, indexed, then lost to a reorg.
    let provider = m.governance.provider().clone();
    let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    m.keeper.settle_due(&proofs, 10).await.expect("settle");
    w.sync().await;
    let owner = w.m.owner.client().address();
    assert!(!w.claimable(owner, lease).await.is_zero());
    assert!(
        provider.raw_request::<_, bool>("evm_revert".into(), (snapshot,)).await.expect("revert")
    );
    // The new chain is longer and has no settlement yet.
    for _ in 0..3 {
        provider.raw_request::<_, String>("evm_mine".into(), ()).await.expect("mine");
    }
    w.sync().await;
    assert_eq!(w.claimable(owner, lease).await, U256::ZERO, "the settlement is gone");
    let status = w.node.sync_status().await.expect("sync status");
    assert_eq!(status.sync.reorgs, 1);
    assert_eq!(w.lease(lease).await.settlements, vec![]);

    // Settled again on the new chain (by a keeper whose nonce was not used on the lost chain).
    let keeper = compute_ledger_sdk::Keeper::new(w.m.reports_client().await);
    keeper.settle_due(&proofs, 10).await.expect("settle again");
    w.sync().await;
    assert_eq!(w.claimable(owner, lease).await, w.chain_claimable(owner, lease).await);
    assert!(!w.claimable(owner, lease).await.is_zero());
}

#[tokio::test]
async fn a_node_restarted_mid_epoch_resumes_where_it_stopped() {
    use std::sync::Arc;

    use compute_ledger_node::{Indexer, index::Index, metrics::Metrics};

    let w = World::start(10_000, 5_000).await;
    let m = &w.m;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(16, start, 2)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let open_indexer = || {
        let index = Index::open(dir.path()).expect("index");
        let indexer = Indexer::new(
            index.clone(),
            m.governance.provider().clone(),
            m.deployment.clone(),
            0,
            Arc::new(Metrics::default()),
        )
        .expect("indexer");
        (index, indexer)
    };

    // First run: indexes up to the middle of the first epoch (report in, not settled), stops.
    let (index, mut indexer) = open_indexer();
    m.advance_past_epoch(start, 1).await;
    let cap = 16 * u64::from(EPOCH);
    let mut proofs = ProofBook::default();
    proofs.insert(m.cluster_id, start, m.report(start, &[(lease, cap)]).await);
    indexer.catch_up().await.expect("index");
    let cursor = index.cursor().expect("cursor").expect("indexed");
    index.flush_all().expect("flush");
    drop((index, indexer));

    // While it is down: settlement and a claim.
    m.devnet.advance(CHALLENGE_WINDOW).await;
    m.keeper.settle_due(&proofs, 10).await.expect("settle");
    let owner = compute_ledger_sdk::Investor::new(m.owner.client().clone());
    let claimed = owner.claim(lease).await.expect("claim").base();

    // Second run: resumes from its cursor and ends equal to an index built in one go.
    let (index, mut indexer) = open_indexer();
    assert_eq!(index.cursor().expect("cursor"), Some(cursor));
    indexer.catch_up().await.expect("resume");
    w.sync().await;
    let fresh = w.indexer.lock().await.status().borrow().indexed_block;
    assert_eq!(index.cursor().expect("cursor").map(|c| c - 1), fresh);
    let position = index.position(m.owner.client().address(), lease).expect("read").expect("owner");
    assert_eq!(position.position.claimed, claimed, "the claim made while down is counted once");
    assert_eq!(position.claimable, w.chain_claimable(m.owner.client().address(), lease).await);
    let from_rpc =
        w.node.positions(m.owner.client().address(), None).await.expect("positions").items;
    assert_eq!(from_rpc[0].position.claimed, claimed);
}
