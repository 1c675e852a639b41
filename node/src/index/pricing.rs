//! Each cluster's quote for new leases in the index, from the `CapacityPricer`'s events: one row
//! per cluster, written with the range that emitted it (and undone with it).

use alloy::primitives::U256;
use compute_ledger_sdk::{LedgerLog, bindings::CapacityPricer::CapacityPricerEvents as P};

use super::{apply::Changes, model::QuoteRow, store::Index};
use crate::Result;

fn quote_key(cluster: u64) -> String {
    format!("quote/{cluster:016x}")
}

/// WAD (1e18) to basis points, saturating.
fn bps(wad: U256) -> u64 {
    (wad / U256::from(100_000_000_000_000u64)).saturating_to()
}

pub(super) fn apply(ch: &mut Changes<'_>, log: &LedgerLog, event: &P) -> Result<()> {
    match event {
        P::PriceCurveSet(e) => {
            let key = quote_key(e.clusterId);
            let previous: Option<QuoteRow> = ch.get(&key)?;
            let reference = U256::from(e.referencePrice);
            let row = QuoteRow {
                cluster_id: e.clusterId,
                // The contract's QuoteUpdated that follows sets the quote.
                quote: reference,
                price_at_target: reference,
                reference_price: reference,
                floor_price: U256::from(e.floorPrice),
                utilization_bps: previous.as_ref().map_or(0, |p| p.utilization_bps),
                epoch: previous.as_ref().map_or(0, |p| p.epoch),
                target_utilization_bps: bps(e.targetUtilization),
                steepness_bps: bps(e.steepness),
                speed_per_epoch_bps: bps(e.speedPerEpoch),
                updated_block: log.block_number,
            };
            ch.put(key, row);
        }
        P::QuoteUpdated(e) => {
            ch.update(quote_key(e.clusterId), |row: &mut QuoteRow| {
                row.quote = e.quote;
                row.price_at_target = e.priceAtTarget;
                row.utilization_bps = e.utilizationBps;
                row.epoch = e.epoch;
                row.updated_block = log.block_number;
            })?;
        }
    }
    Ok(())
}

impl Index {
    /// Cluster `cluster`'s quote and its inputs (`None` if its owner set no price curve).
    pub fn quote(&self, cluster: u64) -> Result<Option<QuoteRow>> {
        self.get(&quote_key(cluster))
    }
}

impl Index {
    /// Clusters (at most `limit`) whose quote has not yet seen their newest accepted report: the
    /// keeper updates them. Reads one quote row and one cluster row per cluster with a curve.
    pub fn quotes_behind(&self, limit: usize) -> Result<Vec<u64>> {
        let mut behind = Vec::new();
        for (key, value) in self.page_after("quote/", None, usize::MAX)? {
            let quote: QuoteRow = super::store::decode(&key, &value)?;
            let newest =
                self.cluster(quote.cluster_id)?.and_then(|c| c.latest_report).map(|r| r.epoch);
            let applied = (quote.utilization_bps != 0 || quote.epoch != 0).then_some(quote.epoch);
            if newest.is_some_and(|n| applied.is_none_or(|a| n > a)) {
                behind.push(quote.cluster_id);
                if behind.len() == limit {
                    break;
                }
            }
        }
        Ok(behind)
    }
}
