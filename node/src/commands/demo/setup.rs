//! The demo's set-up: a fresh devnet with the ledger deployed, the parties funded, two clusters
//! registered and bonded with a lease each, their oracle configs, the first cluster's node
//! process, and the market opened (leases funded, shares sold).

use std::{net::SocketAddr, path::PathBuf};

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{U256, keccak256},
    signers::local::PrivateKeySigner,
};
use compute_ledger_oracle::{
    Billing as OracleBilling, KeyConfig, LeaseAllocation, OracleConfig, Simulator, SimulatorConfig,
    Site, SourceConfig, create_keystore,
};
use compute_ledger_sdk::{
    Amount, Billing, Client, ClusterSpec, DeployParams, Deployment, Investor, Issuer, LeaseOffer,
    Owner, STABLECOIN_DECIMALS, Tenant, Unit, deploy, wallet_provider,
};

use super::{
    CHALLENGE_WINDOW, DemoCommand, PROOF_GRACE, REPORT_WINDOW, RESOLUTION_WINDOW, SHARES,
    child_node::ChildNode, now, say, scenario::Incidents,
};
use crate::{NodeError, Result};

/// One simulated cluster of the demo.
pub(super) struct DemoCluster {
    pub(super) name: &'static str,
    pub(super) site: Site,
    pub(super) gpus: u32,
    pub(super) leased: u32,
    pub(super) price: &'static str,
    pub(super) bond: u64,
    pub(super) id: u64,
    pub(super) genesis: u64,
    pub(super) lease: U256,
    pub(super) start: u64,
}

/// The investors' names on the board, in the order of [`Market::investors`].
pub(super) const NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// The devnet and everyone on it.
pub(super) struct Market {
    /// The chain (stopped when dropped).
    pub(super) anvil: AnvilInstance,
    pub(super) rpc: String,
    pub(super) keys: Vec<PrivateKeySigner>,
    pub(super) deployment: Deployment,
    /// Where the wallet server listens, and the URL wallets reach it at.
    pub(super) listen: SocketAddr,
    pub(super) public_url: String,
    /// Seconds after an epoch during which its report is accepted.
    pub(super) report_window: u64,
    pub(super) issuer: Client,
    pub(super) owners: [Owner; 2],
    pub(super) tenant: Tenant,
    pub(super) investors: [Investor; 3],
    /// The demo node's keeper.
    pub(super) keeper: Client,
    /// The password of every keystore of this run, and the file holding it.
    pub(super) password: String,
    pub(super) password_file: PathBuf,
    pub(super) sites: [DemoCluster; 2],
    /// Each cluster's attestor keystore.
    pub(super) attestor_keys: Vec<KeyConfig>,
}

