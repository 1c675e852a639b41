//! What the index stores, as wallets read it over JSON-RPC (camelCase JSON; token amounts and
//! other 256-bit numbers as decimal strings, so no JavaScript client loses precision).

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

/// The accumulator scale of `RentLib.ACC_SCALE`.
pub const ACC_SCALE: u128 = 1_000_000_000_000_000_000_000_000_000_000_000_000;

/// Serde for `U256` as a decimal string.
pub mod dec {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Writes the decimal string.
    pub fn serialize<S: Serializer>(value: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    /// Reads a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let text = String::deserialize(d)?;
        U256::from_str_radix(&text, 10).map_err(D::Error::custom)
    }
}

/// A cluster's bond in one stablecoin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BondRow {
    /// Deposited less credits paid and withdrawals.
    #[serde(with = "dec")]
    pub total: U256,
    /// Locked by open leases' worst-case credits.
    #[serde(with = "dec")]
    pub locked: U256,
}

/// Efficiency figures of one report (or the latest one, on a cluster).
pub use compute_ledger_types::Efficiency;

/// An accepted usage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportRow {
    /// Cluster.
    pub cluster_id: u64,
    /// Epoch.
    pub epoch: u64,
    /// GPUs installed.
    pub gpus_installed: u32,
    /// GPUs healthy at the end of the epoch.
    pub gpus_healthy: u32,
    /// Healthy GPU-seconds.
    pub gpu_seconds_available: u64,
    /// Busy GPU-seconds.
    pub gpu_seconds_busy: u64,
    /// IT energy, watt-hours.
    pub it_energy_wh: u64,
    /// Facility energy, watt-hours.
    pub facility_energy_wh: u64,
    /// Root of the deliveries tree.
    pub deliveries_root: B256,
    /// Root of the telemetry archive.
    pub telemetry_root: B256,
    /// Who relayed it.
    pub relayer: Address,
    /// Block it was accepted in.
    pub block: u64,
    /// Chain time it was accepted at (its block's timestamp): its challenge window starts here.
    #[serde(default)]
    pub accepted_at: u64,
    /// Derived efficiency figures.
    #[serde(flatten)]
    pub efficiency: Efficiency,
}

/// A cluster and its running totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRow {
    /// Id.
    pub id: u64,
    /// Owner.
    pub owner: Address,
    /// Seconds per epoch.
    pub epoch_length: u32,
    /// Start of epoch 0 (unix seconds).
    pub genesis: u64,
    /// Description URI.
    pub metadata_uri: String,
    /// keccak256 of the description.
    pub metadata_hash: B256,
    /// Registered and not deregistered.
    pub active: bool,
    /// The newest attestor set.
    pub attestors: Vec<Address>,
    /// Signatures the newest set requires.
    pub threshold: u8,
    /// First epoch of the newest set.
    pub attestors_from_epoch: u64,
    /// Reports accepted.
    pub reports: u64,
    /// The latest accepted report.
    pub latest_report: Option<ReportRow>,
    /// IT energy over every report, Wh.
    pub total_it_energy_wh: u64,
    /// Facility energy over every report, Wh.
    pub total_facility_energy_wh: u64,
    /// Rent settled on the cluster's leases, stablecoin base units.
    #[serde(with = "dec")]
    pub rent_settled: U256,
    /// SLA credits paid from the cluster's bonds.
    #[serde(with = "dec")]
    pub credits_paid: U256,
    /// Bonds by stablecoin.
    pub bonds: BTreeMap<Address, BondRow>,
}

impl ClusterRow {
    /// Rent settled per facility kWh reported, in stablecoin base units.
    pub fn revenue_per_kwh(&self) -> Option<U256> {
        (self.total_facility_energy_wh > 0).then(|| {
            self.rent_settled * U256::from(1_000) / U256::from(self.total_facility_energy_wh)
        })
    }
}

/// Where a lease is in its life (as the market's `LeaseStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LeaseState {
    /// Waiting for the tenant's escrow.
    Offered,
    /// Funded; epochs settle.
    Active,
    /// Every epoch settled.
    Ended,
    /// Cancelled before funding.
    Cancelled,
}

