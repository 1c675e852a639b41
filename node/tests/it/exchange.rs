//! The share exchange as the node serves it: orders placed, filled and cancelled on a real anvil
//! are indexed into each lease's book (best price first), its fills (paged) and each maker's
//! orders; a reorg takes a fill back out of all three; bad params are refused with their reason.

use alloy::{primitives::U256, providers::Provider};
use compute_ledger_sdk::{
    Amount, Trader,
    api::{
        ClientError, LedgerApiClient, NOT_FOUND_CODE, OrderSide, OrderStatus, PageRequest,
        http_client,
    },
    test_utils::Market,
};

use crate::common::serve;

fn dollars_per_share(micro: u64) -> Amount {
    Amount::from_base(U256::from(micro), 6)
}

fn rpc_code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> i32 {
    match result {
        Err(ClientError::Call(e)) => e.code(),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_book_lists_open_orders_best_price_first_and_trades_page_in_chain_order() {
    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(16, start, 3)).await;
    let owner = Trader::new(m.owner.client().clone());
    let alice = Trader::new(m.investors[0].client().clone());
    let bob = Trader::new(m.investors[1].client().clone());
    let expiry = m.owner.client().chain_time().await.expect("time") + 86_400;

    // Asks at 3, 2 and 2 base units a share (the older 2 first), bids at 1 and 15 (higher first).
    let ask3 = owner.place_ask(lease, 100_000, dollars_per_share(3), expiry).await.expect("ask");
    let ask2a = owner.place_ask(lease, 100_000, dollars_per_share(2), expiry).await.expect("ask");
    let ask2b = owner.place_ask(lease, 100_000, dollars_per_share(2), expiry).await.expect("ask");
    let bid1 = alice.place_bid(lease, 50_000, dollars_per_share(1), expiry).await.expect("bid");
    let bid15 = bob.place_bid(lease, 50_000, dollars_per_share(15), expiry).await.expect("bid");
    // Fills: part of the best ask, all of the other 2; the best bid hit in part; one cancel.
    alice.fill(ask2a, 40_000).await.expect("fill");
    alice.fill(ask2b, 100_000).await.expect("fill");
    alice.fill(bid15, 20_000).await.expect("sell");
    owner.cancel(ask3).await.expect("cancel");

    let dir = tempfile::tempdir().expect("tempdir");
    let (mut indexer, server, _ledger) = serve(&m, dir.path()).await;
    let client = http_client(&format!("http://{}", server.addr)).expect("client");
    let book = client.order_book(lease.into(), None).await.expect("book");
    let ids = |orders: &[compute_ledger_sdk::api::OrderRow]| {
        orders.iter().map(|o| o.id).collect::<Vec<_>>()
    };
    assert_eq!(ids(&book.asks), vec![ask2a], "filled and cancelled asks leave the book");
    assert_eq!(book.asks[0].remaining, U256::from(60_000));
    assert_eq!(ids(&book.bids), vec![bid15, bid1], "bids highest first");
    assert_eq!(book.bids[0].remaining, U256::from(30_000));
    assert_eq!(book.stats.trades, 3);
    assert_eq!(book.stats.volume_shares, U256::from(160_000));
    assert_eq!(book.stats.volume, U256::from(40_000 * 2 + 100_000 * 2 + 20_000 * 15));
    assert_eq!(book.stats.last_price, Some(U256::from(15)));
    let depth_one = client.order_book(lease.into(), Some(1)).await.expect("book");
    assert_eq!((ids(&depth_one.asks), ids(&depth_one.bids)), (vec![ask2a], vec![bid15]));

    // Fills page in chain order, one at a time, and the pages join up to all of them.
    let mut trades = Vec::new();
    let mut page = PageRequest { cursor: None, limit: Some(1) };
    loop {
        let got = client.trades(lease.into(), Some(page.clone())).await.expect("trades");
        trades.extend(got.items);
        match got.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    let fills: Vec<_> = trades.iter().map(|t| (t.order_id, t.side, t.amount)).collect();
    assert_eq!(
        fills,
        vec![
            (ask2a, OrderSide::Ask, U256::from(40_000)),
            (ask2b, OrderSide::Ask, U256::from(100_000)),
            (bid15, OrderSide::Bid, U256::from(20_000)),
        ]
    );
    assert!(trades.iter().all(|t| t.taker == alice.client().address()));
    assert!(trades.windows(2).all(|w| (w[0].block, w[0].log_index) < (w[1].block, w[1].log_index)));

    // What each side paid and received is on its position.
    let position = |holder| {
        let client = &client;
        async move {
            let page = client.positions(holder, None).await.expect("positions");
            let p = page.items.into_iter().find(|p| p.position.lease_id == lease).expect("held");
            (p.position.cost, p.position.proceeds)
        }
    };
    let (a, b, o) = (alice.client().address(), bob.client().address(), m.owner.client().address());
    assert_eq!(position(a).await, (U256::from(280_000), U256::from(300_000)));
    assert_eq!(position(b).await, (U256::from(300_000), U256::ZERO));
    assert_eq!(position(o).await, (U256::ZERO, U256::from(280_000)));

    // A maker's orders, every status.
    let mine = client.orders(m.owner.client().address(), None).await.expect("orders");
    let statuses: Vec<_> = mine.items.iter().map(|o| (o.id, o.status)).collect();
    assert_eq!(
        statuses,
        vec![
            (ask3, OrderStatus::Cancelled),
            (ask2a, OrderStatus::Open),
            (ask2b, OrderStatus::Filled)
        ]
    );

    // A fill lost to a reorg leaves the book, the fills and the stats as before it.
    let provider = m.governance.provider().clone();
    let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    bob.fill(ask2a, 60_000).await.expect("fill the rest");
    indexer.catch_up().await.expect("index");
    let book = client.order_book(lease.into(), None).await.expect("book");
    assert!(book.asks.is_empty());
    assert_eq!(book.stats.trades, 4);
    let reverted: bool =
        provider.raw_request("evm_revert".into(), (snapshot,)).await.expect("revert");
    assert!(reverted);
    provider.raw_request::<_, String>("evm_mine".into(), ()).await.expect("mine");
    indexer.catch_up().await.expect("roll back and index");
    let book = client.order_book(lease.into(), None).await.expect("book");
    assert_eq!(ids(&book.asks), vec![ask2a]);
    assert_eq!(book.asks[0].remaining, U256::from(60_000));
    assert_eq!(book.stats.trades, 3);
    let all = client.trades(lease.into(), None).await.expect("trades");
    assert_eq!(all.items.len(), 3);

    // Bad params: an unknown lease, a depth of 0, a cursor from elsewhere.
    assert_eq!(rpc_code(client.order_book(U256::from(999).into(), None).await), NOT_FOUND_CODE);
    assert_eq!(rpc_code(client.order_book(lease.into(), Some(0)).await), -32602);
    let foreign = PageRequest { cursor: Some("0x42".into()), limit: None };
    assert_eq!(rpc_code(client.trades(lease.into(), Some(foreign)).await), -32602);
}

/// `compute-ledger order …` through the binary: an ask, a partial fill by another key, a refused
/// self-trade with the contract's reason, show and cancel; `--json` answers parse.
#[tokio::test]
async fn the_order_command_places_fills_shows_and_cancels() {
    use std::process::Command;

    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(16, start, 3)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let deployment = dir.path().join("deployment.json");
    m.deployment.save(&deployment).expect("save");
    let keys = dir.path().join("keys");
    let bin = env!("CARGO_BIN_EXE_compute-ledger");
    let run = |args: &[&str]| {
        let output = Command::new(bin)
            .arg("--rpc-url")
            .arg(m.devnet.anvil.endpoint())
            .arg("--deployment")
            .arg(&deployment)
            .args(args)
            .env("COMPUTE_LEDGER_PASSWORD", "trade")
            .env_remove("COMPUTE_LEDGER_RPC_URL")
            .env_remove("COMPUTE_LEDGER_KEYSTORE")
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.success(), stdout, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    // The owner's and an investor's dev keys, imported into encrypted keystores.
    let import = |name: &str, index: usize| {
        let key = alloy::hex::encode_prefixed(m.devnet.signer(index).to_bytes());
        let output = Command::new(bin)
            .args(["--json", "keys", "import", "--name", name, "--key-env", "TRADE_KEY", "--dir"])
            .arg(&keys)
            .env("TRADE_KEY", key)
            .env("COMPUTE_LEDGER_PASSWORD", "trade")
            .output()
            .expect("import");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let imported: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("keys import --json");
        imported["keystore"].as_str().expect("keystore path").to_string()
    };
    let (owner, alice) = (import("owner", 1), import("alice", 3));
    let lease = lease.to_string();

    let (ok, out, err) = run(&[
        "--json",
        "order",
        "ask",
        "--keystore",
        &owner,
        "--lease",
        &lease,
        "--amount",
        "1000",
        "--price",
        "0.000002",
    ]);
    assert!(ok, "{err}");
    let placed: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let id = placed["orderId"].as_u64().expect("order id").to_string();

    let (ok, out, err) =
        run(&["--json", "order", "fill", "--keystore", &alice, "--order", &id, "--amount", "400"]);
    assert!(ok, "{err}");
    let fill: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!((fill["cost"].as_str(), fill["remaining"].as_str()), (Some("800"), Some("600")));

    let (ok, _, err) =
        run(&["order", "fill", "--keystore", &owner, "--order", &id, "--amount", "1"]);
    assert!(!ok && err.contains("SelfTrade"), "{err}");

    let (ok, out, err) = run(&["order", "show", "--keystore", &alice, "--order", &id]);
    assert!(ok && out.contains("600 shares left"), "{out}{err}");
    let (ok, out, err) = run(&["order", "cancel", "--keystore", &owner, "--order", &id]);
    assert!(ok && out.contains("cancelled"), "{out}{err}");
    let (ok, _, err) = run(&["order", "show", "--keystore", &alice, "--order", "99"]);
    assert!(!ok && err.contains("no order 99"), "{err}");
}
