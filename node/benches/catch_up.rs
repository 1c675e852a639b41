//! Indexer catch-up, taken apart (`cargo bench -p compute-ledger-node --bench catch_up`, part of
//! `make bench`). Builds the scale benchmark's market history (`CATCH_UP_LEASES` leases, default
//! [`DEFAULT_LEASES`]) on a local anvil and times, over the whole history:
//!
//! - one raw `eth_getLogs` pull (the goal's yardstick);
//! - decoding those logs into ledger events (CPU only);
//! - applying the decoded events to a fresh index in the indexer's batches (disk and CPU);
//! - the indexer's own catch-up into another fresh index (all of the above, overlapped).
//!
//! The parts say where catch-up time goes; the scale benchmark reports the ratio at market size.
//! Talks only to 127.0.0.1 and stops by itself.

use std::{sync::Arc, time::Instant};

#[path = "support/mod.rs"]
#[allow(dead_code)] // the load loop is not used here
mod support;

use alloy::{
    providers::{Provider, ProviderBuilder},
    rpc::types::Filter,
};
use compute_ledger_node::{Indexer, MAX_BATCH_LOGS, batch_end, index::Index, metrics::Metrics};
use compute_ledger_sdk::{
    LedgerEvents, LedgerLog, deploy,
    test_utils::{History, HistorySize},
};
use support::{GOVERNANCE_KEY, leases_from_env, market_devnet, market_params};

/// Leases of the history unless `CATCH_UP_LEASES` says otherwise.
const DEFAULT_LEASES: u64 = 20_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let leases = leases_from_env("CATCH_UP_LEASES", DEFAULT_LEASES);
    let devnet = market_devnet();
    let provider = devnet.provider_for(devnet.signer(GOVERNANCE_KEY));
    let deployment = deploy(&provider, &market_params(&devnet)).await.expect("deploy");
    let t = Instant::now();
    eprintln!("building a history of {leases} leases ...");
    History::build(&devnet, &deployment, HistorySize::market_scale(leases), |_| {}).await;
    eprintln!("built in {:.0} s", t.elapsed().as_secs_f64());
    let head = provider.get_block_number().await.expect("head");

    let raw = ProviderBuilder::new().connect_http(devnet.anvil.endpoint_url());
    let filter = Filter::new()
        .address(LedgerEvents::new(provider.clone(), deployment.clone()).addresses())
        .from_block(deployment.deploy_block)
        .to_block(head);
    let t = Instant::now();
    let logs = raw.get_logs(&filter).await.expect("eth_getLogs");
    let raw_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let decoded: Vec<LedgerLog> = logs
        .iter()
        .map(|log| LedgerLog::decode(log, &deployment))
        .collect::<Result<_, _>>()
        .expect("decode");
    let decode_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let fetched = LedgerEvents::new(provider.clone(), deployment.clone())
        .fetch(deployment.deploy_block, head)
        .await
        .expect("fetch");
    assert_eq!(fetched.len(), decoded.len());
    let fetch_s = t.elapsed().as_secs_f64();

    let apply_dir = tempfile::tempdir().expect("tempdir");
    let index = Index::open(apply_dir.path()).expect("index");
    index.bind(&deployment).expect("bind");
    let t = Instant::now();
    let mut rest = decoded.as_slice();
    let mut from = deployment.deploy_block;
    let mut batches = 0;
    while !rest.is_empty() {
        batches += 1;
        let split = batch_end(rest, MAX_BATCH_LOGS).unwrap_or(rest.len());
        let (batch, tail) = rest.split_at(split);
        let last = batch.last().expect("a batch is never empty");
        index.apply_final_range(from, last.block_number, last.block_hash, batch).expect("apply");
        from = last.block_number + 1;
        rest = tail;
    }
    let apply_s = t.elapsed().as_secs_f64();
    let writes = index.writes();
    let contents = index.contents().expect("contents");
    let bytes: usize = contents.iter().map(|(k, v)| k.len() + v.len()).sum();
    let (key_len, value_len) = (
        contents.keys().map(String::len).sum::<usize>() / contents.len(),
        contents.values().map(String::len).sum::<usize>() / contents.len(),
    );
    drop(index);
    let sled_s = sled_alone(writes, batches, key_len, value_len);

    let catch_up_dir = tempfile::tempdir().expect("tempdir");
    // A real catch-up reads a history far older than the reorg window; the fixture packs this
    // one into a few dozen huge blocks right below the head (mining the 256 blocks that would
    // bury it takes anvil minutes at this size). The index treats it as what it stands for:
    // every block but the head is final (no undo records), as the node's own backfill is.
    let index = Index::open(catch_up_dir.path()).expect("index").with_undo_depth(0);
    let mut indexer =
        Indexer::new(index, provider.clone(), deployment, 0, Arc::new(Metrics::default()))
            .expect("indexer");
    let t = Instant::now();
    indexer.catch_up().await.expect("catch up");
    let catch_up_s = t.elapsed().as_secs_f64();

    let events = logs.len() as f64;
    let rate = |s: f64| format!("{s:.2} s ({:.0} events/s)", events / s);
    println!("| part ({} events, {leases} leases) | time | vs raw pull |", logs.len());
    println!("| --- | --- | --- |");
    println!("| raw `eth_getLogs` | {} | 1.00 |", rate(raw_s));
    println!("| decode into ledger events | {} | |", rate(decode_s));
    println!(
        "| pull and decode through the SDK's client | {} | {:.2} |",
        rate(fetch_s),
        raw_s / fetch_s
    );
    println!(
        "| sled alone: {writes} writes ({key_len}-byte keys, {value_len}-byte values, {} MB) in \
         {batches} batches | {} | |",
        bytes / 1_000_000,
        rate(sled_s)
    );
    println!("| apply to a fresh index | {} | |", rate(apply_s));
    println!("| indexer catch-up | {} | **{:.2}** |", rate(catch_up_s), raw_s / catch_up_s);
}

/// The floor sled sets: `writes` keys of the index's average sizes, spread over the key space
/// as the index's are, written in `batches` atomic batches each flushed to disk, as the indexer
/// writes them, into a bare sled database with the index's cache size.
fn sled_alone(writes: u64, batches: usize, key_len: usize, value_len: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(compute_ledger_node::index::INDEX_CACHE_BYTES)
        .open()
        .expect("sled");
    let per_batch = writes.div_ceil(batches as u64);
    let t = Instant::now();
    let mut n: u64 = 0;
    while n < writes {
        let mut batch = sled::Batch::default();
        for _ in 0..per_batch.min(writes - n) {
            n += 1;
            let mut key = vec![b'k'; key_len.max(9)];
            key[1..9].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
            batch.insert(key, vec![b'v'; value_len]);
        }
        db.apply_batch(batch).expect("apply");
        db.flush().expect("flush");
    }
    t.elapsed().as_secs_f64()
}
