//! `compute-ledger order`: limit orders for lease shares on the deployment's share exchange.

use alloy::primitives::U256;
use clap::Subcommand;
use compute_ledger_sdk::{Side, Trader};
use serde_json::json;

use super::{Output, amount, client, keys::KeyArgs};
use crate::{Result, config::Overrides};

/// Seconds an order stays on the book unless `--expires-in` says otherwise.
const DEFAULT_LIFETIME: u64 = 7 * 86_400;

/// What an ask or a bid says.
#[derive(Debug, clap::Args)]
pub struct PlaceArgs {
    /// The signing key.
    #[command(flatten)]
    key: KeyArgs,
    /// The lease.
    #[arg(long)]
    lease: U256,
    /// Shares.
    #[arg(long)]
    amount: u128,
    /// Price per share, e.g. 0.000002.
    #[arg(long)]
    price: String,
    /// Seconds (of chain time) until the order expires.
    #[arg(long, default_value_t = DEFAULT_LIFETIME)]
    expires_in: u64,
}

/// `order` subcommands.
#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Offer shares you hold at a price. They stay in your wallet, earning rent, until filled.
    Ask(PlaceArgs),
    /// Bid for shares at a price; the whole cost is escrowed until filled or cancelled.
    Bid(PlaceArgs),
    /// Take shares of an order at its price: buy from an ask, or sell into a bid.
    Fill {
        /// The signing key.
        #[command(flatten)]
        key: KeyArgs,
        /// The order.
        #[arg(long)]
        order: u64,
        /// Shares to take.
        #[arg(long)]
        amount: u128,
    },
    /// Cancel what is left of an order: yours at any time, anyone's once it can no longer fill
    /// (a bid's escrow goes back to its maker).
    Cancel {
        /// The signing key.
        #[command(flatten)]
        key: KeyArgs,
        /// The order.
        #[arg(long)]
        order: u64,
    },
    /// Show one order as the exchange stores it.
    Show {
        /// The signing key (any key: it only reads).
        #[command(flatten)]
        key: KeyArgs,
        /// The order.
        #[arg(long)]
        order: u64,
    },
}

impl OrderCommand {
    /// Runs the subcommand.
    pub async fn execute(self, overrides: &Overrides, out: Output) -> Result<()> {
        let bid = matches!(self, OrderCommand::Bid(_));
        match self {
            OrderCommand::Ask(place) | OrderCommand::Bid(place) => {
                let PlaceArgs { key, lease, amount: shares, price, expires_in } = place;
                let trader = Trader::new(client(overrides, &key).await?);
                let per_share = amount(trader.client(), &price, "price")?;
                let expiry = trader.client().chain_time().await? + expires_in;
                let id = if bid {
                    trader.place_bid(lease, shares, per_share, expiry).await?
                } else {
                    trader.place_ask(lease, shares, per_share, expiry).await?
                };
                let side = if bid { "bid" } else { "ask" };
                out.print(
                    &format!(
                        "order {id}: {side} for {shares} shares of lease {lease} at {per_share} \
                         USD each, until chain time {expiry}"
                    ),
                    &json!({ "orderId": id, "side": side, "leaseId": lease.to_string(),
                             "amount": shares.to_string(), "pricePerShare": per_share.base().to_string(),
                             "expiry": expiry }),
                );
            }
            OrderCommand::Fill { key, order, amount: shares } => {
                let trader = Trader::new(client(overrides, &key).await?);
                let fill = trader.fill(order, shares).await?;
                out.print(
                    &format!(
                        "order {order}: took {} shares for {} USD ({} left)",
                        fill.shares, fill.cost, fill.remaining
                    ),
                    &json!({ "orderId": order, "amount": fill.shares.to_string(),
                             "cost": fill.cost.base().to_string(),
                             "remaining": fill.remaining.to_string() }),
                );
            }
            OrderCommand::Cancel { key, order } => {
                let trader = Trader::new(client(overrides, &key).await?);
                let refund = trader.cancel(order).await?;
                out.print(
                    &format!("order {order}: cancelled, {refund} USD returned to its maker"),
                    &json!({ "orderId": order, "refund": refund.base().to_string() }),
                );
            }
            OrderCommand::Show { key, order } => {
                let trader = Trader::new(client(overrides, &key).await?);
                let o = trader.order(order).await?;
                let side = match o.side {
                    Side::Ask => "ask",
                    Side::Bid => "bid",
                };
                out.print(
                    &format!(
                        "order {order}: {side} by {} for lease {}, {} shares left at {} USD \
                         each, until chain time {}",
                        o.maker, o.lease_id, o.remaining, o.price_per_share, o.expiry
                    ),
                    &json!({ "orderId": order, "side": side, "maker": o.maker,
                             "leaseId": o.lease_id.to_string(), "remaining": o.remaining.to_string(),
                             "pricePerShare": o.price_per_share.base().to_string(),
                             "expiry": o.expiry }),
                );
            }
        }
        Ok(())
    }
}