impl Market {
    /// Starts anvil (1-second blocks), deploys the ledger, mints stablecoin to the parties, and
    /// registers, bonds and offers a lease on each cluster.
    pub(super) async fn deploy(args: &DemoCommand) -> Result<Self> {
        let dir = &args.dir;
        say("starting a fresh devnet (anvil, 1-second blocks, a mnemonic made for this run)");
        let anvil = Anvil::at(&args.anvil)
            .port(args.port)
            .block_time(1)
            .arg("--mnemonic-random")
            // 10 for the market; the Texas site's owner, its utility and its AI tenant.
            .args(["--accounts", "13"])
            .try_spawn()
            .map_err(|e| NodeError::Config {
                origin: args.anvil.display().to_string(),
                reason: format!(
                    "cannot start anvil ({e}): run `make install`, or free port {}",
                    args.port
                ),
            })?;
        let rpc = anvil.endpoint();
        let keys: Vec<PrivateKeySigner> =
            anvil.keys()[..8].iter().cloned().map(PrivateKeySigner::from).collect();
        let listen: SocketAddr = args
            .listen
            .parse()
            .map_err(|e| NodeError::Config { origin: "--listen".into(), reason: format!("{e}") })?;
        let public_url = format!("http://{listen}");
        // The stalled node must still report and prove in time once its RPC is back: the
        // windows outlast the stall (real ones are hours long).
        let epoch_s = u64::from(args.epoch_seconds);
        let report_window = REPORT_WINDOW.max(args.stall_seconds + epoch_s + 30);
        let proof_grace = PROOF_GRACE.max(args.stall_seconds + 30);
        let params = DeployParams {
            governance: keys[0].address(),
            arbiter: keys[0].address(),
            report_window,
            challenge_window: CHALLENGE_WINDOW,
            resolution_window: RESOLUTION_WINDOW,
            proof_grace,
            challenge_bond_bps: 1_000,
            metadata_uri: format!("{public_url}/metadata/{{id}}.json"),
        };
        let deployment = deploy(&wallet_provider(&rpc, keys[0].clone())?, &params).await?;
        deployment.save(&dir.join("deployment.json"))?;
        let connect = |i: usize| Client::connect(&rpc, deployment.clone(), keys[i].clone());
        let issuer = connect(0).await?;
        let owners = [Owner::new(connect(1).await?), Owner::new(connect(2).await?)];
        let tenant = Tenant::new(connect(3).await?);
        let investors = [
            Investor::new(connect(4).await?),
            Investor::new(connect(5).await?),
            Investor::new(connect(6).await?),
        ];
        let keeper = connect(7).await?;
        for key in &keys[1..7] {
            Issuer::new(issuer.clone())
                .mint(key.address(), Amount::parse("50000", STABLECOIN_DECIMALS)?)
                .await?;
        }
        println!(
            "  ledger deployed on chain {} at {rpc}; stablecoin minted to owners, tenant and investors",
            deployment.chain_id
        );

        // Attestor keys: encrypted keystores with a password made for this run.
        let password = alloy::hex::encode(rand::random::<[u8; 32]>());
        let password_file = dir.join("keys").join("password");
        std::fs::write(&password_file, &password).map_err(|e| NodeError::io(&password_file, &e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| NodeError::io(&password_file, &e))?;
        }

        let mut market = Self {
            anvil,
            rpc,
            keys,
            deployment,
            listen,
            public_url,
            report_window,
            issuer,
            owners,
            tenant,
            investors,
            keeper,
            password,
            password_file,
            sites: [
                DemoCluster {
                    name: "Nordic hydro",
                    site: Site::NordicHydro,
                    gpus: 512,
                    leased: 256,
                    price: "2.10",
                    bond: 20_000,
                    id: 0,
                    genesis: 0,
                    lease: U256::ZERO,
                    start: 0,
                },
                DemoCluster {
                    name: "Texas gas",
                    site: Site::TexasGas,
                    gpus: 256,
                    leased: 128,
                    price: "1.80",
                    bond: 10_000,
                    id: 0,
                    genesis: 0,
                    lease: U256::ZERO,
                    start: 0,
                },
            ],
            attestor_keys: Vec::new(),
        };
        market.register_clusters(args).await?;
        Ok(market)
    }

