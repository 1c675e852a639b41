//! A typed stream of ledger events: backfill with `eth_getLogs` in adaptive block ranges, then
//! follow the head, optionally a few confirmations behind.
//!
//! Each [`LedgerLog`] carries its block hash so a consumer (the node's indexer) can detect a
//! reorg by comparing it with what it stored.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256},
    providers::{DynProvider, Provider},
    rpc::types::{Filter, Log},
    sol_types::SolEventInterface,
};
use futures::{Stream, StreamExt, stream};

use crate::{
    Deployment, Result, SdkError,
    bindings::{
        CapacityPricer, ClusterRegistry, DemandResponse, DisputeDesk, LeaseMarket, ShareExchange,
    },
};

/// Block ranges start here and double after each success, up to [`MAX_RANGE`]; a failed
/// `eth_getLogs` (too many results, or a provider's range limit) halves the range and retries.
const START_RANGE: u64 = 1_000;
/// The largest block range one `eth_getLogs` asks for.
pub const MAX_RANGE: u64 = 50_000;

/// An event of the registry, the market, its dispute desk, its share exchange, the pricer or the
/// demand-response contract.
#[derive(Debug, Clone)]
pub enum LedgerEvent {
    /// A `ClusterRegistry` event.
    Registry(ClusterRegistry::ClusterRegistryEvents),
    /// A `LeaseMarket` event (including ERC-1155 share transfers).
    Market(LeaseMarket::LeaseMarketEvents),
    /// A `DisputeDesk` event (challenges, rulings, challenge bonds).
    Disputes(DisputeDesk::DisputeDeskEvents),
    /// A `ShareExchange` event (orders placed, filled, cancelled).
    Exchange(ShareExchange::ShareExchangeEvents),
    /// A `CapacityPricer` event (price curves set, quotes moved).
    Pricer(CapacityPricer::CapacityPricerEvents),
    /// A `DemandResponse` event (programs, enrollments, curtailment events).
    DemandResponse(DemandResponse::DemandResponseEvents),
}

/// A decoded event and where it happened.
#[derive(Debug, Clone)]
pub struct LedgerLog {
    /// Block number.
    pub block_number: u64,
    /// Block hash (compare with the stored hash to detect a reorg).
    pub block_hash: B256,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Position in the block.
    pub log_index: u64,
    /// The block's timestamp, when the RPC's logs carry `blockTimestamp` (anvil's and most
    /// recent nodes' do); `None` otherwise.
    pub block_timestamp: Option<u64>,
    /// The event.
    pub event: LedgerEvent,
}

impl LedgerLog {
    /// Decodes a log of `deployment`'s registry or market.
    pub fn decode(log: &Log, deployment: &Deployment) -> Result<Self> {
        let block = log.block_number;
        let bad = |reason: String| SdkError::Log { block, reason };
        let event = if log.address() == deployment.registry {
            ClusterRegistry::ClusterRegistryEvents::decode_log(&log.inner)
                .map(|l| LedgerEvent::Registry(l.data))
        } else if log.address() == deployment.market {
            LeaseMarket::LeaseMarketEvents::decode_log(&log.inner)
                .map(|l| LedgerEvent::Market(l.data))
        } else if log.address() == deployment.disputes {
            DisputeDesk::DisputeDeskEvents::decode_log(&log.inner)
                .map(|l| LedgerEvent::Disputes(l.data))
        } else if Some(log.address()) == deployment.exchange {
            ShareExchange::ShareExchangeEvents::decode_log(&log.inner)
                .map(|l| LedgerEvent::Exchange(l.data))
        } else if Some(log.address()) == deployment.pricer {
            CapacityPricer::CapacityPricerEvents::decode_log(&log.inner)
                .map(|l| LedgerEvent::Pricer(l.data))
        } else if Some(log.address()) == deployment.demand_response {
            DemandResponse::DemandResponseEvents::decode_log(&log.inner)
                .map(|l| LedgerEvent::DemandResponse(l.data))
        } else {
            return Err(bad(format!("log of unknown contract {}", log.address())));
        }
        .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            block_number: block.ok_or_else(|| bad("pending log".into()))?,
            block_hash: log.block_hash.ok_or_else(|| bad("log without block hash".into()))?,
            tx_hash: log.transaction_hash.unwrap_or_default(),
            log_index: log.log_index.unwrap_or_default(),
            block_timestamp: log.block_timestamp,
            event,
        })
    }
}

