//! `compute-ledger shares`: the owner offers a lease's shares, investors buy and transfer them.

use alloy::primitives::{Address, U256};
use clap::Subcommand;
use compute_ledger_sdk::{Investor, Owner};
use serde_json::json;

use super::{Output, amount, client, keys::KeyArgs};
use crate::{Result, config::Overrides};

/// `shares` subcommands.
#[derive(Debug, Subcommand)]
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

impl SharesCommand {
    /// Runs the subcommand.
    pub async fn execute(self, overrides: &Overrides, out: Output) -> Result<()> {
        match self {
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
}
