//! Demand response on anvil through the `Sponsor` and `Site` roles: a funded program, a site
//! enrolled with 5,000 kW of miners and a bond, an event its attestor acknowledges, and the
//! curtailment its report attests as a leaf beside the lease leaves: paid at price × attested
//! kWh, the shortfall penalized. An event the site never received (the VTN was down) pays and
//! costs nothing.

use alloy::primitives::U256;
use compute_ledger_sdk::{
    Amount, ErrorKind, SdkError, Site, Sponsor,
    test_utils::{self, Market, dollars, mint},
};
use compute_ledger_types::{CurtailmentLeaf, DeliveriesTree, DeliveryLeaf};

fn usd(text: &str) -> Amount {
    Amount::parse(text, compute_ledger_sdk::STABLECOIN_DECIMALS).expect("amount")
}

#[tokio::test]
async fn attested_curtailment_is_paid_and_an_event_never_received_costs_nothing() {
    let m = Market::start(10_000, 5_000).await;
    let sponsor = Sponsor::new(m.governance.clone());
    let site = Site::new(m.owner.client().clone());
    mint(&m.governance, m.governance.address(), dollars(2_000)).await;

    let program = sponsor
        .create_program(usd("0.20"), usd("0.10"), m.governance.address())
        .await
        .expect("program");
    sponsor.fund_program(program, dollars(1_000)).await.expect("fund");
    let payee = m.investors[0].client().address();
    let enrollment = site.enroll(program, m.cluster_id, 5_000, payee).await.expect("enroll");
    site.deposit_bond(enrollment, dollars(500)).await.expect("bond");

    // A 24-second event starting soon: 5,000 kW × 24 s = 33,333 Wh committed.
    let now = m.governance.chain_time().await.expect("time");
    let event = sponsor.dispatch(enrollment, now + 5, now + 29).await.expect("dispatch");
    let info = m.governance.curtailment_event(event).await.expect("event");
    // The digest the attestor signs is built locally and is the contract's.
    let dr = m.governance.demand_response().expect("dr");
    let local =
        compute_ledger_sdk::ack_digest(m.deployment.chain_id, *dr.address(), event, m.cluster_id);
    assert_eq!(local, dr.ackDigest(event).call().await.expect("digest"));
    let ack = site.sign_acknowledgement(event, &m.attestors[0]).await.expect("sign");
    sponsor.acknowledge(event, ack).await.expect("acknowledge");
    assert!(m.governance.curtailment_event(event).await.expect("event").acknowledged);

    // The report of the event's epoch carries a lease leaf and the curtailment leaf.
    let leaf = CurtailmentLeaf {
        demand_response: m.deployment.demand_response.expect("deployed"),
        event_id: event,
        cluster_id: m.cluster_id,
        baseline_wh: 40_000,
        actual_wh: 20_000,
    };
    let dr = m.governance.demand_response().expect("dr");
    let on_chain = dr
        .curtailmentLeaf(event, m.cluster_id, leaf.baseline_wh, leaf.actual_wh)
        .call()
        .await
        .expect("leaf");
    assert_eq!(on_chain, leaf.hash(), "the Rust leaf is the contract's");
    m.advance_past_epoch(info.report_epoch, 1).await;
    let lease_leaf = DeliveryLeaf {
        lease_id: U256::from(99),
        epoch: info.report_epoch,
        delivered: 0,
        energy_wh: 0,
    };
    let tree = DeliveriesTree::with_curtailments(vec![lease_leaf], vec![leaf]).expect("tree");
    let tree = m.report_tree(info.report_epoch, tree).await;
    let proof = tree.curtailment_proof(event).expect("proof");
    let early = sponsor.settle(&leaf, proof.clone()).await;
    assert!(
        matches!(&early, Err(SdkError::Contract(r)) if r.kind == ErrorKind::ReviewWindowOpen),
        "{early:?}"
    );
    m.devnet.advance(test_utils::CHALLENGE_WINDOW).await;
    let settled = sponsor.settle(&leaf, proof).await.expect("settle");
    // 20,000 Wh shed of 33,333 committed: 20 kWh × $0.20 paid, 13.333 kWh × $0.10 penalized.
    assert_eq!((settled.curtailed_wh, settled.attested), (20_000, true));
    assert_eq!(settled.payout, usd("4.00"));
    assert_eq!(settled.penalty, usd("1.3333"));
    let paid = m.investors[0].client().withdraw_demand_response().await.expect("payee withdraws");
    assert_eq!(paid, usd("4.00"));
    assert_eq!(
        m.governance.withdraw_demand_response().await.expect("sponsor withdraws"),
        usd("1.3333")
    );

    // A second event the site never receives: no acknowledgement, no leaf.
    let now = m.governance.chain_time().await.expect("time");
    let missed = sponsor.dispatch(enrollment, now + 5, now + 29).await.expect("dispatch");
    let deadline = dr.attestationDeadline(missed).call().await.expect("deadline");
    let now = m.governance.chain_time().await.expect("time");
    m.devnet.advance(u64::try_from(deadline).expect("time") - now + 1).await;
    let closed = sponsor.settle_unattested(missed).await.expect("close");
    assert!(!closed.attested);
    assert!(closed.payout.base().is_zero() && closed.penalty.base().is_zero());
    let nothing = m.investors[0].client().withdraw_demand_response().await;
    assert!(matches!(&nothing, Err(SdkError::Contract(r)) if r.kind == ErrorKind::NothingToClaim));
}
