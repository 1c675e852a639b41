//! The `ledger_` methods and subscriptions: the node's implementation of the SDK's
//! [`LedgerApiServer`] trait. Params arrive checked against the catalogue
//! ([`compute_ledger_sdk::api::spec`]) by [`super::validate`]; the methods that read sled are
//! `blocking` in the trait, so they run on the blocking pool.

use std::sync::Arc;

use alloy::primitives::{Address, U256};
pub use compute_ledger_sdk::api::NOT_FOUND_CODE;
use compute_ledger_sdk::api::{
    Claimable, ClaimableLease, ClusterView, CurtailmentRow, DeliveryProof, EpochPage, LeaseDetail,
    LeaseFilter, LeaseId, LeaseRow, LeaseStatus, LedgerApiServer, Live, MarketTotals,
    MegawattEconomicsView, NodeStatus, OrderBook, OrderRow, Page, PageRequest, PositionView,
    QuoteRow, ReportRow, RolledBack, SettlementRow, SiteInputsParam, TradeRow,
};
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionMessage,
    core::{RpcResult, SubscriptionResult, to_json_raw_value},
    types::{ErrorObjectOwned, error::INTERNAL_ERROR_CODE},
};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::{Ledger, validate::invalid};
use crate::index::{PruneOnDrop, Routed, SUBSCRIBER_QUEUE, Update, trade_cursor};

fn not_found(what: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(NOT_FOUND_CODE, what, None::<()>)
}

fn internal(e: &crate::NodeError) -> ErrorObjectOwned {
    tracing::error!("rpc: {e}");
    ErrorObjectOwned::owned(INTERNAL_ERROR_CODE, format!("storage error: {e}"), None::<()>)
}

/// The page size asked for: at least 1, at most the server's page size (its default).
fn limit(requested: Option<u32>, max: usize) -> RpcResult<usize> {
    match requested.map(|n| n as usize) {
        None => Ok(max),
        Some(0) => Err(invalid("limit must be at least 1")),
        Some(n) if n > max => Err(invalid(format!("limit {n} exceeds the page size {max}"))),
        Some(n) => Ok(n),
    }
}

/// A cursor (the previous page's `nextCursor`) read back as the key it names.
fn cursor<T: std::str::FromStr>(page: &PageRequest) -> RpcResult<Option<T>> {
    page.cursor
        .as_deref()
        .map(|text| {
            text.parse().map_err(|_| {
                invalid(format!(
                    "page param \"cursor\": expected a nextCursor from the previous page of \
                     this listing, got {text:?}"
                ))
            })
        })
        .transpose()
}

/// `limit + 1` rows read (the extra one says whether there is more) turned into a page whose
/// cursor is the last item's key.
fn page<T>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(key) } else { None };
    Page { items: rows, next_cursor }
}

/// A `ledger_trades` cursor: a trade's block and log index as 24 hex digits.
struct TradeCursor(String);

impl std::str::FromStr for TradeCursor {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        let hex = text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit());
        if hex { Ok(Self(text.to_ascii_lowercase())) } else { Err(()) }
    }
}

/// The server side of [`LedgerApiServer`], over what the node serves.
#[derive(Debug, Clone)]
pub(crate) struct LedgerRpc(pub(crate) Arc<Ledger>);

impl LedgerRpc {
    fn settlements_page(
        &self,
        lease: U256,
        request: &PageRequest,
    ) -> RpcResult<Page<SettlementRow>> {
        let limit = limit(request.limit, self.0.limits.page_size)?;
        let after = cursor::<u64>(request)?;
        let rows =
            self.0.index.settlements_page(lease, after, limit + 1).map_err(|e| internal(&e))?;
        Ok(page(rows, limit, |s| s.epoch.to_string()))
    }

    fn existing_cluster(&self, id: u64) -> RpcResult<compute_ledger_sdk::api::ClusterRow> {
        let row = self.0.index.cluster(id).map_err(|e| internal(&e))?;
        row.ok_or_else(|| not_found(format!("no cluster {id}")))
    }

    fn existing_lease(&self, id: U256) -> RpcResult<LeaseRow> {
        let row = self.0.index.lease(id).map_err(|e| internal(&e))?;
        row.ok_or_else(|| not_found(format!("no lease {id}")))
    }
}

