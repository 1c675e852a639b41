//! Turning ledger events into index records. Each handler mirrors what the contract did when it
//! emitted the event — in particular the share-holder checkpoints, so the index's claimable rent
//! equals `LeaseMarket.claimable` to the base unit.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy::primitives::{Address, U256};
use compute_ledger_sdk::{
    LedgerEvent, LedgerLog, Outcome,
    bindings::{
        ClusterRegistry::{self, ClusterRegistryEvents as R},
        DisputeDesk,
        LeaseMarket::{self, LeaseMarketEvents as M},
    },
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    due,
    model::{
        Billing, ClusterRow, CurtailmentRow, DisputeRow, Efficiency, EnrollmentRow, LeaseRow,
        LeaseStatus, MarketTotals, OfferRow, OrderRow, PositionRow, QuoteRow, ReportRow,
        SettlementRow, TradeRow, TradingStats,
    },
    store::{
        Index, MARKET_TOTALS, attestors_key, cluster_key, encode, lease_index_keys, lease_key,
        position_key, report_key, settlement_key,
    },
};
use crate::{NodeError, Result};

/// What a range changed, for subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A report was accepted.
    Report(ReportRow),
    /// An epoch settled.
    Settlement(SettlementRow),
    /// A holder's position in a lease changed (shares, accrued or claimed rent).
    Position {
        /// The holder.
        holder: Address,
        /// The lease.
        lease_id: U256,
    },
    /// A reorg removed blocks `[from_block, to_block]` from the index: whatever came from them
    /// (reports, settlements, position changes) is gone until the new chain re-applies it.
    RolledBack {
        /// First block rolled back.
        from_block: u64,
        /// Last block rolled back.
        to_block: u64,
    },
}

/// Which kind of value a written key holds (so finishing a range finds it in one lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Cluster,
    Attestors,
    Report,
    Lease,
    Position,
    Settlement,
    Order,
    Trade,
    Trading,
    Quote,
    Enrollment,
    Curtailment,
    /// Not a record: a secondary key or a queue entry, bytes in `Changes::plain`.
    Plain,
}

/// A record type of the index, with its slot in the per-range cache.
pub(crate) trait Record: Serialize + DeserializeOwned + Clone {
    const KIND: Kind;
    fn slot(cache: &mut Cache) -> &mut HashMap<String, Self>;
}

/// Decoded records of one range: each is decoded from sled at most once and encoded at most
/// once, however many events touch it (JSON per event was half the indexer's time).
#[derive(Default)]
pub(crate) struct Cache {
    clusters: HashMap<String, ClusterRow>,
    attestors: HashMap<String, AttestorSet>,
    reports: HashMap<String, ReportRow>,
    leases: HashMap<String, LeaseRow>,
    positions: HashMap<String, PositionRow>,
    settlements: HashMap<String, SettlementRow>,
    orders: HashMap<String, OrderRow>,
    trades: HashMap<String, TradeRow>,
    trading: HashMap<String, TradingStats>,
    quotes: HashMap<String, QuoteRow>,
    enrollments: HashMap<String, EnrollmentRow>,
    curtailments: HashMap<String, CurtailmentRow>,
}

macro_rules! record {
    ($type:ty, $field:ident, $kind:ident) => {
        impl Record for $type {
            const KIND: Kind = Kind::$kind;
            fn slot(cache: &mut Cache) -> &mut HashMap<String, Self> {
                &mut cache.$field
            }
        }
    };
}
record!(ClusterRow, clusters, Cluster);
record!(AttestorSet, attestors, Attestors);
record!(ReportRow, reports, Report);
record!(LeaseRow, leases, Lease);
record!(PositionRow, positions, Position);
record!(SettlementRow, settlements, Settlement);
record!(OrderRow, orders, Order);
record!(TradeRow, trades, Trade);
record!(TradingStats, trading, Trading);
record!(QuoteRow, quotes, Quote);
record!(EnrollmentRow, enrollments, Enrollment);
record!(CurtailmentRow, curtailments, Curtailment);

