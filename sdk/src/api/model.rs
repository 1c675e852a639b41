//! What the node's index stores and the `ledger_` methods return, as wallets read it (camelCase JSON; token amounts and
//! other 256-bit numbers as decimal strings, so no JavaScript client loses precision).

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, U256};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema;
pub use crate::lease::{Billing, LeaseStatus, Unit};

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BondRow {
    /// Deposited less credits paid and withdrawals.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub total: U256,
    /// Locked by open leases' worst-case credits.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub locked: U256,
}

/// Efficiency figures of one report (or the latest one, on a cluster).
pub use compute_ledger_types::Efficiency;

/// An accepted usage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    #[schemars(schema_with = "schema::hash")]
    pub deliveries_root: B256,
    /// Root of the telemetry archive.
    #[schemars(schema_with = "schema::hash")]
    pub telemetry_root: B256,
    /// Who relayed it.
    #[schemars(schema_with = "schema::address")]
    pub relayer: Address,
    /// Block it was accepted in.
    pub block: u64,
    /// Chain time it was accepted at (its block's timestamp): its challenge window starts here.
    #[serde(default)]
    pub accepted_at: u64,
    /// Derived efficiency figures.
    #[serde(flatten)]
    #[schemars(with = "schema::EfficiencySchema")]
    pub efficiency: Efficiency,
}

/// A cluster and its running totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRow {
    /// Id.
    pub id: u64,
    /// Owner.
    #[schemars(schema_with = "schema::address")]
    pub owner: Address,
    /// Seconds per epoch.
    pub epoch_length: u32,
    /// Start of epoch 0 (unix seconds).
    pub genesis: u64,
    /// Description URI.
    pub metadata_uri: String,
    /// keccak256 of the description.
    #[schemars(schema_with = "schema::hash")]
    pub metadata_hash: B256,
    /// Registered and not deregistered.
    pub active: bool,
    /// The newest attestor set.
    #[schemars(schema_with = "schema::addresses")]
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
    #[schemars(schema_with = "schema::decimal")]
    pub rent_settled: U256,
    /// SLA credits paid from the cluster's bonds.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub credits_paid: U256,
    /// Powered shells' energy pass-through billed to tenants, into the cluster's bonds.
    #[serde(default, with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub energy_billed: U256,
    /// Bonds by stablecoin.
    #[schemars(schema_with = "schema::bonds")]
    pub bonds: BTreeMap<Address, BondRow>,
    /// Power as the asset: powered shells and demand response.
    #[serde(default)]
    pub power: PowerTotals,
}

/// A site's power business: powered-shell leases and demand-response events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PowerTotals {
    /// kW leased as powered shells now (funded, not ended).
    pub shell_kw_leased: u64,
    /// Rent settled on powered shells, base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub shell_rent_settled: U256,
    /// Powered-shell capacity settled, kW-seconds (kW leased × epoch length, per settled epoch).
    pub shell_kw_seconds_settled: u64,
    /// Energy the powered shells' sub-meters counted and their tenants paid for, Wh.
    pub shell_energy_wh: u64,
    /// Demand-response events dispatched to the site.
    pub curtailment_events: u64,
    /// Of those, settled (paid, penalized, or closed with nothing owed).
    pub curtailments_settled: u64,
    /// Curtailment committed in the settled events, Wh.
    pub committed_wh_settled: u64,
    /// Curtailment attested (or ruled) in the settled events, Wh.
    pub curtailed_wh: u64,
    /// Demand-response payouts, base units of the programs' tokens.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub demand_response_paid: U256,
    /// Penalties for shortfalls, base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub demand_response_penalties: U256,
}

/// Mine or lease, per MW-hour: each use's margin at one site, its occupancy, and which use of
/// the next megawatt pays most (`ledger_megawattEconomics`). Amounts are decimals in the
/// stablecoin; a use with nothing settled yet is `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MegawattEconomicsView {
    /// The site's cluster.
    pub cluster_id: u64,
    /// Energized critical-IT kW, as given.
    pub energized_kw: u64,
    /// kW leased as powered shells now.
    pub shell_kw_leased: u64,
    /// Leased powered-shell kW over energized kW, basis points.
    pub occupancy_bps: u64,
    /// Powered-shell rent per MW-hour of capacity (energy is passed through to the tenant).
    pub shell_per_mwh: Option<String>,
    /// GPU rent per facility MWh, less that MWh's energy.
    pub gpu_per_mwh: Option<String>,
    /// Demand-response payouts per MWh of committed curtailment (on top of the load shed).
    pub demand_response_per_mwh: Option<String>,
    /// Mining revenue per MW-hour at the hashprice and fleet efficiency.
    pub mining_revenue_per_mwh: String,
    /// Mining revenue less the MWh of energy (never below zero).
    pub mining_per_mwh: String,
    /// The use whose margin per MW-hour is highest.
    pub best_use: crate::MegawattUse,
    /// The settled history these come from.
    pub power: PowerTotals,
}

