//! An investor earns GPU rent: buys 30 % of a lease's shares, watches three epochs settle against
//! attested delivery (one of them missed: the oracle went dark, so the tenant pays no rent and
//! the owner's bond compensates holders instead), claims, and sees the realized return on what
//! the shares cost.
//!
//! Run: `cargo run -p compute-ledger-sdk --example investor_yield` (starts its own anvil).

use alloy::primitives::U256;
use compute_ledger_sdk::{
    Amount, ProofBook,
    test_utils::{CHALLENGE_WINDOW, EPOCH, Market, REPORT_WINDOW},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let market = Market::start(10_000, 5_000).await;
    let investor = &market.investors[0];
    let start = market.current_epoch().await + 2;
    let lease = market.owner.create_lease(&market.lease_offer(64, start, 3)).await?;
    market.tenant.approve_escrow(lease).await?;
    let escrow = market.tenant.fund(lease).await?;
    let price = Amount::parse("0.000002", 6)?;
    market.owner.offer_shares(lease, 500_000, price).await?;
    println!("Lease {lease} (64 GPUs, 3 epochs, {escrow} USD escrowed) offers 500000 shares.");

    let cost = investor.buy_shares(lease, 300_000, price).await?;
    println!("Bought 300000 of 1000000 shares for {cost} USD.");

    let capacity = 64 * u64::from(EPOCH);
    let mut proofs = ProofBook::default();
    for epoch in start..start + 3 {
        if epoch == start + 1 {
            market.advance_past_epoch(epoch, REPORT_WINDOW + 1).await;
            println!("Epoch {epoch}: no report by the deadline (oracle dark).");
        } else {
            market.advance_past_epoch(epoch, 1).await;
            let tree = market.report(epoch, &[(lease, capacity)]).await;
            proofs.insert(market.cluster_id, epoch, tree);
            market.devnet.advance(CHALLENGE_WINDOW).await;
            println!("Epoch {epoch}: {capacity} GPU-seconds attested.");
        }
        for s in market.keeper.settle_due(&proofs, 10).await?.settled {
            if s.missed {
                println!(
                    "  settled (missed): no rent from the tenant; {} USD to holders from the owner's bond.",
                    s.compensation
                );
            } else {
                println!("  settled (delivered): {} USD rent to holders.", s.rent);
            }
        }
        for position in investor.positions().await? {
            println!(
                "  position: lease {}, {} shares ({} bps), claimable {} USD.",
                position.lease_id,
                position.shares,
                position.share_bps(),
                position.claimable
            );
        }
    }

    let claimed = investor.claim_all().await?;
    let total = claimed.iter().fold(U256::ZERO, |sum, (_, paid)| sum + paid.base());
    let total = Amount::from_base(total, 6);
    // Return on the purchase price, in basis points (base units fit i128 comfortably here).
    let (paid_in, paid_out) = (i128::try_from(cost.base())?, i128::try_from(total.base())?);
    let return_bps = (paid_out - paid_in) * 10_000 / paid_in.max(1);
    let sign = if return_bps < 0 { "-" } else { "+" };
    let (whole, hundredths) = (return_bps.abs() / 100, return_bps.abs() % 100);
    println!(
        "Claimed {total} USD in total on {cost} USD paid: {sign}{whole}.{hundredths:02} % over \
         the lease's 3 epochs (the owner's bond paid for the dark epoch)."
    );
    Ok(())
}
