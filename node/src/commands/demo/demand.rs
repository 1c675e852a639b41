//! The demo's third site: a converted bitcoin miner in Texas, 20 MW energized: 15 MW leased as a
//! powered shell to an AI tenant (its own racks behind 15 sub-metered 1 MW halls, billed per kW
//! of power available with energy passed through), and 5 MW of miners kept as flexible load,
//! enrolled in a utility's demand-response program. The utility runs a real
//! OpenADR VTN (OpenLEADR over PostgreSQL); this node is the site's VEN. Mid-demo the utility
//! dispatches an event on chain and publishes it on its VTN; the VEN sheds the miners and
//! acknowledges; the oracle measures the curtailment on the facility meter and attests it in
//! its report; the utility pays price × attested kWh once the review window has passed.

use std::time::Duration;

use alloy::primitives::{U256, keccak256};
use compute_ledger_oracle::{
    BaselineMethod, DemandResponseConfig, KeyConfig, OracleConfig, SimulatorConfig,
    Site as SimSite, SourceConfig, create_keystore,
};
use compute_ledger_oracle::{Billing as OracleBilling, LeaseAllocation, SimRack};
use compute_ledger_sdk::{
    Amount, Billing, Client, ClusterSpec, Issuer, LeaseOffer, Owner, Reports, STABLECOIN_DECIMALS,
    Site, SiteInputs, Sponsor, Tenant, Unit,
};

use super::{DemoCommand, now, say, setup::Market, usd};
use crate::{
    Result, RunningNode, Shutdown,
    index::{DeliveriesArchive, Index},
    loops::OracleOptions,
    openadr::{
        self,
        client::VtnClient,
        server::{VtnRole, VtnServer, VtnUser},
        ven::{FlexibleLoad, Ven},
    },
};

/// The miners' draw, kW: all of it committed to the program.
const MINERS_KW: u32 = 5_000;
/// The site's energized critical-IT power, and the AI tenant's powered shell in 1 MW halls.
pub(super) const ENERGIZED_KW: u64 = 20_000;
const SHELL_HALLS: u32 = 15;
const HALL_KW: u32 = 1_000;
/// The powered shell's rent per kW-hour of capacity (about 130 USD per kW-month), and the
/// energy it passes through per kWh (what the site pays its utility).
const SHELL_PRICE_PER_KW_HOUR: &str = "0.18";
const ENERGY_PRICE_PER_KWH: &str = "0.045";
/// The owner's mining inputs: hashprice (USD per PH/s per day) and fleet efficiency (J/TH).
const HASHPRICE: &str = "48";
const FLEET_J_PER_TH: u32 = 20;
/// The utility's price per curtailed kWh, and its penalty per kWh short.
const PRICE_PER_KWH: &str = "0.25";
const PENALTY_PER_KWH: &str = "0.10";
/// The event starts in the site's epoch after this many epochs.
const EVENT_AFTER_EPOCHS: u64 = 2;

/// The miner site, its powered-shell lease, its program and the utility's VTN.
pub(super) struct MinerSite {
    pub(super) cluster: u64,
    /// The AI tenant's powered-shell lease.
    pub(super) shell: U256,
    genesis: u64,
    config: OracleConfig,
    relayer: Reports,
    ven: Option<Ven>,
    /// Stops PostgreSQL and the VTN when dropped.
    _vtn: VtnServer,
    grid: VtnClient,
    vtn_program: String,
    utility: Sponsor,
    enrollment: U256,
    owner: Client,
}

