//! Plain HTTP routes beside JSON-RPC: `/health`, `/metrics`, and ERC-1155 metadata
//! (`/metadata/{id}.json` with a generated `/metadata/{id}.svg` image). Everything else goes to
//! JSON-RPC, timed for the latency histogram.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use alloy::primitives::U256;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use serde_json::json;
use tower::{Layer, Service};

use super::Ledger;
use crate::index::model::{LeaseRow, ReportRow};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The layer that adds the routes.
#[derive(Debug, Clone)]
pub(crate) struct RoutesLayer {
    ledger: Arc<Ledger>,
}

impl RoutesLayer {
    pub(crate) fn new(ledger: Arc<Ledger>) -> Self {
        Self { ledger }
    }
}

impl<S> Layer<S> for RoutesLayer {
    type Service = Routes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Routes { inner, ledger: self.ledger.clone() }
    }
}

/// The routes around the JSON-RPC service.
#[derive(Debug, Clone)]
pub(crate) struct Routes<S> {
    inner: S,
    ledger: Arc<Ledger>,
}

fn respond(status: u16, content_type: &str, body: String) -> HttpResponse {
    ::http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("access-control-allow-origin", "*")
        .body(HttpBody::from(body))
        .expect("static headers are valid")
}

fn not_found(what: &str) -> HttpResponse {
    respond(404, "application/json", json!({ "error": what }).to_string())
}

/// The index could not be read: a 500 that says so, never a "not found" or made-up figures.
fn unreadable(e: &crate::NodeError) -> HttpResponse {
    tracing::error!("metadata: {e}");
    respond(
        500,
        "application/json",
        json!({ "error": format!("index unreadable: {e}") }).to_string(),
    )
}

impl<S, B> Service<HttpRequest<B>> for Routes<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        if request.method() == ::http::Method::GET {
            let path = request.uri().path().to_string();
            if path.starts_with("/metadata/") {
                // Metadata reads sled: on the blocking pool, never on the async threads.
                let ledger = self.ledger.clone();
                return Box::pin(async move {
                    let response = tokio::task::spawn_blocking(move || route(&ledger, &path))
                        .await
                        .map_err(|e| Box::new(e) as BoxError)?;
                    Ok(response.unwrap_or_else(|| not_found("use /metadata/{id}.json or .svg")))
                });
            }
            if let Some(response) = route(&self.ledger, &path) {
                return Box::pin(async move { Ok(response) });
            }
        }
        let started = Instant::now();
        let metrics = self.ledger.metrics.clone();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await.map_err(Into::into)?;
            metrics.observe_rpc(started.elapsed());
            Ok(response)
        })
    }
}

/// The response of a plain HTTP route, or `None` for JSON-RPC (including WebSocket upgrades).
fn route(ledger: &Ledger, path: &str) -> Option<HttpResponse> {
    match path {
        "/health" => {
            let status = ledger.status.borrow().clone();
            let oracles = ledger.cosign.status();
            let degraded =
                oracles.values().any(|o| o.sampler != "running" || o.last_error.is_some());
            let state = match (status.indexed_block, degraded) {
                (None, _) => "starting",
                (Some(_), true) => "degraded",
                (Some(_), false) => "ok",
            };
            let oracles: serde_json::Map<String, serde_json::Value> = oracles
                .iter()
                .map(|(cluster, o)| {
                    let summary = json!({
                        "sampler": o.sampler,
                        "pendingEpochs": o.pending.iter().map(|p| p.epoch).collect::<Vec<_>>(),
                        "lastOnChain": o.last_on_chain,
                        "lastError": o.last_error,
                    });
                    (cluster.to_string(), summary)
                })
                .collect();
            let body = json!({
                "status": state,
                "indexedBlock": status.indexed_block,
                "headBlock": status.head_block,
                "lag": status.lag,
                "oracles": oracles,
            });
            // A degraded node still serves wallets: 200, with the reason in the body.
            Some(respond(200, "application/json", body.to_string()))
        }
        "/metrics" => {
            let text = ledger.metrics.render() + &ledger.cosign.render_metrics();
            Some(respond(200, "text/plain; version=0.0.4", text))
        }
        _ => {
            let file = path.strip_prefix("/metadata/")?;
            let (id, extension) = file.rsplit_once('.')?;
            Some(metadata(ledger, id, extension))
        }
    }
}

/// ERC-1155 clients substitute `{id}` with 64 lowercase hex digits; people type decimals.
fn parse_token_id(id: &str) -> Option<U256> {
    if id.len() == 64 {
        U256::from_str_radix(id, 16).ok()
    } else {
        U256::from_str_radix(id, 10).ok()
    }
}

