//! The SDK actions a person needs by hand: register and bond a cluster, create and fund leases,
//! offer, buy and transfer shares, claim rent, settle epochs. Each prints what happened in plain
//! words, or JSON with `--json`.

use std::path::PathBuf;

use alloy::primitives::{Address, U256, keccak256};
use compute_ledger_sdk::{
    Amount, Billing, Client, ClusterSpec, Investor, Keeper, LeaseOffer, Owner, ProofBook, Tenant,
};
use serde_json::json;

use super::{Output, keys::KeyArgs};
use crate::{
    NodeError, Result,
    config::{Overrides, Settings},
    index::{DeliveriesArchive, Index, NodeProofs},
};

async fn client(overrides: &Overrides, key: &KeyArgs) -> Result<Client> {
    let settings = Settings::resolve(overrides)?;
    let deployment = settings.deployment()?;
    Ok(Client::connect(&settings.rpc_url, deployment, key.load()?).await?)
}

/// An amount of the deployment's stablecoin, in the token's own decimals.
fn amount(client: &Client, text: &str, what: &str) -> Result<Amount> {
    client
        .parse_amount(text)
        .map_err(|e| NodeError::Config { origin: format!("--{what}"), reason: e.to_string() })
}

/// `cluster` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Register a cluster owned by the signer.
    Register {
        /// The signing key.
        #[command(flatten)]
        key: KeyArgs,
        /// Where the cluster's description lives.
        #[arg(long)]
        metadata_uri: String,
        /// The description itself (its keccak256 is registered).
        #[arg(long, default_value = "")]
        metadata: String,
        /// Seconds per epoch.
        #[arg(long, default_value_t = 3_600)]
        epoch_length: u32,
        /// Attestor address (repeat for each).
        #[arg(long = "attestor", required = true)]
        attestors: Vec<Address>,
        /// Signatures required per report.
        #[arg(long, default_value_t = 1)]
        threshold: u8,
    },
    /// Deposit stablecoin into the cluster's performance bond.
    Bond {
        /// The signing key.
        #[command(flatten)]
        key: KeyArgs,
        /// The cluster.
        #[arg(long)]
        cluster: u64,
        /// Amount, e.g. 2500.00.
        #[arg(long)]
        amount: String,
    },
}

/// Runs a `cluster` subcommand.
pub async fn cluster(overrides: &Overrides, command: ClusterCommand, out: Output) -> Result<()> {
    match command {
        ClusterCommand::Register {
            key,
            metadata_uri,
            metadata,
            epoch_length,
            mut attestors,
            threshold,
        } => {
            attestors.sort();
            let owner = Owner::new(client(overrides, &key).await?);
            let spec = ClusterSpec {
                metadata_uri,
                metadata_hash: keccak256(metadata.as_bytes()),
                epoch_length,
                attestors,
                threshold,
            };
            let id = owner.register_cluster(&spec).await?;
            out.print(
                &format!("registered cluster {id} ({epoch_length}-second epochs, {threshold} of {} attestors)", spec.attestors.len()),
                &json!({ "clusterId": id }),
            );
        }
        ClusterCommand::Bond { key, cluster, amount: text } => {
            let owner = Owner::new(client(overrides, &key).await?);
            owner.deposit_bond(cluster, amount(owner.client(), &text, "amount")?).await?;
            let bond = owner.bond(cluster).await?;
            out.print(
                &format!("cluster {cluster} bond: {} USD ({} locked)", bond.total, bond.locked),
                &json!({ "clusterId": cluster, "total": bond.total.base().to_string(), "locked": bond.locked.base().to_string() }),
            );
        }
    }
    Ok(())
}

/// `lease` subcommands.
#[derive(Debug, clap::Subcommand)]
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
        #[arg(long)]
        gpus: u32,
        /// First epoch billed (default: two epochs from now).
        #[arg(long)]
        start_epoch: Option<u64>,
        /// Epochs in the term.
        #[arg(long)]
        epochs: u64,
        /// Price per GPU-hour, e.g. 2.10.
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