/// Fetches `filter`'s logs in `[from, to]`, splitting the range whenever the provider refuses
/// it. `range` is the current range size, adapted across calls.
pub(crate) async fn get_logs_adaptive(
    provider: &DynProvider,
    filter: &Filter,
    from: u64,
    to: u64,
    range: &mut u64,
) -> Result<Vec<Log>> {
    let mut logs = Vec::new();
    let mut start = from;
    while start <= to {
        let end = to.min(start.saturating_add(*range - 1));
        match provider.get_logs(&filter.clone().from_block(start).to_block(end)).await {
            Ok(batch) => {
                logs.extend(batch);
                start = end + 1;
                *range = (*range * 2).min(MAX_RANGE);
            }
            // Refused as too large, or its answer never came (a dense range can outlast the
            // request timeout, retries included): ask for half as many blocks.
            Err(e) if *range > 1 && (e.as_error_resp().is_some() || e.is_transport_error()) => {
                *range /= 2;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(logs)
}

/// The ledger's events from a cursor block on, in chain order.
#[derive(Debug, Clone)]
pub struct LedgerEvents {
    provider: DynProvider,
    deployment: Deployment,
    next_block: u64,
    confirmations: u64,
    range: u64,
}

impl LedgerEvents {
    /// Events of `deployment` from its deploy block.
    pub fn new(provider: DynProvider, deployment: Deployment) -> Self {
        let next_block = deployment.deploy_block;
        Self { provider, deployment, next_block, confirmations: 0, range: START_RANGE }
    }

    /// Starts at `block` instead (e.g. an indexer's saved cursor).
    pub fn from_block(mut self, block: u64) -> Self {
        self.next_block = block;
        self
    }

    /// Only returns blocks at least `confirmations` deep.
    pub fn confirmations(mut self, confirmations: u64) -> Self {
        self.confirmations = confirmations;
        self
    }

    /// The first block not yet returned.
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    fn filter(&self) -> Filter {
        Filter::new().address(self.addresses())
    }

    /// Decoded events in blocks `[from, to]`.
    pub async fn fetch(&mut self, from: u64, to: u64) -> Result<Vec<LedgerLog>> {
        let filter = self.filter();
        let logs = get_logs_adaptive(&self.provider, &filter, from, to, &mut self.range).await?;
        logs.iter().map(|log| LedgerLog::decode(log, &self.deployment)).collect()
    }

    /// Everything from the cursor up to the confirmed head (at most [`MAX_RANGE`] blocks per
    /// call, so a long backfill comes in pieces); advances the cursor. Returns the events and
    /// the last block covered (`None` when no new block is confirmed yet).
    pub async fn poll(&mut self) -> Result<(Vec<LedgerLog>, Option<u64>)> {
        let head = self.provider.get_block_number().await?;
        let Some(confirmed) = head.checked_sub(self.confirmations) else {
            return Ok((Vec::new(), None));
        };
        if confirmed < self.next_block {
            return Ok((Vec::new(), None));
        }
        let to = confirmed.min(self.next_block + MAX_RANGE - 1);
        let events = self.fetch(self.next_block, to).await?;
        self.next_block = to + 1;
        Ok((events, Some(to)))
    }

    /// A stream that backfills from the cursor, then follows the head, polling every `interval`.
    /// Errors are yielded, and the stream goes on from the same cursor after them.
    pub fn stream(self, interval: Duration) -> impl Stream<Item = Result<LedgerLog>> {
        stream::unfold(self, move |mut events| async move {
            loop {
                match events.poll().await {
                    Ok((batch, _)) if !batch.is_empty() => {
                        return Some((stream::iter(batch.into_iter().map(Ok)).boxed(), events));
                    }
                    Ok((_, Some(_))) => {}
                    Ok((_, None)) => tokio::time::sleep(interval).await,
                    Err(e) => {
                        tokio::time::sleep(interval).await;
                        return Some((stream::iter([Err(e)]).boxed(), events));
                    }
                }
            }
        })
        .flatten()
    }

    /// The contracts whose events this reads.
    pub fn addresses(&self) -> Vec<Address> {
        let d = &self.deployment;
        [d.registry, d.market, d.disputes]
            .into_iter()
            .chain(d.exchange)
            .chain(d.pricer)
            .chain(d.demand_response)
            .collect()
    }
}
