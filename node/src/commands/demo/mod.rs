//! `compute-ledger demo` (what `make demo` runs): a live local compute market in one terminal.
//!
//! A fresh anvil with 1-second blocks; the ledger deployed; two simulated clusters (512 H100 on
//! Nordic hydro, 256 H100 at a Texas gas site), each with its own oracle loop and encrypted
//! attestor keystore; a tenant leasing on both; three investors buying shares; a keeper settling
//! each epoch; the wallet JSON-RPC server. Scripted incidents: a GPU outage (SLA credit), an
//! oracle that goes dark for an epoch (settles as missed), an oracle whose lease config ends
//! one epoch early, so its last report leaves the lease's leaf out (settles as unproven once the
//! proof deadline passes: the lease still ends with everyone paid), and a faults drill: the first
//! cluster's node runs as its own process, is killed with SIGKILL in the middle of an epoch,
//! restarted, and then cut off from the chain by a stalled RPC for `--stall-seconds` — that epoch
//! still settles in full. A third site, a converted miner in Texas with 5 MW of miners, is
//! enrolled in a utility's demand-response program: mid-demo the utility's OpenADR VTN sends a
//! curtailment event, the node's VEN sheds the miners, and the attested curtailment is paid. A
//! board is printed after every epoch.

mod board;
mod child_node;
mod demand;
mod scenario;
mod setup;
mod trading;

use std::{
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::primitives::U256;
use compute_ledger_sdk::{Amount, Reports, STABLECOIN_DECIMALS};

use self::{
    scenario::{Incidents, Scenario},
    setup::Market,
};
use crate::{
    KeeperOptions, NodeBuilder, NodeError, NodeOptions, Result, ServerOptions, Shutdown,
    loops::OracleOptions, rpc::Limits,
};

/// `demo`: a live local compute market in one terminal (what `make demo` runs).
#[derive(Debug, Clone, clap::Parser)]
pub struct DemoCommand {
    /// Seconds per epoch.
    #[arg(long, default_value_t = 30)]
    pub epoch_seconds: u32,
    /// Epochs per lease.
    #[arg(long, default_value_t = 6)]
    pub epochs: u64,
    /// Port of the devnet's JSON-RPC.
    #[arg(long, default_value_t = 8545)]
    pub port: u16,
    /// Listen address of the wallet server.
    #[arg(long, default_value = "127.0.0.1:8645")]
    pub listen: String,
    /// Working directory (deleted and recreated: every run starts fresh).
    #[arg(long, default_value = ".devnet/demo")]
    pub dir: PathBuf,
    /// The anvil binary (`npm ci` installs it here).
    #[arg(long, default_value = "node_modules/.bin/anvil")]
    pub anvil: PathBuf,
    /// Stop once both leases ended and everyone was paid (otherwise: serve until Ctrl-C).
    #[arg(long)]
    pub exit_when_done: bool,
    /// Seconds the first cluster's node is cut off from the chain (its RPC stalls).
    #[arg(long, default_value_t = 60)]
    pub stall_seconds: u64,
}

impl DemoCommand {
    /// Runs the demo: sets the market up, starts the node (index, wallet server, keeper, the
    /// second cluster's oracle) and the first cluster's node process, plays the scenario, and
    /// stops everything on Ctrl-C (or when done, with `--exit-when-done`).
    pub async fn execute(self) -> Result<()> {
        let args = &self;
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        let dir = &args.dir;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| NodeError::io(dir, &e))?;
        }
        std::fs::create_dir_all(dir.join("keys")).map_err(|e| NodeError::io(dir, &e))?;
        let market = Market::deploy(args).await?;

        // The node: index, wallet server, keeper, and the second cluster's oracle.
        let provider = compute_ledger_sdk::read_provider(&market.rpc, &market.deployment).await?;
        let options = NodeOptions {
            index_dir: dir.join("index"),
            deliveries_dir: dir.join("deliveries"),
            confirmations: 0,
            poll: Duration::from_millis(500),
        };
        let mut builder = NodeBuilder::open(&options, provider, market.deployment.clone())?;
        builder
            .serve(ServerOptions {
                listen: market.listen,
                limits: Limits::default(),
                public_url: market.public_url.clone(),
                decimals: STABLECOIN_DECIMALS,
            })
            .await?;
        let mut node = builder.start(shutdown.clone());
        node.spawn_keeper(
            market.keeper.clone(),
            KeeperOptions { batch_size: 20, interval: Duration::from_secs(2) },
        );

        let incidents = Incidents::plan(&market.sites, args.epochs);
        let configs = market.oracle_configs(args, &incidents);
        let mut nordic_node = market.start_child_node(args, &configs[0]).await?;
        let texas_relayer = Reports::new(market.owners[1].client().clone());
        // The in-process oracle keeps its samples in the node's one sample database.
        let samples = compute_ledger_oracle::SampleDb::open(&dir.join("samples"))?;
        let texas_options = OracleOptions { samples: Some(samples), ..OracleOptions::default() };
        let texas_oracle =
            node.spawn_oracle(configs[1].clone(), texas_options.clone(), texas_relayer.clone());

        // The oracles sample from here on; now the tenant funds and the investors buy (before
        // the leases' first epoch: nothing slower may come first).
        market.open().await?;

        // The third site: miners in a demand-response program, its oracle and VEN in this node.
        let mut miners = demand::MinerSite::setup(&market, args).await?;
        miners.start(&mut node, texas_options.clone());
        let scenario = Scenario {
            args,
            market: &market,
            incidents: &incidents,
            configs: &configs,
            texas_relayer: &texas_relayer,
            texas_options: &texas_options,
            power_site: miners.cluster,
            power_lease: miners.shell,
        };
        let (archive, index) = (node.archive.clone(), node.index.clone());
        let epoch_s = u64::from(args.epoch_seconds);
        let (played, curtailed) = tokio::join!(
            scenario.play(&mut node, &mut nordic_node, texas_oracle),
            miners.play(&archive, &index, epoch_s, &shutdown)
        );
        let played = played.and(curtailed);
        // A failed step stops the demo, its node process included.
        shutdown.trigger_if_err(&played);
        shutdown.wait().await;
        nordic_node.stop()?;
        let stopped = node.stopped().await;
        drop(market);
        played?;
        stopped?;
        println!("stopped cleanly");
        Ok(())
    }
}

/// Seconds after an epoch during which its report is accepted (at least: the stall widens it).
const REPORT_WINDOW: u64 = 20;
/// Shares per lease: few enough that a share's price has six significant digits.
const SHARES: u128 = 1_000;
/// Seconds after a report during which it can be challenged.
const CHALLENGE_WINDOW: u64 = 10;
/// Seconds the demo's arbiter has to rule on a challenge.
const RESOLUTION_WINDOW: u64 = 20;
/// Seconds after the challenge window before a leaf nobody proved settles as unproven.
const PROOF_GRACE: u64 = 10;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn usd(base: U256) -> String {
    Amount::from_base(base, STABLECOIN_DECIMALS).to_string()
}

fn say(text: &str) {
    println!("\n\x1b[1m== {text}\x1b[0m");
}
