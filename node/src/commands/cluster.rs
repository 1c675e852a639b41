//! `compute-ledger cluster`: register a cluster, bond it and set its price curve (its owner);
//! read its quote for new leases (anyone).

use alloy::primitives::{Address, keccak256};
use clap::Subcommand;
use compute_ledger_sdk::{ClusterSpec, Owner};
use serde_json::json;

use super::{Output, amount, client, keys::KeyArgs};
use crate::{Result, config::Overrides};

/// `cluster` subcommands.
#[derive(Debug, Subcommand)]
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
    /// Set the cluster's price curve: the reference price per GPU-hour (where its adaptive quote
    /// starts) and the floor no quote goes below.
    PriceCurve {
        /// The signing key.
        #[command(flatten)]
        key: KeyArgs,
        /// The cluster.
        #[arg(long)]
        cluster: u64,
        /// Reference price per GPU-hour, e.g. 2.00.
        #[arg(long)]
        reference: String,
        /// Floor price per GPU-hour, e.g. 1.00.
        #[arg(long)]
        floor: String,
    },
    /// Show the cluster's quote for a new lease and its inputs, from the chain.
    Quote {
        /// The signing key (any account: this only reads).
        #[command(flatten)]
        key: KeyArgs,
        /// The cluster.
        #[arg(long)]
        cluster: u64,
    },
}

impl ClusterCommand {
    /// Runs the subcommand.
    pub async fn execute(self, overrides: &Overrides, out: Output) -> Result<()> {
        match self {
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
            ClusterCommand::PriceCurve { key, cluster, reference, floor } => {
                let owner = Owner::new(client(overrides, &key).await?);
                let reference = amount(owner.client(), &reference, "reference")?;
                let floor = amount(owner.client(), &floor, "floor")?;
                owner.set_price_curve(cluster, reference, floor).await?;
                out.print(
                    &format!("cluster {cluster} quotes from {reference} USD per GPU-hour (floor {floor})"),
                    &json!({ "clusterId": cluster, "reference": reference.base().to_string(), "floor": floor.base().to_string() }),
                );
            }
            ClusterCommand::Quote { key, cluster } => {
                let q = client(overrides, &key).await?.quote(cluster).await?;
                out.print(
                    &format!(
                        "cluster {cluster} quotes {} USD per GPU-hour (at target {}, reference {}, floor {}; utilization {}.{:02} % in epoch {})",
                        q.price_per_gpu_hour, q.price_at_target, q.reference, q.floor,
                        q.utilization_bps / 100, q.utilization_bps % 100, q.epoch
                    ),
                    &json!({
                        "clusterId": cluster,
                        "quote": q.price_per_gpu_hour.base().to_string(),
                        "priceAtTarget": q.price_at_target.base().to_string(),
                        "referencePrice": q.reference.base().to_string(),
                        "floorPrice": q.floor.base().to_string(),
                        "utilizationBps": q.utilization_bps,
                        "epoch": q.epoch,
                    }),
                );
            }
        }
        Ok(())
    }
}