impl MinerSite {
    /// Registers the site (its own owner and attestor keystore), the utility's funded program,
    /// the site's enrollment and bond, and starts the utility's VTN with the site's VEN user.
    pub(super) async fn setup(market: &Market, args: &DemoCommand) -> Result<Self> {
        say("power as the asset: a converted miner in Texas, 20 MW energized: 15 MW leased as a \
             powered shell to an AI tenant, 5 MW of miners enrolled with a utility");
        let keys = market.anvil.keys();
        let connect = |i: usize| {
            Client::connect(&market.rpc, market.deployment.clone(), keys[i].clone().into())
        };
        let (utility, owner, ai_tenant) =
            (connect(10).await?, connect(11).await?, connect(12).await?);
        let issuer = Issuer::new(market.issuer.clone());
        for account in [utility.address(), owner.address(), ai_tenant.address()] {
            issuer.mint(account, Amount::parse("5000", STABLECOIN_DECIMALS)?).await?;
        }
        let (attestor, keystore) = create_keystore(
            &args.dir.join("keys"),
            "texas-miners-attestor.json",
            &market.password,
        )?;
        let key = KeyConfig {
            keystore,
            password_file: Some(market.password_file.clone()),
            password_env: None,
        };
        let cluster = Owner::new(owner.clone())
            .register_cluster(&ClusterSpec {
                metadata_uri: "ipfs://texas-miners".into(),
                metadata_hash: keccak256("{\"site\":\"Texas miners\",\"flexibleKw\":5000}"),
                epoch_length: args.epoch_seconds,
                attestors: vec![attestor],
                threshold: 1,
            })
            .await?;
        let genesis = owner
            .registry()
            .clusterInfo(cluster)
            .call()
            .await
            .map_err(compute_ledger_sdk::SdkError::from)?
            .genesis;

        let (shell, shell_epochs) =
            Self::lease_shell(&owner, &ai_tenant, cluster, genesis, args).await?;

        let sponsor = Sponsor::new(utility.clone());
        let price = Amount::parse(PRICE_PER_KWH, STABLECOIN_DECIMALS)?;
        let penalty = Amount::parse(PENALTY_PER_KWH, STABLECOIN_DECIMALS)?;
        let program = sponsor.create_program(price, penalty, market.issuer.address()).await?;
        sponsor.fund_program(program, Amount::parse("1000", STABLECOIN_DECIMALS)?).await?;
        let site = Site::new(owner.clone());
        let enrollment = site.enroll(program, cluster, MINERS_KW, owner.address()).await?;
        site.deposit_bond(enrollment, Amount::parse("500", STABLECOIN_DECIMALS)?).await?;

        // The utility's VTN, with a user for itself and one for the site's VEN (secrets made
        // for this run, never printed).
        let secret = || alloy::hex::encode(rand::random::<[u8; 16]>());
        let (grid_secret, ven_secret) = (secret(), secret());
        let ven_id = format!("ven-texas-miners-{cluster}");
        let users = vec![
            VtnUser {
                client_id: "utility".into(),
                secret: grid_secret.clone(),
                role: VtnRole::Grid,
            },
            VtnUser { client_id: ven_id.clone(), secret: ven_secret.clone(), role: VtnRole::Ven },
        ];
        let vtn_dir = args.dir.join("vtn");
        let vtn = tokio::task::spawn_blocking(move || VtnServer::start(&vtn_dir, &users))
            .await
            .map_err(|e| crate::NodeError::OpenAdr(format!("starting the VTN: {e}")))??;
        let grid = VtnClient::new(vtn.url(), "utility", &grid_secret)?;
        let contract = *utility.demand_response()?.address();
        let name = openadr::program_name(market.deployment.chain_id, contract, program);
        let vtn_program = grid.create_program(&name).await?.id;
        grid.create_ven(&ven_id, "texas-miners", &openadr::ven_target(cluster)).await?;
        println!(
            "  cluster {cluster} · 5,000 kW of miners · program {program}: {PRICE_PER_KWH} USD per curtailed kWh, {PENALTY_PER_KWH} USD per kWh short"
        );
        println!("  the utility's OpenADR 3.1 VTN (OpenLEADR) listens on {}", vtn.url());

        let schedule = args.dir.join("texas-miners-curtailments.json");
        let config = OracleConfig {
            cluster_id: cluster,
            chain_id: market.deployment.chain_id,
            registry: market.deployment.registry,
            genesis,
            epoch_length: args.epoch_seconds,
            data_dir: args.dir.join(format!("oracle-{cluster}")),
            inventory: Vec::new(),
            source: SourceConfig::Simulator(SimulatorConfig {
                seed: 31,
                gpus: 8,
                site: SimSite::TexasGas,
                origin: genesis,
                outages: Vec::new(),
                flexible_kw: MINERS_KW,
                curtailment_schedule: Some(schedule.clone()),
                racks: halls()
                    .into_iter()
                    .map(|id| SimRack { id, kw: HALL_KW, outages: Vec::new() })
                    .collect(),
            }),
            facility: None,
            // The simulator meters its halls itself; a real site names its PDU exporter here.
            rack_meters: None,
            leases: vec![LeaseAllocation {
                lease_id: shell.to::<u64>(),
                billing: OracleBilling::Reserved,
                start_epoch: shell_epochs.start,
                end_epoch: shell_epochs.end,
                gpus: Vec::new(),
                racks: halls(),
                kw: SHELL_HALLS * HALL_KW,
            }],
            signer: Some(key.clone()),
            max_backfill_s: 3_600,
            demand_response: Some(DemandResponseConfig {
                contract,
                baseline_s: 900,
                baseline: BaselineMethod::MeterBefore,
                like_days: 10,
            }),
        };
        let vtn_client = VtnClient::new(vtn.url(), &ven_id, &ven_secret)?;
        let ven =
            Ven::new(vtn_client, site, key.load()?, cluster, FlexibleLoad::Schedule(schedule));
        Ok(Self {
            cluster,
            shell,
            genesis,
            config,
            relayer: Reports::new(owner.clone()),
            ven: Some(ven),
            _vtn: vtn,
            grid,
            vtn_program,
            utility: sponsor,
            enrollment,
            owner,
        })
    }