/// A site's enrollment in a demand-response program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRow {
    /// Enrollment id.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub id: U256,
    /// Program id.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub program_id: U256,
    /// The enrolled cluster.
    pub cluster_id: u64,
    /// Flexible load committed, kW.
    pub committed_kw: u32,
    /// Who receives payouts.
    #[schemars(schema_with = "schema::address")]
    pub payee: Address,
}

/// A demand-response event and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurtailmentRow {
    /// Event id.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub id: U256,
    /// Enrollment id.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub enrollment_id: U256,
    /// The site's cluster.
    pub cluster_id: u64,
    /// First second of the event (unix).
    pub start: u64,
    /// First second after it.
    pub end: u64,
    /// The cluster epoch whose report attests it.
    pub report_epoch: u64,
    /// Curtailment committed, Wh.
    pub committed_wh: u64,
    /// `dispatched`, `acknowledged`, `contested`, `declined` or `settled`.
    pub status: String,
    /// Whether the site acknowledged receipt before the start.
    pub acknowledged: bool,
    /// Curtailment attested or ruled, Wh (once settled).
    pub curtailed_wh: Option<u64>,
    /// Paid to the site's payee, base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub payout: U256,
    /// Charged to the site's bond, base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub penalty: U256,
    /// Block it was dispatched in.
    pub block: u64,
}

impl ClusterRow {
    /// Rent settled per facility kWh reported, in stablecoin base units.
    pub fn revenue_per_kwh(&self) -> Option<U256> {
        (self.total_facility_energy_wh > 0).then(|| {
            self.rent_settled * U256::from(1_000) / U256::from(self.total_facility_energy_wh)
        })
    }
}

/// The owner's current primary-sale offer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfferRow {
    /// Seller.
    #[schemars(schema_with = "schema::address")]
    pub seller: Address,
    /// Shares still offered.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub amount: U256,
    /// Price per share, base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub price_per_share: U256,
}

/// A lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseRow {
    /// Id (also the ERC-1155 token id).
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub id: U256,
    /// Cluster.
    pub cluster_id: u64,
    /// Tenant.
    #[schemars(schema_with = "schema::address")]
    pub tenant: Address,
    /// Payment stablecoin.
    #[schemars(schema_with = "schema::address")]
    pub stablecoin: Address,
    /// What is leased: `gpu`, or `kw` of critical-IT power (a powered shell).
    #[serde(default)]
    pub unit: Unit,
    /// GPUs or kW leased.
    pub units: u32,
    /// First epoch billed.
    pub start_epoch: u64,
    /// First epoch after the term.
    pub end_epoch: u64,
    /// Next epoch to settle.
    pub next_epoch: u64,
    /// Price per unit-hour (GPU-hour, or kW-hour of capacity), base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub price_per_unit_hour: U256,
    /// A powered shell's energy pass-through per kWh, base units (0 for none).
    #[serde(default, with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub energy_price_per_kwh: U256,
    /// `reserved` (healthy GPU-seconds) or `metered` (busy GPU-seconds).
    pub billing: Billing,
    /// SLA threshold, basis points of capacity.
    pub sla_bps: u16,
    /// Credit, basis points of the shortfall's rent.
    pub credit_bps: u16,
    /// Shares in existence.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub total_shares: U256,
    /// Life-cycle state.
    pub status: LeaseStatus,
    /// Escrow funded (zero before funding).
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub escrow_funded: U256,
    /// Rent settled so far.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub rent_settled: U256,
    /// SLA credits earned by the tenant so far.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub credits: U256,
    /// Unit-seconds billed so far (GPU-seconds, or a powered shell's kW-seconds).
    pub delivered: u64,
    /// A powered shell's metered energy settled so far (Wh).
    #[serde(default)]
    pub energy_wh: u64,
    /// Energy pass-through billed so far (escrow to the cluster's bond), base units.
    #[serde(default, with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub energy_billed: U256,
    /// Epochs settled as missed (no report by the deadline).
    pub missed_epochs: u64,
    /// Epochs settled as unproven (reported, but the lease's leaf never proven).
    #[serde(default)]
    pub unproven_epochs: u64,
    /// Rent paid to holders from the owner's bond for missed and unproven epochs.
    #[serde(default, with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub compensation: U256,
    /// Rent-per-share accumulator (scaled by 1e36).
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub rent_per_share: U256,
    /// Bond locked per unsettled epoch.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
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
    #[serde(default, deserialize_with = "epoch_keys::deserialize")]
    #[schemars(schema_with = "schema::hex_by_epoch")]
    pub acc_at: BTreeMap<u64, U256>,
    /// Block it was created in.
    pub created_block: u64,
}

