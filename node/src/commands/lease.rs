//! `compute-ledger lease`: offer a lease (its cluster's owner) and fund its escrow (its tenant).

use alloy::primitives::{Address, U256};
use clap::Subcommand;
use compute_ledger_sdk::{Amount, Billing, LeaseOffer, Owner, Tenant, Unit};
use serde_json::json;

use super::{Output, amount, client, keys::KeyArgs};
use crate::{NodeError, Result, config::Overrides};

/// `lease` subcommands.
#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Offer a lease on one of the signer's clusters.
    Create {
        /// The signing key.
        #[command(flatten)]
        key: KeyArgs,
        /// The cluster.
        #[arg(long)]
        cluster: u64,
        /// The tenant.
        #[arg(long)]
        tenant: Address,
        /// GPUs leased.
        #[arg(long, required_unless_present = "kw", conflicts_with = "kw")]
        gpus: Option<u32>,
        /// Or: kW of critical-IT power leased as a powered shell (the tenant brings its own
        /// machines; delivery is the power available to its racks, priced per kW-hour).
        #[arg(long)]
        kw: Option<u32>,
        /// A powered shell's energy pass-through, USD per kWh of its racks' metered energy (the
        /// escrow holds the most its kW can draw; what is not drawn goes back after the term).
        #[arg(long, requires = "kw")]
        energy_price: Option<String>,
        /// First epoch billed (default: two epochs from now).
        #[arg(long)]
        start_epoch: Option<u64>,
        /// Epochs in the term.
        #[arg(long)]
        epochs: u64,
        /// Price per GPU-hour (or per kW-hour of a powered shell's capacity), e.g. 2.10; or
        /// `quote` for the cluster's GPU quote now (its adaptive curve, see `compute-ledger
        /// cluster quote`).
        #[arg(long)]
        price: String,
        /// Shares minted to the owner.
        #[arg(long, default_value_t = 1_000_000)]
        shares: u128,
        /// SLA threshold, basis points of capacity.
        #[arg(long, default_value_t = 9_500)]
        sla_bps: u16,
        /// Credit, basis points of the shortfall's rent.
        #[arg(long, default_value_t = 5_000)]
        credit_bps: u16,
        /// Bill busy GPU-seconds instead of healthy ones.
        #[arg(long)]
        metered: bool,
    },
    /// Fund a lease's full-term escrow as its tenant (approval, or a permit with `--permit`).
    Fund {
        /// The signing key.
        #[command(flatten)]
        key: KeyArgs,
        /// The lease.
        #[arg(long)]
        lease: U256,
        /// Use an EIP-2612 permit instead of a separate approval.
        #[arg(long)]
        permit: bool,
    },
}

impl LeaseCommand {
    /// Runs the subcommand.
    pub async fn execute(self, overrides: &Overrides, out: Output) -> Result<()> {
        match self {
            LeaseCommand::Create {
                key,
                cluster,
                tenant,
                gpus,
                kw,
                energy_price,
                start_epoch,
                epochs,
                price,
                shares,
                sla_bps,
                credit_bps,
                metered,
            } => {
                let owner = Owner::new(client(overrides, &key).await?);
                let start = match start_epoch {
                    Some(epoch) => epoch,
                    None => {
                        owner
                            .client()
                            .registry()
                            .currentEpoch(cluster)
                            .call()
                            .await
                            .map_err(compute_ledger_sdk::SdkError::from)?
                            + 2
                    }
                };
                let at_quote = price == "quote";
                let (unit, units) = match (gpus, kw) {
                    (_, Some(kw)) => (Unit::Kw, kw),
                    (Some(gpus), None) => (Unit::Gpu, gpus),
                    (None, None) => unreachable!("clap requires --gpus or --kw"),
                };
                if at_quote && unit == Unit::Kw {
                    return Err(NodeError::Config {
                        origin: "--price".into(),
                        reason:
                            "`quote` prices GPU-hours; give a powered shell's price per kW-hour"
                                .into(),
                    });
                }
                let energy_price_per_kwh = match &energy_price {
                    Some(p) => amount(owner.client(), p, "energy-price")?,
                    None => Amount::zero(owner.client().decimals()),
                };
                let offer = LeaseOffer {
                    cluster_id: cluster,
                    tenant,
                    unit,
                    units,
                    start_epoch: start,
                    end_epoch: start + epochs,
                    price_per_unit_hour: if at_quote {
                        owner.client().quote(cluster).await?.price_per_gpu_hour
                    } else {
                        amount(owner.client(), &price, "price")?
                    },
                    billing: if metered { Billing::Metered } else { Billing::Reserved },
                    sla_bps,
                    credit_bps,
                    total_shares: shares,
                    energy_price_per_kwh,
                };
                let (id, priced) = if at_quote {
                    owner.create_lease_at_quote(&offer).await?
                } else {
                    (owner.create_lease(&offer).await?, offer.price_per_unit_hour)
                };
                let escrow = owner.client().escrow_required(id).await?;
                let sym = unit.symbol();
                out.print(
                &format!("created lease {id}: {units} {sym} at {priced} USD per {sym}-hour, epochs {start}–{}, escrow {escrow} USD due from {tenant} before epoch {start}", start + epochs - 1),
                &json!({ "leaseId": id.to_string(), "startEpoch": start, "unit": unit, "units": units, "pricePerUnitHour": priced.base().to_string(), "escrow": escrow.base().to_string() }),
            );
            }
            LeaseCommand::Fund { key, lease, permit } => {
                let tenant = Tenant::new(client(overrides, &key).await?);
                let escrow = if permit {
                    let deadline = tenant.client().chain_time().await? + 600;
                    tenant.fund_with_permit(lease, deadline).await?
                } else {
                    tenant.approve_escrow(lease).await?;
                    tenant.fund(lease).await?
                };
                out.print(
                    &format!("funded lease {lease}: {escrow} USD in escrow"),
                    &json!({ "leaseId": lease.to_string(), "escrow": escrow.base().to_string() }),
                );
            }
        }
        Ok(())
    }
}
