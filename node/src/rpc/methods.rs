//! The `ledger_` methods and subscriptions.

use std::sync::Arc;

use alloy::primitives::{Address, U256};
use jsonrpsee::{
    PendingSubscriptionSink, RpcModule, SubscriptionMessage,
    core::{SubscriptionResult, to_json_raw_value},
    types::{ErrorObjectOwned, error::INTERNAL_ERROR_CODE},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::{
    Ledger,
    openrpc::{self, doc},
    params::{Args, invalid},
};
use crate::index::{
    LeaseFilter, Update,
    model::{ClusterRow, LeaseState},
};

/// The "not found" error code.
pub const NOT_FOUND_CODE: i32 = -32001;

type RpcResult = Result<Value, ErrorObjectOwned>;
type Handler = fn(&Args, &Ledger) -> RpcResult;

fn not_found(what: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(NOT_FOUND_CODE, what, None::<()>)
}

fn internal(e: &crate::NodeError) -> ErrorObjectOwned {
    tracing::error!("rpc: {e}");
    ErrorObjectOwned::owned(INTERNAL_ERROR_CODE, format!("storage error: {e}"), None::<()>)
}

fn to_value<T: Serialize>(value: &T) -> RpcResult {
    serde_json::to_value(value).map_err(|e| internal(&crate::NodeError::Server(e.to_string())))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Page {
    offset: Option<usize>,
    limit: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EpochPage {
    from_epoch: Option<u64>,
    limit: Option<usize>,
}

fn limit(requested: Option<usize>, max: usize) -> Result<usize, ErrorObjectOwned> {
    match requested {
        None => Ok(max),
        Some(0) => Err(invalid("limit must be at least 1")),
        Some(n) if n > max => Err(invalid(format!("limit {n} exceeds the page size {max}"))),
        Some(n) => Ok(n),
    }
}

fn cluster_view(cluster: &ClusterRow) -> RpcResult {
    let mut value = to_value(cluster)?;
    value["revenuePerKwh"] =
        cluster.revenue_per_kwh().map_or(Value::Null, |r| json!(r.to_string()));
    Ok(value)
}

fn clusters(args: &Args, ledger: &Ledger) -> RpcResult {
    let page: Page = args.object(0, "{offset?, limit?}")?;
    let (offset, limit) = (page.offset.unwrap_or(0), limit(page.limit, ledger.limits.page_size)?);
    let rows = ledger.index.clusters(offset, limit).map_err(|e| internal(&e))?;
    let items = rows.iter().map(cluster_view).collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "items": items, "offset": offset, "limit": limit }))
}

fn cluster(args: &Args, ledger: &Ledger) -> RpcResult {
    let id = args.need_u64(0)?;
    let row = ledger.index.cluster(id).map_err(|e| internal(&e))?;
    cluster_view(&row.ok_or_else(|| not_found(format!("no cluster {id}")))?)
}

fn reports(args: &Args, ledger: &Ledger) -> RpcResult {
    let id = args.need_u64(0)?;
    let page: EpochPage = args.object(1, "{fromEpoch?, limit?}")?;
    let limit = limit(page.limit, ledger.limits.page_size)?;
    if ledger.index.cluster(id).map_err(|e| internal(&e))?.is_none() {
        return Err(not_found(format!("no cluster {id}")));
    }
    to_value(
        &ledger.index.reports(id, page.from_epoch.unwrap_or(0), limit).map_err(|e| internal(&e))?,
    )
}

fn lease(args: &Args, ledger: &Ledger) -> RpcResult {
    let id = args.lease_id(0)?;
    let row = ledger.index.lease(id).map_err(|e| internal(&e))?;
    let row = row.ok_or_else(|| not_found(format!("no lease {id}")))?;
    let cluster = ledger.index.cluster(row.cluster_id).map_err(|e| internal(&e))?;
    let mut value = to_value(&row)?;
    value["settlements"] = to_value(&ledger.index.settlements(id).map_err(|e| internal(&e))?)?;
    // Ended but unsettled epochs (by this node's clock): their rent belongs to whoever held
    // when each ended, so a buyer now does not get it.
    let unsettled = cluster.filter(|_| row.status == LeaseState::Active).map_or(0, |c| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let current = now.saturating_sub(c.genesis) / u64::from(c.epoch_length.max(1));
        current.min(row.end_epoch).saturating_sub(row.next_epoch)
    });
    value["unsettledEpochs"] = json!(unsettled);
    Ok(value)
}

fn leases(args: &Args, ledger: &Ledger) -> RpcResult {
    let filter: LeaseFilter = args.object(0, "{clusterId?, tenant?, status?}")?;
    let page: Page = args.object(1, "{offset?, limit?}")?;
    let (offset, limit) = (page.offset.unwrap_or(0), limit(page.limit, ledger.limits.page_size)?);
    let rows = ledger.index.leases(&filter, offset, limit).map_err(|e| internal(&e))?;
    Ok(json!({ "items": to_value(&rows)?, "offset": offset, "limit": limit }))
}

fn positions(args: &Args, ledger: &Ledger) -> RpcResult {
    let holder = args.address(0)?;
    to_value(&ledger.index.positions(holder).map_err(|e| internal(&e))?)
}

fn claimable(args: &Args, ledger: &Ledger) -> RpcResult {
    let holder = args.address(0)?;
    let positions = ledger.index.positions(holder).map_err(|e| internal(&e))?;
    let mut total = U256::ZERO;
    let mut leases = Vec::new();
    for p in positions.iter().filter(|p| !p.claimable.is_zero()) {
        total += p.claimable;
        leases.push(json!({
            "leaseId": p.position.lease_id.to_string(),
            "claimable": p.claimable.to_string(),
        }));
    }
    Ok(json!({ "address": holder, "total": total.to_string(), "leases": leases }))
}