fn metadata(ledger: &Ledger, id: &str, extension: &str) -> HttpResponse {
    let Some(lease_id) = parse_token_id(id) else {
        return not_found("token id must be decimal or 64 hex digits");
    };
    let lease = match ledger.index.lease(lease_id) {
        Ok(Some(lease)) => lease,
        Ok(None) => return not_found("no such lease"),
        Err(e) => return unreadable(&e),
    };
    let stats = match ledger.index.cluster(lease.cluster_id) {
        Ok(Some(cluster)) => ledger.metadata.stats(&ledger.index, &lease, cluster.reports),
        Ok(None) => Ok(Stats::of(&[])),
        Err(e) => Err(e),
    };
    let stats = match stats {
        Ok(stats) => stats,
        Err(e) => return unreadable(&e),
    };
    match extension {
        "json" => {
            respond(200, "application/json", metadata_json(ledger, &lease, &stats).to_string())
        }
        "svg" => respond(200, "image/svg+xml", svg(ledger, &lease, &stats)),
        _ => not_found("use .json or .svg"),
    }
}

/// Cluster figures over the lease's term so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stats {
    utilization_bps: Option<u64>,
    pue_milli: Option<u64>,
    epochs_reported: usize,
}

impl Stats {
    fn of(reports: &[ReportRow]) -> Self {
        let busy: u64 = reports.iter().map(|r| r.gpu_seconds_busy).sum();
        let available: u64 = reports.iter().map(|r| r.gpu_seconds_available).sum();
        let it: u64 = reports.iter().map(|r| r.it_energy_wh).sum();
        let facility: u64 = reports.iter().map(|r| r.facility_energy_wh).sum();
        let efficiency = compute_ledger_types::Efficiency::of(available, busy, 0, it, facility);
        Self {
            utilization_bps: (available > 0).then_some(efficiency.utilization_bps),
            pue_milli: efficiency.pue_milli,
            epochs_reported: reports.len(),
        }
    }
}

/// [`Stats`] per lease, kept while the lease's settled epoch and its cluster's report count are
/// unchanged: a metadata GET (unauthenticated, and polled by marketplaces) then reads two keys
/// instead of every report of the lease's term.
#[derive(Debug, Default)]
pub(crate) struct MetadataCache {
    entries: std::sync::Mutex<std::collections::HashMap<U256, (StatsVersion, Stats)>>,
}

/// What a lease's [`Stats`] were computed at: its next epoch to settle and its cluster's report
/// count.
type StatsVersion = (u64, u64);

/// Leases whose figures are kept; past it the cache starts over (cheap to refill).
const METADATA_CACHE_LEASES: usize = 10_000;

impl MetadataCache {
    /// The lease's figures, from the cache or read afresh (outside the lock: other requests are
    /// not held behind this read). A read error is returned and nothing is cached.
    fn stats(
        &self,
        index: &crate::index::Index,
        lease: &LeaseRow,
        reports: u64,
    ) -> crate::Result<Stats> {
        let version = (lease.next_epoch, reports);
        let entries = || self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((cached, stats)) = entries().get(&lease.id)
            && *cached == version
        {
            return Ok(*stats);
        }
        let term = usize::try_from(lease.end_epoch - lease.start_epoch).unwrap_or(usize::MAX);
        let reports: Vec<ReportRow> = index
            .reports(lease.cluster_id, lease.start_epoch, term)?
            .into_iter()
            .filter(|r| r.epoch < lease.end_epoch)
            .collect();
        let stats = Stats::of(&reports);
        let mut entries = entries();
        if entries.len() >= METADATA_CACHE_LEASES {
            entries.clear();
        }
        entries.insert(lease.id, (version, stats));
        Ok(stats)
    }
}

fn percent(bps: Option<u64>) -> String {
    bps.map_or_else(|| "n/a".into(), |b| format!("{}.{:02} %", b / 100, b % 100))
}

fn pue(milli: Option<u64>) -> String {
    milli.map_or_else(|| "n/a".into(), |m| format!("{}.{:03}", m / 1000, m % 1000))
}

fn dollars(ledger: &Ledger, base: U256) -> String {
    let decimals = ledger.decimals.load(std::sync::atomic::Ordering::Relaxed);
    compute_ledger_sdk::Amount::from_base(base, decimals).to_string()
}

/// "GPUs" or "kW" after a count.
fn plural(unit: compute_ledger_sdk::Unit) -> &'static str {
    match unit {
        compute_ledger_sdk::Unit::Gpu => "GPUs",
        compute_ledger_sdk::Unit::Kw => "kW",
    }
}

