//! Fixtures for the end-to-end scenarios: a market on anvil with the node's indexer and wallet
//! server beside it, and helpers that ask the server what a wallet would, through the SDK's
//! generated client ([`World::node`]).

use std::sync::Arc;

use alloy::primitives::{Address, U256};
use compute_ledger_node::{
    Indexer,
    index::{DeliveriesArchive, Index},
    metrics::Metrics,
    rpc::{Ledger, Limits, RpcServer, serve},
};
use compute_ledger_sdk::{
    api::{HttpClient, LeaseDetail, LedgerApiClient},
    test_utils::Market,
};
use serde_json::{Value, json};

/// A market, its node (indexer stepped by the test) and the wallet server's URL.
pub struct World {
    /// The market.
    pub m: Market,
    /// The indexer; call [`World::sync`] to catch it up.
    pub indexer: tokio::sync::Mutex<Indexer>,
    /// The wallet server.
    pub server: RpcServer,
    /// Its URL.
    pub url: String,
    /// The SDK's client of the wallet server.
    pub node: HttpClient,
    _dir: tempfile::TempDir,
}

impl World {
    /// A fresh market (`funds` dollars to everyone, `bond` on the cluster) and node.
    pub async fn start(funds: u64, bond: u64) -> Self {
        let m = Market::start(funds, bond).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let index = Index::open(&dir.path().join("index")).expect("index");
        let metrics = Arc::new(Metrics::default());
        let indexer = Indexer::new(
            index.clone(),
            m.governance.provider().clone(),
            m.deployment.clone(),
            0,
            metrics.clone(),
        )
        .expect("indexer");
        let archive = DeliveriesArchive::open(&dir.path().join("deliveries")).expect("archive");
        let ledger = Ledger::new(
            index,
            archive,
            &indexer,
            metrics,
            Limits::default(),
            "http://127.0.0.1".into(),
        );
        let server = serve("127.0.0.1:0".parse().expect("addr"), ledger).await.expect("serve");
        let url = format!("http://{}", server.addr);
        let node = compute_ledger_sdk::api::http_client(&url).expect("client");
        Self { m, indexer: tokio::sync::Mutex::new(indexer), server, url, node, _dir: dir }
    }

    /// Catches the index up with the chain.
    pub async fn sync(&self) {
        self.indexer.lock().await.catch_up().await.expect("index");
    }

    /// Lease `id` as the wallet API shows it.
    pub async fn lease(&self, id: U256) -> LeaseDetail {
        self.node.lease(id.into()).await.expect("ledger_lease")
    }

    /// One raw JSON-RPC call (for wire-format checks); panics on a JSON-RPC error.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let response = self.rpc_raw(method, params).await;
        assert!(response["error"].is_null(), "{method}: {response}");
        response["result"].clone()
    }

    /// One JSON-RPC call, the whole response.
    pub async fn rpc_raw(&self, method: &str, params: Value) -> Value {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        reqwest::Client::new()
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    /// What the wallet API says `holder` may claim from `lease`.
    pub async fn claimable(&self, holder: Address, lease: U256) -> U256 {
        let positions = self.node.positions(holder, None).await.expect("ledger_positions").items;
        positions.iter().find(|p| p.position.lease_id == lease).map_or(U256::ZERO, |p| p.claimable)
    }

    /// What the contract says `holder` may claim from `lease`.
    pub async fn chain_claimable(&self, holder: Address, lease: U256) -> U256 {
        self.m.governance.market().claimable(lease, holder).call().await.expect("claimable")
    }

    /// The stablecoin balance of `account`.
    pub async fn balance(&self, account: Address) -> U256 {
        self.m.governance.stablecoin().balanceOf(account).call().await.expect("balance")
    }
}

/// A decimal-string field as a number.
pub fn dec(value: &Value) -> U256 {
    value.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a decimal: {value}"))
}
