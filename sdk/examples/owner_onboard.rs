//! A cluster owner goes from nothing to shares on sale: deploys a devnet ledger, registers a
//! cluster with a 2-of-3 attestor set, posts a bond, offers a lease to a tenant, and once the
//! tenant funded it, puts 40 % of the lease's rent shares on sale.
//!
//! Run: `cargo run -p compute-ledger-sdk --example owner_onboard` (starts its own anvil from
//! `node_modules`; `make test` installs it).

use alloy::{primitives::keccak256, signers::local::PrivateKeySigner};
use compute_ledger_sdk::{
    Amount, Billing, ClusterSpec, DeployParams, LeaseOffer, Owner, Tenant, Unit, deploy,
    test_utils::{Devnet, dollars, mint},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let devnet = Devnet::spawn();
    let governance = devnet.signer(0);
    let params = DeployParams {
        governance: governance.address(),
        arbiter: governance.address(),
        report_window: 120,
        challenge_window: 60,
        resolution_window: 60,
        proof_grace: 30,
        challenge_bond_bps: 1_000,
        metadata_uri: "http://127.0.0.1:8645/metadata/{id}.json".into(),
    };
    let deployment = deploy(&devnet.provider_for(governance), &params).await?;
    println!(
        "Ledger deployed on chain {}: registry {}, market {}, stablecoin {}.",
        deployment.chain_id, deployment.registry, deployment.market, deployment.stablecoin
    );
    let issuer = devnet.client(&deployment, 0).await;
    let owner = Owner::new(devnet.client(&deployment, 1).await);
    let tenant = Tenant::new(devnet.client(&deployment, 2).await);
    mint(&issuer, owner.client().address(), dollars(50_000)).await;
    mint(&issuer, tenant.address(), dollars(50_000)).await;

    // Attestor keys live with the oracle nodes; the owner only registers their addresses.
    let mut attestors: Vec<PrivateKeySigner> = (0..3).map(|_| PrivateKeySigner::random()).collect();
    attestors.sort_by_key(PrivateKeySigner::address);
    let description = r#"{"gpus":512,"model":"H100 SXM","site":"Nordic hydro","pue":1.1}"#;
    let spec = ClusterSpec {
        metadata_uri: "ipfs://nordic-hydro-512xh100".into(),
        metadata_hash: keccak256(description),
        epoch_length: 60,
        attestors: attestors.iter().map(PrivateKeySigner::address).collect(),
        threshold: 2,
    };
    let cluster = owner.register_cluster(&spec).await?;
    println!("Registered cluster {cluster}: 60-second epochs, reports need 2 of 3 attestors.");

    owner.deposit_bond(cluster, dollars(20_000)).await?;
    let bond = owner.bond(cluster).await?;
    println!("Posted a performance bond of {} USD (free: {}).", bond.total, bond.free());

    let start = owner.client().registry().currentEpoch(cluster).call().await? + 2;
    let offer = LeaseOffer {
        cluster_id: cluster,
        tenant: tenant.address(),
        unit: Unit::Gpu,
        units: 128,
        start_epoch: start,
        end_epoch: start + 60,
        price_per_unit_hour: Amount::parse("2.10", 6)?,
        billing: Billing::Reserved,
        sla_bps: 9_500,
        credit_bps: 5_000,
        total_shares: 1_000_000,
        energy_price_per_kwh: Amount::zero(6),
    };
    let lease = owner.create_lease(&offer).await?;
    let bond = owner.bond(cluster).await?;
    println!(
        "Offered lease {lease}: 128 GPUs for 60 epochs at 2.10 USD per GPU-hour; {} USD of the \
         bond is now locked against SLA credits.",
        bond.locked
    );

    let escrow = tenant.fund_with_permit(lease, owner.client().chain_time().await? + 600).await?;
    println!("The tenant funded the full term with a permit: {escrow} USD in escrow.");

    let price = Amount::parse("0.004", 6)?;
    owner.offer_shares(lease, 400_000, price).await?;
    println!("On sale: 400000 of 1000000 rent shares of lease {lease} at {price} USD each.");
    Ok(())
}