fn metadata_json(ledger: &Ledger, lease: &LeaseRow, stats: &Stats) -> serde_json::Value {
    let id = lease.id;
    json!({
        "name": format!("Lease #{id} · cluster {} · {} {}", lease.cluster_id, lease.units, plural(lease.unit)),
        "description": format!(
            "A share of the rent of compute-ledger lease {id}: {} {} on cluster {} for epochs {}–{}, \
             at {} per {}-hour ({} billing), settled each epoch against attested delivery.",
            lease.units, plural(lease.unit), lease.cluster_id, lease.start_epoch, lease.end_epoch - 1,
            dollars(ledger, lease.price_per_unit_hour), lease.unit, lease.billing
        ),
        "image": format!("{}/metadata/{id}.svg", ledger.public_url.trim_end_matches('/')),
        "decimals": 0,
        "properties": {
            "clusterId": lease.cluster_id,
            "unit": lease.unit,
            "units": lease.units,
            "startEpoch": lease.start_epoch,
            "endEpoch": lease.end_epoch,
            "pricePerUnitHour": dollars(ledger, lease.price_per_unit_hour),
            "billing": lease.billing,
            "status": lease.status,
            "totalShares": lease.total_shares.to_string(),
            "rentSettled": dollars(ledger, lease.rent_settled),
            "epochsReported": stats.epochs_reported,
            "utilizationToDate": percent(stats.utilization_bps),
            "pueToDate": pue(stats.pue_milli),
        },
    })
}

fn svg(ledger: &Ledger, lease: &LeaseRow, stats: &Stats) -> String {
    let utilization = stats.utilization_bps.unwrap_or(0).min(10_000);
    let bar = utilization * 260 / 10_000;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200" viewBox="0 0 320 200">
<rect width="320" height="200" rx="14" fill="#0f172a"/>
<text x="20" y="38" fill="#e2e8f0" font-family="monospace" font-size="18">Lease #{id}</text>
<text x="20" y="64" fill="#94a3b8" font-family="monospace" font-size="12">cluster {cluster} · {units} {what} · epochs {start}–{end}</text>
<text x="20" y="88" fill="#94a3b8" font-family="monospace" font-size="12">{price} per {unit}-hour · {billing}</text>
<text x="20" y="122" fill="#e2e8f0" font-family="monospace" font-size="12">utilization {util}</text>
<rect x="20" y="130" width="260" height="12" rx="6" fill="#1e293b"/>
<rect x="20" y="130" width="{bar}" height="12" rx="6" fill="#22c55e"/>
<text x="20" y="172" fill="#e2e8f0" font-family="monospace" font-size="12">PUE {pue} · rent settled {rent}</text>
</svg>"##,
        id = lease.id,
        cluster = lease.cluster_id,
        units = lease.units,
        what = plural(lease.unit),
        unit = lease.unit,
        start = lease.start_epoch,
        end = lease.end_epoch - 1,
        price = dollars(ledger, lease.price_per_unit_hour),
        billing = lease.billing,
        util = percent(stats.utilization_bps),
        pue = pue(stats.pue_milli),
        rent = dollars(ledger, lease.rent_settled),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use alloy::{
        primitives::Address,
        providers::{Provider, ProviderBuilder},
    };
    use compute_ledger_sdk::Deployment;

    use super::*;
    use crate::{
        Indexer,
        index::{DeliveriesArchive, Index},
        metrics::Metrics,
    };

    /// A ledger over a fresh index (its provider is never asked anything here).
    fn ledger(dir: &std::path::Path) -> Arc<Ledger> {
        let index = Index::open(&dir.join("index")).expect("index");
        let archive = DeliveriesArchive::open(&dir.join("deliveries")).expect("archive");
        let url = "http://127.0.0.1:9".parse().expect("url");
        let provider = ProviderBuilder::new().connect_http(url).erased();
        let deployment = Deployment {
            chain_id: 31_337,
            registry: Address::ZERO,
            market: Address::ZERO,
            disputes: Address::ZERO,
            stablecoin: Address::ZERO,
            exchange: None,
            collateral: None,
            morpho: None,
            pricer: None,
            demand_response: None,
            deploy_block: 1,
        };
        let metrics = Arc::new(Metrics::default());
        let indexer =
            Indexer::new(index.clone(), provider, deployment, 0, metrics.clone()).expect("indexer");
        let limits = super::super::Limits::default();
        Ledger::new(index, archive, &indexer, metrics, limits, "http://127.0.0.1".into())
    }

    #[test]
    fn an_unreadable_lease_record_is_a_server_error_not_a_missing_lease() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = ledger(dir.path());
        assert_eq!(metadata(&ledger, "1", "json").status(), 404, "no such lease");

        let key = crate::index::lease_key(U256::from(1));
        ledger.index.db().insert(key, &b"{ not a lease"[..]).expect("insert");
        let response = metadata(&ledger, "1", "json");
        assert_eq!(response.status(), 500);
    }
}