/// The owner's current primary-sale offer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferRow {
    /// Seller.
    pub seller: Address,
    /// Shares still offered.
    #[serde(with = "dec")]
    pub amount: U256,
    /// Price per share, base units.
    #[serde(with = "dec")]
    pub price_per_share: U256,
}

/// A lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseRow {
    /// Id (also the ERC-1155 token id).
    #[serde(with = "dec")]
    pub id: U256,
    /// Cluster.
    pub cluster_id: u64,
    /// Tenant.
    pub tenant: Address,
    /// Payment stablecoin.
    pub stablecoin: Address,
    /// GPUs leased.
    pub gpus: u32,
    /// First epoch billed.
    pub start_epoch: u64,
    /// First epoch after the term.
    pub end_epoch: u64,
    /// Next epoch to settle.
    pub next_epoch: u64,
    /// Price per GPU-hour, base units.
    #[serde(with = "dec")]
    pub price_per_gpu_hour: U256,
    /// `reserved` (healthy GPU-seconds) or `metered` (busy GPU-seconds).
    pub billing: String,
    /// SLA threshold, basis points of capacity.
    pub sla_bps: u16,
    /// Credit, basis points of the shortfall's rent.
    pub credit_bps: u16,
    /// Shares in existence.
    #[serde(with = "dec")]
    pub total_shares: U256,
    /// Life-cycle state.
    pub status: LeaseState,
    /// Escrow funded (zero before funding).
    #[serde(with = "dec")]
    pub escrow_funded: U256,
    /// Rent settled so far.
    #[serde(with = "dec")]
    pub rent_settled: U256,
    /// SLA credits earned by the tenant so far.
    #[serde(with = "dec")]
    pub credits: U256,
    /// GPU-seconds billed so far.
    pub delivered_gpu_seconds: u64,
    /// Epochs settled as missed (no report by the deadline).
    pub missed_epochs: u64,
    /// Epochs settled as unproven (reported, but the lease's leaf never proven).
    #[serde(default)]
    pub unproven_epochs: u64,
    /// Rent paid to holders from the owner's bond for missed and unproven epochs.
    #[serde(default, with = "dec")]
    pub compensation: U256,
    /// Rent-per-share accumulator (scaled by 1e36).
    #[serde(with = "dec")]
    pub rent_per_share: U256,
    /// Bond locked per unsettled epoch.
    #[serde(with = "dec")]
    pub credit_lock_per_epoch: U256,
    /// Epochs under an open challenge.
    pub open_challenges: Vec<u64>,
    /// Every dispute of the lease's epochs, oldest first.
    #[serde(default)]
    pub disputes: Vec<DisputeRow>,
    /// The current offer of shares.
    pub offer: Option<OfferRow>,
    /// The accumulator once every epoch before the key had settled, kept for the epochs at
    /// which a holder's balance was recorded (zero until that epoch's predecessor settles).
    #[serde(default)]
    pub acc_at: BTreeMap<u64, U256>,
    /// Block it was created in.
    pub created_block: u64,
}

/// One holder's shares of one lease and the checkpoint the market keeps for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionRow {
    /// Holder.
    pub holder: Address,
    /// Lease.
    #[serde(with = "dec")]
    pub lease_id: U256,
    /// Shares held.
    #[serde(with = "dec")]
    pub shares: U256,
    /// Accumulator value at the last checkpoint.
    #[serde(with = "dec")]
    pub rent_per_share_paid: U256,
    /// Rent accrued up to the last checkpoint and not claimed.
    #[serde(with = "dec")]
    pub accrued: U256,
    /// Rent claimed in total.
    #[serde(with = "dec")]
    pub claimed: U256,
    /// Paid for shares bought from offers, in total.
    #[serde(with = "dec")]
    pub cost: U256,
    /// Balances recorded while ended epochs were unsettled, oldest first: `(epoch, balance)`
    /// means the holder held `balance` when every epoch before `epoch` ended.
    #[serde(default)]
    pub boundaries: Vec<(u64, U256)>,
}

