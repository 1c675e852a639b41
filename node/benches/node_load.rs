//! Bounded load on 127.0.0.1 (`cargo bench -p compute-ledger-node --bench node_load`, part of
//! `make bench`). Two comparisons, each measured side by side in one run on one anvil:
//!
//! 1. indexer catch-up (fetch, decode, apply, atomic sled commit) vs a raw `eth_getLogs` pull of
//!    the same block range — events per second, goal ≥ 0.7×;
//! 2. `ledger_positions` and `ledger_claimable` vs the no-op `ledger_ping` on the same server —
//!    requests per second (goal ≥ 0.5× the no-op) and p99 latency (goal ≤ 5 ms).
//!
//! Prints a table for docs/benchmarks.md. Stops by itself.

// Shared with the scale benchmark, which uses more of it.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use std::{sync::Arc, time::Instant};

use alloy::{
    primitives::{Bytes, U256},
    providers::Provider,
    rpc::types::Filter,
};
use compute_ledger_node::{Indexer, index::Index, metrics::Metrics, rpc};
use compute_ledger_sdk::{Amount, test_utils::Market};
use serde_json::json;
use support::{Load, load};

const TRANSFERS: usize = 3_000;
const WORKERS: usize = 8;
const LOAD_SECONDS: u64 = 5;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(64, start, 4)).await;
    let price = Amount::from_base(U256::from(1), 6);
    m.owner.offer_shares(lease, 900_000, price).await.expect("offer");
    for investor in &m.investors {
        investor.buy_shares(lease, 300_000, price).await.expect("buy");
    }

    // History: share transfers round a ring of investors, sent without waiting for receipts.
    eprintln!("building a history of {TRANSFERS} share transfers ...");
    let mut pending = Vec::with_capacity(TRANSFERS);
    for i in 0..TRANSFERS {
        let from = &m.investors[i % 3];
        let to = m.investors[(i + 1) % 3].client().address();
        let market = from.client().market();
        let call = market.safeTransferFrom(
            from.client().address(),
            to,
            lease,
            U256::from(1),
            Bytes::new(),
        );
        pending.push(call.send().await.expect("send"));
    }
    for tx in pending {
        tx.get_receipt().await.expect("mined");
    }
    let provider = m.governance.provider().clone();
    let head = provider.get_block_number().await.expect("head");
    let from = m.deployment.deploy_block;

    // 1. Raw pull vs indexer catch-up, alternated three times; best of each.
    let filter = Filter::new()
        .address(vec![m.deployment.registry, m.deployment.market])
        .from_block(from)
        .to_block(head);
    let (mut raw_best, mut index_best, mut events) = (f64::MAX, f64::MAX, 0);
    for round in 0..3 {
        let t = Instant::now();
        let logs = provider.get_logs(&filter).await.expect("logs");
        raw_best = raw_best.min(t.elapsed().as_secs_f64());
        events = logs.len();

        let dir = tempfile::tempdir().expect("tempdir");
        let index = Index::open(dir.path()).expect("index");
        let mut indexer = Indexer::new(
            index,
            provider.clone(),
            m.deployment.clone(),
            0,
            Arc::new(Metrics::default()),
        )
        .expect("indexer");
        let t = Instant::now();
        indexer.catch_up().await.expect("catch up");
        index_best = index_best.min(t.elapsed().as_secs_f64());
        eprintln!("round {round}: raw {:.3} s, indexer {:.3} s", raw_best, index_best);
    }
    let raw_rate = events as f64 / raw_best;
    let index_rate = events as f64 / index_best;

    // 2. The wallet server under load.
    let dir = tempfile::tempdir().expect("tempdir");
    let index = Index::open(dir.path()).expect("index");
    let mut indexer = Indexer::new(
        index.clone(),
        provider.clone(),
        m.deployment.clone(),
        0,
        Arc::new(Metrics::default()),
    )
    .expect("indexer");
    indexer.catch_up().await.expect("catch up");
    let archive_dir = tempfile::tempdir().expect("tempdir");
    let archive = compute_ledger_node::index::DeliveriesArchive::open(archive_dir.path())
        .expect("deliveries archive");
    let ledger = rpc::Ledger::new(
        index,
        archive,
        &indexer,
        Arc::new(Metrics::default()),
        rpc::Limits::default(),
        "http://127.0.0.1".into(),
    );
    let server = rpc::serve("127.0.0.1:0".parse().expect("addr"), ledger).await.expect("serve");
    let url = format!("http://{}", server.addr);
    let holder = m.investors[0].client().address();
    let mut rows = Vec::new();
    for (method, params) in [
        ("ledger_ping", json!([])),
        ("ledger_positions", json!([holder])),
        ("ledger_claimable", json!([holder])),
        ("ledger_ping", json!([])),
    ] {
        rows.push((method, load(&url, method, params, WORKERS, LOAD_SECONDS).await));
    }
    let ping_rate = (rows[0].1.rate + rows[3].1.rate) / 2.0;

    println!("| measurement | value | ratio | goal |");
    println!("| --- | --- | --- | --- |");
    println!("| raw `eth_getLogs`, {events} events | {raw_rate:.0} events/s | 1.00 | |");
    println!(
        "| indexer catch-up, same range | {index_rate:.0} events/s | **{:.2}** | ≥ 0.70 |",
        index_rate / raw_rate
    );
    for (method, Load { rate, p50_ms: p50, p99_ms: p99 }) in &rows {
        println!(
            "| `{method}` ({WORKERS} clients, {LOAD_SECONDS} s) | {rate:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms | **{:.2}** | {} |",
            rate / ping_rate,
            if method.contains("ping") { "baseline" } else { "≥ 0.50, p99 ≤ 5 ms" }
        );
    }
    server.handle.stop().expect("stop");
}
