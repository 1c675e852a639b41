//! A market with history: two leases, shares sold and moved, reported, missed and challenged
//! epochs settled, rent claimed — everything the index must reproduce.

use std::sync::Arc;

use alloy::primitives::{Address, U256};
use compute_ledger_node::{
    Indexer,
    index::{DeliveriesArchive, Index},
    metrics::Metrics,
};
use compute_ledger_sdk::{
    Amount, Arbiter, ProofBook,
    test_utils::{CHALLENGE_WINDOW, EPOCH, Market, REPORT_WINDOW},
};

/// Builds the history; returns the market and the lease ids.
pub(crate) async fn market_with_history() -> (Market, Vec<U256>) {
    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let a = m.funded_lease(&m.lease_offer(16, start, 3)).await;
    let b = m.funded_lease(&m.lease_offer(8, start, 2)).await;
    let cancelled = m.owner.create_lease(&m.lease_offer(4, start, 1)).await.expect("lease c");
    m.owner.cancel_lease(cancelled).await.expect("cancel");
    let price = Amount::from_base(U256::from(1), 6);
    m.owner.offer_shares(a, 700_000, price).await.expect("offer");
    m.investors[0].buy_shares(a, 300_000, price).await.expect("buy");
    m.investors[1].buy_shares(a, 250_000, price).await.expect("buy");

    let mut proofs = ProofBook::default();
    let cap = |gpus: u64| gpus * u64::from(EPOCH);
    // Epoch 1: both reported (b under the SLA); a holder sells half mid-stream.
    m.advance_past_epoch(start, 1).await;
    let tree = m.report(start, &[(a, cap(16)), (b, cap(8) / 2)]).await;
    proofs.insert(m.cluster_id, start, tree);
    m.devnet.advance(CHALLENGE_WINDOW).await;
    m.keeper.settle_due(&proofs, 1).await.expect("settle");
    m.investors[0]
        .transfer_shares(a, m.investors[2].client().address(), 150_000)
        .await
        .expect("transfer");
    m.investors[1].claim(a).await.expect("claim");

    // Epoch 2: reported and challenged for b; the arbiter settles it at 80 %.
    m.advance_past_epoch(start + 1, 1).await;
    let tree = m.report(start + 1, &[(a, cap(16)), (b, cap(8))]).await;
    proofs.insert(m.cluster_id, start + 1, tree);
    m.tenant.challenge(b, start + 1).await.expect("challenge");
    Arbiter::new(m.governance.clone())
        .resolve(b, start + 1, cap(8) * 8 / 10, 0, true)
        .await
        .expect("resolve");
    m.devnet.advance(CHALLENGE_WINDOW).await;
    m.keeper.settle_due(&proofs, 10).await.expect("settle");

    // Epoch 3: the oracle is dark; a settles as missed.
    m.advance_past_epoch(start + 2, REPORT_WINDOW + 1).await;
    m.keeper.settle_due(&proofs, 10).await.expect("settle missed");
    m.investors[0].claim(a).await.expect("claim");
    m.tenant.withdraw(b).await.expect("withdraw");
    (m, vec![a, b, cancelled])
}

/// An indexer of `m`'s deployment into `index`, with no confirmations and its own metrics.
pub(crate) fn indexer_of(m: &Market, index: &Index) -> Indexer {
    Indexer::new(
        index.clone(),
        m.governance.provider().clone(),
        m.deployment.clone(),
        0,
        Arc::new(Metrics::default()),
    )
    .expect("indexer")
}

/// Indexes the whole chain into a fresh directory with ranges of at most `max_range` blocks.
pub(crate) async fn index_fresh(m: &Market, dir: &std::path::Path, max_range: u64) -> Index {
    let index = Index::open(dir).expect("open");
    indexer_of(m, &index).with_max_range(max_range).catch_up().await.expect("catch up");
    index
}

/// Every account that ever held shares.
pub(crate) fn holders(m: &Market) -> Vec<Address> {
    let mut all: Vec<Address> = m.investors.iter().map(|i| i.client().address()).collect();
    all.push(m.owner.client().address());
    all
}

/// The contract's claimable for `holder` in `lease`.
pub(crate) async fn chain_claimable(m: &Market, lease: U256, holder: Address) -> U256 {
    m.governance.market().claimable(lease, holder).call().await.expect("claimable")
}

/// An indexer (caught up) and a JSON-RPC server over its index on a free port.
pub(crate) async fn serve(
    m: &Market,
    dir: &std::path::Path,
) -> (Indexer, compute_ledger_node::rpc::RpcServer, Arc<compute_ledger_node::rpc::Ledger>) {
    let (mut indexer, server, ledger) = serve_behind(m, dir).await;
    indexer.catch_up().await.expect("catch up");
    (indexer, server, ledger)
}

/// As [`serve`], but the indexer has applied nothing yet and applies one block per step.
pub(crate) async fn serve_behind(
    m: &Market,
    dir: &std::path::Path,
) -> (Indexer, compute_ledger_node::rpc::RpcServer, Arc<compute_ledger_node::rpc::Ledger>) {
    let index = Index::open(&dir.join("index")).expect("open");
    let archive = DeliveriesArchive::open(&dir.join("deliveries")).expect("archive");
    let metrics = Arc::new(Metrics::default());
    let indexer = Indexer::new(
        index.clone(),
        m.governance.provider().clone(),
        m.deployment.clone(),
        0,
        metrics.clone(),
    )
    .expect("indexer")
    .with_max_range(1);
    let ledger = compute_ledger_node::rpc::Ledger::new(
        index,
        archive,
        &indexer,
        metrics,
        compute_ledger_node::rpc::Limits::default(),
        "http://127.0.0.1:8645".into(),
    );
    let server =
        compute_ledger_node::rpc::serve("127.0.0.1:0".parse().expect("addr"), ledger.clone())
            .await
            .expect("serve");
    (indexer, server, ledger)
}

/// One JSON-RPC call over HTTP; returns the whole response object.
pub(crate) async fn call(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json response")
}

/// Mines a block every second, as a live chain does (deadlines are judged by the latest block);
/// abort the handle to stop.
pub(crate) fn produce_blocks(m: &Market) -> tokio::task::JoinHandle<()> {
    use alloy::providers::Provider;
    let producer = m.governance.provider().clone();
    tokio::spawn(async move {
        loop {
            let _ = producer.raw_request::<_, String>("evm_mine".into(), ()).await;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    })
}

/// Polls `probe` every 250 ms until it finds something; panics naming `what` after `patience`
/// (a wait on observed state, never on time).
pub(crate) async fn wait_for<T>(
    what: &str,
    patience: std::time::Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + patience;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// A port free on 127.0.0.1 right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port()
}