    /// The owner bonds the site and leases 15 MW as a powered shell to the AI tenant for the
    /// demo's epochs, from the next epoch; the tenant funds the escrow (rent and the most energy
    /// the halls could draw). Returns the lease and its term as funded.
    async fn lease_shell(
        owner: &Client,
        ai_tenant: &Client,
        cluster: u64,
        genesis: u64,
        args: &DemoCommand,
    ) -> Result<(U256, std::ops::Range<u64>)> {
        let owner = Owner::new(owner.clone());
        owner.deposit_bond(cluster, Amount::parse("1000", STABLECOIN_DECIMALS)?).await?;
        let start = shell_start(genesis, args);
        let lease = owner
            .create_lease(&LeaseOffer {
                cluster_id: cluster,
                tenant: ai_tenant.address(),
                unit: Unit::Kw,
                units: SHELL_HALLS * HALL_KW,
                start_epoch: start,
                end_epoch: start + args.epochs,
                price_per_unit_hour: Amount::parse(SHELL_PRICE_PER_KW_HOUR, STABLECOIN_DECIMALS)?,
                billing: Billing::Reserved,
                sla_bps: 9_990,
                credit_bps: 5_000,
                total_shares: 1_000,
                energy_price_per_kwh: Amount::parse(ENERGY_PRICE_PER_KWH, STABLECOIN_DECIMALS)?,
            })
            .await?;
        let tenant = Tenant::new(ai_tenant.clone());
        tenant.approve_escrow(lease).await?;
        let escrow = tenant.fund(lease).await?;
        // Funded after its first epoch began, a lease starts later: the term is the chain's.
        let funded = ai_tenant.lease(lease).await?;
        println!(
            "  lease {lease}: 15,000 kW powered shell (15 halls of 1 MW, their own sub-meters) for epochs {}–{}, {SHELL_PRICE_PER_KW_HOUR} USD per kW-hour, energy passed through at {ENERGY_PRICE_PER_KWH} USD per kWh, SLA 99.9 % power available; the AI tenant funded {escrow} USD",
            funded.start_epoch,
            funded.end_epoch - 1
        );
        Ok((lease, funded.start_epoch..funded.end_epoch))
    }

    /// The owner's inputs to the mine-or-lease comparison.
    pub(super) fn inputs() -> Result<SiteInputs> {
        Ok(SiteInputs {
            hashprice_per_ph_day: Amount::parse(HASHPRICE, STABLECOIN_DECIMALS)?,
            fleet_j_per_th: FLEET_J_PER_TH,
            energy_price_per_kwh: Amount::parse(ENERGY_PRICE_PER_KWH, STABLECOIN_DECIMALS)?,
        })
    }

    /// Starts the site's oracle and VEN in the demo's node.
    pub(super) fn start(&mut self, node: &mut RunningNode, options: OracleOptions) {
        drop(node.spawn_oracle(self.config.clone(), options, self.relayer.clone()));
        if let Some(ven) = self.ven.take() {
            node.spawn_ven(ven, Duration::from_secs(2));
        }
    }

