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
//! still settles in full. A board is printed after every epoch.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::{
    node_bindings::Anvil,
    primitives::{U256, keccak256},
    signers::local::PrivateKeySigner,
};
use compute_ledger_oracle::{
    Billing as OracleBilling, KeyConfig, LeaseAllocation, OracleConfig, ReportFile, Simulator,
    SimulatorConfig, Site, SourceConfig, create_keystore,
};
use compute_ledger_sdk::{
    Amount, Billing, Client, ClusterSpec, DeployParams, Investor, Issuer, Keeper, LeaseOffer,
    Owner, Reports, STABLECOIN_DECIMALS, Tenant, deploy, wallet_provider,
};
use tokio::task::JoinHandle;

use crate::{
    Indexer, NodeError, Result, Shutdown,
    index::{DeliveriesArchive, Index, NodeProofs, model::ClusterRow},
    loops::{keeper_loop, oracle_loop},
    metrics::Metrics,
    rpc::{Ledger, Limits, serve},
};

use super::demo_node::ChildNode;

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

const REPORT_WINDOW: u64 = 20;
/// Shares per lease: few enough that a share's price has six significant digits.
const SHARES: u128 = 1_000;
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

fn io(path: &std::path::Path, e: &std::io::Error) -> NodeError {
    NodeError::Io { path: path.to_path_buf(), reason: e.to_string() }
}

/// Where a scripted fault stands.
#[derive(Debug, Clone, Copy)]
enum Drill {
    /// Not yet.
    Ahead,
    /// Under way since this second.
    Since(u64),
    /// Over.
    Done,
}

/// One simulated cluster of the demo.
struct DemoCluster {
    name: &'static str,
    site: Site,
    gpus: u32,
    leased: u32,
    price: &'static str,
    bond: u64,
    id: u64,
    genesis: u64,
    lease: U256,
    start: u64,
}

/// A spawned oracle loop that can be stopped on its own (to play an oracle going dark).
struct OracleTask {
    stop: Shutdown,
    task: JoinHandle<Result<()>>,
}

fn spawn_oracle(
    config: &OracleConfig,
    relayer: &Reports,
    archive: &DeliveriesArchive,
    metrics: &Arc<Metrics>,
    all: &Shutdown,
) -> OracleTask {
    // Stops with the demo, or alone when the demo plays this oracle going dark.
    let stop = all.child();
    let task = tokio::spawn(oracle_loop(
        config.clone(),
        Default::default(),
        relayer.clone(),
        archive.clone(),
        Arc::default(),
        metrics.clone(),
        stop.clone(),
    ));
    OracleTask { stop, task }
}

impl DemoCommand {
    /// Runs the demo.
    pub async fn execute(self) -> Result<()> {
        run(self).await
    }
}

