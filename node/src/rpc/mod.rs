//! The wallet-facing server: JSON-RPC (`ledger_` methods, subscriptions, `rpc.discover`) over
//! HTTP and WebSocket on one port, with `/metadata/{id}.json`, `/metrics` and `/health` beside it.

mod http;
mod methods;
mod validate;

use std::{net::SocketAddr, sync::Arc};

use compute_ledger_sdk::api::{LedgerApiServer, spec};
use jsonrpsee::{
    RpcModule,
    server::{
        BatchRequestConfig, Server, ServerConfig, ServerHandle, middleware::rpc::RpcServiceBuilder,
    },
};
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

pub use methods::NOT_FOUND_CODE;

use crate::{
    NodeError, Result,
    index::{DeliveriesArchive, Index, PositionRoutes, Update, model::SyncStatus},
    metrics::Metrics,
};

/// Server limits (all configurable; defaults suit a wallet backend on a small machine).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body, bytes.
    pub max_request_bytes: u32,
    /// Largest response body, bytes.
    pub max_response_bytes: u32,
    /// Concurrent connections.
    pub max_connections: u32,
    /// Calls in one batch request.
    pub max_batch: u32,
    /// Items per page (and the default page size).
    pub page_size: usize,
    /// Subscriptions per WebSocket connection.
    pub max_subscriptions_per_connection: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 64 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            max_connections: 256,
            max_batch: 32,
            page_size: 100,
            max_subscriptions_per_connection: 16,
        }
    }
}

/// What the server reads: the index, the deliveries archive, the sync status, live updates and
/// metrics.
#[derive(Debug)]
pub struct Ledger {
    /// The index.
    pub index: Index,
    /// The deliveries archive (for `ledger_deliveryProof`).
    pub archive: DeliveriesArchive,
    /// The indexer's status.
    pub status: watch::Receiver<SyncStatus>,
    /// Live updates from the indexer (reports, settlements, rollbacks).
    pub updates: broadcast::Sender<Update>,
    /// Position updates from the indexer, routed to each holder's subscribers.
    pub positions: Arc<PositionRoutes>,
    /// Node metrics.
    pub metrics: Arc<Metrics>,
    /// Limits.
    pub limits: Limits,
    /// Base URL wallets reach this server at (for metadata image links).
    pub public_url: String,
    /// Decimals of the deployment's stablecoin (read from the token at start; for display).
    pub decimals: std::sync::atomic::AtomicU8,
    /// Metadata figures per lease, recomputed only when its settled epoch or its cluster's
    /// report count changed.
    pub(crate) metadata: http::MetadataCache,
    /// This node's oracles: reports offered to co-signers (`oracle_signedReport`) and their state.
    pub cosign: Arc<crate::cosign::Cosigning>,
}

impl Ledger {
    /// What the server reads, fed by `indexer` (its status and live updates).
    pub fn new(
        index: Index,
        archive: DeliveriesArchive,
        indexer: &crate::Indexer,
        metrics: Arc<Metrics>,
        limits: Limits,
        public_url: String,
    ) -> Arc<Self> {
        Arc::new(Self {
            index,
            archive,
            status: indexer.status(),
            updates: indexer.updates(),
            positions: indexer.positions(),
            metrics,
            limits,
            public_url,
            cosign: Arc::default(),
            metadata: http::MetadataCache::default(),
            decimals: std::sync::atomic::AtomicU8::new(compute_ledger_sdk::STABLECOIN_DECIMALS),
        })
    }
}

/// A running server.
#[derive(Debug)]
pub struct RpcServer {
    /// Stops the server when asked.
    pub handle: ServerHandle,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Every method the server answers: the `ledger_` trait, `rpc.discover` (its OpenRPC document,
/// generated from the trait's types) and the `oracle_` co-signing methods.
pub fn module(ledger: &Arc<Ledger>) -> Result<RpcModule<()>> {
    let mut module = RpcModule::new(());
    let ledger_api = LedgerApiServer::into_rpc(methods::LedgerRpc(ledger.clone()));
    module.merge(ledger_api).map_err(|e| NodeError::Server(format!("ledger_ methods: {e}")))?;
    let document = spec::openrpc();
    module
        .register_method("rpc.discover", move |_, _, _| document.clone())
        .map_err(|e| NodeError::Server(format!("rpc.discover: {e}")))?;
    let oracle =
        crate::cosign::OracleApiServer::into_rpc(crate::cosign::OracleRpc(ledger.cosign.clone()));
    module.merge(oracle).map_err(|e| NodeError::Server(format!("oracle_ methods: {e}")))?;
    Ok(module)
}

/// Starts the server on `addr` (port 0 picks a free one).
pub async fn serve(addr: SocketAddr, ledger: Arc<Ledger>) -> Result<RpcServer> {
    let limits = &ledger.limits;
    let config = ServerConfig::builder()
        .max_request_body_size(limits.max_request_bytes)
        .max_response_body_size(limits.max_response_bytes)
        .max_connections(limits.max_connections)
        .max_subscriptions_per_connection(limits.max_subscriptions_per_connection)
        .set_batch_request_config(BatchRequestConfig::Limit(limits.max_batch))
        .build();
    let routes = tower::ServiceBuilder::new().layer(http::RoutesLayer::new(ledger.clone()));
    let checks = RpcServiceBuilder::new().layer_fn(validate::ValidateParams);
    let server = Server::builder()
        .set_config(config)
        .set_http_middleware(routes)
        .set_rpc_middleware(checks)
        .build(addr)
        .await
        .map_err(|e| NodeError::Server(format!("cannot listen on {addr}: {e}")))?;
    let addr = server.local_addr().map_err(|e| NodeError::Server(e.to_string()))?;
    let module = module(&ledger)?;
    let handle = server.start(module);
    Ok(RpcServer { handle, addr })
}