/// The newest attestor set of a cluster: (attestors, threshold, first epoch).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub(crate) struct AttestorSet(Vec<Address>, u8, u64);

/// One key written by a range: its new bytes, or `None` to remove it.
pub(crate) type Write = (String, Option<Vec<u8>>);

/// Writes of one range, read through to the index for everything not yet written.
pub(crate) struct Changes<'a> {
    index: &'a Index,
    cache: Cache,
    /// Every key written, in key order, with the kind of its value.
    dirty: BTreeMap<String, Kind>,
    /// Keys that are not records (secondary keys, queues): their new bytes, or `None` to remove.
    plain: HashMap<String, Option<Vec<u8>>>,
    updates: Vec<Update>,
    seen: HashSet<(Address, U256)>,
}

impl<'a> Changes<'a> {
    pub(crate) fn new(index: &'a Index) -> Self {
        Self {
            index,
            cache: Cache::default(),
            dirty: BTreeMap::new(),
            plain: HashMap::new(),
            updates: Vec::new(),
            seen: HashSet::new(),
        }
    }

    pub(super) fn get<T: Record>(&mut self, key: &str) -> Result<Option<T>> {
        if let Some(value) = T::slot(&mut self.cache).get(key) {
            return Ok(Some(value.clone()));
        }
        let stored: Option<T> = self.index.get(key)?;
        if let Some(value) = &stored {
            T::slot(&mut self.cache).insert(key.to_string(), value.clone());
        }
        Ok(stored)
    }

    pub(super) fn need<T: Record>(&mut self, key: &str) -> Result<T> {
        self.get(key)?.ok_or_else(|| NodeError::Corrupt {
            key: key.into(),
            reason: "an event refers to a record the index never saw; re-index from the \
                     deployment block"
                .into(),
        })
    }

    pub(super) fn put<T: Record>(&mut self, key: String, value: T) {
        self.dirty.insert(key.clone(), T::KIND);
        T::slot(&mut self.cache).insert(key, value);
    }

    /// Writes a key that is not a record (a secondary key or a queue entry) with `value`, which
    /// must be UTF-8 (undo records keep old values as text).
    pub(crate) fn put_plain(&mut self, key: String, value: Vec<u8>) {
        self.dirty.insert(key.clone(), Kind::Plain);
        self.plain.insert(key, Some(value));
    }

    /// Removes a key that is not a record (a secondary key or a queue entry); undone with the
    /// range like any write.
    pub(crate) fn remove_plain(&mut self, key: String) {
        self.dirty.insert(key.clone(), Kind::Plain);
        self.plain.insert(key, None);
    }

    /// Reads, changes and writes back one record.
    pub(super) fn update<T: Record>(
        &mut self,
        key: String,
        change: impl FnOnce(&mut T),
    ) -> Result<T> {
        if !T::slot(&mut self.cache).contains_key(&key) {
            self.need::<T>(&key)?; // now cached
        }
        let value = T::slot(&mut self.cache).get_mut(&key).expect("cached just above");
        change(value);
        let changed = value.clone();
        self.dirty.insert(key, T::KIND);
        Ok(changed)
    }

    pub(super) fn position(&mut self, holder: Address, lease_id: U256) -> Result<PositionRow> {
        Ok(self.get(&position_key(holder, lease_id))?.unwrap_or(PositionRow {
            holder,
            lease_id,
            ..PositionRow::default()
        }))
    }

    pub(super) fn put_position(&mut self, position: PositionRow) {
        let (holder, lease_id) = (position.holder, position.lease_id);
        self.put(position_key(holder, lease_id), position);
        if self.seen.insert((holder, lease_id)) {
            self.updates.push(Update::Position { holder, lease_id });
        }
    }