/// Runs a `lease` subcommand.
pub async fn lease(overrides: &Overrides, command: LeaseCommand, out: Output) -> Result<()> {
    match command {
        LeaseCommand::Create {
            key,
            cluster,
            tenant,
            gpus,
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
            let offer = LeaseOffer {
                cluster_id: cluster,
                tenant,
                gpus,
                start_epoch: start,
                end_epoch: start + epochs,
                price_per_gpu_hour: amount(owner.client(), &price, "price")?,
                billing: if metered { Billing::Metered } else { Billing::Reserved },
                sla_bps,
                credit_bps,
                total_shares: shares,
            };
            let id = owner.create_lease(&offer).await?;
            let escrow = owner.client().escrow_required(id).await?;
            out.print(
                &format!("created lease {id}: {gpus} GPUs, epochs {start}–{}, escrow {escrow} USD due from {tenant} before epoch {start}", start + epochs - 1),
                &json!({ "leaseId": id.to_string(), "startEpoch": start, "escrow": escrow.base().to_string() }),
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

/// `shares` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SharesCommand {
    /// Offer the owner's shares of an active lease.
    Offer {
        /// The signing key.
        #[command(flatten)]
        key: KeyArgs,
        /// The lease.
        #[arg(long)]
        lease: U256,
        /// Shares offered.
        #[arg(long)]
        amount: u128,
        /// Price per share, e.g. 0.000002.
        #[arg(long)]
        price: String,
    },
    /// Buy shares from the owner's offer.
    Buy {
        /// The signing key.
        #[command(flatten)]
        key: KeyArgs,
        /// The lease.
        #[arg(long)]
        lease: U256,
        /// Shares to buy.
        #[arg(long)]
        amount: u128,
        /// Highest acceptable price per share.
        #[arg(long)]
        max_price: String,
    },
    /// Transfer shares (earned rent stays claimable by the sender).
    Transfer {
        /// The signing key.
        #[command(flatten)]
        key: KeyArgs,
        /// The lease.
        #[arg(long)]
        lease: U256,
        /// Receiver.
        #[arg(long)]
        to: Address,
        /// Shares.
        #[arg(long)]
        amount: u128,
    },
}

/// Runs a `shares` subcommand.
pub async fn shares(overrides: &Overrides, command: SharesCommand, out: Output) -> Result<()> {
    match command {
        SharesCommand::Offer { key, lease, amount: shares, price } => {
            let owner = Owner::new(client(overrides, &key).await?);
            owner.offer_shares(lease, shares, amount(owner.client(), &price, "price")?).await?;
            out.print(
                &format!("offered {shares} shares of lease {lease} at {price} USD"),
                &json!({ "leaseId": lease.to_string(), "amount": shares.to_string() }),
            );
        }
        SharesCommand::Buy { key, lease, amount: shares, max_price } => {
            let investor = Investor::new(client(overrides, &key).await?);
            let cost = investor
                .buy_shares(lease, shares, amount(investor.client(), &max_price, "max-price")?)
                .await?;
            out.print(&format!("bought {shares} shares of lease {lease} for {cost} USD"), &json!({ "leaseId": lease.to_string(), "amount": shares.to_string(), "cost": cost.base().to_string() }));
        }
        SharesCommand::Transfer { key, lease, to, amount: shares } => {
            let investor = Investor::new(client(overrides, &key).await?);
            investor.transfer_shares(lease, to, shares).await?;
            out.print(
                &format!("transferred {shares} shares of lease {lease} to {to}"),
                &json!({ "leaseId": lease.to_string(), "to": to, "amount": shares.to_string() }),
            );
        }
    }
    Ok(())
}

/// Options of `claim`.
#[derive(Debug, clap::Args)]
pub struct ClaimArgs {
    /// The signing key.
    #[command(flatten)]
    key: KeyArgs,
    /// One lease (default: every position with rent due).
    #[arg(long)]
    lease: Option<U256>,
}

/// Claims settled rent.
pub async fn claim(overrides: &Overrides, args: ClaimArgs, out: Output) -> Result<()> {
    let investor = Investor::new(client(overrides, &args.key).await?);
    let paid = match args.lease {
        Some(lease) => vec![(lease, investor.claim(lease).await?)],
        None => investor.claim_all().await?,
    };
    let total: U256 = paid.iter().map(|(_, a)| a.base()).sum();
    let text = if paid.is_empty() {
        "nothing to claim".to_string()
    } else {
        format!("claimed {} USD from {} lease(s)", investor.client().amount(total), paid.len())
    };
    let items: Vec<_> = paid
        .iter()
        .map(|(l, a)| json!({ "leaseId": l.to_string(), "amount": a.base().to_string() }))
        .collect();
    out.print(&text, &json!({ "total": total.to_string(), "claims": items }));
    Ok(())
}

/// Options of `settle`.
#[derive(Debug, clap::Args)]
pub struct SettleArgs {
    /// The signing key.
    #[command(flatten)]
    key: KeyArgs,
    /// Settlements per transaction.
    #[arg(long, default_value_t = 20)]
    batch_size: usize,
    /// A stopped node's deliveries archive directory that supplies proofs for reported epochs,
    /// checked against the reports in the configured index (without it, only missed, ruled and,
    /// after their proof deadline, unproven epochs settle).
    #[arg(long)]
    proofs_from: Option<PathBuf>,
}

/// Settles due epochs once.
pub async fn settle(overrides: &Overrides, args: SettleArgs, out: Output) -> Result<()> {
    let keeper = Keeper::new(client(overrides, &args.key).await?);
    let run = match &args.proofs_from {
        Some(dir) => {
            let index = Index::open(&Settings::resolve(overrides)?.index_dir)?;
            let proofs = NodeProofs { index, archive: DeliveriesArchive::open(dir)? };
            keeper.settle_due(&proofs, args.batch_size).await?
        }
        None => keeper.settle_due(&ProofBook::default(), args.batch_size).await?,
    };
    let lines: Vec<String> = run
        .settled
        .iter()
        .map(|s| {
            format!(
                "lease {} epoch {} ({}): rent {} USD, holders' compensation {} USD, credit {} USD",
                s.lease_id,
                s.epoch,
                s.outcome.as_str(),
                s.rent,
                s.compensation,
                s.sla_credit
            )
        })
        .collect();
    let text = if lines.is_empty() { "nothing due".to_string() } else { lines.join("\n") };
    out.print(
        &format!("{text}\n{} waiting for a delivery proof", run.without_proof.len()),
        &json!({ "settled": run.settled.len(), "withoutProof": run.without_proof.len(), "transactions": run.transactions }),
    );
    Ok(())
}
