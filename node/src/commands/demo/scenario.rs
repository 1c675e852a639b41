//! The demo's scenario: the market goes live, and while each lease epoch settles the scripted
//! incidents happen on time (an oracle goes dark, the first cluster's node is killed with
//! SIGKILL and later cut off from the chain); a board follows each settlement, and at the end
//! everyone is paid and the books balance.

use std::time::Duration;

use alloy::primitives::U256;
use compute_ledger_oracle::{OracleConfig, ReportFile};
use compute_ledger_sdk::{Investor, Reports};

use super::{
    DemoCommand,
    board::{Board, PowerSite},
    child_node::ChildNode,
    now, say,
    setup::{DemoCluster, Market, NAMES},
    usd,
};
use crate::{
    OracleHandle, Result, RunningNode, Shutdown, index::model::SyncStatus, loops::OracleOptions,
};

/// When each scripted incident happens, in the clusters' epochs.
pub(super) struct Incidents {
    /// The first cluster's GPU outage (below the SLA: a credit).
    pub(super) outage_epoch: u64,
    /// The second cluster's oracle is dark (the epoch settles as missed).
    pub(super) dark_epoch: u64,
    /// The first cluster's report leaves its lease out (settles as unproven).
    pub(super) omitted_epoch: u64,
}

impl Incidents {
    /// The incidents of leases of `epochs` epochs on `sites`.
    pub(super) fn plan(sites: &[DemoCluster; 2], epochs: u64) -> Self {
        Self {
            outage_epoch: sites[0].start + 1,
            dark_epoch: sites[1].start + 2.min(epochs.saturating_sub(1)),
            // The operator of the first cluster typed its lease's end one epoch early (an oracle
            // config bug): the last epoch's report has no leaf for the lease.
            omitted_epoch: sites[0].start + epochs - 1,
        }
    }
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

/// Everything the scenario plays with.
pub(super) struct Scenario<'a> {
    pub(super) args: &'a DemoCommand,
    pub(super) market: &'a Market,
    pub(super) incidents: &'a Incidents,
    /// Each cluster's oracle config (the second one's runs in the demo's node).
    pub(super) configs: &'a [OracleConfig],
    /// The account that submits the second cluster's reports.
    pub(super) texas_relayer: &'a Reports,
    pub(super) texas_options: &'a OracleOptions,
    /// The miner site whose megawatts the board compares across uses, and its powered shell.
    pub(super) power_site: u64,
    pub(super) power_lease: U256,
}