    /// The encoded records written (`None`: removed), in key order, and the updates for
    /// subscribers.
    pub(crate) fn finish(mut self) -> Result<(Vec<Write>, Vec<Update>)> {
        self.index_leases()?;
        let mut writes = Vec::with_capacity(self.dirty.len());
        for (key, kind) in std::mem::take(&mut self.dirty) {
            let c = &self.cache;
            let record = match kind {
                Kind::Plain => {
                    let plain = self.plain.remove(&key).expect("every plain write is kept");
                    writes.push((key, plain));
                    continue;
                }
                Kind::Cluster => c.clusters.get(&key).map(encode),
                Kind::Attestors => c.attestors.get(&key).map(encode),
                Kind::Report => c.reports.get(&key).map(encode),
                Kind::Lease => c.leases.get(&key).map(encode),
                Kind::Position => c.positions.get(&key).map(encode),
                Kind::Settlement => c.settlements.get(&key).map(encode),
                Kind::Order => c.orders.get(&key).map(encode),
                Kind::Trade => c.trades.get(&key).map(encode),
                Kind::Trading => c.trading.get(&key).map(encode),
                Kind::Quote => c.quotes.get(&key).map(encode),
                Kind::Enrollment => c.enrollments.get(&key).map(encode),
                Kind::Curtailment => c.curtailments.get(&key).map(encode),
            };
            writes.push((key, Some(record.expect("every record written is cached"))));
        }
        Ok((writes, self.updates))
    }

