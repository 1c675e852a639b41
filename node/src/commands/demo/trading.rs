//! The demo's secondary market: as the leases begin, investors trade shares on the share exchange
//! at their own prices (an ask taken in part, a bid hit), and the board shows each lease's book
//! and last price.

use alloy::primitives::U256;
use compute_ledger_sdk::{Amount, Client, Investor, Trader};

use super::{setup::NAMES, usd};
use crate::{Result, index::Index};

/// How long the demo's orders stay on the book, in epochs.
const ORDER_EPOCHS: u64 = 20;

/// `price` scaled by `percent` / 100.
fn scaled(price: Amount, percent: u64) -> Amount {
    Amount::from_base(price.base() * U256::from(percent) / U256::from(100), price.decimals())
}

/// Carol asks for some of her shares of the first lease a little above the primary price and Bob
/// takes part of it; Alice bids for shares of the second lease a little below and Bob sells.
/// Runs beside the scenario (its transactions take a few blocks), so it owns what it uses.
pub(super) async fn trade(
    investors: [Client; 3],
    leases: [U256; 2],
    epoch_seconds: u64,
) -> Result<()> {
    let primary = Investor::new(investors[0].clone());
    let [alice, bob, carol] = investors.map(Trader::new);
    let [a, b] = leases;
    let expiry = alice.client().chain_time().await? + ORDER_EPOCHS * epoch_seconds;
    let primary_a = primary.offer(a).await?.price_per_share;
    let primary_b = primary.offer(b).await?.price_per_share;

    let ask = carol.place_ask(a, 60, scaled(primary_a, 102), expiry).await?;
    println!(
        "\n  {} asks 60 shares of lease {a} at {} USD each (order {ask}); they stay in {}'s wallet, earning, until sold",
        NAMES[2],
        scaled(primary_a, 102),
        NAMES[2]
    );
    let fill = bob.fill(ask, 40).await?;
    println!(
        "  {} takes 40 of them for {} USD; every epoch's rent goes to whoever holds at its end",
        NAMES[1], fill.cost
    );
    let bid = alice.place_bid(b, 50, scaled(primary_b, 98), expiry).await?;
    println!(
        "  {} bids for 50 shares of lease {b} at {} USD each (order {bid}, escrowed)",
        NAMES[0],
        scaled(primary_b, 98)
    );
    let fill = bob.fill(bid, 50).await?;
    println!("  {} sells 50 into the bid for {} USD", NAMES[1], fill.cost);
    Ok(())
}

/// One line per lease: last price, fills and volume, and the best open ask and bid.
pub(super) fn print_books(index: &Index, leases: &[U256]) -> Result<()> {
    for lease in leases {
        let book = index.order_book(*lease, 1)?;
        let best = |orders: &[crate::index::model::OrderRow]| {
            orders
                .first()
                .map_or("-".into(), |o| format!("{} USD × {}", usd(o.price_per_share), o.remaining))
        };
        let stats = &book.stats;
        println!(
            "  lease {lease} on the exchange: last {} USD a share, {} fills, {} shares for {} USD; best ask {}, best bid {}",
            stats.last_price.map_or("-".into(), usd),
            stats.trades,
            stats.volume_shares,
            usd(stats.volume),
            best(&book.asks),
            best(&book.bids),
        );
    }
    Ok(())
}
