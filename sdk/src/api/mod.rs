//! The node's wallet API (`ledger_` JSON-RPC methods and subscriptions), defined once as a
//! jsonrpsee trait: the node implements [`LedgerApiServer`] (feature `server`), wallets and tests
//! call it through the generated [`LedgerApiClient`] over HTTP ([`http_client`]) or WebSocket
//! ([`ws_client`], needed for subscriptions), and [`spec::openrpc`] builds the `rpc.discover`
//! document from the same parameter and result types.
//!
//! ```no_run
//! # async fn run() -> compute_ledger_sdk::Result<()> {
//! use compute_ledger_sdk::api::{LedgerApiClient, LeaseFilter, LeaseStatus, PageRequest, http_client};
//!
//! let node = http_client("http://127.0.0.1:8645")?;
//! let filter = LeaseFilter { status: Some(LeaseStatus::Active), ..LeaseFilter::default() };
//! let mut page = PageRequest::default();
//! loop {
//!     let leases = node.leases(Some(filter.clone()), Some(page.clone())).await
//!         .map_err(|e| compute_ledger_sdk::SdkError::Transport(e.to_string()))?;
//!     for lease in &leases.items {
//!         println!("lease {} on cluster {}", lease.id, lease.cluster_id);
//!     }
//!     match leases.next_cursor {
//!         Some(cursor) => page.cursor = Some(cursor),
//!         None => break,
//!     }
//! }
//! # Ok(())
//! # }
//! ```

pub mod model;
mod params;
pub mod schema;
pub mod spec;

use alloy::primitives::Address;
use jsonrpsee::proc_macros::rpc;
pub use jsonrpsee::{
    core::client::{Error as ClientError, Subscription},
    http_client::HttpClient,
    ws_client::WsClient,
};
pub use model::{
    Billing, BondRow, Claimable, ClaimableLease, ClusterRow, ClusterView, CurtailmentRow,
    DeliveryProof, DisputeRow, Efficiency, EnrollmentRow, LeaseDetail, LeaseRow, LeaseStatus, Live,
    MarketTotals, MegawattEconomicsView, NodeStatus, OfferRow, OrderBook, OrderRow, OrderSide,
    OrderStatus, Page, PositionRow, PositionView, PowerTotals, QuoteRow, ReportRow, RolledBack,
    SettlementRow, SyncStatus, TradeRow, TradingStats,
};
pub use params::{EpochPage, LeaseFilter, LeaseId, PageRequest, SiteInputsParam};

use crate::SdkError;

/// The error code of "no such lease, cluster, report or proof".
pub const NOT_FOUND_CODE: i32 = -32001;

/// The `ledger_` methods and subscriptions. Methods that read the index are `blocking`: the
/// server runs them on its blocking pool, never on the async threads.
#[cfg_attr(feature = "server", rpc(server, client, namespace = "ledger"))]
#[cfg_attr(not(feature = "server"), rpc(client, namespace = "ledger"))]
pub trait LedgerApi {
    /// Registered clusters in id order, with running totals and the latest report.
    #[method(name = "clusters", blocking)]
    fn clusters(&self, page: Option<PageRequest>) -> jsonrpsee::core::RpcResult<Page<ClusterView>>;

    /// One cluster.
    #[method(name = "cluster", blocking)]
    fn cluster(
        &self,
        #[argument(rename = "clusterId")] cluster_id: u64,
    ) -> jsonrpsee::core::RpcResult<ClusterView>;

    /// A cluster's quote for new leases (per GPU-hour) with every input of its adaptive curve.
    #[method(name = "quote", blocking)]
    fn quote(
        &self,
        #[argument(rename = "clusterId")] cluster_id: u64,
    ) -> jsonrpsee::core::RpcResult<QuoteRow>;

    /// A cluster's accepted reports in epoch order from `page.fromEpoch`.
    #[method(name = "reports", blocking)]
    fn reports(
        &self,
        #[argument(rename = "clusterId")] cluster_id: u64,
        page: Option<EpochPage>,
    ) -> jsonrpsee::core::RpcResult<Vec<ReportRow>>;

    /// One lease, with its first page of settlements.
    #[method(name = "lease", blocking)]
    fn lease(
        &self,
        #[argument(rename = "leaseId")] lease_id: LeaseId,
    ) -> jsonrpsee::core::RpcResult<LeaseDetail>;

    /// A lease's settlements in epoch order, one page at a time.
    #[method(name = "settlements", blocking)]
    fn settlements(
        &self,
        #[argument(rename = "leaseId")] lease_id: LeaseId,
        page: Option<PageRequest>,
    ) -> jsonrpsee::core::RpcResult<Page<SettlementRow>>;

    /// Leases matching `filter` in id order, one page at a time.
    #[method(name = "leases", blocking)]
    fn leases(
        &self,
        filter: Option<LeaseFilter>,
        page: Option<PageRequest>,
    ) -> jsonrpsee::core::RpcResult<Page<LeaseRow>>;

