//! The demo's third site: a converted bitcoin miner in Texas that keeps 5 MW of miners as
//! flexible load, enrolled in a utility's demand-response program. The utility runs a real
//! OpenADR VTN (OpenLEADR over PostgreSQL); this node is the site's VEN. Mid-demo the utility
//! dispatches an event on chain and publishes it on its VTN; the VEN sheds the miners and
//! acknowledges; the oracle measures the curtailment on the facility meter and attests it in
//! its report; the utility pays price × attested kWh once the review window has passed.

use std::time::Duration;

use alloy::primitives::{U256, keccak256};
use compute_ledger_oracle::{
    DemandResponseConfig, KeyConfig, OracleConfig, SimulatorConfig, Site as SimSite, SourceConfig,
    create_keystore,
};
use compute_ledger_sdk::{
    Amount, Client, ClusterSpec, Issuer, Owner, Reports, STABLECOIN_DECIMALS, Site, Sponsor,
};

use super::{DemoCommand, now, say, setup::Market, usd};
use crate::{
    Result, RunningNode, Shutdown,
    index::DeliveriesArchive,
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
/// The utility's price per curtailed kWh, and its penalty per kWh short.
const PRICE_PER_KWH: &str = "0.25";
const PENALTY_PER_KWH: &str = "0.10";
/// The event starts in the site's epoch after this many epochs.
const EVENT_AFTER_EPOCHS: u64 = 2;

/// The miner site, its program and the utility's VTN.
pub(super) struct MinerSite {
    pub(super) cluster: u64,
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
        say("demand response: a converted miner in Texas, 5 MW of miners enrolled with a utility");
        let keys = market.anvil.keys();
        let connect = |i: usize| {
            Client::connect(&market.rpc, market.deployment.clone(), keys[i].clone().into())
        };
        let (utility, owner) = (connect(10).await?, connect(11).await?);
        let issuer = Issuer::new(market.issuer.clone());
        for account in [utility.address(), owner.address()] {
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
                racks: vec![],
            }),
            facility: None,
            rack_meters: None,
            leases: Vec::new(),
            signer: Some(key.clone()),
            max_backfill_s: 3_600,
            demand_response: Some(DemandResponseConfig { contract, baseline_s: 900 }),
        };
        let vtn_client = VtnClient::new(vtn.url(), &ven_id, &ven_secret)?;
        let ven =
            Ven::new(vtn_client, site, key.load()?, cluster, FlexibleLoad::Schedule(schedule));
        Ok(Self {
            cluster,
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
            "  ✓ event {event} settled: {:.1} of {committed_kwh:.1} committed kWh curtailed; the utility paid {} USD to the site (penalty {} USD); the GPU tenants' delivery is untouched",
            settled.curtailed_wh as f64 / 1000.0,
            usd(paid.base()),
            usd(settled.penalty.base()),
        );
        Ok(())
    }
}