    /// Mid-demo: the utility dispatches and publishes one event over half an epoch, waits for
    /// the site's report to attest it, and settles it.
    pub(super) async fn play(
        &self,
        archive: &DeliveriesArchive,
        index: &Index,
        epoch_s: u64,
        shutdown: &Shutdown,
    ) -> Result<()> {
        let first_epoch = now().saturating_sub(self.genesis) / epoch_s + EVENT_AFTER_EPOCHS;
        let start = self.genesis + first_epoch * epoch_s + epoch_s / 4;
        let end = start + epoch_s / 2;
        while now() + 20 < start {
            if shutdown.sleep(Duration::from_millis(500)).await {
                return Ok(());
            }
        }
        let event = self.utility.dispatch(self.enrollment, start, end).await?;
        let client = self.utility.client();
        let contract = *client.demand_response()?.address();
        let request = openadr::event_request(
            &self.vtn_program,
            client.deployment().chain_id,
            contract,
            event,
            self.cluster,
            start,
            end,
        );
        self.grid.create_event(&request).await?;
        say(&format!(
            "demand response: the utility's VTN sends event {event}: shed 5,000 kW for {} s from {}",
            end - start,
            openadr::rfc3339(start)
        ));

        let report_epoch = client.curtailment_event(event).await?.report_epoch;
        let mut leaf = None;
        while leaf.is_none() {
            leaf = archive.tree(self.cluster, report_epoch)?.and_then(|tree| {
                tree.curtailment(event).map(|l| (*l, tree.curtailment_proof(event)))
            });
            if leaf.is_none() && shutdown.sleep(Duration::from_millis(500)).await {
                return Ok(());
            }
        }
        let (leaf, proof) = leaf.expect("found");
        let proof =
            proof.map_err(|e| crate::NodeError::OpenAdr(format!("event {event}'s proof: {e}")))?;
        println!(
            "\n  ✓ the miners curtailed: the oracle measured {:.1} kWh against a {:.1} kWh baseline on the facility meter (epoch {report_epoch}'s report)",
            leaf.actual_wh as f64 / 1000.0,
            leaf.baseline_wh as f64 / 1000.0
        );
        // Settleable once the report is on chain (the tree is archived before it is sent) and
        // its review window has passed.
        let settled = loop {
            use compute_ledger_sdk::ErrorKind::{NoReport, ReviewWindowOpen};
            match self.utility.settle(&leaf, proof.clone()).await {
                Ok(settled) => break settled,
                Err(compute_ledger_sdk::SdkError::Contract(r))
                    if matches!(r.kind, NoReport | ReviewWindowOpen) =>
                {
                    if shutdown.sleep(Duration::from_secs(1)).await {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        let paid = self.owner.withdraw_demand_response().await?;
        let committed_kwh = f64::from(MINERS_KW) * (end - start) as f64 / 3600.0;
        println!(
            "  ✓ event {event} settled: {:.1} of {committed_kwh:.1} committed kWh curtailed; the utility paid {} USD to the site (penalty {} USD)",
            settled.curtailed_wh as f64 / 1000.0,
            usd(paid.base()),
            usd(settled.penalty.base()),
        );
        // The AI tenant's epoch of the event, once the keeper settles it: power untouched.
        loop {
            let settlements = index.settlements(self.shell)?;
            if let Some(s) = settlements.iter().find(|s| s.epoch == report_epoch) {
                let capacity = u64::from(SHELL_HALLS * HALL_KW) * epoch_s;
                println!(
                    "  ✓ the AI tenant's powered shell in that epoch: {} of {capacity} kW-seconds of power available, rent {} USD, {:.1} kWh metered and passed through ({} USD): curtailing the miners took nothing from it",
                    s.delivered,
                    usd(s.rent),
                    s.energy_wh as f64 / 1000.0,
                    usd(s.energy_charge),
                );
                return Ok(());
            }
            if shutdown.sleep(Duration::from_millis(500)).await {
                return Ok(());
            }
        }
    }
}

/// The powered shell's halls (sub-meter ids).
fn halls() -> Vec<String> {
    (1..=SHELL_HALLS).map(|i| format!("hall-{i:02}")).collect()
}

/// The powered shell's first epoch: the site's next one when the demo sets it up.
fn shell_start(genesis: u64, args: &DemoCommand) -> u64 {
    now().saturating_sub(genesis) / u64::from(args.epoch_seconds) + 1
}