impl PositionRow {
    /// Rent claimable now (what `LeaseMarket.claimable` returns, computed the same way).
    pub fn claimable(&self, lease: &LeaseRow) -> U256 {
        self.accrue(lease).0
    }

    /// The market's `_checkpoint`: book what the balance earned since the last checkpoint and
    /// drop the boundaries whose epochs have all settled.
    pub fn checkpoint(&mut self, lease: &LeaseRow) {
        let (owed, resolved) = self.accrue(lease);
        self.accrued = owed;
        self.rent_per_share_paid = lease.rent_per_share;
        self.boundaries.drain(..resolved);
    }

    /// The market's `_accrue`: settled epochs before a recorded boundary earn at its balance,
    /// later ones at the current balance. Returns what is owed and how many boundaries resolved.
    fn accrue(&self, lease: &LeaseRow) -> (U256, usize) {
        let scale = U256::from(ACC_SCALE);
        let acc = lease.rent_per_share;
        let (mut owed, mut paid) = (self.accrued, self.rent_per_share_paid);
        for (resolved, (epoch, balance)) in self.boundaries.iter().enumerate() {
            if *epoch > lease.next_epoch {
                return (owed + *balance * acc.saturating_sub(paid) / scale, resolved);
            }
            let at = lease.acc_at.get(epoch).copied().unwrap_or(paid);
            owed += *balance * at.saturating_sub(paid) / scale;
            paid = at;
        }
        (owed + self.shares * acc.saturating_sub(paid) / scale, self.boundaries.len())
    }
}

/// A challenge of one epoch, or conflicting leaves proven for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisputeRow {
    /// The disputed epoch.
    pub epoch: u64,
    /// `open`, `upheld`, `rejected`, `expired` (the arbiter did not rule in time: the report
    /// stands) or `conflict` (two leaves proven: settles unproven).
    pub status: String,
    /// Who challenged (zero for a conflict proof).
    pub challenger: Address,
    /// The challenge bond.
    #[serde(with = "dec")]
    pub bond: U256,
    /// Until when (unix seconds) the arbiter may rule.
    pub resolve_by: u64,
    /// The arbiter's ruling in GPU-seconds (upheld or rejected).
    pub ruled_gpu_seconds: Option<u64>,
}

/// One settled (lease, epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementRow {
    /// Lease.
    #[serde(with = "dec")]
    pub lease_id: U256,
    /// Cluster.
    pub cluster_id: u64,
    /// Epoch.
    pub epoch: u64,
    /// GPU-seconds billed.
    pub delivered_gpu_seconds: u64,
    /// Rent to share holders.
    #[serde(with = "dec")]
    pub rent: U256,
    /// Credit to the tenant.
    #[serde(with = "dec")]
    pub sla_credit: U256,
    /// No report came by the deadline.
    pub missed: bool,
    /// How the epoch was billed: `proven`, `arbitrated`, `missed` or `unproven`.
    pub outcome: String,
    /// Rent paid to holders from the owner's bond (missed or unproven epochs).
    #[serde(with = "dec")]
    pub compensation: U256,
    /// Block.
    pub block: u64,
    /// Transaction.
    pub tx_hash: B256,
}

/// A position with its claimable rent, as `ledger_positions` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionView {
    /// The stored position.
    #[serde(flatten)]
    pub position: PositionRow,
    /// Shares in existence.
    #[serde(with = "dec")]
    pub total_shares: U256,
    /// Rent claimable now.
    #[serde(with = "dec")]
    pub claimable: U256,
    /// The lease's state.
    pub lease_status: LeaseState,
}

/// Where the indexer stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// Block where indexing began (the deployment block).
    pub deploy_block: u64,
    /// Last block indexed (its events are all applied).
    pub indexed_block: Option<u64>,
    /// Latest block the RPC reported at the last poll.
    pub head_block: u64,
    /// Blocks the index trails the head by.
    pub lag: u64,
    /// Confirmations the indexer waits for.
    pub confirmations: u64,
    /// Reorgs rolled back since start.
    pub reorgs: u64,
}