/// Runs the demo.
async fn run(args: DemoCommand) -> Result<()> {
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let dir = &args.dir;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io(dir, &e))?;
    }
    std::fs::create_dir_all(dir.join("keys")).map_err(|e| io(dir, &e))?;

    say("starting a fresh devnet (anvil, 1-second blocks, a mnemonic made for this run)");
    let anvil = Anvil::at(&args.anvil)
        .port(args.port)
        .block_time(1)
        .arg("--mnemonic-random")
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
    let listen: std::net::SocketAddr = args
        .listen
        .parse()
        .map_err(|e| NodeError::Config { origin: "--listen".into(), reason: format!("{e}") })?;
    let public_url = format!("http://{listen}");
    // The stalled node must still report and prove in time once its RPC is back: the windows
    // outlast the stall (real ones are hours long).
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
    let names = ["alice", "bob", "carol"];
    let investors = [
        Investor::new(connect(4).await?),
        Investor::new(connect(5).await?),
        Investor::new(connect(6).await?),
    ];
    let keeper = Keeper::new(connect(7).await?);
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
    std::fs::write(&password_file, &password).map_err(|e| io(&password_file, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io(&password_file, &e))?;
    }

    let mut sites = [
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
    ];
    let mut attestor_keys = Vec::new();
    for (site, owner) in sites.iter_mut().zip(&owners) {
        let name = format!("{}-attestor.json", site.name.replace(' ', "-").to_lowercase());
        let (attestor, keystore) = create_keystore(&dir.join("keys"), &name, &password)?;
        attestor_keys.push(KeyConfig {
            keystore,
            password_file: Some(password_file.clone()),
            password_env: None,
        });
        let description =
            format!("{{\"gpus\":{},\"model\":\"H100 SXM\",\"site\":\"{}\"}}", site.gpus, site.name);
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
                tenant: tenant.address(),
                gpus: site.leased,
                start_epoch: site.start,
                end_epoch: site.start + args.epochs,
                price_per_gpu_hour: Amount::parse(site.price, STABLECOIN_DECIMALS)?,
                billing: Billing::Reserved,
                sla_bps: 9_500,
                credit_bps: 5_000,
                total_shares: SHARES,
            })
            .await?;
        println!(
            "  cluster {} · {} × H100 · {}: lease {} of {} GPUs for {} epochs at {} USD per GPU-hour",
            site.id, site.gpus, site.name, site.lease, site.leased, args.epochs, site.price
        );
    }
    // The node: index, wallet server, keeper, one oracle per cluster.
    let index = Index::open(&dir.join("index"))?;
    let archive = DeliveriesArchive::open(&dir.join("deliveries"))?;
    let metrics = Arc::new(Metrics::default());
    let provider = compute_ledger_sdk::read_provider(&rpc, &deployment).await?;
    let indexer = Indexer::new(index.clone(), provider, deployment.clone(), 0, metrics.clone())?;
    let ledger = Ledger::new(
        index.clone(),
        archive.clone(),
        &indexer,
        metrics.clone(),
        Limits::default(),
        public_url.clone(),
    );
    let server = serve(listen, ledger).await?;
    let sync = indexer.status();
    let indexing = tokio::spawn(indexer.run(Duration::from_millis(500), shutdown.clone()));
    let keeping = tokio::spawn(keeper_loop(
        keeper,
        NodeProofs { index: index.clone(), archive: archive.clone() },
        20,
        Duration::from_secs(2),
        metrics.clone(),
        shutdown.clone(),
    ));

    let outage_epoch = sites[0].start + 1;
    let dark_epoch = sites[1].start + 2.min(args.epochs.saturating_sub(1));
    // The operator of the first cluster typed its lease's end one epoch early (an oracle config
    // bug): the last epoch's report has no leaf for the lease.
    let omitted_epoch = sites[0].start + args.epochs - 1;
    let mut configs = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let sim_outages = if i == 0 {
            // 40 of the 256 leased GPUs down for two thirds of one epoch: about 90 % delivered,
            // below the 95 % SLA.
            let from = site.genesis + outage_epoch * epoch_s + epoch_s / 6;
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
        };
        let uuids = Simulator::new(sim.clone()).uuids().to_vec();
        configs.push(OracleConfig {
            cluster_id: site.id,
            chain_id: deployment.chain_id,
            registry: deployment.registry,
            genesis: site.genesis,
            epoch_length: args.epoch_seconds,
            data_dir: dir.join(format!("oracle-{}", site.id)),
            inventory: uuids.clone(),
            source: SourceConfig::Simulator(sim),
            facility: None,
            leases: vec![LeaseAllocation {
                lease_id: site.lease.to::<u64>(),
                billing: OracleBilling::Reserved,
                start_epoch: site.start,
                end_epoch: if i == 0 && args.epochs > 1 {
                    omitted_epoch
                } else {
                    site.start + args.epochs
                },
                gpus: uuids[..site.leased as usize].to_vec(),
            }],
            signer: Some(attestor_keys[i].clone()),
            max_backfill_s: 3_600,
        });
    }
    // The first cluster's oracle runs in its own node process (with its own keeper and archive),
    // so the demo can kill it with SIGKILL and cut it off from the chain.
    let node_dir = dir.join("nordic-node");
    let keeper_key = {
        let name = "nordic-keeper.json";
        PrivateKeySigner::encrypt_keystore(
            dir.join("keys"),
            &mut rand::thread_rng(),
            anvil.keys()[8].to_bytes(),
            &password,
            Some(name),
        )
        .map_err(|e| NodeError::Config { origin: "demo keys".into(), reason: e.to_string() })?;
        KeyConfig {
            keystore: dir.join("keys").join(name),
            password_file: Some(password_file.clone()),
            password_env: None,
        }
    };
    {
        // Gas for the node's attestor, which relays its own reports.
        use alloy::providers::Provider;
        let attestor = attestor_keys[0].load()?.address();
        let funder = wallet_provider(&rpc, keys[0].clone())?;
        let _: serde_json::Value = funder
            .raw_request("anvil_setBalance".into(), (attestor, U256::from(10u128.pow(20))))
            .await
            .map_err(compute_ledger_sdk::SdkError::from)?;
    }
    let anvil_addr = std::net::SocketAddr::from(([127, 0, 0, 1], anvil.port()));
    let mut nordic_node = ChildNode::start(
        &node_dir,
        anvil_addr,
        &dir.join("deployment.json"),
        &configs[0],
        &keeper_key,
    )
    .await?;
    let texas_relayer = Reports::new(owners[1].client().clone());
    let mut oracles: Vec<OracleTask> =
        vec![spawn_oracle(&configs[1], &texas_relayer, &archive, &metrics, &shutdown)];

    // The oracles sample from here on; now the tenant funds and the investors buy.
    let escrow_a = {
        tenant.approve_escrow(sites[0].lease).await?;
        tenant.fund(sites[0].lease).await?
    };
    let escrow_b =
        tenant.fund_with_permit(sites[1].lease, tenant.client().chain_time().await? + 600).await?;
    println!(
        "  the tenant funded both leases in full: {escrow_a} USD (approval) and {escrow_b} USD (EIP-2612 permit)"
    );

    // Shares: 60 % of each lease on sale at 99 % of its full-delivery rent per share — a 1 %
    // return if every epoch delivers; incidents eat into it.
    for (site, owner) in sites.iter().zip(&owners) {
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
        let offer = investors[investor].offer(sites[site].lease).await?;
        let cost = investors[investor]
            .buy_shares(sites[site].lease, shares, offer.price_per_share)
            .await?;
        println!(
            "  {} bought {shares} shares of lease {} for {cost} USD",
            names[investor], sites[site].lease
        );
    }

    let holder = investors[0].client().address();
    say("the market is live");
    println!("  wallet JSON-RPC (HTTP + WebSocket): {public_url}");
    println!("  try:  curl -s {public_url} -H 'content-type: application/json' \\");
    println!(
        "          -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ledger_positions\",\"params\":[\"{holder}\"]}}'"
    );
    println!(
        "  ERC-1155 metadata of lease {}: {public_url}/metadata/{}.json",
        sites[0].lease, sites[0].lease
    );
    println!(
        "  incidents ahead: a GPU outage at {} in epoch {outage_epoch}; the {} oracle goes dark in epoch {dark_epoch}",
        sites[0].name, sites[1].name
    );
    println!(
        "  the {} node (its own process) is killed with SIGKILL mid-epoch {} and restarted, then its chain RPC stalls for {} s",
        sites[0].name, sites[0].start, args.stall_seconds
    );
    if args.epochs > 1 {
        println!(
            "  and the {} oracle's config ends lease {} one epoch early: its report of epoch {omitted_epoch} leaves the lease out",
            sites[0].name, sites[0].lease
        );
    }
    println!(
        "  every epoch is {} s; a board follows each settlement. Ctrl-C stops everything.",
        args.epoch_seconds
    );

    let board = Board {
        index: index.clone(),
        sites: &sites,
        investors: &investors,
        names: &names,
        epoch_seconds: args.epoch_seconds,
    };
    // The dark oracle: stopped once its epoch began and the epoch before it is on chain, back
    // after the dark epoch's reporting deadline. Checked on every poll, so it happens on time
    // however long a settlement takes.
    let dark_from = sites[1].genesis + dark_epoch * epoch_s;
    let dark_until = sites[1].genesis + (dark_epoch + 1) * epoch_s + report_window + 2;
    let mut dark: Option<OracleTask> = None;
    let mut went_dark = false;
    // The crash: SIGKILL in the middle of the first lease epoch, back a few seconds later. The
    // stall: the node's RPC hangs from a third into the next epoch, for `stall_seconds`.
    let crash_epoch = sites[0].start;
    let crash_at = sites[0].genesis + crash_epoch * epoch_s + epoch_s / 2;
    let stall_from = sites[0].genesis + (crash_epoch + 1) * epoch_s + epoch_s / 3;
    let mut crash = Drill::Ahead;
    let mut stall = Drill::Ahead;
    let mut crash_epoch_told = false;
    let chain = compute_ledger_sdk::read_provider(&rpc, &deployment).await?;
    for offset in 0..args.epochs {
        let mut settled = false;
        while !settled && !shutdown.is_triggered() {
            if !went_dark
                && now() >= dark_from
                && index.report(sites[1].id, dark_epoch - 1).is_ok_and(|r| r.is_some())
            {
                let task = oracles.remove(0);
                task.stop.trigger();
                println!(
                    "\n  ⚠ the {} oracle went dark (epoch {dark_epoch} will not be reported)",
                    sites[1].name
                );
                dark = Some(task);
                went_dark = true;
            }
            match crash {
                Drill::Ahead if now() >= crash_at => {
                    nordic_node.kill_9()?;
                    println!(
                        "\n  ⚠ the {} node was killed with SIGKILL in the middle of epoch {crash_epoch} (log: {})",
                        sites[0].name,
                        nordic_node.log().display()
                    );
                    crash = Drill::Since(now());
                }
                Drill::Since(at) if now() >= at + 3 => {
                    nordic_node.restart()?;
                    println!(
                        "\n  ✓ the {} node is back: it reads the seconds it missed back from its store and the source",
                        sites[0].name
                    );
                    crash = Drill::Done;
                }
                _ => {}
            }
            match stall {
                Drill::Ahead if now() >= stall_from => {
                    nordic_node.proxy.stall();
                    println!(
                        "\n  ⚠ the {} node's chain RPC stalls for {} s: its calls time out and are retried",
                        sites[0].name, args.stall_seconds
                    );
                    stall = Drill::Since(now());
                }
                Drill::Since(at) if now() >= at + args.stall_seconds => {
                    nordic_node.proxy.resume();
                    println!(
                        "\n  ✓ the {} node's RPC answers again: it reports and proves what waited",
                        sites[0].name
                    );
                    stall = Drill::Done;
                }
                _ => {}
            }
            if !crash_epoch_told
                && let Ok(rows) = index.settlements(sites[0].lease)
                && let Some(row) = rows.iter().find(|r| r.epoch == crash_epoch)
            {
                let capacity = u64::from(sites[0].leased) * epoch_s;
                let delivered = row.delivered_gpu_seconds;
                let report =
                    configs[0].data_dir.join("reports").join(format!("epoch-{crash_epoch}.json"));
                let sampled = std::fs::read_to_string(&report)
                    .ok()
                    .and_then(|text| serde_json::from_str::<ReportFile>(&text).ok())
                    .map(|file| file.outcome.summary.seconds_sampled);
                let seconds = match sampled {
                    Some(n) if n == epoch_s => {
                        format!("all {n} seconds sampled: not one lost to the crash")
                    }
                    Some(n) => format!("{n} of {epoch_s} seconds sampled"),
                    None => "its report file is gone".into(),
                };
                println!(
                    "\n  ✓ epoch {crash_epoch}, cut through by the SIGKILL, settled with {delivered} of {capacity} GPU-seconds; {seconds}"
                );
                crash_epoch_told = true;
            }
            if let Some(task) = dark.take_if(|_| now() > dark_until) {
                let _ = task.task.await;
                oracles.push(spawn_oracle(
                    &configs[1],
                    &texas_relayer,
                    &archive,
                    &metrics,
                    &shutdown,
                ));
                println!(
                    "\n  ✓ the {} oracle is back; epoch {dark_epoch} is past its deadline and settles as missed",
                    sites[1].name
                );
            }
            settled = sites.iter().all(|s| {
                index
                    .settlements(s.lease)
                    .map(|v| v.iter().any(|x| x.epoch == s.start + offset))
                    .unwrap_or(false)
            });
            if !settled && shutdown.sleep(Duration::from_millis(500)).await {
                break;
            }
        }
        if shutdown.is_triggered() {
            break;
        }
        if offset == 2 {
            for (investor, name) in investors.iter().zip(names).take(2) {
                let paid: U256 = investor.claim_all().await?.iter().map(|(_, a)| a.base()).sum();
                println!("\n  {name} claimed {} USD", usd(paid));
            }
        }
        wait_for_index(&chain, &sync, &shutdown).await?;
        board.print(offset + 1, args.epochs)?;
    }

    if !shutdown.is_triggered() {
        say("both leases ended: everyone is paid");
        for (investor, name) in investors.iter().zip(names) {
            let paid: U256 = investor.claim_all().await?.iter().map(|(_, a)| a.base()).sum();
            println!("  {name} claimed {} USD", usd(paid));
        }
        for (owner, site) in owners.iter().zip(&sites) {
            let unsold = Investor::new(owner.client().clone());
            let paid: U256 = unsold.claim_all().await?.iter().map(|(_, a)| a.base()).sum();
            println!(
                "  the owner of cluster {} claimed {} USD on its unsold shares",
                site.id,
                usd(paid)
            );
        }
        for site in &sites {
            let lease = tenant.client().lease(site.lease).await?;
            if lease.credits.base().is_zero() && lease.escrow.base().is_zero() {
                println!(
                    "  lease {}: every epoch delivered in full, nothing comes back to the tenant",
                    site.lease
                );
                continue;
            }
            let paid = tenant.withdraw(site.lease).await?;
            println!(
                "  the tenant withdrew {} USD of SLA credits and {} USD of unearned escrow from lease {}",
                paid.credits, paid.remainder, site.lease
            );
        }
        wait_for_index(&chain, &sync, &shutdown).await?;
        board.print(args.epochs, args.epochs)?;
        let held = issuer
            .stablecoin()
            .balanceOf(deployment.market)
            .call()
            .await
            .map_err(compute_ledger_sdk::SdkError::from)?;
        let bonds: U256 = sites
            .iter()
            .map(|s| {
                index
                    .cluster(s.id)
                    .ok()
                    .flatten()
                    .map_or(U256::ZERO, |c: ClusterRow| c.bonds.values().map(|b| b.total).sum())
            })
            .sum();
        println!(
            "  the market holds {} USD: the owners' bonds ({} USD) plus {} base units of rounding dust",
            usd(held),
            usd(bonds),
            held.saturating_sub(bonds)
        );
        if args.exit_when_done {
            shutdown.trigger();
        } else {
            println!("\n  the node keeps serving {public_url}; Ctrl-C stops everything.");
        }
    }
    shutdown.wait().await;
    nordic_node.stop()?;
    for task in oracles.into_iter().chain(dark) {
        let _ = task.task.await;
    }
    let _ = indexing.await;
    let _ = keeping.await;
    let _ = server.handle.stop();
    server.handle.stopped().await;
    index.flush_all()?;
    drop(anvil);
    println!("stopped cleanly");
    Ok(())
}