    /// Registers and bonds each cluster with its own attestor keystore, and offers its lease to
    /// the tenant, starting at the first epoch that leaves time to fund it.
    async fn register_clusters(&mut self, args: &DemoCommand) -> Result<()> {
        let keys_dir = args.dir.join("keys");
        for (site, owner) in self.sites.iter_mut().zip(&self.owners) {
            let name = format!("{}-attestor.json", site.name.replace(' ', "-").to_lowercase());
            let (attestor, keystore) = create_keystore(&keys_dir, &name, &self.password)?;
            self.attestor_keys.push(KeyConfig {
                keystore,
                password_file: Some(self.password_file.clone()),
                password_env: None,
            });
            let description = format!(
                "{{\"gpus\":{},\"model\":\"H100 SXM\",\"site\":\"{}\"}}",
                site.gpus, site.name
            );
            site.id = owner
                .register_cluster(&ClusterSpec {
                    metadata_uri: format!("ipfs://{}", site.name.replace(' ', "-").to_lowercase()),
                    metadata_hash: keccak256(description),
                    epoch_length: args.epoch_seconds,
                    attestors: vec![attestor],
                    threshold: 1,
                })
                .await?;
            owner
                .deposit_bond(
                    site.id,
                    Amount::from_base(
                        U256::from(site.bond) * U256::from(1_000_000u64),
                        STABLECOIN_DECIMALS,
                    ),
                )
                .await?;
            // The cluster's quote for new leases starts at its lease's price and moves with
            // its attested utilization (the keeper applies each report); it never goes below half.
            let reference = Amount::parse(site.price, STABLECOIN_DECIMALS)?;
            let floor = Amount::from_base(reference.base() / U256::from(2u8), STABLECOIN_DECIMALS);
            owner.set_price_curve(site.id, reference, floor).await?;
            let info = owner
                .client()
                .registry()
                .clusterInfo(site.id)
                .call()
                .await
                .map_err(compute_ledger_sdk::SdkError::from)?;
            site.genesis = info.genesis;
            let elapsed = now().saturating_sub(site.genesis);
            let current = elapsed / u64::from(args.epoch_seconds);
            // Fund before the first epoch begins: leave at least 15 s.
            let left = u64::from(args.epoch_seconds) - elapsed % u64::from(args.epoch_seconds);
            site.start = current + if left >= 15 { 1 } else { 2 };
            site.lease = owner
                .create_lease(&LeaseOffer {
                    cluster_id: site.id,
                    tenant: self.tenant.address(),
                    unit: Unit::Gpu,
                    units: site.leased,
                    start_epoch: site.start,
                    end_epoch: site.start + args.epochs,
                    price_per_unit_hour: Amount::parse(site.price, STABLECOIN_DECIMALS)?,
                    billing: Billing::Reserved,
                    sla_bps: 9_500,
                    credit_bps: 5_000,
                    total_shares: SHARES,
                    energy_price_per_kwh: Amount::zero(STABLECOIN_DECIMALS),
                })
                .await?;
            println!(
                "  cluster {} · {} × H100 · {}: lease {} of {} GPUs for {} epochs at {} USD per GPU-hour",
                site.id, site.gpus, site.name, site.lease, site.leased, args.epochs, site.price
            );
        }
        Ok(())
    }

    /// Each cluster's oracle config: a seeded simulator (the first cluster with its GPU outage),
    /// its lease (the first cluster's ending one epoch early, the operator's typo) and its
    /// attestor key.
    pub(super) fn oracle_configs(
        &self,
        args: &DemoCommand,
        incidents: &Incidents,
    ) -> Vec<OracleConfig> {
        let epoch_s = u64::from(args.epoch_seconds);
        let mut configs = Vec::new();
        for (i, site) in self.sites.iter().enumerate() {
            let sim_outages = if i == 0 {
                // 40 of the 256 leased GPUs down for two thirds of one epoch: about 90 %
                // delivered, below the 95 % SLA.
                let from = site.genesis + incidents.outage_epoch * epoch_s + epoch_s / 6;
                (0..40).map(|gpu| (gpu, from, from + epoch_s * 2 / 3 - 1)).collect()
            } else {
                Vec::new()
            };
            let sim = SimulatorConfig {
                seed: 11 + i as u64,
                gpus: site.gpus,
                site: site.site,
                origin: site.genesis,
                outages: sim_outages,
                flexible_kw: 0,
                curtailment_schedule: None,
                racks: vec![],
            };
            let uuids = Simulator::new(sim.clone()).uuids().to_vec();
            configs.push(OracleConfig {
                cluster_id: site.id,
                chain_id: self.deployment.chain_id,
                registry: self.deployment.registry,
                genesis: site.genesis,
                epoch_length: args.epoch_seconds,
                data_dir: args.dir.join(format!("oracle-{}", site.id)),
                inventory: uuids.clone(),
                source: SourceConfig::Simulator(sim),
                facility: None,
                rack_meters: None,
                leases: vec![LeaseAllocation {
                    lease_id: site.lease.to::<u64>(),
                    billing: OracleBilling::Reserved,
                    start_epoch: site.start,
                    end_epoch: if i == 0 && args.epochs > 1 {
                        incidents.omitted_epoch
                    } else {
                        site.start + args.epochs
                    },
                    gpus: uuids[..site.leased as usize].to_vec(),
                    racks: vec![],
                    kw: 0,
                }],
                signer: Some(self.attestor_keys[i].clone()),
                max_backfill_s: 3_600,
                demand_response: None,
            });
        }
        configs
    }

