//! The wallet API over real HTTP and WebSocket on 127.0.0.1: answers match the chain, every
//! method refuses malformed params with -32602 and a reason, limits hold, `rpc.discover`
//! describes exactly what is served, and the plain HTTP routes work.

use std::collections::BTreeSet;

use alloy::primitives::U256;
use compute_ledger_node::rpc::openrpc::METHODS;
use jsonrpsee::{
    core::client::{ClientT, Subscription, SubscriptionClientT},
    rpc_params,
};
use jsonrpsee_ws_client::WsClientBuilder;
use serde_json::{Value, json};

use crate::common::{call, chain_claimable, holders, market_with_history, serve};

#[tokio::test]
async fn wallet_api_answers_refuses_and_describes_itself() {
    let (m, leases) = market_with_history().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_indexer, server, _ledger) = serve(&m, dir.path()).await;
    let url = format!("http://{}", server.addr);
    let a = leases[0];

    // Positions and claimable agree with the contract for every holder.
    for holder in holders(&m) {
        let positions = call(&url, "ledger_positions", json!([holder])).await;
        let claimable = call(&url, "ledger_claimable", json!([holder])).await;
        let chain = chain_claimable(&m, a, holder).await;
        let listed = positions["result"]
            .as_array()
            .expect("positions")
            .iter()
            .find(|p| p["leaseId"] == a.to_string())
            .map_or("0".to_string(), |p| p["claimable"].as_str().expect("string").to_string());
        assert_eq!(listed, chain.to_string(), "{holder}");
        let total: U256 =
            claimable["result"]["total"].as_str().expect("total").parse().expect("u256");
        assert!(total >= chain);
    }
    let cluster = call(&url, "ledger_cluster", json!([m.cluster_id])).await;
    assert_eq!(cluster["result"]["reports"], 2);
    assert!(cluster["result"]["revenuePerKwh"].is_string(), "{cluster}");
    let lease = call(&url, "ledger_lease", json!([a.to_string()])).await;
    assert_eq!(lease["result"]["settlements"].as_array().expect("settlements").len(), 3);
    let by_name = call(&url, "ledger_lease", json!({ "leaseId": format!("0x{a:x}") })).await;
    assert_eq!(by_name["result"]["id"], lease["result"]["id"]);
    let ended = call(&url, "ledger_leases", json!([{ "status": "ended" }, { "limit": 10 }])).await;
    assert_eq!(ended["result"]["items"].as_array().expect("items").len(), 2);
    let reports = call(&url, "ledger_reports", json!([m.cluster_id, { "fromEpoch": 0 }])).await;
    assert_eq!(reports["result"].as_array().expect("reports").len(), 2);
    let sync = call(&url, "ledger_syncStatus", json!([])).await;
    assert!(sync["result"]["indexedBlock"].as_u64().is_some(), "{sync}");

    // Not found is -32001 with what was missing.
    let missing = call(&url, "ledger_lease", json!([999])).await;
    assert_eq!(missing["error"]["code"], -32001, "{missing}");
    let missing = call(&url, "ledger_deliveryProof", json!([a.to_string(), leases.len()])).await;
    assert!(missing["error"]["code"] == -32001 || missing["error"]["code"] == -32602, "{missing}");

    // Every method with params refuses malformed input with -32602 and says why.
    let malformed: &[(&str, Value, &str)] = &[
        ("ledger_clusters", json!([{ "limit": 0 }]), "at least 1"),
        ("ledger_clusters", json!([{ "limit": 5000 }]), "exceeds the page size"),
        ("ledger_clusters", json!([{ "size": 5 }]), "unknown field"),
        ("ledger_clusters", json!("text"), "array or an object"),
        ("ledger_cluster", json!([]), "needs param \"clusterId\""),
        ("ledger_cluster", json!(["one"]), "unsigned 64-bit integer"),
        ("ledger_cluster", json!([-1]), "unsigned 64-bit integer"),
        ("ledger_cluster", json!([1, 2]), "at most 1 params"),
        ("ledger_reports", json!([1, { "fromEpoch": "x" }]), "fromEpoch"),
        ("ledger_reports", json!({ "cluster": 1 }), "no param \"cluster\""),
        ("ledger_lease", json!([0]), "lease id"),
        ("ledger_lease", json!(["0xzz"]), "lease id"),
        ("ledger_lease", json!([true]), "lease id"),
        ("ledger_leases", json!([{ "status": "paused" }]), "unknown variant"),
        ("ledger_leases", json!([{ "tenant": "0x12" }]), "filter"),
        ("ledger_leases", json!([{}, { "offset": -1 }]), "page"),
        ("ledger_positions", json!(["0x1234"]), "40 hex digits"),
        ("ledger_positions", json!([42]), "address"),
        ("ledger_claimable", json!([]), "needs param \"address\""),
        ("ledger_claimable", json!(["0xZZ00000000000000000000000000000000000000"]), "address"),
        ("ledger_deliveryProof", json!([1]), "needs param \"epoch\""),
        ("ledger_deliveryProof", json!([1, 1.5]), "unsigned"),
        ("ledger_deliveryProof", json!([a.to_string(), 10_000]), "outside lease"),
        ("ledger_syncStatus", json!([1]), "at most 0 params"),
        ("ledger_ping", json!(["x"]), "at most 0 params"),
    ];
    let covered: BTreeSet<&str> = malformed.iter().map(|(method, _, _)| *method).collect();
    for doc in METHODS.iter().filter(|d| !d.name.contains("ubscribe")) {
        assert!(covered.contains(doc.name), "no malformed-input case for {}", doc.name);
    }
    for (method, params, reason) in malformed {
        let response = call(&url, method, params.clone()).await;
        assert_eq!(response["error"]["code"], -32602, "{method} {params}: {response}");
        let message = response["error"]["message"].as_str().expect("message");
        assert!(message.contains(reason), "{method} {params}: {message:?} lacks {reason:?}");
    }

    // rpc.discover lists exactly what is served, with params.
    let discovered = call(&url, "rpc.discover", json!([])).await;
    let names: BTreeSet<String> = discovered["result"]["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_string())
        .collect();
    let served: BTreeSet<String> = METHODS.iter().map(|m| m.name.to_string()).collect();
    assert_eq!(names, served);
    let unknown = call(&url, "ledger_nope", json!([])).await;
    assert_eq!(unknown["error"]["code"], -32601);

    // Limits: batch size and request size.
    let batch: Vec<Value> = (0..40)
        .map(|i| json!({ "jsonrpc": "2.0", "id": i, "method": "ledger_ping", "params": [] }))
        .collect();
    let response: Value = reqwest::Client::new()
        .post(&url)
        .json(&batch)
        .send()
        .await
        .expect("batch")
        .json()
        .await
        .expect("json");
    assert!(
        response["error"]["message"].as_str().is_some_and(|m| m.contains("atch")),
        "{response}"
    );
    let huge = "x".repeat(100 * 1024);
    let status = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ledger_ping","params":["{huge}"]}}"#))
        .send()
        .await
        .expect("large request")
        .status();
    assert_eq!(status.as_u16(), 413);

    // Plain HTTP: health, metrics, ERC-1155 metadata (decimal and 64-hex ids) and its image.
    let get = |path: String| {
        let url = url.clone();
        async move { reqwest::get(format!("{url}{path}")).await.expect("get") }
    };
    let health: Value = get("/health".into()).await.json().await.expect("json");
    assert_eq!(health["status"], "ok");
    let metrics = get("/metrics".into()).await.text().await.expect("text");
    assert!(
        metrics.contains("ledger_indexed_block ")
            && metrics.contains("ledger_rpc_request_duration_seconds_count")
    );
    let metadata: Value = get(format!("/metadata/{a}.json")).await.json().await.expect("json");
    assert!(metadata["name"].as_str().expect("name").contains("Lease #1"));
    assert!(metadata["properties"]["pueToDate"].as_str().expect("pue").starts_with("1."));
    let hex: Value = get(format!("/metadata/{a:064x}.json")).await.json().await.expect("json");
    assert_eq!(hex, metadata);
    let image = get(format!("/metadata/{a}.svg")).await;
    assert_eq!(image.headers()["content-type"], "image/svg+xml");
    assert!(image.text().await.expect("svg").starts_with("<svg"));
    assert_eq!(get("/metadata/77.json".into()).await.status().as_u16(), 404);

    // WebSocket on the same port: a bad subscription param is refused, a good one is accepted.
    let ws = WsClientBuilder::default().build(format!("ws://{}", server.addr)).await.expect("ws");
    let refused = ws
        .subscribe::<Value, _>(
            "ledger_subscribePositions",
            rpc_params!["0x12"],
            "ledger_unsubscribePositions",
        )
        .await;
    assert!(refused.is_err());
    let pong: String =
        ClientT::request(&ws, "ledger_ping", rpc_params![]).await.expect("ping over ws");
    assert_eq!(pong, "pong");
}