    /// Brings the secondary keys of every lease this range changed in line with its new row
    /// (keys of the row before the range that no longer match are removed, new ones written),
    /// and the market totals with the change of every lease and the clusters registered.
    fn index_leases(&mut self) -> Result<()> {
        let of_kind =
            |kind| self.dirty.iter().filter(move |(_, k)| **k == kind).map(|(key, _)| key);
        let changed: Vec<LeaseRow> =
            of_kind(Kind::Lease).filter_map(|key| self.cache.leases.get(key)).cloned().collect();
        let new_clusters = of_kind(Kind::Cluster)
            .filter_map(|key| match self.index.raw(key) {
                Ok(Some(_)) => None,
                Ok(None) => Some(Ok(())),
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<()>>>()?
            .len();
        if changed.is_empty() && new_clusters == 0 {
            return Ok(());
        }
        let mut totals: MarketTotals = self.index.get(MARKET_TOTALS)?.unwrap_or_default();
        totals.clusters += new_clusters as u64;
        for lease in changed {
            let before: Option<LeaseRow> = self.index.get(&lease_key(lease.id))?;
            totals.replace(before.as_ref(), &lease);
            let old = before.as_ref().map(lease_index_keys).unwrap_or_default();
            let new = lease_index_keys(&lease);
            for key in old.iter().filter(|k| !new.contains(k)) {
                self.remove_plain(key.clone());
            }
            for key in new.into_iter().filter(|k| !old.contains(k)) {
                self.put_plain(key, Vec::new());
            }
        }
        self.put_plain(MARKET_TOTALS.into(), encode(&totals));
        Ok(())
    }
}

fn u40(value: alloy::primitives::aliases::U40) -> u64 {
    value.to::<u64>()
}

/// Efficiency figures of a report (the shared definition in `compute-ledger-types`).
fn efficiency(r: &ClusterRegistry::UsageReport, epoch_length: u32) -> Efficiency {
    Efficiency::of(
        u40(r.gpuSecondsAvailable),
        u40(r.gpuSecondsBusy),
        u64::from(r.gpusInstalled) * u64::from(epoch_length),
        u40(r.itEnergyWh),
        u40(r.facilityEnergyWh),
    )
}

pub(crate) fn apply_log(ch: &mut Changes<'_>, log: &LedgerLog) -> Result<()> {
    match &log.event {
        LedgerEvent::Registry(event) => apply_registry(ch, log, event),
        LedgerEvent::Market(event) => apply_market(ch, log, event),
        LedgerEvent::Disputes(event) => apply_disputes(ch, event),
        LedgerEvent::Exchange(event) => super::exchange::apply(ch, log, event),
        LedgerEvent::Pricer(event) => super::pricing::apply(ch, log, event),
        LedgerEvent::DemandResponse(event) => super::demand::apply(ch, log, event),
    }
}

fn apply_disputes(ch: &mut Changes<'_>, event: &DisputeDesk::DisputeDeskEvents) -> Result<()> {
    use DisputeDesk::DisputeDeskEvents as D;
    let (lease_id, epoch) = match event {
        D::EpochChallengeOpened(e) => (e.leaseId, e.epoch),
        D::EpochChallengeResolved(e) => (e.leaseId, e.epoch),
        D::EpochChallengeExpired(e) => (e.leaseId, e.epoch),
        D::ConflictingLeavesProven(e) => (e.leaseId, e.epoch),
        _ => return Ok(()),
    };
    let lease = ch.update(lease_key(lease_id), |l: &mut LeaseRow| {
        l.open_challenges.retain(|e| *e != epoch);
        if let D::EpochChallengeOpened(e) = event {
            l.open_challenges.push(epoch);
            l.disputes.push(DisputeRow {
                epoch,
                status: "open".into(),
                challenger: e.challenger,
                bond: e.bond,
                resolve_by: e.resolveBy,
                ruled_delivered: None,
                ruled_energy_wh: None,
            });
            return;
        }
        let index = match l.disputes.iter().position(|d| d.epoch == epoch) {
            Some(index) => index,
            None => {
                l.disputes.push(DisputeRow {
                    epoch,
                    status: String::new(),
                    challenger: Address::ZERO,
                    bond: U256::ZERO,
                    resolve_by: 0,
                    ruled_delivered: None,
                    ruled_energy_wh: None,
                });
                l.disputes.len() - 1
            }
        };
        let dispute = &mut l.disputes[index];
        match event {
            D::EpochChallengeResolved(e) => {
                dispute.status = if e.upheld { "upheld" } else { "rejected" }.into();
                dispute.ruled_delivered = Some(e.delivered);
                dispute.ruled_energy_wh = Some(e.energyWh);
            }
            D::EpochChallengeExpired(_) => dispute.status = "expired".into(),
            _ => dispute.status = "conflict".into(),
        }
    })?;
    due::track_challenge(ch, &lease, epoch);
    Ok(())
}

fn apply_registry(ch: &mut Changes<'_>, log: &LedgerLog, event: &R) -> Result<()> {
    match event {
        R::ClusterRegistered(e) => {
            // The registry emits the first `AttestorsSet` just before `ClusterRegistered`.
            let AttestorSet(attestors, threshold, from_epoch) =
                ch.get(&attestors_key(e.clusterId))?.unwrap_or_default();
            ch.put(
                cluster_key(e.clusterId),
                ClusterRow {
                    id: e.clusterId,
                    owner: e.owner,
                    epoch_length: e.epochLength,
                    genesis: e.genesis,
                    metadata_uri: e.metadataUri.clone(),
                    metadata_hash: e.metadataHash,
                    active: true,
                    attestors,
                    threshold,
                    attestors_from_epoch: from_epoch,
                    reports: 0,
                    latest_report: None,
                    total_it_energy_wh: 0,
                    total_facility_energy_wh: 0,
                    rent_settled: U256::ZERO,
                    credits_paid: U256::ZERO,
                    energy_billed: U256::ZERO,
                    bonds: BTreeMap::new(),
                    power: Default::default(),
                },
            );
        }
        R::AttestorsSet(e) => {
            ch.put(
                attestors_key(e.clusterId),
                AttestorSet(e.attestors.clone(), e.threshold, e.fromEpoch),
            );
            if ch.get::<ClusterRow>(&cluster_key(e.clusterId))?.is_some() {
                ch.update(cluster_key(e.clusterId), |c: &mut ClusterRow| {
                    c.attestors.clone_from(&e.attestors);
                    c.threshold = e.threshold;
                    c.attestors_from_epoch = e.fromEpoch;
                })?;
            }
        }
        R::ClusterDeregistered(e) => {
            ch.update(cluster_key(e.clusterId), |c: &mut ClusterRow| c.active = false)?;
        }
        R::ReportAccepted(e) => {
            let cluster: ClusterRow = ch.need(&cluster_key(e.clusterId))?;
            let r = &e.report;
            let row = ReportRow {
                cluster_id: e.clusterId,
                epoch: e.epoch,
                gpus_installed: r.gpusInstalled,
                gpus_healthy: r.gpusHealthy,
                gpu_seconds_available: u40(r.gpuSecondsAvailable),
                gpu_seconds_busy: u40(r.gpuSecondsBusy),
                it_energy_wh: u40(r.itEnergyWh),
                facility_energy_wh: u40(r.facilityEnergyWh),
                deliveries_root: r.deliveriesRoot,
                telemetry_root: r.telemetryRoot,
                relayer: e.relayer,
                block: log.block_number,
                // The indexer fills the timestamp in when the RPC's logs lack it.
                accepted_at: log.block_timestamp.unwrap_or_default(),
                efficiency: efficiency(r, cluster.epoch_length),
            };
            ch.put(report_key(e.clusterId, e.epoch), row.clone());
            ch.update(cluster_key(e.clusterId), |c: &mut ClusterRow| {
                c.reports += 1;
                c.total_it_energy_wh += row.it_energy_wh;
                c.total_facility_energy_wh += row.facility_energy_wh;
                c.latest_report = Some(row.clone());
            })?;
            ch.updates.push(Update::Report(row));
        }
        // Governance events change nothing wallets query.
        _ => {}
    }
    Ok(())
}

fn apply_market(ch: &mut Changes<'_>, log: &LedgerLog, event: &M) -> Result<()> {
    match event {
        M::BondDeposited(e) => {
            ch.update(cluster_key(e.clusterId), |c: &mut ClusterRow| {
                c.bonds.entry(e.token).or_default().total += e.amount;
            })?;
        }
        M::BondWithdrawn(e) => {
            ch.update(cluster_key(e.clusterId), |c: &mut ClusterRow| {
                let bond = c.bonds.entry(e.token).or_default();
                bond.total = bond.total.saturating_sub(e.amount);
            })?;
        }
        M::LeaseCreated(e) => lease_created(ch, log, e)?,
        M::LeaseFunded(e) => {
            let before: LeaseRow = ch.need(&lease_key(e.leaseId))?;
            let lease = ch.update(lease_key(e.leaseId), |l: &mut LeaseRow| {
                l.status = LeaseStatus::Active;
                l.escrow_funded = e.escrow;
                // Funded late: the lease starts later and the skipped epochs' lock is released.
                l.start_epoch = e.startEpoch;
                l.next_epoch = e.startEpoch;
            })?;
            let skipped = e.startEpoch.saturating_sub(before.start_epoch);
            let cluster = ch.update(cluster_key(before.cluster_id), |c: &mut ClusterRow| {
                let bond = c.bonds.entry(before.stablecoin).or_default();
                let released = before.credit_lock_per_epoch * U256::from(skipped);
                bond.locked = bond.locked.saturating_sub(released);
                c.power.shell_kw_leased += shell_kw(&before);
            })?;
            due::enqueue(ch, &cluster, &lease);
        }
        M::LeaseCancelled(e) => {
            let lease = ch.update(lease_key(e.leaseId), |l: &mut LeaseRow| {
                l.status = LeaseStatus::Cancelled;
            })?;
            let lock =
                lease.credit_lock_per_epoch * U256::from(lease.end_epoch - lease.start_epoch);
            let cluster = ch.update(cluster_key(lease.cluster_id), |c: &mut ClusterRow| {
                let bond = c.bonds.entry(lease.stablecoin).or_default();
                bond.locked = bond.locked.saturating_sub(lock);
            })?;
            due::dequeue(ch, &cluster, lease.id, lease.next_epoch);
        }
        M::LeaseEnded(e) => {
            let lease =
                ch.update(lease_key(e.leaseId), |l: &mut LeaseRow| l.status = LeaseStatus::Ended)?;
            let cluster = ch.update(cluster_key(lease.cluster_id), |c: &mut ClusterRow| {
                c.power.shell_kw_leased = c.power.shell_kw_leased.saturating_sub(shell_kw(&lease));
            })?;
            due::dequeue(ch, &cluster, lease.id, lease.next_epoch);
        }
        M::SharesOffered(e) => {
            ch.update(lease_key(e.leaseId), |l: &mut LeaseRow| {
                l.offer = Some(OfferRow {
                    seller: e.seller,
                    amount: e.amount,
                    price_per_share: e.pricePerShare,
                });
            })?;
        }
        M::SharesBought(e) => {
            ch.update(lease_key(e.leaseId), |l: &mut LeaseRow| {
                if let Some(offer) = &mut l.offer {
                    offer.amount = offer.amount.saturating_sub(e.amount);
                }
            })?;
            let mut buyer = ch.position(e.buyer, e.leaseId)?;
            buyer.cost += e.cost;
            ch.put_position(buyer);
        }
        M::EpochSettled(e) => epoch_settled(ch, log, e)?,
        M::EnergyBilled(e) => energy_billed(ch, e)?,
        M::HolderBalanceRecorded(e) => {
            ch.update(lease_key(e.leaseId), |l: &mut LeaseRow| {
                l.acc_at.entry(e.epoch).or_insert(U256::ZERO);
            })?;
            let mut holder = ch.position(e.holder, e.leaseId)?;
            holder.boundaries.push((e.epoch, e.balance));
            ch.put_position(holder);
        }
        M::RentClaimed(e) => {
            let lease: LeaseRow = ch.need(&lease_key(e.leaseId))?;
            let mut holder = ch.position(e.account, e.leaseId)?;
            holder.checkpoint(&lease);
            holder.accrued = U256::ZERO;
            holder.claimed += e.amount;
            ch.put_position(holder);
        }
        M::TransferSingle(e) => transfer(ch, e.from, e.to, e.id, e.value)?,
        M::TransferBatch(e) => {
            for (id, value) in e.ids.iter().zip(&e.values) {
                transfer(ch, e.from, e.to, *id, *value)?;
            }
        }
        // Governance, approvals and URI events change nothing wallets query.
        _ => {}
    }
    Ok(())
}

fn lease_created(
    ch: &mut Changes<'_>,
    log: &LedgerLog,
    e: &LeaseMarket::LeaseCreated,
) -> Result<()> {
    let t = &e.terms;
    let epochs = t.endEpoch.saturating_sub(t.startEpoch).max(1);
    ch.put(
        lease_key(e.leaseId),
        LeaseRow {
            id: e.leaseId,
            cluster_id: t.clusterId,
            tenant: t.tenant,
            stablecoin: t.stablecoin,
            unit: compute_ledger_sdk::Unit::from_u8(t.unit).unwrap_or_default(),
            units: t.units,
            start_epoch: t.startEpoch,
            end_epoch: t.endEpoch,
            next_epoch: t.startEpoch,
            price_per_unit_hour: U256::from(t.pricePerUnitHour),
            energy_price_per_kwh: U256::from(t.energyPricePerKwh),
            billing: Billing::from_u8(t.billing),
            sla_bps: t.slaBps,
            credit_bps: t.creditBps,
            total_shares: U256::from(t.totalShares),
            status: LeaseStatus::Offered,
            escrow_funded: U256::ZERO,
            rent_settled: U256::ZERO,
            credits: U256::ZERO,
            delivered: 0,
            energy_wh: 0,
            energy_billed: U256::ZERO,
            missed_epochs: 0,
            unproven_epochs: 0,
            compensation: U256::ZERO,
            // The market starts every accumulator at 1 (see `createLease`).
            rent_per_share: U256::from(1),
            credit_lock_per_epoch: e.bondLocked / U256::from(epochs),
            open_challenges: Vec::new(),
            disputes: Vec::new(),
            offer: None,
            acc_at: BTreeMap::new(),
            created_block: log.block_number,
        },
    );
    ch.update(cluster_key(t.clusterId), |c: &mut ClusterRow| {
        c.bonds.entry(t.stablecoin).or_default().locked += e.bondLocked;
    })?;
    Ok(())
}

fn epoch_settled(
    ch: &mut Changes<'_>,
    log: &LedgerLog,
    e: &LeaseMarket::EpochSettled,
) -> Result<()> {
    let outcome = Outcome::from_u8(e.outcome);
    let lease = ch.update(lease_key(e.leaseId), |l: &mut LeaseRow| {
        l.next_epoch = e.epoch + 1;
        l.rent_settled += e.rent;
        l.credits += e.slaCredit;
        l.delivered += e.delivered;
        l.missed_epochs += u64::from(outcome == Outcome::Missed);
        l.unproven_epochs += u64::from(outcome == Outcome::Unproven);
        l.compensation += e.compensation;
        l.rent_per_share = e.rentPerShare;
        l.open_challenges.retain(|epoch| *epoch != e.epoch);
        if let Some(at) = l.acc_at.get_mut(&(e.epoch + 1)) {
            *at = e.rentPerShare;
        }
    })?;
    let cluster = ch.update(cluster_key(lease.cluster_id), |c: &mut ClusterRow| {
        c.rent_settled += e.rent;
        if shell_kw(&lease) != 0 {
            c.power.shell_rent_settled += e.rent;
            c.power.shell_kw_seconds_settled += shell_kw(&lease) * u64::from(c.epoch_length);
        }
        c.credits_paid += e.slaCredit;
        let bond = c.bonds.entry(lease.stablecoin).or_default();
        bond.locked = bond.locked.saturating_sub(lease.credit_lock_per_epoch);
        bond.total = bond.total.saturating_sub(e.slaCredit + e.compensation);
    })?;
    due::dequeue(ch, &cluster, lease.id, e.epoch);
    due::enqueue(ch, &cluster, &lease);
    let row = SettlementRow {
        lease_id: e.leaseId,
        cluster_id: lease.cluster_id,
        epoch: e.epoch,
        delivered: e.delivered,
        energy_wh: 0,
        energy_charge: U256::ZERO,
        rent: e.rent,
        sla_credit: e.slaCredit,
        missed: outcome == Outcome::Missed,
        outcome: outcome.as_str().into(),
        compensation: e.compensation,
        block: log.block_number,
        tx_hash: log.tx_hash,
    };
    ch.put(settlement_key(e.leaseId, e.epoch), row.clone());
    ch.updates.push(Update::Settlement(row));
    Ok(())
}

/// A powered shell's kW (0 for a GPU lease).
fn shell_kw(lease: &LeaseRow) -> u64 {
    if lease.unit == compute_ledger_sdk::Unit::Kw { u64::from(lease.units) } else { 0 }
}

/// A powered shell's epoch (right after its `EpochSettled`): the racks' metered energy and the
/// pass-through charge, from escrow into the cluster's bond.
fn energy_billed(ch: &mut Changes<'_>, e: &LeaseMarket::EnergyBilled) -> Result<()> {
    let lease = ch.update(lease_key(e.leaseId), |l: &mut LeaseRow| {
        l.energy_wh += e.energyWh;
        l.energy_billed += e.charge;
    })?;
    ch.update(cluster_key(lease.cluster_id), |c: &mut ClusterRow| {
        c.energy_billed += e.charge;
        c.power.shell_energy_wh += e.energyWh;
        c.bonds.entry(lease.stablecoin).or_default().total += e.charge;
    })?;
    ch.update(settlement_key(e.leaseId, e.epoch), |s: &mut SettlementRow| {
        s.energy_wh = e.energyWh;
        s.energy_charge = e.charge;
    })?;
    Ok(())
}

/// An ERC-1155 share movement: checkpoint both sides at the lease's accumulator, then move.
fn transfer(ch: &mut Changes<'_>, from: Address, to: Address, id: U256, value: U256) -> Result<()> {
    let lease = ch.need::<LeaseRow>(&lease_key(id))?;
    if from != Address::ZERO {
        let mut seller = ch.position(from, id)?;
        seller.checkpoint(&lease);
        seller.shares = seller.shares.saturating_sub(value);
        ch.put_position(seller);
    }
    if to != Address::ZERO {
        let mut buyer = ch.position(to, id)?;
        buyer.checkpoint(&lease);
        buyer.shares += value;
        ch.put_position(buyer);
    }
    Ok(())
}
