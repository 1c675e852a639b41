//! Leases as the SDK shows them: terms to offer, and the state the market stores.

use alloy::primitives::{Address, U256};

use crate::{Amount, Client, Result, SdkError, bindings::LeaseMarket};

/// How a lease's delivered GPU-seconds are counted by the oracle (`"reserved"` or `"metered"`
/// in JSON: the node's index and wallets share this one definition).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Billing {
    /// Pay for healthy (available) GPU-seconds of the leased GPUs.
    Reserved,
    /// Pay for busy GPU-seconds of the leased GPUs.
    Metered,
}

impl Billing {
    /// The market's encoding: 0 reserved, 1 metered.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Reserved => 0,
            Self::Metered => 1,
        }
    }

    /// From the market's encoding (anything but 0 is metered, as the contract treats it).
    pub fn from_u8(raw: u8) -> Self {
        if raw == 0 { Self::Reserved } else { Self::Metered }
    }
}

impl std::fmt::Display for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Reserved => "reserved",
            Self::Metered => "metered",
        })
    }
}

/// What a lease's units are (`"gpu"` or `"kw"` in JSON): GPUs, delivered in GPU-seconds and priced
/// per GPU-hour; or kW of critical-IT power (a powered shell: the tenant brings its own machines),
/// delivered in kW-seconds of power available to its racks and priced per kW-hour of capacity,
/// with the racks' metered energy passed through at the lease's tariff.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Unit {
    /// GPUs.
    #[default]
    Gpu,
    /// kW of critical-IT power.
    Kw,
}

impl Unit {
    /// The market's encoding: 0 GPU, 1 kW.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Gpu => 0,
            Self::Kw => 1,
        }
    }

    /// From the market's encoding.
    pub fn from_u8(raw: u8) -> Result<Self> {
        match raw {
            0 => Ok(Self::Gpu),
            1 => Ok(Self::Kw),
            other => Err(SdkError::Invalid(format!("unknown lease unit {other}"))),
        }
    }

    /// The unit's short name: `GPU` or `kW`.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Gpu => "GPU",
            Self::Kw => "kW",
        }
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.symbol())
    }
}

/// Where a lease is in its life (as the market's `LeaseStatus`; `"offered"`, `"active"`,
/// `"ended"` or `"cancelled"` in JSON: the node's index and wallets share this one definition).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum LeaseStatus {
    /// Created and shares minted; waiting for the tenant's escrow.
    Offered,
    /// Escrow funded for the full term; epochs settle.
    Active,
    /// Every epoch settled; the tenant may withdraw the remainder.
    Ended,
    /// Cancelled by the owner before funding.
    Cancelled,
}

impl LeaseStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [Self; 4] = [Self::Offered, Self::Active, Self::Ended, Self::Cancelled];

    /// The status's JSON name (`"offered"`, ...), also used in index keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offered => "offered",
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Cancelled => "cancelled",
        }
    }

    fn from_u8(raw: u8) -> Result<Self> {
        Ok(match raw {
            1 => Self::Offered,
            2 => Self::Active,
            3 => Self::Ended,
            4 => Self::Cancelled,
            other => return Err(SdkError::Invalid(format!("unknown lease status {other}"))),
        })
    }
}

/// The terms an owner offers a tenant, in the deployment's stablecoin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseOffer {
    /// The owner's cluster.
    pub cluster_id: u64,
    /// Who funds the escrow and may challenge reports.
    pub tenant: Address,
    /// What is leased: GPUs or kW of critical-IT power.
    pub unit: Unit,
    /// GPUs or kW leased.
    pub units: u32,
    /// First epoch billed (must be in the future: the tenant funds before it starts).
    pub start_epoch: u64,
    /// First epoch after the term.
    pub end_epoch: u64,
    /// Rent per unit-hour (GPU-hour, or kW-hour of capacity) at full delivery.
    pub price_per_unit_hour: Amount,
    /// What counts as delivered (a powered shell bills the power available: `Reserved`).
    pub billing: Billing,
    /// Delivery below this share of capacity (basis points) earns the tenant a credit.
    pub sla_bps: u16,
    /// The credit, in basis points of the shortfall's rent, paid from the owner's bond.
    pub credit_bps: u16,
    /// ERC-1155 shares minted to the owner; investors buy them for the rent stream.
    pub total_shares: u128,
    /// A powered shell's energy pass-through per kWh of its racks' metered energy (zero for none;
    /// GPU leases must leave it zero).
    pub energy_price_per_kwh: Amount,
}

