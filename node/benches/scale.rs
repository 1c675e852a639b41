//! Market-scale benchmark (`cargo bench -p compute-ledger-node --bench scale`, part of
//! `make bench`; never of `make test`). Builds a market history on a local anvil with the
//! `MarketHistory` fixture contract — `SCALE_LEASES` leases (default [`DEFAULT_LEASES`]), one
//! cluster per 100 leases, ten share positions per lease, 1 % of the leases due — and a second,
//! 1,000-lease market with the same number of due leases, then measures side by side:
//!
//! (a) indexer catch-up over the whole history vs one raw `eth_getLogs` pull of the same range;
//! (b) a keeper round over the large market vs one over the 1,000-lease market (same due count);
//! (c) `ledger_positions`, `ledger_claimable`, `ledger_leases` (one cluster, page 100) and
//!     `ledger_lease` vs the no-op `ledger_ping`, over HTTP to the node's server;
//! (d) [`SUBSCRIBERS`] WebSocket subscribers of settlements and one settlement: delivery latency;
//! (e) index bytes on disk per position, and this process's RSS while serving.
//!
//! Talks only to 127.0.0.1, prints progress and a table for docs/benchmarks.md, stops by itself.

#[path = "support/mod.rs"]
mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
    rpc::types::Filter,
};
use compute_ledger_node::{
    Indexer,
    index::{DeliveriesArchive, Index, NodeProofs, Update},
    loops::{KEEPER_ROUND_LEASES, keeper_round as index_keeper_round},
    metrics::Metrics,
    rpc,
};
use compute_ledger_sdk::{
    Client, Deployment, Keeper, LedgerEvents, deploy,
    test_utils::{Devnet, History, HistoryProgress, HistorySize},
};
use jsonrpsee::core::client::{Subscription, SubscriptionClientT};
use jsonrpsee::rpc_params;
use jsonrpsee_ws_client::WsClientBuilder;
use serde_json::{Value, json};
use support::{
    GOVERNANCE_KEY, REPORT_WINDOW, leases_from_env, load, market_devnet, market_params,
    percentile_ms, rss_mib,
};

/// Leases of the large market unless `SCALE_LEASES` says otherwise (see docs/benchmarks.md for
/// how long each size takes to build).
const DEFAULT_LEASES: u64 = 20_000;
/// Leases of the comparison market (with as many due leases as the large one).
const SMALL_LEASES: u64 = 1_000;
/// Concurrent HTTP clients and seconds per method under load.
const WORKERS: usize = 8;
const LOAD_SECONDS: u64 = 5;
/// WebSocket subscribers of settlements.
const SUBSCRIBERS: usize = 1_000;
/// How often the live indexer polls the head while subscribers wait (the node's default is 1 s).
const INDEXER_POLL: Duration = Duration::from_millis(50);
/// Items per settlement transaction of the keeper (the node's default).
const KEEPER_BATCH: usize = 20;
/// Funded anvil keys: governance ([`GOVERNANCE_KEY`]) deploys, the keeper settles, key 7 sends
/// the one settlement.
const KEEPER_KEY: usize = 6;
const SETTLER_KEY: usize = 7;