#[tokio::test]
async fn subscribers_hear_reports_settlements_and_their_positions() {
    use compute_ledger_sdk::{
        ProofBook,
        test_utils::{CHALLENGE_WINDOW, EPOCH, Market},
    };

    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(8, start, 1)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut indexer, server, _ledger) = serve(&m, dir.path()).await;
    let ws = WsClientBuilder::default().build(format!("ws://{}", server.addr)).await.expect("ws");
    let mut reports = ws
        .subscribe::<Value, _>(
            "ledger_subscribeReports",
            rpc_params![],
            "ledger_unsubscribeReports",
        )
        .await
        .expect("subscribe");
    let mut settlements = ws
        .subscribe::<Value, _>(
            "ledger_subscribeSettlements",
            rpc_params![],
            "ledger_unsubscribeSettlements",
        )
        .await
        .expect("subscribe");
    let owner = m.owner.client().address();
    let mut positions = ws
        .subscribe::<Value, _>(
            "ledger_subscribePositions",
            rpc_params![owner],
            "ledger_unsubscribePositions",
        )
        .await
        .expect("subscribe");

    m.advance_past_epoch(start, 1).await;
    let tree = m.report(start, &[(lease, 8 * u64::from(EPOCH))]).await;
    m.devnet.advance(CHALLENGE_WINDOW).await;
    let mut proofs = ProofBook::default();
    proofs.insert(m.cluster_id, start, tree);
    m.keeper.settle_due(&proofs, 10).await.expect("settle");
    indexer.catch_up().await.expect("index");

    let report = next_value(&mut reports).await;
    assert_eq!(report["epoch"], start);
    let settlement = next_value(&mut settlements).await;
    assert_eq!(settlement["leaseId"], lease.to_string());
    // The owner holds every share: the position update carries the whole epoch's rent.
    m.investors[0].claim(lease).await.expect_err("holds nothing");
    m.owner
        .client()
        .market()
        .claim(lease)
        .send()
        .await
        .expect("claim")
        .get_receipt()
        .await
        .expect("mined");
    indexer.catch_up().await.expect("index");
    let position = next_value(&mut positions).await;
    assert_eq!(position["holder"].as_str().expect("holder").to_lowercase(), format!("{owner:#x}"));
    assert_eq!(position["claimable"], "0");
    assert_eq!(position["claimed"], settlement["rent"]);
}