/// One holder's shares of one lease and the checkpoint the market keeps for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PositionRow {
    /// Holder.
    #[schemars(schema_with = "schema::address")]
    pub holder: Address,
    /// Lease.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub lease_id: U256,
    /// Shares held.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub shares: U256,
    /// Accumulator value at the last checkpoint.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub rent_per_share_paid: U256,
    /// Rent accrued up to the last checkpoint and not claimed.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub accrued: U256,
    /// Rent claimed in total.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub claimed: U256,
    /// Paid for shares bought, in total: from the owner's offers and on the share exchange.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub cost: U256,
    /// Received for shares sold on the share exchange, in total.
    #[serde(default, with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub proceeds: U256,
    /// Balances recorded while ended epochs were unsettled, oldest first: `(epoch, balance)`
    /// means the holder held `balance` when every epoch before `epoch` ended.
    #[serde(default)]
    #[schemars(schema_with = "schema::boundaries")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisputeRow {
    /// The disputed epoch.
    pub epoch: u64,
    /// `open`, `upheld`, `rejected`, `expired` (the arbiter did not rule in time: the report
    /// stands) or `conflict` (two leaves proven: settles unproven).
    pub status: String,
    /// Who challenged (zero for a conflict proof).
    #[schemars(schema_with = "schema::address")]
    pub challenger: Address,
    /// The challenge bond.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub bond: U256,
    /// Until when (unix seconds) the arbiter may rule.
    pub resolve_by: u64,
    /// The arbiter's ruling in unit-seconds (upheld or rejected).
    pub ruled_delivered: Option<u64>,
    /// The arbiter's ruling of the racks' metered energy (Wh).
    #[serde(default)]
    pub ruled_energy_wh: Option<u64>,
}

/// One settled (lease, epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettlementRow {
    /// Lease.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub lease_id: U256,
    /// Cluster.
    pub cluster_id: u64,
    /// Epoch.
    pub epoch: u64,
    /// Unit-seconds billed (GPU-seconds, or a powered shell's kW-seconds).
    pub delivered: u64,
    /// A powered shell's metered energy (Wh; 0 for GPU leases).
    #[serde(default)]
    pub energy_wh: u64,
    /// Its energy pass-through, escrow to the cluster's bond, base units.
    #[serde(default, with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub energy_charge: U256,
    /// Rent to share holders.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub rent: U256,
    /// Credit to the tenant.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub sla_credit: U256,
    /// No report came by the deadline.
    pub missed: bool,
    /// How the epoch was billed: `proven`, `arbitrated`, `missed` or `unproven`.
    pub outcome: String,
    /// Rent paid to holders from the owner's bond (missed or unproven epochs).
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub compensation: U256,
    /// Block.
    pub block: u64,
    /// Transaction.
    #[schemars(schema_with = "schema::hash")]
    pub tx_hash: B256,
}

/// A position with its claimable rent, as `ledger_positions` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PositionView {
    /// The stored position.
    #[serde(flatten)]
    pub position: PositionRow,
    /// Shares in existence.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub total_shares: U256,
    /// Rent claimable now.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub claimable: U256,
    /// The lease's state.
    pub lease_status: LeaseStatus,
}

/// Where the indexer stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

// ------------------------------------------------------------------ method results

/// A cluster as `ledger_cluster` and `ledger_clusters` return it: the stored row and its revenue
/// per facility kWh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// The stored cluster.
    #[serde(flatten)]
    pub cluster: ClusterRow,
    /// Rent settled per facility kWh reported, stablecoin base units (`null` before any energy
    /// was reported).
    #[serde(with = "dec_option")]
    #[schemars(schema_with = "schema::optional_decimal")]
    pub revenue_per_kwh: Option<U256>,
}