    /// The positions `address` has or had, with claimable rent, in lease id order, one page at a
    /// time.
    #[method(name = "positions", blocking)]
    fn positions(
        &self,
        address: Address,
        page: Option<PageRequest>,
    ) -> jsonrpsee::core::RpcResult<Page<PositionView>>;

    /// Rent `address` may claim, in total and per lease.
    #[method(name = "claimable", blocking)]
    fn claimable(&self, address: Address) -> jsonrpsee::core::RpcResult<Claimable>;

    /// A lease's order book on the share exchange: open asks and bids, best price first, at most
    /// `depth` a side, with its trading so far (fills, volume, last price).
    #[method(name = "orderBook", blocking)]
    fn order_book(
        &self,
        #[argument(rename = "leaseId")] lease_id: LeaseId,
        depth: Option<u32>,
    ) -> jsonrpsee::core::RpcResult<OrderBook>;

    /// A lease's fills on the share exchange in chain order, one page at a time.
    #[method(name = "trades", blocking)]
    fn trades(
        &self,
        #[argument(rename = "leaseId")] lease_id: LeaseId,
        page: Option<PageRequest>,
    ) -> jsonrpsee::core::RpcResult<Page<TradeRow>>;

    /// The orders `address` placed on the share exchange, in id order, one page at a time.
    #[method(name = "orders", blocking)]
    fn orders(
        &self,
        address: Address,
        page: Option<PageRequest>,
    ) -> jsonrpsee::core::RpcResult<Page<OrderRow>>;

    /// The Merkle proof of a lease's delivered GPU-seconds in `epoch`, from this node's oracle
    /// archive.
    #[method(name = "deliveryProof", blocking)]
    fn delivery_proof(
        &self,
        #[argument(rename = "leaseId")] lease_id: LeaseId,
        epoch: u64,
    ) -> jsonrpsee::core::RpcResult<DeliveryProof>;

    /// Market-wide totals (clusters, leases by status, escrow, rent, credits, compensation),
    /// kept on write: one read.
    #[method(name = "market", blocking)]
    fn market(&self) -> jsonrpsee::core::RpcResult<MarketTotals>;

    /// Where the indexer stands, and this node's oracles.
    #[method(name = "syncStatus")]
    fn sync_status(&self) -> jsonrpsee::core::RpcResult<NodeStatus>;

    /// `"pong"` (a liveness and latency probe).
    #[method(name = "ping")]
    fn ping(&self) -> jsonrpsee::core::RpcResult<String>;

    /// A site's demand-response events in id order, with how each ended (payout, penalty).
    #[method(name = "curtailments", blocking)]
    fn curtailments(
        &self,
        #[argument(rename = "clusterId")] cluster_id: u64,
        page: Option<PageRequest>,
    ) -> jsonrpsee::core::RpcResult<Page<CurtailmentRow>>;

    /// Mine or lease: per MW-hour, what the site's settled powered shells, GPU leases and
    /// demand-response events earned, against mining the same MW at the owner's hashprice and
    /// fleet efficiency; the site's occupancy and the best use of its next megawatt.
    #[method(name = "megawattEconomics", blocking)]
    fn megawatt_economics(
        &self,
        #[argument(rename = "clusterId")] cluster_id: u64,
        inputs: SiteInputsParam,
    ) -> jsonrpsee::core::RpcResult<MegawattEconomicsView>;

    /// Accepted reports as they are indexed (`ledger_report` notifications).
    #[subscription(
        name = "subscribeReports" => "report",
        unsubscribe = "unsubscribeReports",
        item = Live<ReportRow>
    )]
    async fn subscribe_reports(&self) -> jsonrpsee::core::SubscriptionResult;

    /// Settlements as they are indexed (`ledger_settlement` notifications).
    #[subscription(
        name = "subscribeSettlements" => "settlement",
        unsubscribe = "unsubscribeSettlements",
        item = Live<SettlementRow>
    )]
    async fn subscribe_settlements(&self) -> jsonrpsee::core::SubscriptionResult;

    /// `address`'s positions as they change (`ledger_position` notifications).
    #[subscription(
        name = "subscribePositions" => "position",
        unsubscribe = "unsubscribePositions",
        item = Live<PositionView>
    )]
    async fn subscribe_positions(&self, address: Address) -> jsonrpsee::core::SubscriptionResult;
}

/// A client of the node's wallet API over HTTP (`http://host:port`).
pub fn http_client(url: &str) -> crate::Result<HttpClient> {
    HttpClient::builder()
        .build(url)
        .map_err(|e| SdkError::Transport(format!("ledger node at {url}: {e}")))
}

/// A client of the node's wallet API over WebSocket (`ws://host:port`), for subscriptions.
pub async fn ws_client(url: &str) -> crate::Result<WsClient> {
    jsonrpsee::ws_client::WsClientBuilder::default()
        .build(url)
        .await
        .map_err(|e| SdkError::Transport(format!("ledger node at {url}: {e}")))
}