#[tokio::test]
async fn every_subscriber_hears_of_a_rollback() {
    use alloy::providers::Provider;
    use compute_ledger_sdk::test_utils::{EPOCH, Market};

    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(8, start, 1)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut indexer, server, _ledger) = serve(&m, dir.path()).await;
    let url = format!("http://{}", server.addr);
    let ws = WsClientBuilder::default().build(format!("ws://{}", server.addr)).await.expect("ws");
    let subscribe = |method: &'static str, params: jsonrpsee::core::params::ArrayParams| {
        let ws = &ws;
        async move {
            let unsubscribe = method.replace("subscribe", "unsubscribe");
            ws.subscribe::<Value, _>(method, params, &unsubscribe).await.expect("subscribe")
        }
    };
    let mut reports = subscribe("ledger_subscribeReports", rpc_params![]).await;
    let mut settlements = subscribe("ledger_subscribeSettlements", rpc_params![]).await;
    let owner = m.owner.client().address();
    let mut positions = subscribe("ledger_subscribePositions", rpc_params![owner]).await;

    // A report the index applies and the wallet hears of, then loses to a reorg.
    let provider = m.governance.provider().clone();
    let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    m.advance_past_epoch(start, 1).await;
    m.report(start, &[(lease, 8 * u64::from(EPOCH))]).await;
    indexer.catch_up().await.expect("index");
    let report = next_value(&mut reports).await;
    assert_eq!(report["epoch"], start);
    let reported_block = report["block"].as_u64().expect("block");

    let reverted: bool =
        provider.raw_request("evm_revert".into(), (snapshot,)).await.expect("revert");
    assert!(reverted);
    provider.raw_request::<_, String>("evm_mine".into(), ()).await.expect("mine");
    assert!(matches!(
        indexer.step().await.expect("step"),
        compute_ledger_node::Step::RolledBack(_)
    ));

    // Every subscription, whatever it follows, gets the same notice, in order after what it
    // was sent before.
    for subscription in [&mut reports, &mut settlements, &mut positions] {
        let notice = next_value(subscription).await;
        let rolled_back = &notice["rolledBack"];
        let (from, to) = (rolled_back["fromBlock"].as_u64(), rolled_back["toBlock"].as_u64());
        let (from, to) = (from.expect("fromBlock"), to.expect("toBlock"));
        assert!(from <= reported_block && reported_block <= to, "{notice}");
    }
    let listed = call(&url, "ledger_reports", json!([m.cluster_id])).await;
    assert_eq!(listed["result"], json!([]), "the report is gone with the reorg");
}