/// Waits until the index has applied every block up to the chain's current head, so the board
/// shows what the chain says now.
async fn wait_for_index(
    chain: &alloy::providers::DynProvider,
    sync: &tokio::sync::watch::Receiver<crate::index::model::SyncStatus>,
    shutdown: &Shutdown,
) -> Result<()> {
    use alloy::providers::Provider;
    let head = chain.get_block_number().await.map_err(compute_ledger_sdk::SdkError::from)?;
    while sync.borrow().indexed_block.is_none_or(|b| b < head) {
        if shutdown.sleep(Duration::from_millis(200)).await {
            break;
        }
    }
    Ok(())
}

fn say(text: &str) {
    println!("\n\x1b[1m== {text}\x1b[0m");
}

fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    values.iter().map(|v| BARS[(*v as usize * 8 / 10_001).min(7)]).collect()
}

fn pct(bps: u64) -> String {
    format!("{}.{} %", bps / 100, (bps % 100) / 10)
}

fn signed_pct(bps: i128) -> String {
    let sign = if bps < 0 { "-" } else { "" };
    format!("{sign}{}.{} %", bps.abs() / 100, (bps.abs() % 100) / 10)
}

/// The live summary.
struct Board<'a> {
    index: Index,
    sites: &'a [DemoCluster; 2],
    investors: &'a [Investor; 3],
    names: &'a [&'static str; 3],
    epoch_seconds: u32,
}