impl LeaseOffer {
    pub(crate) fn to_terms(&self, stablecoin: Address) -> Result<LeaseMarket::LeaseTerms> {
        let base = |amount: &Amount, what: &str| {
            u128::try_from(amount.base())
                .map_err(|_| SdkError::Invalid(format!("{what} is too large")))
        };
        Ok(LeaseMarket::LeaseTerms {
            clusterId: self.cluster_id,
            tenant: self.tenant,
            stablecoin,
            units: self.units,
            startEpoch: self.start_epoch,
            endEpoch: self.end_epoch,
            pricePerUnitHour: base(&self.price_per_unit_hour, "price per unit-hour")?,
            billing: self.billing.to_u8(),
            slaBps: self.sla_bps,
            creditBps: self.credit_bps,
            totalShares: self.total_shares,
            unit: self.unit.to_u8(),
            energyPricePerKwh: base(&self.energy_price_per_kwh, "energy price per kWh")?,
        })
    }
}

/// A lease's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// Lease id (also its ERC-1155 token id).
    pub id: U256,
    /// The cluster.
    pub cluster_id: u64,
    /// The tenant.
    pub tenant: Address,
    /// The payment stablecoin.
    pub stablecoin: Address,
    /// What is leased: GPUs or kW of critical-IT power.
    pub unit: Unit,
    /// GPUs or kW leased.
    pub units: u32,
    /// First epoch billed.
    pub start_epoch: u64,
    /// First epoch after the term.
    pub end_epoch: u64,
    /// Next epoch to settle (equals `end_epoch` once ended).
    pub next_epoch: u64,
    /// Seconds per epoch (the cluster's).
    pub epoch_length: u32,
    /// Start of the cluster's epoch 0 (unix seconds).
    pub genesis: u64,
    /// Where the lease is in its life.
    pub status: LeaseStatus,
    /// What counts as delivered.
    pub billing: Billing,
    /// SLA threshold in basis points of capacity.
    pub sla_bps: u16,
    /// Credit in basis points of the shortfall's rent.
    pub credit_bps: u16,
    /// Rent per unit-hour at full delivery.
    pub price_per_unit_hour: Amount,
    /// A powered shell's energy pass-through per kWh (zero for none).
    pub energy_price_per_kwh: Amount,
    /// Energy pass-through billed so far (escrow to the cluster's bond).
    pub energy_billed: Amount,
    /// Shares in existence.
    pub total_shares: u128,
    /// Prepaid rent not yet settled (once ended: the tenant's remainder).
    pub escrow: Amount,
    /// Settled rent not yet claimed by share holders.
    pub rent_pool: Amount,
    /// SLA credits the tenant may withdraw.
    pub credits: Amount,
}

impl LeaseInfo {
    /// End (unix seconds) of `epoch` of this lease's cluster.
    pub fn epoch_end(&self, epoch: u64) -> u64 {
        self.genesis + (epoch + 1) * u64::from(self.epoch_length)
    }

    /// Epochs in the term.
    pub fn epochs(&self) -> u64 {
        self.end_epoch - self.start_epoch
    }
}

impl Client {
    /// Leases created so far (ids run from 1 to this).
    pub async fn lease_count(&self) -> Result<u64> {
        let count = self.market().leaseCount().call().await?;
        u64::try_from(count).map_err(|_| SdkError::Invalid(format!("lease count {count}")))
    }

    /// Lease `id`'s stored state.
    pub async fn lease(&self, id: U256) -> Result<LeaseInfo> {
        read_lease(self, id).await
    }

    /// The full-term escrow the tenant of lease `id` must fund.
    pub async fn escrow_required(&self, id: U256) -> Result<Amount> {
        Ok(self.amount(self.market().escrowRequired(id).call().await?))
    }
}

async fn read_lease(client: &Client, id: U256) -> Result<LeaseInfo> {
    let l = client.market().getLease(id).call().await?;
    // A lease may be paid in any allowed stablecoin, each with its own decimals.
    let decimals = client.decimals_of(l.stablecoin).await?;
    let money = |base: u128| Amount::from_base(U256::from(base), decimals);
    Ok(LeaseInfo {
        id,
        cluster_id: l.clusterId,
        tenant: l.tenant,
        stablecoin: l.stablecoin,
        unit: Unit::from_u8(l.unit)?,
        units: l.units,
        start_epoch: l.startEpoch,
        end_epoch: l.endEpoch,
        next_epoch: l.nextEpoch,
        epoch_length: l.epochLength,
        genesis: l.genesis,
        status: LeaseStatus::from_u8(l.status)?,
        billing: Billing::from_u8(l.billing),
        sla_bps: l.slaBps,
        credit_bps: l.creditBps,
        price_per_unit_hour: money(l.pricePerUnitHour),
        energy_price_per_kwh: money(l.energyPricePerKwh),
        energy_billed: money(l.energyBilled),
        total_shares: l.totalShares,
        escrow: money(l.escrow),
        rent_pool: money(l.rentPool),
        credits: money(l.credits),
    })
}
