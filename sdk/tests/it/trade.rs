//! Trading lease shares on the deployment's ShareExchange through the `Trader` role, on a real
//! anvil: asks filled in parts, a bid escrowed and hit, cancels, refusals as named errors, and the
//! exchange's events in the ledger's event stream.

use alloy::{primitives::U256, providers::Provider};
use compute_ledger_sdk::{
    Amount, Client, Deployment, ErrorKind, LedgerEvent, LedgerEvents, SdkError, Side, Trader,
    bindings::ShareExchange::ShareExchangeEvents, test_utils::Market,
};

fn error_kind<T: std::fmt::Debug>(result: Result<T, SdkError>) -> ErrorKind {
    match result {
        Err(SdkError::Contract(revert)) => revert.kind,
        other => panic!("expected a contract error, got {other:?}"),
    }
}

#[tokio::test]
async fn investors_trade_shares_at_the_makers_price_and_the_book_refuses_what_it_must() {
    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(16, start, 2)).await;
    let now = m.tenant.client().chain_time().await.expect("time");
    let owner = Trader::new(m.owner.client().clone());
    let alice = Trader::new(m.investors[0].client().clone());
    let bob = Trader::new(m.investors[1].client().clone());
    let price = Amount::from_base(U256::from(2), 6); // 0.000002 a share
    let expiry = now + 3_600;

    // An ask, taken in part: the shares and the money move at the maker's price.
    let ask = owner.place_ask(lease, 500_000, price, expiry).await.expect("ask");
    let order = alice.order(ask).await.expect("order");
    assert_eq!(
        (order.side, order.maker, order.remaining),
        (Side::Ask, m.owner.client().address(), 500_000)
    );
    let before = alice.client().balance().await.expect("balance");
    let fill = alice.fill(ask, 200_000).await.expect("fill");
    assert_eq!(
        (fill.shares, fill.cost.to_string(), fill.remaining),
        (200_000, "0.40".into(), 300_000)
    );
    let after = alice.client().balance().await.expect("balance");
    assert_eq!(before.base() - after.base(), fill.cost.base());
    assert_eq!(m.investors[0].position(lease).await.expect("position").shares, 200_000);

    // A bid escrows its cost; alice sells into it.
    let bid = bob.place_bid(lease, 100_000, price, expiry).await.expect("bid");
    assert_eq!(alice.fill(bid, 100_000).await.expect("sell").cost.to_string(), "0.20");
    assert_eq!(m.investors[0].position(lease).await.expect("position").shares, 100_000);
    assert_eq!(m.investors[1].position(lease).await.expect("position").shares, 100_000);

    // Refusals come back as the contract's named errors.
    assert_eq!(error_kind(owner.fill(ask, 1).await), ErrorKind::SelfTrade);
    assert_eq!(error_kind(alice.fill(ask, 300_001).await), ErrorKind::FillTooLarge);
    assert_eq!(error_kind(bob.cancel(ask).await), ErrorKind::OrderStillLive);
    assert_eq!(error_kind(alice.fill(bid, 1).await), ErrorKind::UnknownOrder);
    assert_eq!(
        error_kind(alice.place_bid(lease, 1, price, now - 1).await),
        ErrorKind::OrderExpiryPassed
    );
    assert!(owner.cancel(ask).await.expect("cancel").base().is_zero(), "an ask escrows nothing");
    assert_eq!(error_kind(alice.fill(ask, 1).await), ErrorKind::UnknownOrder);

    // An unfilled bid's escrow comes back on cancel.
    let bid = bob.place_bid(lease, 50_000, price, expiry).await.expect("bid");
    assert_eq!(bob.cancel(bid).await.expect("cancel").to_string(), "0.10");

    // The ledger's event stream carries the exchange's events.
    let mut events = LedgerEvents::new(alice.client().provider().clone(), m.deployment.clone());
    let to = alice.client().provider().get_block_number().await.expect("head");
    let logs = events.fetch(m.deployment.deploy_block, to).await.expect("events");
    let count = |f: fn(&ShareExchangeEvents) -> bool| {
        logs.iter().filter(|l| matches!(&l.event, LedgerEvent::Exchange(e) if f(e))).count()
    };
    assert_eq!(count(|e| matches!(e, ShareExchangeEvents::OrderPlaced(_))), 3);
    assert_eq!(count(|e| matches!(e, ShareExchangeEvents::OrderFilled(_))), 2);
    assert_eq!(count(|e| matches!(e, ShareExchangeEvents::OrderCancelled(_))), 2);
}

