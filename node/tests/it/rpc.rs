//! The wallet API over real HTTP and WebSocket on 127.0.0.1: answers match the chain, every
//! method refuses malformed params with -32602 and a reason, limits hold, `rpc.discover`
//! describes exactly what is served, and the plain HTTP routes work.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::U256;
use compute_ledger_sdk::api::{
    ClientError, LeaseFilter, LeaseStatus, LedgerApiClient, Live, MarketTotals, NOT_FOUND_CODE,
    PageRequest, http_client,
    spec::{self, MethodKind},
    ws_client,
};
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
    let (_indexer, server, ledger) = serve(&m, dir.path()).await;
    let url = format!("http://{}", server.addr);
    let node = http_client(&url).expect("client");
    let a = leases[0];

    // Positions and claimable agree with the contract for every holder.
    for holder in holders(&m) {
        let positions = node.positions(holder, None).await.expect("positions").items;
        let claimable = node.claimable(holder).await.expect("claimable");
        let chain = chain_claimable(&m, a, holder).await;
        let listed =
            positions.iter().find(|p| p.position.lease_id == a).map_or(U256::ZERO, |p| p.claimable);
        assert_eq!(listed, chain, "{holder}");
        assert!(claimable.total >= chain);
        assert_eq!(claimable.address, holder);
    }
    let cluster = node.cluster(m.cluster_id).await.expect("cluster");
    assert_eq!(cluster.cluster.reports, 2);
    assert!(cluster.revenue_per_kwh.is_some(), "{cluster:?}");
    let lease = node.lease(a.into()).await.expect("lease");
    assert_eq!(lease.settlements.len(), 3);
    assert_eq!(lease.settlements_cursor, None, "three settlements fit in one page");
    let paged = node
        .settlements(a.into(), Some(PageRequest { cursor: None, limit: Some(2) }))
        .await
        .expect("settlements");
    assert_eq!(paged.items, lease.settlements[..2]);
    let rest = node
        .settlements(a.into(), Some(PageRequest { cursor: paged.next_cursor, limit: Some(2) }))
        .await
        .expect("settlements");
    assert_eq!(rest.items, lease.settlements[2..]);
    assert_eq!(rest.next_cursor, None);
    let ended = LeaseFilter { status: Some(LeaseStatus::Ended), ..LeaseFilter::default() };
    let ended = node.leases(Some(ended), None).await.expect("leases");
    assert_eq!(ended.items.len(), 2);
    assert!(ended.items.iter().all(|l| l.status == LeaseStatus::Ended));
    // The market totals kept on write equal a recount over every lease, page by page.
    let (mut recount, mut page) = (MarketTotals { clusters: 1, ..MarketTotals::default() }, None);
    loop {
        let request = PageRequest { cursor: page, limit: Some(1) };
        let leases = node.leases(None, Some(request)).await.expect("leases");
        for lease in &leases.items {
            recount.replace(None, lease);
        }
        match leases.next_cursor {
            Some(cursor) => page = Some(cursor),
            None => break,
        }
    }
    assert_eq!(node.market().await.expect("market"), recount);
    assert!(recount.leases_ended == 2 && !recount.rent_settled.is_zero(), "{recount:?}");
    let reports = node.reports(m.cluster_id, None).await.expect("reports");
    assert_eq!(reports.len(), 2);
    let sync = node.sync_status().await.expect("sync");
    assert!(sync.sync.indexed_block.is_some(), "{sync:?}");
    assert_eq!(node.ping().await.expect("ping"), "pong");

    // The wire format a wallet reading raw JSON relies on: camelCase, amounts as decimal strings,
    // a lease id accepted as 0x-hex by name.
    let by_name = call(&url, "ledger_lease", json!({ "leaseId": format!("0x{a:x}") })).await;
    assert_eq!(by_name["result"]["id"], a.to_string());
    assert!(by_name["result"]["rentSettled"].is_string(), "{by_name}");
    assert_eq!(by_name["result"]["settlements"].as_array().expect("settlements").len(), 3);
    let positions = call(&url, "ledger_positions", json!([m.owner.client().address()])).await;
    assert!(positions["result"]["items"][0]["claimable"].is_string(), "{positions}");
    // A holder's positions come a page at a time too: one by one, they are the whole list.
    let owner = m.owner.client().address();
    let all = node.positions(owner, None).await.expect("positions");
    assert!(all.items.len() >= 2 && all.next_cursor.is_none(), "{:?}", all.next_cursor);
    let (mut walked, mut cursor) = (Vec::new(), None);
    loop {
        let request = PageRequest { cursor: cursor.clone(), limit: Some(1) };
        let page = node.positions(owner, Some(request)).await.expect("page");
        walked.extend(page.items.iter().map(|p| p.position.lease_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(walked, all.items.iter().map(|p| p.position.lease_id).collect::<Vec<_>>());

    // Not found is -32001 with what was missing, through the typed client too.
    let missing = node.lease(999u64.into()).await.expect_err("no lease 999");
    assert!(
        matches!(&missing, ClientError::Call(e) if e.code() == NOT_FOUND_CODE
            && e.message().contains("no lease 999")),
        "{missing:?}"
    );
    let missing = call(&url, "ledger_cluster", json!([77])).await;
    assert_eq!(missing["error"]["code"], -32001, "{missing}");
    let missing = call(&url, "ledger_deliveryProof", json!([a.to_string(), leases.len()])).await;
    assert!(missing["error"]["code"] == -32001 || missing["error"]["code"] == -32602, "{missing}");

    // Every method with params refuses malformed input with -32602 and a message naming the
    // param and what was expected.
    let malformed: &[(&str, Value, &str)] = &[
        ("ledger_clusters", json!([{ "limit": 0 }]), "at least 1"),
        ("ledger_clusters", json!([{ "limit": 5000 }]), "exceeds the page size"),
        ("ledger_clusters", json!([{ "size": 5 }]), "param \"page\": expected {cursor?, limit?}"),
        ("ledger_clusters", json!([{ "offset": 5 }]), "unknown field `offset`"),
        ("ledger_clusters", json!([{ "cursor": "x" }]), "nextCursor"),
        ("ledger_clusters", json!("text"), "array or an object"),
        ("ledger_cluster", json!([]), "needs param \"clusterId\""),
        ("ledger_cluster", json!(["one"]), "param \"clusterId\": expected an unsigned 64-bit"),
        ("ledger_cluster", json!([-1]), "unsigned 64-bit integer"),
        ("ledger_cluster", json!([1, 2]), "at most 1 params"),
        ("ledger_quote", json!([]), "needs param \"clusterId\""),
        ("ledger_quote", json!([-1]), "unsigned 64-bit integer"),
        ("ledger_reports", json!([1, { "fromEpoch": "x" }]), "fromEpoch"),
        ("ledger_reports", json!({ "cluster": 1 }), "no param \"cluster\""),
        ("ledger_lease", json!([0]), "lease ids start at 1"),
        ("ledger_lease", json!(["0xzz"]), "param \"leaseId\": expected a lease id"),
        ("ledger_lease", json!([true]), "lease id"),
        ("ledger_settlements", json!([]), "needs param \"leaseId\""),
        ("ledger_settlements", json!([a.to_string(), { "cursor": "later" }]), "nextCursor"),
        ("ledger_leases", json!([{ "status": "paused" }]), "unknown variant"),
        ("ledger_leases", json!([{ "tenant": "0x12" }]), "param \"filter\""),
        ("ledger_leases", json!([{}, { "limit": -1 }]), "param \"page\""),
        ("ledger_positions", json!(["0x1234"]), "40 hex digits"),
        ("ledger_positions", json!([42]), "param \"address\""),
        ("ledger_claimable", json!([]), "needs param \"address\""),
        ("ledger_claimable", json!(["0xZZ00000000000000000000000000000000000000"]), "address"),
        ("ledger_orderBook", json!([]), "needs param \"leaseId\""),
        ("ledger_orderBook", json!([a.to_string(), -1]), "param \"depth\""),
        ("ledger_orderBook", json!([a.to_string(), 0]), "at least 1"),
        ("ledger_trades", json!([a.to_string(), { "cursor": "later" }]), "nextCursor"),
        ("ledger_trades", json!(["0xzz"]), "param \"leaseId\""),
        ("ledger_orders", json!(["0x12"]), "40 hex digits"),
        ("ledger_orders", json!([owner, { "cursor": "x" }]), "nextCursor"),
        ("ledger_deliveryProof", json!([1]), "needs param \"epoch\""),
        ("ledger_deliveryProof", json!([1, 1.5]), "unsigned"),
        ("ledger_deliveryProof", json!([a.to_string(), 10_000]), "outside lease"),
        ("ledger_syncStatus", json!([1]), "at most 0 params"),
        ("ledger_market", json!([{}]), "at most 0 params"),
        ("ledger_ping", json!(["x"]), "at most 0 params"),
        ("ledger_curtailments", json!([]), "needs param \"clusterId\""),
        ("ledger_curtailments", json!([1, { "cursor": "later" }]), "nextCursor"),
        ("ledger_megawattEconomics", json!([1]), "needs param \"inputs\""),
        ("ledger_megawattEconomics", json!([1, { "energizedKw": 5 }]), "param \"inputs\""),
        (
            "ledger_megawattEconomics",
            json!([1, { "energizedKw": 5, "hashpricePerPhDay": "50", "fleetJPerTh": 20,
                         "energyPricePerKwh": "0.04", "pue": 1.2 }]),
            "unknown field `pue`",
        ),
    ];
    let covered: BTreeSet<&str> = malformed.iter().map(|(method, _, _)| *method).collect();
    for spec in spec::methods().iter().filter(|s| matches!(s.kind, MethodKind::Call)) {
        assert!(covered.contains(spec.name), "no malformed-input case for {}", spec.name);
    }
    for (method, params, reason) in malformed {
        let response = call(&url, method, params.clone()).await;
        assert_eq!(response["error"]["code"], -32602, "{method} {params}: {response}");
        let message = response["error"]["message"].as_str().expect("message");
        assert!(message.contains(reason), "{method} {params}: {message:?} lacks {reason:?}");
    }
    // In a batch too: the bad call is refused with its reason, the good one answered.
    let batch = json!([
        { "jsonrpc": "2.0", "id": 1, "method": "ledger_cluster", "params": ["one"] },
        { "jsonrpc": "2.0", "id": 2, "method": "ledger_ping", "params": [] },
    ]);
    let answers: Vec<Value> = reqwest::Client::new()
        .post(&url)
        .json(&batch)
        .send()
        .await
        .expect("batch")
        .json()
        .await
        .expect("json");
    let by_id = |id: u64| answers.iter().find(|a| a["id"] == id).expect("answered").clone();
    assert_eq!(by_id(1)["error"]["code"], -32602, "{answers:?}");
    assert!(by_id(1)["error"]["message"].as_str().expect("message").contains("clusterId"));
    assert_eq!(by_id(2)["result"], "pong");

    // rpc.discover describes every served ledger_ method, with param and result schemas
    // generated from the trait's types (shared ones resolvable under components.schemas).
    let discovered = call(&url, "rpc.discover", json!([])).await["result"].clone();
    let documented: BTreeMap<String, Value> = discovered["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .map(|m| (m["name"].as_str().expect("name").to_string(), m.clone()))
        .collect();
    let served: BTreeSet<String> = compute_ledger_node::rpc::module(&ledger)
        .expect("module")
        .method_names()
        .filter(|name| name.starts_with("ledger_"))
        .map(str::to_string)
        .collect();
    assert_eq!(documented.keys().cloned().collect::<BTreeSet<_>>(), served);
    let schemas = &discovered["components"]["schemas"];
    let resolves = |schema: &Value| match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.strip_prefix("#/components/schemas/").expect("local ref");
            schemas[name].is_object()
        }
        None => schema.is_object() && !schema.as_object().expect("object").is_empty(),
    };
    for (name, method) in &documented {
        assert!(resolves(&method["result"]["schema"]), "{name} result: {method}");
        for param in method["params"].as_array().expect("params") {
            assert!(resolves(&param["schema"]), "{name} param: {param}");
        }
    }
    for spec in spec::methods() {
        let params: Vec<&str> = documented[spec.name]["params"]
            .as_array()
            .expect("params")
            .iter()
            .map(|p| p["name"].as_str().expect("name"))
            .collect();
        let expected: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
        assert_eq!(params, expected, "{}", spec.name);
    }
    // Amounts are decimal strings in the schema, as on the wire.
    let lease_schema = &schemas["LeaseRow"]["properties"]["rentSettled"];
    assert_eq!(lease_schema["type"], "string", "{lease_schema}");
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
    // Asked again with nothing settled or reported since, the figures come from the cache: the
    // lease and its cluster are read, not every report of the term.
    let reads = ledger.index.reads();
    let hex: Value = get(format!("/metadata/{a:064x}.json")).await.json().await.expect("json");
    assert_eq!(hex, metadata);
    let metadata_reads = ledger.index.reads() - reads;
    assert!(metadata_reads <= 2, "{metadata_reads} keys read for a cached metadata GET");
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
    let ws = ws_client(&format!("ws://{}", server.addr)).await.expect("ws");
    let mut reports = ws.subscribe_reports().await.expect("subscribe");
    let mut settlements = ws.subscribe_settlements().await.expect("subscribe");
    let owner = m.owner.client().address();
    let mut positions = ws.subscribe_positions(owner).await.expect("subscribe");

    m.advance_past_epoch(start, 1).await;
    let tree = m.report(start, &[(lease, 8 * u64::from(EPOCH))]).await;
    m.devnet.advance(CHALLENGE_WINDOW).await;
    let mut proofs = ProofBook::default();
    proofs.insert(m.cluster_id, start, tree);
    m.keeper.settle_due(&proofs, 10).await.expect("settle");
    indexer.catch_up().await.expect("index");

    let report = next_item(&mut reports).await;
    assert_eq!(report.epoch, start);
    let settlement = next_item(&mut settlements).await;
    assert_eq!(settlement.lease_id, lease);
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
    let position = next_item(&mut positions).await;
    assert_eq!(position.position.holder, owner);
    assert_eq!(position.claimable, U256::ZERO);
    assert_eq!(position.position.claimed, settlement.rent);
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
    let ws = ws_client(&format!("ws://{}", server.addr)).await.expect("ws");
    let mut reports = ws.subscribe_reports().await.expect("subscribe");
    let mut settlements = ws.subscribe_settlements().await.expect("subscribe");
    let owner = m.owner.client().address();
    let mut positions = ws.subscribe_positions(owner).await.expect("subscribe");
    // The raw wire format of the notice, for wallets that do not use the SDK.
    let mut raw = ws
        .subscribe::<Value, _>(
            "ledger_subscribeReports",
            rpc_params![],
            "ledger_unsubscribeReports",
        )
        .await
        .expect("subscribe");

    // A report the index applies and the wallet hears of, then loses to a reorg.
    let provider = m.governance.provider().clone();
    let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    m.advance_past_epoch(start, 1).await;
    m.report(start, &[(lease, 8 * u64::from(EPOCH))]).await;
    indexer.catch_up().await.expect("index");
    let report = next_item(&mut reports).await;
    assert_eq!(report.epoch, start);
    let reported_block = report.block;
    next_value(&mut raw).await;

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
    let notices = [
        rolled_back(next_live(&mut reports).await),
        rolled_back(next_live(&mut settlements).await),
        rolled_back(next_live(&mut positions).await),
    ];
    for notice in notices {
        assert!(notice.from_block <= reported_block && reported_block <= notice.to_block);
    }
    let notice = next_value(&mut raw).await;
    let wire = &notice["rolledBack"];
    assert_eq!(wire["fromBlock"], notices[0].from_block, "{notice}");
    assert_eq!(wire["toBlock"], notices[0].to_block, "{notice}");
    let listed = http_client(&url).expect("client").reports(m.cluster_id, None).await;
    assert_eq!(listed.expect("reports"), vec![], "the report is gone with the reorg");
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
async fn a_busy_holder_cannot_push_other_wallets_subscriptions_behind() {
    use compute_ledger_node::index::SUBSCRIBER_QUEUE;
    use compute_ledger_sdk::test_utils::Market;

    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(8, start, 1)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_indexer, server, ledger) = serve(&m, dir.path()).await;
    let ws = ws_client(&format!("ws://{}", server.addr)).await.expect("ws");
    let busy = m.investors[0].client().address();
    let owner = m.owner.client().address();
    let mut busy_feed = ws.subscribe_positions(busy).await.expect("subscribe");
    let mut owner_feed = ws.subscribe_positions(owner).await.expect("subscribe");
    assert_eq!(ledger.positions.holders(), 2);

    // A burst for one holder, routed as the indexer routes it, before any forwarding task can
    // run (this test's runtime has one thread): far more than one subscriber may queue.
    for _ in 0..(4 * SUBSCRIBER_QUEUE) {
        ledger.positions.position(busy, lease);
    }
    ledger.positions.position(owner, lease);

    // The owner's wallet hears of its own position, first and only: the burst never reached it.
    let position = next_item(&mut owner_feed).await;
    assert_eq!((position.position.holder, position.position.lease_id), (owner, lease));
    // The busy holder's subscription, which could not keep up, is closed, not left unaware.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            match busy_feed.next().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => break Some(e.to_string()),
                None => break None,
            }
        }
    })
    .await
    .expect("closed within 60 s");
    if let Some(reason) = closed {
        assert!(reason.contains("subscribe again"), "{reason}");
    }
    assert_eq!(ledger.positions.holders(), 1, "the dropped subscriber left the table");
    let pong = ws.ping().await.expect("ping");
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
    ledger.archive.put_leaves(m.cluster_id, start, &[], &[]).expect("put");

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
    ledger.archive.put(m.cluster_id, start, &tree).expect("put");
    let run = m.keeper.settle_due(&proofs, 10).await.expect("settle");
    assert_eq!(run.settled.len(), 1, "{run:?}");
    assert_eq!(run.settled[0].outcome, Outcome::Proven);
}

fn rolled_back<T: std::fmt::Debug>(live: Live<T>) -> compute_ledger_sdk::api::RolledBack {
    match live {
        Live::RolledBack { rolled_back } => rolled_back,
        item => panic!("expected a rollback notice, got {item:?}"),
    }
}

/// The next item of a typed subscription (a rollback notice fails the test).
async fn next_item<T: std::fmt::Debug + serde::de::DeserializeOwned>(
    subscription: &mut Subscription<Live<T>>,
) -> T {
    match next_live(subscription).await {
        Live::Item(item) => item,
        notice => panic!("expected an item, got {notice:?}"),
    }
}

async fn next_live<T: serde::de::DeserializeOwned>(
    subscription: &mut Subscription<Live<T>>,
) -> Live<T> {
    tokio::time::timeout(std::time::Duration::from_secs(60), subscription.next())
        .await
        .expect("notified within 60 s")
        .expect("subscription open")
        .expect("a notification of the documented type")
}

async fn next_value(subscription: &mut Subscription<Value>) -> Value {
    tokio::time::timeout(std::time::Duration::from_secs(60), subscription.next())
        .await
        .expect("notified within 60 s")
        .expect("subscription open")
        .expect("a JSON value")
}