/// Ended but unsettled epochs of an active lease, by this node's clock.
fn unsettled_epochs(lease: &LeaseRow, genesis: u64, epoch_length: u32) -> u64 {
    if lease.status != LeaseStatus::Active {
        return 0;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let current = now.saturating_sub(genesis) / u64::from(epoch_length.max(1));
    current.min(lease.end_epoch).saturating_sub(lease.next_epoch)
}

#[jsonrpsee::core::async_trait]
impl LedgerApiServer for LedgerRpc {
    fn clusters(&self, request: Option<PageRequest>) -> RpcResult<Page<ClusterView>> {
        let request = request.unwrap_or_default();
        let limit = limit(request.limit, self.0.limits.page_size)?;
        let after = cursor::<u64>(&request)?;
        let rows = self.0.index.clusters(after, limit + 1).map_err(|e| internal(&e))?;
        let rows = rows.into_iter().map(ClusterView::from).collect();
        Ok(page(rows, limit, |c: &ClusterView| c.cluster.id.to_string()))
    }

    fn cluster(&self, cluster_id: u64) -> RpcResult<ClusterView> {
        Ok(self.existing_cluster(cluster_id)?.into())
    }

    fn quote(&self, cluster_id: u64) -> RpcResult<QuoteRow> {
        self.existing_cluster(cluster_id)?;
        let row = self.0.index.quote(cluster_id).map_err(|e| internal(&e))?;
        row.ok_or_else(|| {
            not_found(format!(
                "cluster {cluster_id} has no price curve: its owner sets one with \
                 `compute-ledger cluster price-curve`"
            ))
        })
    }

    fn reports(&self, cluster_id: u64, request: Option<EpochPage>) -> RpcResult<Vec<ReportRow>> {
        let request = request.unwrap_or_default();
        let limit = limit(request.limit, self.0.limits.page_size)?;
        self.existing_cluster(cluster_id)?;
        let from = request.from_epoch.unwrap_or(0);
        self.0.index.reports(cluster_id, from, limit).map_err(|e| internal(&e))
    }

    fn lease(&self, lease_id: LeaseId) -> RpcResult<LeaseDetail> {
        let lease = self.existing_lease(lease_id.0)?;
        let cluster = self.0.index.cluster(lease.cluster_id).map_err(|e| internal(&e))?;
        let unsettled = cluster.map_or(0, |c| unsettled_epochs(&lease, c.genesis, c.epoch_length));
        let settlements = self.settlements_page(lease.id, &PageRequest::default())?;
        Ok(LeaseDetail {
            lease,
            settlements: settlements.items,
            settlements_cursor: settlements.next_cursor,
            unsettled_epochs: unsettled,
        })
    }

    fn settlements(
        &self,
        lease_id: LeaseId,
        request: Option<PageRequest>,
    ) -> RpcResult<Page<SettlementRow>> {
        let lease = self.existing_lease(lease_id.0)?;
        self.settlements_page(lease.id, &request.unwrap_or_default())
    }

    fn leases(
        &self,
        filter: Option<LeaseFilter>,
        request: Option<PageRequest>,
    ) -> RpcResult<Page<LeaseRow>> {
        let (filter, request) = (filter.unwrap_or_default(), request.unwrap_or_default());
        let limit = limit(request.limit, self.0.limits.page_size)?;
        let after = cursor::<U256>(&request)?;
        let rows = self.0.index.leases(&filter, after, limit + 1).map_err(|e| internal(&e))?;
        Ok(page(rows, limit, |l| l.id.to_string()))
    }

    fn positions(
        &self,
        address: Address,
        request: Option<PageRequest>,
    ) -> RpcResult<Page<PositionView>> {
        let request = request.unwrap_or_default();
        let limit = limit(request.limit, self.0.limits.page_size)?;
        let after = cursor::<U256>(&request)?;
        let rows =
            self.0.index.positions_page(address, after, limit + 1).map_err(|e| internal(&e))?;
        Ok(page(rows, limit, |p| p.position.lease_id.to_string()))
    }

    fn claimable(&self, address: Address) -> RpcResult<Claimable> {
        let positions = self.0.index.positions(address).map_err(|e| internal(&e))?;
        let leases: Vec<ClaimableLease> = positions
            .iter()
            .filter(|p| !p.claimable.is_zero())
            .map(|p| ClaimableLease { lease_id: p.position.lease_id, claimable: p.claimable })
            .collect();
        let total = leases.iter().map(|l| l.claimable).fold(U256::ZERO, |a, b| a + b);
        Ok(Claimable { address, total, leases })
    }

    fn order_book(&self, lease_id: LeaseId, depth: Option<u32>) -> RpcResult<OrderBook> {
        let depth = limit(depth, self.0.limits.page_size)?;
        let lease = self.existing_lease(lease_id.0)?;
        self.0.index.order_book(lease.id, depth).map_err(|e| internal(&e))
    }

    fn trades(&self, lease_id: LeaseId, request: Option<PageRequest>) -> RpcResult<Page<TradeRow>> {
        let request = request.unwrap_or_default();
        let limit = limit(request.limit, self.0.limits.page_size)?;
        let after = cursor::<TradeCursor>(&request)?;
        let lease = self.existing_lease(lease_id.0)?;
        let after = after.map(|c| c.0);
        let rows =
            self.0.index.trades(lease.id, after.as_deref(), limit + 1).map_err(|e| internal(&e))?;
        Ok(page(rows, limit, trade_cursor))
    }

    fn orders(&self, address: Address, request: Option<PageRequest>) -> RpcResult<Page<OrderRow>> {
        let request = request.unwrap_or_default();
        let limit = limit(request.limit, self.0.limits.page_size)?;
        let after = cursor::<u64>(&request)?;
        let rows = self.0.index.orders_of(address, after, limit + 1).map_err(|e| internal(&e))?;
        Ok(page(rows, limit, |o| o.id.to_string()))
    }

    fn delivery_proof(&self, lease_id: LeaseId, epoch: u64) -> RpcResult<DeliveryProof> {
        let (id, ledger) = (lease_id.0, &self.0);
        let lease = self.existing_lease(id)?;
        if epoch < lease.start_epoch || epoch >= lease.end_epoch {
            return Err(invalid(format!(
                "epoch {epoch} is outside lease {id}'s term [{}, {})",
                lease.start_epoch, lease.end_epoch
            )));
        }
        // An unreadable archive is an internal error, never "no proof here".
        let tree = ledger.archive.tree(lease.cluster_id, epoch).map_err(|e| internal(&e))?;
        let tree = tree.ok_or_else(|| {
            not_found(format!(
                "this node's oracle archive has no deliveries tree for cluster {} epoch {epoch}",
                lease.cluster_id
            ))
        })?;
        let leaf = tree
            .leaf(id)
            .ok_or_else(|| not_found(format!("lease {id} has no leaf in epoch {epoch}")))?;
        let proof = tree.proof(id).map_err(|e| not_found(e.to_string()))?;
        let reported = ledger.index.report(lease.cluster_id, epoch).map_err(|e| internal(&e))?;
        let reported_root = reported.map(|r| r.deliveries_root);
        Ok(DeliveryProof {
            lease_id: id,
            cluster_id: lease.cluster_id,
            epoch,
            delivered: leaf.delivered,
            energy_wh: leaf.energy_wh,
            proof,
            root: tree.root(),
            reported_root,
            matches_report: reported_root == Some(tree.root()),
        })
    }

    fn market(&self) -> RpcResult<MarketTotals> {
        self.0.index.market().map_err(|e| internal(&e))
    }

    fn sync_status(&self) -> RpcResult<NodeStatus> {
        Ok(NodeStatus {
            sync: self.0.status.borrow().clone(),
            oracles: self.0.cosign.status_json(),
        })
    }

    fn ping(&self) -> RpcResult<String> {
        Ok("pong".into())
    }

    fn curtailments(
        &self,
        cluster_id: u64,
        request: Option<PageRequest>,
    ) -> RpcResult<Page<CurtailmentRow>> {
        let request = request.unwrap_or_default();
        let limit = limit(request.limit, self.0.limits.page_size)?;
        let after = cursor::<U256>(&request)?;
        self.existing_cluster(cluster_id)?;
        let rows =
            self.0.index.curtailments(cluster_id, after, limit + 1).map_err(|e| internal(&e))?;
        Ok(page(rows, limit, |r: &CurtailmentRow| r.id.to_string()))
    }

    fn megawatt_economics(
        &self,
        cluster_id: u64,
        inputs: SiteInputsParam,
    ) -> RpcResult<MegawattEconomicsView> {
        use compute_ledger_sdk::{Amount, SiteInputs, megawatt_economics};
        let decimals = self.0.decimals.load(std::sync::atomic::Ordering::Relaxed);
        let amount = |field: &str, text: &str| {
            Amount::parse(text, decimals)
                .map_err(|e| invalid(format!("inputs.{field}: {e} (a decimal such as \"48.50\")")))
        };
        if inputs.energized_kw == 0 || inputs.fleet_j_per_th == 0 {
            return Err(invalid("inputs.energizedKw and inputs.fleetJPerTh must be at least 1"));
        }
        let site = SiteInputs {
            hashprice_per_ph_day: amount("hashpricePerPhDay", &inputs.hashprice_per_ph_day)?,
            fleet_j_per_th: inputs.fleet_j_per_th,
            energy_price_per_kwh: amount("energyPricePerKwh", &inputs.energy_price_per_kwh)?,
        };
        let cluster = self.existing_cluster(cluster_id)?;
        let history = crate::index::site_history(&cluster, inputs.energized_kw, decimals);
        let e = megawatt_economics(&history, &site);
        let text = |a: Amount| a.to_string();
        Ok(MegawattEconomicsView {
            cluster_id,
            energized_kw: inputs.energized_kw,
            shell_kw_leased: cluster.power.shell_kw_leased,
            occupancy_bps: e.occupancy_bps,
            shell_per_mwh: e.shell_per_mwh.map(text),
            gpu_per_mwh: e.gpu_per_mwh.map(text),
            demand_response_per_mwh: e.demand_response_per_mwh.map(text),
            mining_revenue_per_mwh: text(e.mining_revenue_per_mwh),
            mining_per_mwh: text(e.mining_per_mwh),
            best_use: e.best_use,
            power: cluster.power,
        })
    }

    async fn subscribe_reports(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        forward(pending, self.0.clone(), |update, _| match update {
            Update::Report(report) => Some(Live::Item(report.clone())),
            _ => None,
        })
        .await
    }

    async fn subscribe_settlements(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        forward(pending, self.0.clone(), |update, _| match update {
            Update::Settlement(settlement) => Some(Live::Item(settlement.clone())),
            _ => None,
        })
        .await
    }

    async fn subscribe_positions(
        &self,
        pending: PendingSubscriptionSink,
        address: Address,
    ) -> SubscriptionResult {
        // Registered before accepting, so nothing after the subscription's id is missed; the
        // guard (dropped after the queue) removes the route when the subscription ends.
        let _route = PruneOnDrop { routes: &self.0.positions, holder: address };
        let mut routed = self.0.positions.subscribe(address);
        let sink = pending.accept().await?;
        loop {
            let next = tokio::select! {
                () = sink.closed() => break,
                next = routed.recv() => next,
            };
            let item = match next {
                Some(Routed::Position(lease)) => {
                    let index = self.0.index.clone();
                    let view = tokio::task::spawn_blocking(move || index.position(address, lease))
                        .await
                        .map_err(|e| format!("position read: {e}"))?
                        .map_err(|e| internal(&e))?;
                    view.map(Live::Item)
                }
                Some(Routed::RolledBack { from_block, to_block }) => {
                    Some(Live::RolledBack { rolled_back: RolledBack { from_block, to_block } })
                }
                None => return Err(fell_behind(SUBSCRIBER_QUEUE as u64).into()),
            };
            if let Some(item) = item {
                sink.send(SubscriptionMessage::from(to_json_raw_value(&item)?)).await?;
            }
        }
        Ok(())
    }
}

/// Why a subscriber that fell `missed` updates behind was closed.
fn fell_behind(missed: u64) -> String {
    tracing::warn!("a subscriber lagged by {missed} updates; closing it");
    format!(
        "this subscription fell {missed} updates behind and was closed (it may have missed a \
         rollback): subscribe again and re-query"
    )
}

/// Forwards the updates `select` picks, and every rollback notice, to a subscriber until it
/// leaves. A subscriber that lags so far behind that updates were dropped is closed with an
/// error: it may have missed a rollback, so it must resubscribe and re-query.
async fn forward<T: Serialize>(
    pending: PendingSubscriptionSink,
    ledger: Arc<Ledger>,
    select: impl Fn(&Update, &Ledger) -> Option<Live<T>> + Send + 'static,
) -> SubscriptionResult {
    let mut updates = ledger.updates.subscribe();
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            () = sink.closed() => break,
            update = updates.recv() => match update {
                Ok(update) => {
                    let item = match &update {
                        Update::RolledBack { from_block, to_block } => Some(Live::RolledBack {
                            rolled_back: RolledBack { from_block: *from_block, to_block: *to_block },
                        }),
                        _ => select(&update, &ledger),
                    };
                    if let Some(item) = item {
                        let message = SubscriptionMessage::from(to_json_raw_value(&item)?);
                        sink.send(message).await?;
                    }
                }
                Err(RecvError::Lagged(missed)) => return Err(fell_behind(missed).into()),
                Err(RecvError::Closed) => break,
            },
        }
    }
    Ok(())
}
