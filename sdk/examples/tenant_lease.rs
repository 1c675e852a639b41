//! A tenant leases GPUs: approves and funds the full-term escrow, watches two epochs settle (one
//! delivered in full, one at 80 % — below the 95 % SLA, so the owner's bond pays a credit), and
//! withdraws the credit and the unearned escrow when the lease ends.
//!
//! Run: `cargo run -p compute-ledger-sdk --example tenant_lease` (starts its own anvil).

use compute_ledger_sdk::{
    ProofBook,
    test_utils::{CHALLENGE_WINDOW, EPOCH, Market},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let market = Market::start(10_000, 5_000).await;
    let tenant = &market.tenant;
    let start = market.current_epoch().await + 2;
    let lease = market.owner.create_lease(&market.lease_offer(32, start, 2)).await?;
    println!(
        "Lease {lease}: 32 GPUs for epochs {start} and {} at 2.00 USD per GPU-hour.",
        start + 1
    );

    let escrow = tenant.approve_escrow(lease).await?;
    tenant.fund(lease).await?;
    println!("Approved and paid the full-term escrow: {escrow} USD (no top-ups, ever).");

    let capacity = 32 * u64::from(EPOCH);
    let mut proofs = ProofBook::default();
    for (epoch, delivered) in [(start, capacity), (start + 1, capacity * 8 / 10)] {
        market.advance_past_epoch(epoch, 1).await;
        let tree = market.report(epoch, &[(lease, delivered)]).await;
        proofs.insert(market.cluster_id, epoch, tree);
        println!(
            "Epoch {epoch}: the oracles attest {delivered} of {capacity} GPU-seconds delivered; \
             the tenant has {CHALLENGE_WINDOW} s to challenge."
        );
        market.devnet.advance(CHALLENGE_WINDOW).await;
        for s in market.keeper.settle_due(&proofs, 10).await?.settled {
            println!(
                "  settled: rent {} USD to share holders, SLA credit {} USD to the tenant.",
                s.rent, s.sla_credit
            );
        }
    }

    let paid = tenant.withdraw(lease).await?;
    println!(
        "Lease ended. The tenant withdrew {} USD of SLA credits and {} USD of unearned escrow; \
         balance now {} USD.",
        paid.credits,
        paid.remainder,
        tenant.client().balance().await?
    );
    Ok(())
}
