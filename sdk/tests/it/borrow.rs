//! Borrowing against lease shares on a real Morpho Blue on anvil, through the `Borrower` role: an
//! investor wraps shares and borrows; rent accrues to the tokens Morpho holds; a dark oracle marks
//! the NAV down until the loan can be liquidated; the liquidator takes shares and rent; every
//! stablecoin base unit is accounted for.

use alloy::primitives::U256;
use compute_ledger_sdk::{
    Amount, Borrower, ErrorKind, ProofBook, SdkError,
    test_utils::{self, Market, dollars},
};

#[tokio::test]
async fn a_loan_against_shares_is_liquidated_once_a_dark_oracle_marks_the_nav_down() {
    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let mut offer = m.lease_offer(16, start, 6);
    offer.total_shares = 1_000;
    let lease = m.funded_lease(&offer).await;
    let owner = Borrower::new(m.owner.client().clone());
    let alice = Borrower::new(m.investors[0].client().clone());
    let lender = Borrower::new(m.investors[1].client().clone());
    let liquidator = Borrower::new(m.investors[2].client().clone());
    let market = m.owner.client().market();
    market
        .safeTransferFrom(
            owner.client().address(),
            alice.client().address(),
            lease,
            U256::from(600),
            Default::default(),
        )
        .send()
        .await
        .expect("send")
        .get_receipt()
        .await
        .expect("mined");

    // Anyone opens the lease's market: share token, NAV feed, Morpho market.
    let collateral = alice.open_market(lease).await.expect("open");
    assert_eq!(
        lender.open_market(lease).await.expect("again"),
        collateral,
        "opening twice is a no-op"
    );
    lender.lend(lease, dollars(100)).await.expect("lend");
    let nav = alice.nav(lease).await.expect("nav");
    assert_eq!(
        nav.per_token.to_string(),
        "0.001599",
        "6 epochs x $0.266666 / 1,000 shares, rounded down"
    );
    assert_eq!((nav.ratio_bps, nav.live_epochs, nav.marked_down_epochs), (10_000, 6, 0));

    // Alice wraps and posts 600 shares and borrows 95% of what they allow.
    assert!(alice.wrap(lease, 600).await.expect("wrap").base().is_zero());
    alice.post(lease, 600).await.expect("post");
    let loan = alice.loan(lease, alice.client().address()).await.expect("loan");
    assert_eq!(loan.collateral, 600);
    let borrowed = Amount::from_base(loan.max_debt.base() * U256::from(95) / U256::from(100), 6);
    alice.borrow(lease, borrowed).await.expect("borrow");
    alice.repay(lease, Amount::from_base(U256::from(1_000), 6)).await.expect("repay");
    let borrowed = Amount::from_base(borrowed.base() - U256::from(1_000), 6);
    let owed = alice.loan(lease, alice.client().address()).await.expect("loan").debt;
    assert_eq!(owed, borrowed, "a repayment lowers the debt by what it paid");
    let too_much = Amount::from_base(loan.max_debt.base(), 6);
    assert!(
        matches!(alice.borrow(lease, too_much).await, Err(SdkError::Revert(r)) if r.contains("insufficient collateral")),
        "Morpho refuses a loan beyond the NAV"
    );

    // Epoch `start` delivers in full: its rent accrues to the tokens Morpho holds.
    m.advance_past_epoch(start, 1).await;
    let capacity = 16 * u64::from(test_utils::EPOCH);
    let tree = m.report(start, &[(lease, capacity)]).await;
    m.devnet.advance(test_utils::CHALLENGE_WINDOW).await;
    let mut proofs = ProofBook::default();
    proofs.insert(m.cluster_id, start, tree);
    assert_eq!(m.keeper.settle_due(&proofs, 10).await.expect("settle").settled.len(), 1);
    let nav = alice.nav(lease).await.expect("nav");
    assert_eq!(
        nav.cash_per_token.to_string(),
        "0.000266",
        "rent per token, held for Morpho's tokens"
    );

    // Epoch `start + 1` goes dark: once its reporting window closes the NAV marks it down, with
    // no transaction, and the feed's updatedAt stays at the last report.
    m.advance_past_epoch(start + 1, test_utils::REPORT_WINDOW + 1).await;
    let nav = alice.nav(lease).await.expect("nav");
    assert!(nav.marked_down_epochs >= 1);
    let now = alice.client().chain_time().await.expect("time");
    assert!(nav.updated_at + test_utils::REPORT_WINDOW < now, "the feed shows its age");
    let loan = alice.loan(lease, alice.client().address()).await.expect("loan");
    assert!(!loan.healthy(), "{loan:?}");

    // The liquidator repays the whole debt for the collateral covering it (plus Morpho's
    // incentive) and unwraps those tokens for shares and their rent; alice keeps the rest.
    let before = liquidator.client().balance().await.expect("balance");
    let taken = liquidator.liquidate(lease, alice.client().address()).await.expect("liquidate");
    assert!(taken.seized > 0 && taken.seized < 600, "{taken:?}");
    assert!(taken.repaid.base() >= borrowed.base(), "the whole debt: {taken:?}");

    // An unwrap never waits: the liquidator and then alice take their shares and the rent held
    // now; their slices of the epochs still settling are kept as exits, paid once those settle.
    let rent = liquidator.unwrap(lease, taken.seized).await.expect("unwrap");
    let after = liquidator.client().balance().await.expect("balance");
    assert_eq!(after.base() + taken.repaid.base(), before.base() + rent.base());
    let loan = alice.loan(lease, alice.client().address()).await.expect("loan");
    assert_eq!((loan.collateral, loan.debt.base()), (600 - taken.seized, U256::ZERO));
    alice.withdraw_collateral(lease, loan.collateral).await.expect("withdraw");
    let kept = alice.unwrap(lease, loan.collateral).await.expect("unwrap");
    let alice_shares = m.investors[0].position(lease).await.expect("position").shares;
    let taken_shares = m.investors[2].position(lease).await.expect("position").shares;
    assert_eq!((alice_shares + taken_shares, taken_shares), (600, taken.seized));

    // The cluster stays dark to the end of the term; every epoch settles missed and its bond
    // compensation reaches whoever held at its end: the token (for the two exits), then the two.
    assert!(liquidator.claim_exits(lease).await.expect("none yet").base().is_zero());
    m.advance_past_epoch(start + 5, test_utils::REPORT_WINDOW + 1).await;
    while !m.keeper.settle_due(&proofs, 10).await.expect("settle").settled.is_empty() {}
    let exits = alice.claim_exits(lease).await.expect("exits").base()
        + liquidator.claim_exits(lease).await.expect("exits").base();
    assert!(!exits.is_zero(), "the epochs that ended while the token held the shares");
    let direct = m.investors[0].claim(lease).await.expect("claim").base()
        + m.investors[2].claim(lease).await.expect("claim").base();
    let total = rent.base() + kept.base() + exits + direct;
    // 6 epochs of $0.266666 for 600 of 1,000 shares, rounded down at each claim.
    assert!(
        total <= U256::from(959_997) && total + U256::from(3) >= U256::from(959_997),
        "{total}"
    );

    // Refusals come back named: nothing left to unwrap.
    assert!(matches!(
        liquidator.unwrap(lease, 1).await,
        Err(SdkError::Contract(r)) if r.kind == ErrorKind::ERC20InsufficientBalance
    ));

    // Every base unit of the stablecoin is with someone known.
    let coin = m.governance.stablecoin();
    let total = coin.totalSupply().call().await.expect("supply");
    let mut known = vec![m.deployment.market, m.deployment.disputes, collateral.token];
    known.extend(m.deployment.morpho);
    for index in 0..8 {
        known.push(m.devnet.signer(index).address());
    }
    let mut sum = U256::ZERO;
    for who in known {
        sum += coin.balanceOf(who).call().await.expect("balance");
    }
    assert_eq!(sum, total);
}
