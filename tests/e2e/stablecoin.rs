//! The payment stablecoin's issuer freezes an investor and pauses the token: settlement goes on
//! (no token moves there), payouts wait, and nothing is lost once the issuer relents.

use alloy::primitives::U256;
use compute_ledger_e2e::World;
use compute_ledger_sdk::{
    Amount, ErrorKind, Issuer, ProofBook, SdkError,
    test_utils::{CHALLENGE_WINDOW, EPOCH},
};

fn kind<T: std::fmt::Debug>(result: Result<T, SdkError>) -> ErrorKind {
    match result {
        Err(SdkError::Contract(revert)) => revert.kind,
        other => panic!("expected a contract error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_frozen_investor_and_a_paused_token_lose_nothing() {
    let w = World::start(10_000, 5_000).await;
    let m = &w.m;
    let issuer = Issuer::new(m.governance.clone());
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(16, start, 2)).await;
    let price = Amount::from_base(U256::from(1), 6);
    m.owner.offer_shares(lease, 600_000, price).await.expect("offer");
    let [alice, bob] = [&m.investors[0], &m.investors[1]];
    alice.buy_shares(lease, 300_000, price).await.expect("alice buys");

    // Bob is frozen: he cannot buy, and nothing moved.
    let bob_address = bob.client().address();
    issuer.set_blocklisted(bob_address, true).await.expect("freeze");
    let before = w.balance(bob_address).await;
    assert_eq!(kind(bob.buy_shares(lease, 100_000, price).await), ErrorKind::Blocklisted);
    assert_eq!(w.balance(bob_address).await, before);
    issuer.set_blocklisted(bob_address, false).await.expect("unfreeze");
    bob.buy_shares(lease, 100_000, price).await.expect("bob buys");

    // The token is paused during settlement: settlement still books the rent.
    let cap = 16 * u64::from(EPOCH);
    m.advance_past_epoch(start, 1).await;
    let mut proofs = ProofBook::default();
    proofs.insert(m.cluster_id, start, m.report(start, &[(lease, cap)]).await);
    m.devnet.advance(CHALLENGE_WINDOW).await;
    issuer.pause().await.expect("pause");
    let run = m.keeper.settle_due(&proofs, 10).await.expect("settles while paused");
    assert_eq!(run.settled.len(), 1);
    w.sync().await;
    let alice_address = w.m.investors[0].client().address();
    let due = w.claimable(alice_address, lease).await;
    assert!(!due.is_zero());
    assert_eq!(due, w.chain_claimable(alice_address, lease).await);

    // Claims wait for the issuer; the rent stays claimable, in the index too.
    assert_eq!(kind(alice.claim(lease).await), ErrorKind::EnforcedPause);
    issuer.set_blocklisted(bob_address, true).await.expect("freeze bob again");
    issuer.unpause().await.expect("unpause");
    assert_eq!(kind(bob.claim(lease).await), ErrorKind::Blocklisted);
    w.sync().await;
    assert_eq!(w.claimable(alice_address, lease).await, due);
    let bob_due = w.claimable(bob_address, lease).await;
    assert!(!bob_due.is_zero());

    let before = w.balance(alice_address).await;
    assert_eq!(alice.claim(lease).await.expect("claim").base(), due);
    assert_eq!(w.balance(alice_address).await - before, due);
    issuer.set_blocklisted(bob_address, false).await.expect("unfreeze");
    assert_eq!(bob.claim(lease).await.expect("bob claims").base(), bob_due);
    w.sync().await;
    assert_eq!(w.claimable(alice_address, lease).await, U256::ZERO);
    assert_eq!(w.claimable(bob_address, lease).await, U256::ZERO);
}