impl Board<'_> {
    fn print(&self, epoch: u64, epochs: u64) -> Result<()> {
        println!(
            "\n\x1b[1m── lease epoch {epoch} of {epochs} ─────────────────────────────────────────────────────────────────\x1b[0m"
        );
        println!(
            "  {:<26} {:>8} {:>8} {:>6} {:>9} {:>13} {:>9}  utilization by epoch",
            "cluster", "util", "avail", "PUE", "Wh/GPU-h", "rent settled", "USD/kWh"
        );
        for site in self.sites {
            let Some(c) = self.index.cluster(site.id)? else { continue };
            let reports = self.index.reports(site.id, 0, 1_000)?;
            let history: Vec<u64> = reports.iter().map(|r| r.efficiency.utilization_bps).collect();
            let latest = c.latest_report.as_ref().map(|r| r.efficiency).unwrap_or_default();
            let per_kwh = c.revenue_per_kwh().map_or("-".into(), usd);
            println!(
                "  {:<26} {:>8} {:>8} {:>6} {:>9} {:>13} {:>9}  {}",
                format!("{} {}×H100 {}", c.id, site.gpus, site.name),
                pct(latest.utilization_bps),
                pct(latest.availability_bps),
                latest.pue_milli.map_or("-".into(), |p| format!(
                    "{}.{:02}",
                    p / 1000,
                    (p % 1000) / 10
                )),
                latest.wh_per_gpu_hour.map_or("-".into(), |w| w.to_string()),
                usd(c.rent_settled),
                per_kwh,
                sparkline(&history),
            );
        }
        println!(
            "  {:<8} {:>12} {:>11} {:>11} {:>10} {:>10} {:>9} {:>13}",
            "investor",
            "shares A / B",
            "claimable",
            "claimed",
            "cost",
            "paid back",
            "return*",
            "realized APR†"
        );
        for (investor, name) in self.investors.iter().zip(self.names) {
            let positions = self.index.positions(investor.client().address())?;
            let held = |lease: U256| {
                positions
                    .iter()
                    .find(|p| p.position.lease_id == lease)
                    .map_or(U256::ZERO, |p| p.position.shares)
            };
            let (mut earned, mut cost, mut cost_to_date, mut epochs) =
                (U256::ZERO, U256::ZERO, U256::ZERO, 0u64);
            for p in &positions {
                let Some(lease) = self.index.lease(p.position.lease_id)? else { continue };
                let settled = lease.next_epoch - lease.start_epoch;
                earned += p.claimable + p.position.claimed;
                cost += p.position.cost;
                // The part of the price the epochs settled so far stand for.
                cost_to_date += p.position.cost * U256::from(settled)
                    / U256::from(lease.end_epoch - lease.start_epoch);
                epochs = epochs.max(settled);
            }
            let bps = |n: U256, d: U256| {
                if d.is_zero() {
                    0
                } else {
                    i128::try_from(n * U256::from(10_000) / d).unwrap_or(i128::MAX)
                }
            };
            let paid_back = bps(earned, cost);
            let return_to_date = bps(earned, cost_to_date) - 10_000;
            let apr = return_to_date * 365 / i128::from(epochs.max(1));
            println!(
                "  {:<8} {:>12} {:>11} {:>11} {:>10} {:>10} {:>9} {:>13}",
                name,
                format!("{} / {}", held(self.sites[0].lease), held(self.sites[1].lease)),
                usd(positions.iter().map(|p| p.claimable).sum()),
                usd(positions.iter().map(|p| p.position.claimed).sum()),
                usd(cost),
                signed_pct(paid_back),
                if cost_to_date.is_zero() { "-".into() } else { signed_pct(return_to_date) },
                if cost_to_date.is_zero() { "-".into() } else { signed_pct(apr) },
            );
        }
        println!(
            "  * rent earned (claimed + claimable) against the part of the price the settled epochs stand for\n  \
             † that return annualized as if each {}-second demo epoch were a day",
            self.epoch_seconds
        );
        for site in self.sites {
            if let Some(last) = self.index.settlements(site.lease)?.last() {
                let note = if last.missed {
                    "  ← missed: no report by the deadline, full SLA credit and holders' rent from the bond"
                } else if last.outcome == "unproven" {
                    "  ← unproven: the report left the lease out, full SLA credit and holders' rent from the bond"
                } else if !last.sla_credit.is_zero() {
                    "  ← below the SLA: credit from the bond"
                } else {
                    ""
                };
                let compensation = if last.compensation.is_zero() {
                    String::new()
                } else {
                    format!(", holders' compensation {} USD", usd(last.compensation))
                };
                println!(
                    "  lease {} epoch {}: {} GPU-seconds, rent {} USD{compensation}, credit {} USD{note}",
                    last.lease_id,
                    last.epoch,
                    last.delivered_gpu_seconds,
                    usd(last.rent),
                    usd(last.sla_credit)
                );
            }
        }
        Ok(())
    }
}