impl Scenario<'_> {
    /// Plays the scenario until both leases ended and everyone was paid (then stops the node
    /// with `--exit-when-done`), or until shutdown.
    pub(super) async fn play(
        &self,
        node: &mut RunningNode,
        nordic_node: &mut ChildNode,
        texas_oracle: OracleHandle,
    ) -> Result<()> {
        let Self {
            args,
            market,
            incidents,
            configs,
            texas_relayer,
            texas_options,
            power_site,
            power_lease,
        } = *self;
        let (sites, investors, tenant) = (&market.sites, &market.investors, &market.tenant);
        let (index, shutdown) = (node.index.clone(), node.shutdown().clone());
        let Incidents { outage_epoch, dark_epoch, omitted_epoch } = *incidents;
        let epoch_s = u64::from(args.epoch_seconds);
        let public_url = &market.public_url;

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

        // Investors trade shares on the exchange while the leases run (each epoch's rent goes to
        // whoever holds at its end), beside the scenario: its transactions take a few blocks.
        let traders = [0, 1, 2].map(|i| investors[i].client().clone());
        let trading =
            tokio::spawn(super::trading::trade(traders, [sites[0].lease, sites[1].lease], epoch_s));

        let board = Board {
            index: index.clone(),
            sites,
            investors,
            names: &NAMES,
            epoch_seconds: args.epoch_seconds,
            power: Some(PowerSite {
                cluster: power_site,
                name: "Texas miners",
                energized_kw: super::demand::ENERGIZED_KW,
                inputs: super::demand::MinerSite::inputs()?,
            }),
        };
        // The dark oracle: stopped once its epoch began and the epoch before it is on chain, back
        // after the dark epoch's reporting deadline. Checked on every poll, so it happens on time
        // however long a settlement takes.
        let dark_from = sites[1].genesis + dark_epoch * epoch_s;
        let dark_until = sites[1].genesis + (dark_epoch + 1) * epoch_s + market.report_window + 2;
        let mut texas_oracle = texas_oracle;
        let mut dark = Drill::Ahead;
        // The crash: SIGKILL in the middle of the first lease epoch, back a few seconds later. The
        // stall: the node's RPC hangs from a third into the next epoch, for `stall_seconds`.
        let crash_epoch = sites[0].start;
        let crash_at = sites[0].genesis + crash_epoch * epoch_s + epoch_s / 2;
        let stall_from = sites[0].genesis + (crash_epoch + 1) * epoch_s + epoch_s / 3;
        let mut crash = Drill::Ahead;
        let mut stall = Drill::Ahead;
        let mut crash_epoch_told = false;
        let chain = compute_ledger_sdk::read_provider(&market.rpc, &market.deployment).await?;
        for offset in 0..args.epochs {
            let mut settled = false;
            while !settled && !shutdown.is_triggered() {
                if matches!(dark, Drill::Ahead)
                    && now() >= dark_from
                    && index.report(sites[1].id, dark_epoch - 1).is_ok_and(|r| r.is_some())
                {
                    texas_oracle.stop();
                    println!(
                        "\n  ⚠ the {} oracle went dark (epoch {dark_epoch} will not be reported)",
                        sites[1].name
                    );
                    dark = Drill::Since(now());
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
                    let delivered = row.delivered;
                    let report = configs[0]
                        .data_dir
                        .join("reports")
                        .join(format!("epoch-{crash_epoch}.json"));
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
                if matches!(dark, Drill::Since(_)) && now() > dark_until {
                    // Its loop has returned (and its files are closed): the oracle can start again.
                    texas_oracle.stopped().await;
                    texas_oracle = node.spawn_oracle(
                        configs[1].clone(),
                        texas_options.clone(),
                        texas_relayer.clone(),
                    );
                    println!(
                        "\n  ✓ the {} oracle is back; epoch {dark_epoch} is past its deadline and settles as missed",
                        sites[1].name
                    );
                    dark = Drill::Done;
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
                for (investor, name) in investors.iter().zip(NAMES).take(2) {
                    let paid: U256 =
                        investor.claim_all().await?.iter().map(|(_, a)| a.base()).sum();
                    println!("\n  {name} claimed {} USD", usd(paid));
                }
            }
            wait_for_index(&chain, &node.sync, &shutdown).await?;
            board.print(offset + 1, args.epochs)?;
        }

        if shutdown.is_triggered() {
            trading.abort();
            return Ok(());
        }
        trading
            .await
            .map_err(|e| crate::NodeError::Server(format!("the demo's trading: {e}")))??;
        say("both leases ended: everyone is paid");
        for (investor, name) in investors.iter().zip(NAMES) {
            let paid: U256 = investor.claim_all().await?.iter().map(|(_, a)| a.base()).sum();
            println!("  {name} claimed {} USD", usd(paid));
        }
        for (owner, site) in market.owners.iter().zip(sites) {
            let unsold = Investor::new(owner.client().clone());
            let paid: U256 = unsold.claim_all().await?.iter().map(|(_, a)| a.base()).sum();
            println!(
                "  the owner of cluster {} claimed {} USD on its unsold shares",
                site.id,
                usd(paid)
            );
        }
        for site in sites {
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
        wait_for_index(&chain, &node.sync, &shutdown).await?;
        board.print(args.epochs, args.epochs)?;
        // The market's balance against what it owes, all read at one block (a settlement in
        // between would move a powered shell's energy from its escrow into its site's bond).
        let block = alloy::eips::BlockId::number(market.issuer.head().await?.0);
        let read = |e: alloy::contract::Error| compute_ledger_sdk::SdkError::from(e);
        let contract = market.issuer.market();
        let token = market.deployment.stablecoin;
        let held = market
            .issuer
            .stablecoin()
            .balanceOf(market.deployment.market)
            .call()
            .block(block)
            .await
            .map_err(read)?;
        let mut bonds = U256::ZERO;
        for cluster in sites.iter().map(|s| s.id).chain([power_site]) {
            let bond = contract.bondOf(cluster, token).call().block(block).await.map_err(read)?;
            bonds += U256::from(bond.total);
        }
        let shell = contract.getLease(power_lease).call().block(block).await.map_err(read)?;
        let shell_held =
            U256::from(shell.escrow) + U256::from(shell.rentPool) + U256::from(shell.credits);
        println!(
            "  the market holds {} USD: the owners' bonds ({} USD), the powered shell's escrow and unclaimed rent ({} USD) and {} base units of rounding dust",
            usd(held),
            usd(bonds),
            usd(shell_held),
            held.saturating_sub(bonds + shell_held)
        );
        if args.exit_when_done {
            shutdown.trigger();
        } else {
            println!("\n  the node keeps serving {public_url}; Ctrl-C stops everything.");
        }
        Ok(())
    }
}

/// Waits until the index has applied every block up to the chain's current head, so the board
/// shows what the chain says now.
async fn wait_for_index(
    chain: &alloy::providers::DynProvider,
    sync: &tokio::sync::watch::Receiver<SyncStatus>,
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