impl From<ClusterRow> for ClusterView {
    fn from(cluster: ClusterRow) -> Self {
        Self { revenue_per_kwh: cluster.revenue_per_kwh(), cluster }
    }
}

/// Which side of a lease's order book an order is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OrderSide {
    /// The maker sells shares (they stay in its wallet until filled).
    Ask,
    /// The maker buys; its cost is escrowed in the exchange.
    Bid,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OrderStatus {
    /// Shares are left (it may still have expired, or its lease stopped trading: compare
    /// `expiry` with chain time).
    Open,
    /// Filled to the last share.
    Filled,
    /// Cancelled by its maker, or by anyone once it could no longer fill.
    Cancelled,
}

/// A limit order on the share exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderRow {
    /// Order id.
    pub id: u64,
    /// The lease whose shares trade.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub lease_id: U256,
    /// Who placed it.
    #[schemars(schema_with = "schema::address")]
    pub maker: Address,
    /// Ask or bid.
    pub side: OrderSide,
    /// The stablecoin it is priced and paid in (the lease's).
    #[schemars(schema_with = "schema::address")]
    pub stablecoin: Address,
    /// Shares placed.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub amount: U256,
    /// Shares left (0 once filled or cancelled).
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub remaining: U256,
    /// Price of one share, stablecoin base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub price_per_share: U256,
    /// Unix seconds (chain time); the order fills strictly before it.
    pub expiry: u64,
    /// Open, filled or cancelled.
    pub status: OrderStatus,
    /// Block it was placed in.
    pub placed_block: u64,
}

/// One fill on the share exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TradeRow {
    /// The order filled.
    pub order_id: u64,
    /// The lease whose shares traded.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub lease_id: U256,
    /// The order's maker.
    #[schemars(schema_with = "schema::address")]
    pub maker: Address,
    /// Who filled it.
    #[schemars(schema_with = "schema::address")]
    pub taker: Address,
    /// The maker's side: `ask` (the taker bought) or `bid` (the taker sold).
    pub side: OrderSide,
    /// Shares moved.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub amount: U256,
    /// Price of one share, stablecoin base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub price_per_share: U256,
    /// What the buyer paid, stablecoin base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub cost: U256,
    /// Block of the fill.
    pub block: u64,
    /// Position of the fill's event in its block.
    pub log_index: u64,
    /// Chain time of that block (`null` when the RPC's logs do not carry it).
    pub timestamp: Option<u64>,
    /// The fill's transaction.
    #[schemars(schema_with = "schema::hash")]
    pub tx_hash: B256,
}

/// A lease's trading so far, kept on write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TradingStats {
    /// Fills.
    pub trades: u64,
    /// Shares traded in all fills.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub volume_shares: U256,
    /// Stablecoin paid in all fills, base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub volume: U256,
    /// Price per share of the latest fill (`null` before the first).
    #[serde(with = "dec_option")]
    #[schemars(schema_with = "schema::optional_decimal")]
    pub last_price: Option<U256>,
    /// Block of the latest fill.
    pub last_trade_block: Option<u64>,
}

/// A lease's order book: open orders best price first (asks lowest, bids highest; equal prices
/// oldest first), and its trading so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderBook {
    /// The lease.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub lease_id: U256,
    /// Open asks, lowest price first.
    pub asks: Vec<OrderRow>,
    /// Open bids, highest price first.
    pub bids: Vec<OrderRow>,
    /// Fills so far, volume and last price.
    pub stats: TradingStats,
}

/// A cluster's quote for new leases (`CapacityPricer`) and every input of it, as of the last
/// pricer event indexed. Prices are stablecoin base units per GPU-hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteRow {
    /// The cluster.
    pub cluster_id: u64,
    /// What the cluster quotes for a new lease.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub quote: U256,
    /// The adapted price at target utilization.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub price_at_target: U256,
    /// The owner's reference price (where the price at target starts).
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub reference_price: U256,
    /// The owner's floor: no quote goes below it.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub floor_price: U256,
    /// Attested utilization (busy over available GPU time) of the last reported epoch applied,
    /// basis points.
    pub utilization_bps: u64,
    /// That epoch (0 before any).
    pub epoch: u64,
    /// Utilization the curve steers to, basis points.
    pub target_utilization_bps: u64,
    /// Quote at full utilization over the price at target, basis points (40000 = 4x).
    pub steepness_bps: u64,
    /// Most the price at target moves per reported epoch at full error, basis points.
    pub speed_per_epoch_bps: u64,
    /// Block of the last pricer event indexed.
    pub updated_block: u64,
}