/// The wallet calls measured, in one place (names and params follow the RPC surface):
/// (method, params) for a holder with positions, one cluster, and one lease.
fn wallet_calls(holder: Address, cluster: u64, lease: U256) -> Vec<(&'static str, Value)> {
    vec![
        ("ledger_ping", json!([])),
        ("ledger_positions", json!([holder])),
        ("ledger_claimable", json!([holder])),
        ("ledger_leases", json!([{ "clusterId": cluster }, { "limit": 100 }])),
        ("ledger_lease", json!([lease.to_string()])),
        ("ledger_ping", json!([])),
    ]
}
/// The settlement subscription: (subscribe, unsubscribe).
const SETTLEMENTS: (&str, &str) = ("ledger_subscribeSettlements", "ledger_unsubscribeSettlements");

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(request) = std::env::var(RAW_PULL) {
        return raw_pull(&request).await;
    }
    let leases = leases_from_env("SCALE_LEASES", DEFAULT_LEASES);
    let size = HistorySize::market_scale(leases);
    let devnet = market_devnet();
    let provider = devnet.provider_for(devnet.signer(GOVERNANCE_KEY));

    // The large history, then the small market with as many due leases.
    eprintln!(
        "building a history of {} clusters, {} leases, {} positions ({} due) ...",
        size.clusters,
        size.leases,
        size.positions(),
        size.due_leases()
    );
    let big = deploy(&provider, &market_params(&devnet)).await.expect("deploy");
    let t = Instant::now();
    let history = History::build(&devnet, &big, size, progress(t)).await;
    let build_s = t.elapsed().as_secs_f64();
    eprintln!("history built in {build_s:.0} s");
    let small = deploy(&provider, &market_params(&devnet)).await.expect("deploy");
    let small_size = HistorySize {
        clusters: 10,
        leases: SMALL_LEASES,
        holders_per_lease: 9,
        holder_pool: SMALL_LEASES,
        due_every: (SMALL_LEASES / size.due_leases().max(1)).max(1),
    };
    let history_small = History::build(&devnet, &small, small_size, |_| {}).await;
    let head = provider.get_block_number().await.expect("head");
    eprintln!(
        "comparison market of {} leases ({} due) built; head {head}",
        SMALL_LEASES,
        small_size.due_leases()
    );

    // (a) Raw pull vs indexer catch-up. The pull runs in a child process: it holds the whole
    // history's logs at once (gigabytes at 100,000 leases), which the allocator would keep in
    // this process's memory, measured below as the node's.
    let filter = Filter::new()
        .address(LedgerEvents::new(provider.clone(), big.clone()).addresses())
        .from_block(big.deploy_block)
        .to_block(head);
    let (events, raw_s) = raw_pull_in_child(&devnet.anvil.endpoint(), &filter);
    eprintln!("raw eth_getLogs: {events} events in {raw_s:.1} s");
    let index_dir = tempfile::tempdir().expect("tempdir");
    // The fixture packs the history into a few dozen huge blocks right below the head; a real
    // catch-up reads one far older than the reorg window. The index treats it as such: every
    // block but the head is final (no undo records), as in the node's own backfill.
    let index = Index::open(index_dir.path()).expect("index").with_undo_depth(0);
    let mut indexer =
        Indexer::new(index.clone(), provider.clone(), big.clone(), 0, Arc::new(Metrics::default()))
            .expect("indexer");
    let t = Instant::now();
    indexer.catch_up().await.expect("catch up");
    let index_s = t.elapsed().as_secs_f64();
    eprintln!("indexer catch-up: {index_s:.1} s");

    // (e) Bytes on disk.
    index.flush_all().expect("flush");
    let index_bytes = dir_bytes(index_dir.path());

    // (c) The wallet server under load.
    let archive_dir = tempfile::tempdir().expect("tempdir");
    let archive = DeliveriesArchive::open(archive_dir.path()).expect("archive");
    let limits = rpc::Limits { max_connections: 2 * SUBSCRIBERS as u32, ..rpc::Limits::default() };
    let big_index = index.clone();
    let ledger = rpc::Ledger::new(
        index,
        archive,
        &indexer,
        Arc::new(Metrics::default()),
        limits,
        "http://127.0.0.1".into(),
    );
    let server = rpc::serve("127.0.0.1:0".parse().expect("addr"), ledger).await.expect("serve");
    let url = format!("http://{}", server.addr);
    let holder = history.holder(&provider, 0).await;
    let mut rows = Vec::new();
    for (method, params) in wallet_calls(holder, history.first_cluster, history.first_lease) {
        let result = load(&url, method, params, WORKERS, LOAD_SECONDS).await;
        eprintln!("{method}: {:.0} req/s, p99 {:.2} ms", result.rate, result.p99_ms);
        rows.push((method, result));
    }
    let (rss, peak_rss) = rss_mib("self");
    let anvil_rss = rss_mib(&devnet.anvil.child().id().to_string()).0;

    // Every due lease's epoch is over and past its report window: missed, due for settlement.
    eprintln!("moving chain time past the due epochs ...");
    devnet.advance(3 * u64::from(HISTORY_EPOCH) + REPORT_WINDOW + 1).await;

    // (d) Subscribers of settlements, one settlement.
    let delivery = one_settlement_to_subscribers(&devnet, &big, &history, indexer, &server).await;
    eprintln!("settlement delivered to {} subscribers", delivery.delivered);

    // (b) Keeper rounds: the large market, then the small one. The small market settles one due
    // lease first too, so both rounds find the same number due.
    settle_one(&devnet, &small, history_small.first_lease).await;
    eprintln!("keeper round over {} leases ...", size.leases);
    let big_round = keeper_round(devnet.client(&big, KEEPER_KEY).await, big_index).await;
    eprintln!("keeper round over {SMALL_LEASES} leases ...");
    let small_dir = tempfile::tempdir().expect("tempdir");
    let small_index = Index::open(small_dir.path()).expect("index");
    Indexer::new(small_index.clone(), provider.clone(), small.clone(), 0, Arc::default())
        .expect("indexer")
        .catch_up()
        .await
        .expect("catch up");
    let small_round = keeper_round(devnet.client(&small, KEEPER_KEY).await, small_index).await;
    server.handle.stop().expect("stop");

    let ping = (rows[0].1.rate + rows[rows.len() - 1].1.rate) / 2.0;
    let positions = size.positions();
    println!();
    println!(
        "History: {} clusters, {} leases, {} positions, {events} events; built in {build_s:.0} s.",
        size.clusters, size.leases, positions
    );
    println!();
    println!("| measurement | value | ratio | goal |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| raw `eth_getLogs`, {events} events | {raw_s:.1} s, {:.0} events/s | 1.00 | |",
        events as f64 / raw_s
    );
    println!(
        "| indexer catch-up, same range | {index_s:.1} s, {:.0} events/s | **{:.2}** | ≥ 0.90 |",
        events as f64 / index_s,
        raw_s / index_s
    );
    for (leases, round, ratio) in
        [(size.leases, &big_round, Some(&small_round)), (SMALL_LEASES, &small_round, None)]
    {
        let ratio_of = |f: fn(&KeeperRound) -> f64| {
            ratio.map_or("1.00".to_string(), |small| format!("**{:.2}**", f(round) / f(small)))
        };
        let goal = if ratio.is_some() { "≤ 2.00" } else { "" };
        println!(
            "| keeper: finding due epochs, {leases} leases, {} due | {:.1} s | {} | {goal} |",
            round.settled,
            round.find_s,
            ratio_of(|r| r.find_s)
        );
        println!(
            "| keeper round (find and settle, {} transactions), {leases} leases | {:.1} s | {} | {goal} |",
            round.transactions,
            round.round_s,
            ratio_of(|r| r.round_s)
        );
    }
    for (method, r) in &rows {
        let goal = if *method == "ledger_ping" { "baseline" } else { "≥ 0.50, p99 ≤ 5 ms" };
        println!(
            "| `{method}` ({WORKERS} clients, {LOAD_SECONDS} s) | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | **{:.2}** | {goal} |",
            r.rate,
            r.p50_ms,
            r.p99_ms,
            r.rate / ping
        );
    }
    println!(
        "| {SUBSCRIBERS} WebSocket subscribers, one settlement: delivery after the indexer publishes it | p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} of {SUBSCRIBERS} delivered) | | p99 ≤ 100 ms |",
        delivery.p50_ms, delivery.p99_ms, delivery.max_ms, delivery.delivered
    );
    println!(
        "| same, from sending the transaction (anvil, indexer poll every {} ms) | p50 {:.1} ms, p99 {:.1} ms | | |",
        INDEXER_POLL.as_millis(),
        delivery.from_send_p50_ms,
        delivery.from_send_p99_ms
    );
    println!(
        "| index on disk | {:.1} MiB, {:.0} bytes per position | | reported |",
        index_bytes as f64 / 1_048_576.0,
        index_bytes as f64 / positions as f64
    );
    println!(
        "| RSS of the node (this process: index, server, load clients) while serving | {rss:.0} MiB (peak {peak_rss:.0} MiB) | | ≤ 1,024 MiB |"
    );
    println!("| RSS of anvil holding the history | {anvil_rss:.0} MiB | | |");
}