    /// Starts the first cluster's node as its own process (with its own keeper and archive), so
    /// the demo can kill it with SIGKILL and cut it off from the chain.
    pub(super) async fn start_child_node(
        &self,
        args: &DemoCommand,
        oracle: &OracleConfig,
    ) -> Result<ChildNode> {
        let dir = &args.dir;
        let node_dir = dir.join("nordic-node");
        let keeper_key = {
            let name = "nordic-keeper.json";
            PrivateKeySigner::encrypt_keystore(
                dir.join("keys"),
                &mut rand::thread_rng(),
                self.anvil.keys()[8].to_bytes(),
                &self.password,
                Some(name),
            )
            .map_err(|e| NodeError::Config { origin: "demo keys".into(), reason: e.to_string() })?;
            KeyConfig {
                keystore: dir.join("keys").join(name),
                password_file: Some(self.password_file.clone()),
                password_env: None,
            }
        };
        {
            // Gas for the node's attestor, which relays its own reports.
            use alloy::providers::Provider;
            let attestor = self.attestor_keys[0].load()?.address();
            let funder = wallet_provider(&self.rpc, self.keys[0].clone())?;
            let _: serde_json::Value = funder
                .raw_request("anvil_setBalance".into(), (attestor, U256::from(10u128.pow(20))))
                .await
                .map_err(compute_ledger_sdk::SdkError::from)?;
        }
        let anvil_addr = SocketAddr::from(([127, 0, 0, 1], self.anvil.port()));
        ChildNode::start(&node_dir, anvil_addr, &dir.join("deployment.json"), oracle, &keeper_key)
            .await
    }

    /// The tenant funds both leases (by approval and by permit), the owners put 60 % of each
    /// lease's shares on sale, and the investors buy.
    pub(super) async fn open(&self) -> Result<()> {
        let (sites, tenant) = (&self.sites, &self.tenant);
        let escrow_a = {
            tenant.approve_escrow(sites[0].lease).await?;
            tenant.fund(sites[0].lease).await?
        };
        let escrow_b = tenant
            .fund_with_permit(sites[1].lease, tenant.client().chain_time().await? + 600)
            .await?;
        println!(
            "  the tenant funded both leases in full: {escrow_a} USD (approval) and {escrow_b} USD (EIP-2612 permit)"
        );

        // Shares: 60 % of each lease on sale at 99 % of its full-delivery rent per share — a 1 %
        // return if every epoch delivers; incidents eat into it.
        for (site, owner) in sites.iter().zip(&self.owners) {
            let escrow = owner.client().escrow_required(site.lease).await?;
            let price = Amount::from_base(
                escrow.base() * U256::from(99) / U256::from(100 * SHARES),
                STABLECOIN_DECIMALS,
            );
            owner.offer_shares(site.lease, SHARES * 6 / 10, price).await?;
        }
        let plan: [(usize, usize, u128); 5] =
            [(0, 0, 300), (1, 0, 200), (1, 1, 300), (2, 0, 100), (2, 1, 200)];
        for (investor, site, shares) in plan {
            let buyer = &self.investors[investor];
            let offer = buyer.offer(sites[site].lease).await?;
            let cost = buyer.buy_shares(sites[site].lease, shares, offer.price_per_share).await?;
            println!(
                "  {} bought {shares} shares of lease {} for {cost} USD",
                NAMES[investor], sites[site].lease
            );
        }
        Ok(())
    }
}