/// One page of a listing, in key order. Pass `nextCursor` back as the page's `cursor` to read the
/// next one; `null` means there is no more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Where the next page starts (`null`: this is the last page).
    pub next_cursor: Option<String>,
}

/// A lease as `ledger_lease` returns it: the stored row, the first page of its settlements and
/// the epochs that ended but are not settled yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseDetail {
    /// The stored lease.
    #[serde(flatten)]
    pub lease: LeaseRow,
    /// The oldest settlements, at most one page (the server's page size); read the rest with
    /// `ledger_settlements` from `settlementsCursor`.
    pub settlements: Vec<SettlementRow>,
    /// Where `ledger_settlements` continues (`null`: `settlements` is all of them).
    pub settlements_cursor: Option<String>,
    /// Epochs ended (by the node's clock) but not settled: their rent belongs to whoever held
    /// when each ended, so a buyer now does not get it.
    pub unsettled_epochs: u64,
}

/// Rent one lease owes a holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimableLease {
    /// The lease.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub lease_id: U256,
    /// Claimable rent, base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub claimable: U256,
}

/// What a holder may claim, as `ledger_claimable` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Claimable {
    /// The holder.
    #[schemars(schema_with = "schema::address")]
    pub address: Address,
    /// Claimable rent over every lease, base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub total: U256,
    /// The leases with claimable rent.
    pub leases: Vec<ClaimableLease>,
}

/// A Merkle proof of a lease's delivered GPU-seconds in one epoch, from this node's oracle
/// archive, as `ledger_deliveryProof` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryProof {
    /// The lease.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub lease_id: U256,
    /// Its cluster.
    pub cluster_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// Unit-seconds delivered to the lease in the epoch.
    pub delivered: u64,
    /// The lease's metered energy in the epoch (Wh), the leaf's fourth field.
    #[serde(default)]
    pub energy_wh: u64,
    /// Sibling hashes, bottom-up, as `LeaseMarket.settle` takes them.
    #[schemars(schema_with = "schema::hashes")]
    pub proof: Vec<B256>,
    /// Root of this node's deliveries tree.
    #[schemars(schema_with = "schema::hash")]
    pub root: B256,
    /// The root of the accepted report (`null` before one is accepted).
    #[schemars(schema_with = "schema::optional_hash")]
    pub reported_root: Option<B256>,
    /// Whether this node's tree is the one reported (only then does the proof settle).
    pub matches_report: bool,
}

/// The node's state as `ledger_syncStatus` returns it: the indexer's position and this node's
/// oracles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Where the indexer stands.
    #[serde(flatten)]
    pub sync: SyncStatus,
    /// This node's oracles and their co-signing state, by cluster id.
    pub oracles: serde_json::Value,
}

/// Market-wide totals, kept up to date as each block range is indexed (never recounted), as
/// `ledger_market` returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarketTotals {
    /// Clusters registered.
    pub clusters: u64,
    /// Leases waiting for their escrow.
    pub leases_offered: u64,
    /// Leases funded and settling.
    pub leases_active: u64,
    /// Leases with every epoch settled.
    pub leases_ended: u64,
    /// Leases cancelled before funding.
    pub leases_cancelled: u64,
    /// Escrow funded over every lease, base units (all stablecoins together).
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub escrow_funded: U256,
    /// Rent settled to share holders over every lease, base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub rent_settled: U256,
    /// SLA credits earned by tenants over every lease, base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub credits: U256,
    /// Rent paid to holders from owners' bonds (missed and unproven epochs), base units.
    #[serde(with = "dec")]
    #[schemars(schema_with = "schema::decimal")]
    pub compensation: U256,
}

impl MarketTotals {
    fn count(&mut self, status: LeaseStatus) -> &mut u64 {
        match status {
            LeaseStatus::Offered => &mut self.leases_offered,
            LeaseStatus::Active => &mut self.leases_active,
            LeaseStatus::Ended => &mut self.leases_ended,
            LeaseStatus::Cancelled => &mut self.leases_cancelled,
        }
    }