#[tokio::test]
async fn a_subscriber_that_fell_behind_is_closed_not_left_unaware() {
    use compute_ledger_node::index::Update;

    let m = compute_ledger_sdk::test_utils::Market::start(1_000, 100).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_indexer, server, ledger) = serve(&m, dir.path()).await;
    let ws = WsClientBuilder::default().build(format!("ws://{}", server.addr)).await.expect("ws");
    let mut reports = ws
        .subscribe::<Value, _>(
            "ledger_subscribeReports",
            rpc_params![],
            "ledger_unsubscribeReports",
        )
        .await
        .expect("subscribe");
    // More updates than the server buffers, sent before its forwarding task can run (this test's
    // runtime has one thread): the subscriber misses some, maybe a rollback among them.
    for block in 0..2_000 {
        let _ = ledger.updates.send(Update::RolledBack { from_block: block, to_block: block });
    }
    let closed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            match reports.next().await {
                Some(Ok(notice)) => assert!(notice["rolledBack"].is_object(), "{notice}"),
                Some(Err(e)) => break Some(e.to_string()),
                None => break None,
            }
        }
    })
    .await
    .expect("closed within 60 s");
    // The client sees the subscription end (its error notification, where the client passes it
    // on, says what to do); the connection itself stays usable for resubscribing.
    if let Some(reason) = closed {
        assert!(reason.contains("subscribe again"), "{reason}");
    }
    let pong: String = ClientT::request(&ws, "ledger_ping", rpc_params![]).await.expect("ping");
    assert_eq!(pong, "pong");
}

#[tokio::test]
async fn an_unreadable_archive_is_an_error_not_a_missing_proof() {
    use compute_ledger_node::index::NodeProofs;
    use compute_ledger_sdk::{
        DeliveryProofs, Outcome, SdkError,
        test_utils::{CHALLENGE_WINDOW, EPOCH, Market, PROOF_GRACE},
    };

    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(8, start, 1)).await;
    m.advance_past_epoch(start, 1).await;
    let tree = m.report(start, &[(lease, 8 * u64::from(EPOCH))]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_indexer, server, ledger) = serve(&m, dir.path()).await;
    let url = format!("http://{}", server.addr);
    // A stored record that no longer makes a tree (an empty leaf list).
    ledger.archive.put(m.cluster_id, start, &[]).expect("put");

    let proof = call(&url, "ledger_deliveryProof", json!([lease.to_string(), start])).await;
    assert_eq!(proof["error"]["code"], -32603, "{proof}");
    let message = proof["error"]["message"].as_str().expect("message");
    assert!(message.contains("deliveries archive"), "{message}");

    // Past the proof deadline an epoch without a proof settles as unproven (the owner pays):
    // a keeper that cannot read its archive must stop instead.
    m.devnet.advance(CHALLENGE_WINDOW + PROOF_GRACE + 2).await;
    let proofs = NodeProofs { index: ledger.index.clone(), archive: ledger.archive.clone() };
    let err = proofs.delivery(m.cluster_id, start, lease).expect_err("unreadable");
    assert!(matches!(err, SdkError::ProofStore(_)), "{err:?}");
    let err = m.keeper.settle_due(&proofs, 10).await.expect_err("storage error");
    assert!(matches!(err, SdkError::ProofStore(_)), "{err:?}");
    assert_eq!(m.governance.lease(lease).await.expect("lease").next_epoch, start, "not settled");

    // Repaired, the same keeper settles the epoch with its proof: nothing was lost.
    ledger.archive.put(m.cluster_id, start, tree.leaves()).expect("put");
    let run = m.keeper.settle_due(&proofs, 10).await.expect("settle");
    assert_eq!(run.settled.len(), 1, "{run:?}");
    assert_eq!(run.settled[0].outcome, Outcome::Proven);
}

async fn next_value(subscription: &mut Subscription<Value>) -> Value {
    tokio::time::timeout(std::time::Duration::from_secs(60), subscription.next())
        .await
        .expect("notified within 60 s")
        .expect("subscription open")
        .expect("a JSON value")
}