/// Epoch length of the fixture's clusters, seconds.
const HISTORY_EPOCH: u32 = 3_600;

/// Prints a line per 5 % of the history built.
fn progress(started: Instant) -> impl FnMut(HistoryProgress) {
    let mut printed = 0;
    move |p| {
        let percent = p.leases_done * 100 / p.leases_total.max(1);
        if percent >= printed + 5 || p.leases_done == p.leases_total {
            printed = percent - percent % 5;
            eprintln!(
                "history: {percent:3}% ({} of {} leases) after {:.0} s",
                p.leases_done,
                p.leases_total,
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// A keeper round's cost: finding the due epochs, and the whole round (finding them again and
/// settling them).
struct KeeperRound {
    find_s: f64,
    round_s: f64,
    settled: usize,
    transactions: usize,
}

/// One round of the node's keeper over `client`'s deployment, due epochs from its `index`.
async fn keeper_round(client: Client, index: Index) -> KeeperRound {
    let keeper = Keeper::new(client);
    let archive_dir = tempfile::tempdir().expect("tempdir");
    let archive = DeliveriesArchive::open(archive_dir.path()).expect("archive");
    let t = Instant::now();
    let now = keeper.client().chain_time().await.expect("chain time");
    let windows = keeper.windows().await.expect("windows");
    index.due_epochs(now, &windows, KEEPER_ROUND_LEASES).expect("due epochs");
    let find_s = t.elapsed().as_secs_f64();
    let proofs = NodeProofs { index, archive };
    let t = Instant::now();
    let run = index_keeper_round(&keeper, &proofs, KEEPER_BATCH).await.expect("keeper round");
    KeeperRound {
        find_s,
        round_s: t.elapsed().as_secs_f64(),
        settled: run.settled.len(),
        transactions: run.transactions,
    }
}

/// Delivery latencies of one settlement to every subscriber.
struct Delivery {
    delivered: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    from_send_p50_ms: f64,
    from_send_p99_ms: f64,
}

/// [`SUBSCRIBERS`] WebSocket connections subscribe to settlements; a live indexer follows the
/// chain; one due lease of the history settles as missed. Latency is measured from the moment
/// the indexer publishes the settlement (and, second, from sending the transaction).
async fn one_settlement_to_subscribers(
    devnet: &Devnet,
    deployment: &Deployment,
    history: &History,
    mut indexer: Indexer,
    server: &rpc::RpcServer,
) -> Delivery {
    let ws_url = format!("ws://{}", server.addr);
    let mut subscriptions: Vec<(jsonrpsee_ws_client::WsClient, Subscription<Value>)> = Vec::new();
    for chunk in 0..SUBSCRIBERS.div_ceil(100) {
        let connecting = (chunk * 100..((chunk + 1) * 100).min(SUBSCRIBERS)).map(|_| async {
            let ws = WsClientBuilder::default().build(&ws_url).await.expect("ws connect");
            let sub = ws
                .subscribe::<Value, _>(SETTLEMENTS.0, rpc_params![], SETTLEMENTS.1)
                .await
                .expect("subscribe");
            (ws, sub)
        });
        subscriptions.extend(futures::future::join_all(connecting).await);
    }
    eprintln!("{} WebSocket subscribers connected", subscriptions.len());
    let waiting: Vec<_> = subscriptions
        .into_iter()
        .map(|(ws, mut sub)| {
            tokio::spawn(async move {
                let heard = tokio::time::timeout(Duration::from_secs(60), sub.next()).await;
                drop(ws);
                matches!(heard, Ok(Some(Ok(_)))).then(Instant::now)
            })
        })
        .collect();

    // When the indexer publishes the settlement (a listener like the server's forwarders).
    let mut updates = indexer.updates().subscribe();
    let published = tokio::spawn(async move {
        loop {
            match updates.recv().await {
                Ok(Update::Settlement(_)) => return Instant::now(),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    panic!("the indexer stopped before publishing the settlement")
                }
            }
        }
    });
    // The live indexer: publishes each applied range's updates.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let live = tokio::spawn(async move {
        loop {
            indexer.step().await.expect("indexer step");
            tokio::select! {
                _ = &mut stopped => break,
                _ = tokio::time::sleep(INDEXER_POLL) => {}
            }
        }
    });

    let sent = Instant::now();
    settle_one(devnet, deployment, history.first_lease).await;
    let published = tokio::time::timeout(Duration::from_secs(60), published)
        .await
        .expect("the indexer publishes the settlement within 60 s")
        .expect("listener");
    let mut heard = Vec::new();
    for task in waiting {
        if let Some(at) = task.await.expect("subscriber") {
            heard.push(at);
        }
    }
    let _ = stop.send(());
    live.await.expect("live indexer");
    let mut after_publish: Vec<Duration> =
        heard.iter().map(|at| at.saturating_duration_since(published)).collect();
    let mut after_send: Vec<Duration> = heard.iter().map(|at| at.duration_since(sent)).collect();
    after_publish.sort();
    after_send.sort();
    Delivery {
        delivered: heard.len(),
        p50_ms: percentile_ms(&after_publish, 0.50),
        p99_ms: percentile_ms(&after_publish, 0.99),
        max_ms: percentile_ms(&after_publish, 1.0),
        from_send_p50_ms: percentile_ms(&after_send, 0.50),
        from_send_p99_ms: percentile_ms(&after_send, 0.99),
    }
}

/// Settles the first epoch of `lease` (a due one: lease 0 of a history, like every 100th, is) as
/// missed, with its own key (not the keeper's).
async fn settle_one(devnet: &Devnet, deployment: &Deployment, lease: U256) {
    let settler = devnet.client(deployment, SETTLER_KEY).await;
    let epoch = settler.lease(lease).await.expect("lease").next_epoch;
    settler
        .market()
        .settleMissed(lease, epoch)
        .send()
        .await
        .expect("send the settlement")
        .get_receipt()
        .await
        .expect("settled");
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Set in the child process that only makes the raw pull: `{"url": .., "filter": ..}`.
const RAW_PULL: &str = "SCALE_RAW_PULL";

/// Runs this benchmark again as a child that makes one raw `eth_getLogs` pull of `filter` and
/// prints the number of logs and the seconds it took.
fn raw_pull_in_child(url: &str, filter: &Filter) -> (usize, f64) {
    let request = json!({ "url": url, "filter": filter }).to_string();
    let exe = std::env::current_exe().expect("this benchmark's path");
    let output = std::process::Command::new(exe).env(RAW_PULL, request).output().expect("child");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.split_whitespace();
    let events = parts.next().and_then(|n| n.parse().ok()).expect("events");
    let seconds = parts.next().and_then(|s| s.parse().ok()).expect("seconds");
    (events, seconds)
}

/// The child's pull. A plain provider: the SDK's gives up on a request after 10 s, and one
/// pull of the whole history at 100,000 leases takes about that long.
async fn raw_pull(request: &str) {
    let request: Value = serde_json::from_str(request).expect("raw pull request");
    let url = request["url"].as_str().expect("url").parse().expect("url");
    let filter: Filter = serde_json::from_value(request["filter"].clone()).expect("filter");
    let raw = ProviderBuilder::new().connect_http(url);
    let t = Instant::now();
    let events = raw.get_logs(&filter).await.expect("eth_getLogs").len();
    println!("{events} {}", t.elapsed().as_secs_f64());
}