    /// Replaces `before` (absent: a new lease) by `after` in the totals.
    pub fn replace(&mut self, before: Option<&LeaseRow>, after: &LeaseRow) {
        if let Some(before) = before {
            let count = self.count(before.status);
            *count = count.saturating_sub(1);
        }
        *self.count(after.status) += 1;
        let zero = U256::ZERO;
        let swap = |total: &mut U256, old: U256, new: U256| {
            *total = total.saturating_sub(old) + new;
        };
        swap(
            &mut self.escrow_funded,
            before.map_or(zero, |b| b.escrow_funded),
            after.escrow_funded,
        );
        swap(&mut self.rent_settled, before.map_or(zero, |b| b.rent_settled), after.rent_settled);
        swap(&mut self.credits, before.map_or(zero, |b| b.credits), after.credits);
        swap(&mut self.compensation, before.map_or(zero, |b| b.compensation), after.compensation);
    }
}

/// What a subscription delivers: an item, or notice that a reorg rolled blocks back (every item
/// from `fromBlock` on is void: re-query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Live<T> {
    /// `{"rolledBack": {"fromBlock", "toBlock"}}`.
    RolledBack {
        /// The blocks rolled back.
        #[serde(rename = "rolledBack")]
        rolled_back: RolledBack,
    },
    /// A new item.
    Item(T),
}

/// Blocks a reorg rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolledBack {
    /// First block rolled back.
    pub from_block: u64,
    /// Last block rolled back.
    pub to_block: u64,
}

/// Serde for `Option<U256>` as a decimal string or `null`.
mod dec_option {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(value: &Option<U256>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => s.serialize_str(&value.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<U256>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| U256::from_str_radix(&text, 10).map_err(D::Error::custom))
            .transpose()
    }
}

/// Reads a map keyed by epoch whose keys may arrive as strings (JSON object keys) or numbers:
/// inside a `#[serde(flatten)]` (as in [`LeaseDetail`]) serde hands string keys through as
/// strings, which a plain `u64` key refuses.
mod epoch_keys {
    use std::collections::BTreeMap;

    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, de};

    struct Epoch(u64);

    impl<'de> Deserialize<'de> for Epoch {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl de::Visitor<'_> for Visitor {
                type Value = Epoch;

                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an epoch (an unsigned integer or its decimal string)")
                }

                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Epoch, E> {
                    Ok(Epoch(v))
                }

                fn visit_str<E: de::Error>(self, v: &str) -> Result<Epoch, E> {
                    v.parse()
                        .map(Epoch)
                        .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            d.deserialize_any(Visitor)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<u64, U256>, D::Error> {
        let map = BTreeMap::<Epoch, U256>::deserialize(d)?;
        Ok(map.into_iter().map(|(epoch, value)| (epoch.0, value)).collect())
    }

    impl PartialEq for Epoch {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl Eq for Epoch {}
    impl PartialOrd for Epoch {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Epoch {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.cmp(&other.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_with_recorded_accumulators_reads_back_through_the_flattened_detail() {
        let lease = LeaseRow {
            id: U256::from(7),
            cluster_id: 1,
            tenant: Address::with_last_byte(2),
            stablecoin: Address::with_last_byte(3),
            unit: Unit::Gpu,
            units: 8,
            start_epoch: 1,
            end_epoch: 5,
            next_epoch: 3,
            price_per_unit_hour: U256::from(2_000_000),
            energy_price_per_kwh: U256::ZERO,
            billing: Billing::Metered,
            sla_bps: 9_000,
            credit_bps: 5_000,
            total_shares: U256::from(1_000),
            status: LeaseStatus::Active,
            escrow_funded: U256::from(10),
            rent_settled: U256::from(4),
            credits: U256::ZERO,
            delivered: 60,
            energy_wh: 0,
            energy_billed: U256::ZERO,
            missed_epochs: 0,
            unproven_epochs: 0,
            compensation: U256::ZERO,
            rent_per_share: U256::from(1),
            credit_lock_per_epoch: U256::ZERO,
            open_challenges: vec![],
            disputes: vec![],
            offer: None,
            acc_at: BTreeMap::from([(3, U256::from(9))]),
            created_block: 12,
        };
        let detail = LeaseDetail {
            lease,
            settlements: vec![],
            settlements_cursor: None,
            unsettled_epochs: 1,
        };
        let json = serde_json::to_string(&detail).expect("serializes");
        assert!(json.contains(r#""billing":"metered""#) && json.contains(r#""status":"active""#));
        let back: LeaseDetail = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, detail);
    }
}