#[tokio::test]
async fn a_deployment_without_an_exchange_says_so() {
    let m = Market::start(10, 10).await;
    let deployment = Deployment { exchange: None, ..m.deployment.clone() };
    let client = Client::connect(&m.devnet.anvil.endpoint(), deployment, m.devnet.signer(3))
        .await
        .expect("connect");
    match Trader::new(client).order(1).await {
        Err(SdkError::Invalid(message)) => {
            assert!(message.contains("no share exchange"), "{message}")
        }
        other => panic!("expected a clear error, got {other:?}"),
    }
    // An old deployment file (no "exchange" key) still loads.
    let mut json = serde_json::to_value(&m.deployment).expect("json");
    json.as_object_mut().expect("object").remove("exchange");
    let old: Deployment = serde_json::from_value(json).expect("an old deployment loads");
    assert_eq!(old.exchange, None);
}

/// A fill that passed simulation is mined behind the maker's cancel of the same ask (sent later
/// with a higher tip, so the block puts it first). The taker is told its transaction was mined
/// but reverted, and why: the fill's own error, replayed on the block it was mined in.
#[tokio::test]
async fn a_fill_overtaken_by_a_cancel_is_told_why_it_reverted() {
    use std::time::{Duration, Instant};

    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(16, start, 2)).await;
    let now = m.tenant.client().chain_time().await.expect("time");
    let owner = Trader::new(m.owner.client().clone());
    let price = Amount::from_base(U256::from(2), 6);
    let ask = owner.place_ask(lease, 1_000, price, now + 3_600).await.expect("ask");

    let anvil = m.devnet.provider_for(m.devnet.signer(0));
    anvil.raw_request::<_, ()>("evm_setAutomine".into(), (false,)).await.expect("automine off");
    // Waits until `n` transactions are in the pool.
    let pending = |n: u64| {
        let anvil = anvil.clone();
        async move {
            let give_up = Instant::now() + Duration::from_secs(60);
            loop {
                let status: serde_json::Value =
                    anvil.raw_request("txpool_status".into(), ()).await.expect("txpool");
                let count = status["pending"].as_str().map(|hex| {
                    u64::from_str_radix(hex.trim_start_matches("0x"), 16).expect("hex count")
                });
                if count == Some(n) {
                    return;
                }
                assert!(Instant::now() < give_up, "{n} transactions never reached the pool");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let mine = || anvil.raw_request::<_, String>("evm_mine".into(), ());
    let taker = Trader::new(m.investors[0].client().clone());
    let fill = tokio::spawn(async move { taker.fill(ask, 500).await });
    pending(1).await; // the taker's approval
    mine().await.expect("mine");
    pending(1).await; // its fill, simulated against the ask as placed
    let exchange = m.owner.client().exchange().expect("exchange");
    let tip = 100_000_000_000u128;
    let _cancel = exchange
        .cancel(U256::from(ask))
        .max_priority_fee_per_gas(tip)
        .max_fee_per_gas(10 * tip)
        .send()
        .await
        .expect("send the cancel");
    pending(2).await;
    mine().await.expect("mine the cancel and the fill");
    match tokio::time::timeout(Duration::from_secs(60), fill).await.expect("hung").expect("task") {
        Err(SdkError::RevertedOnChain { reason, .. }) => {
            assert!(reason.contains("UnknownOrder"), "{reason}")
        }
        other => panic!("expected a revert on chain with its reason, got {other:?}"),
    }
}