fn delivery_proof(args: &Args, ledger: &Ledger) -> RpcResult {
    let id = args.lease_id(0)?;
    let epoch = args.need_u64(1)?;
    let lease = ledger.index.lease(id).map_err(|e| internal(&e))?;
    let lease = lease.ok_or_else(|| not_found(format!("no lease {id}")))?;
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
    Ok(json!({
        "leaseId": id.to_string(),
        "clusterId": lease.cluster_id,
        "epoch": epoch,
        "delivered": leaf.delivered,
        "proof": proof,
        "root": tree.root(),
        "reportedRoot": reported.as_ref().map(|r| r.deliveries_root),
        "matchesReport": reported.is_some_and(|r| r.deliveries_root == tree.root()),
    }))
}

fn sync_status(_: &Args, ledger: &Ledger) -> RpcResult {
    let mut status = to_value(&*ledger.status.borrow())?;
    status["oracles"] = ledger.cosign.status_json();
    Ok(status)
}

fn ping(_: &Args, _: &Ledger) -> RpcResult {
    Ok(json!("pong"))
}

fn method(module: &mut RpcModule<Ledger>, name: &'static str, handler: Handler) {
    let doc = doc(name);
    module
        .register_method(name, move |params, ledger, _| {
            let args = Args::read(&params, doc)?;
            handler(&args, ledger)
        })
        .expect("method names are unique");
}

/// The notice every subscription gets when a reorg rolls blocks back.
fn rolled_back(from_block: u64, to_block: u64) -> Value {
    json!({ "rolledBack": { "fromBlock": from_block, "toBlock": to_block } })
}

/// Forwards the updates `select` picks, and every rollback notice, to a subscriber until it
/// leaves. A subscriber that lags so far behind that updates were dropped is closed with an
/// error: it may have missed a rollback, so it must resubscribe and re-query.
async fn forward(
    pending: PendingSubscriptionSink,
    ledger: Arc<Ledger>,
    select: impl Fn(&Update, &Ledger) -> Option<Value> + Send + 'static,
) -> SubscriptionResult {
    let mut updates = ledger.updates.subscribe();
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            () = sink.closed() => break,
            update = updates.recv() => match update {
                Ok(update) => {
                    let value = match &update {
                        Update::RolledBack { from_block, to_block } => {
                            Some(rolled_back(*from_block, *to_block))
                        }
                        _ => select(&update, &ledger),
                    };
                    if let Some(value) = value {
                        let message = SubscriptionMessage::from(to_json_raw_value(&value)?);
                        sink.send(message).await?;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!("a subscriber lagged by {missed} updates; closing it");
                    return Err(format!(
                        "this subscription fell {missed} updates behind and was closed (it may \
                         have missed a rollback): subscribe again and re-query"
                    )
                    .into());
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
    Ok(())
}

fn subscriptions(module: &mut RpcModule<Ledger>) {
    module
        .register_subscription(
            "ledger_subscribeReports",
            "ledger_report",
            "ledger_unsubscribeReports",
            |_, pending, ledger, _| {
                forward(pending, ledger, |update, _| match update {
                    Update::Report(report) => serde_json::to_value(report).ok(),
                    _ => None,
                })
            },
        )
        .expect("unique");
    module
        .register_subscription(
            "ledger_subscribeSettlements",
            "ledger_settlement",
            "ledger_unsubscribeSettlements",
            |_, pending, ledger, _| {
                forward(pending, ledger, |update, _| match update {
                    Update::Settlement(settlement) => serde_json::to_value(settlement).ok(),
                    _ => None,
                })
            },
        )
        .expect("unique");
    module
        .register_subscription(
            "ledger_subscribePositions",
            "ledger_position",
            "ledger_unsubscribePositions",
            |params, pending, ledger, _| async move {
                let holder: Address = match Args::read(&params, doc("ledger_subscribePositions"))
                    .and_then(|args| args.address(0))
                {
                    Ok(holder) => holder,
                    Err(e) => {
                        pending.reject(e).await;
                        return Ok(());
                    }
                };
                forward(pending, ledger, move |update, ledger| match update {
                    Update::Position { holder: h, lease_id } if *h == holder => {
                        let view = ledger.index.position(holder, *lease_id).ok()??;
                        serde_json::to_value(view).ok()
                    }
                    _ => None,
                })
                .await
            },
        )
        .expect("unique");
}

/// Every method, registered against `ledger`.
pub(crate) fn module(ledger: Arc<Ledger>) -> RpcModule<Ledger> {
    let mut module = RpcModule::from_arc(ledger);
    let table: [(&'static str, Handler); 10] = [
        ("ledger_clusters", clusters),
        ("ledger_cluster", cluster),
        ("ledger_reports", reports),
        ("ledger_lease", lease),
        ("ledger_leases", leases),
        ("ledger_positions", positions),
        ("ledger_claimable", claimable),
        ("ledger_deliveryProof", delivery_proof),
        ("ledger_syncStatus", sync_status),
        ("ledger_ping", ping),
    ];
    for (name, handler) in table {
        method(&mut module, name, handler);
    }
    subscriptions(&mut module);
    module.register_method("rpc.discover", |_, _, _| openrpc::document()).expect("unique");
    module
}
