//! `compute-ledger`: the node a cluster owner runs and a wallet talks to. Each subcommand lives in
//! `commands/` as an `XCommand` with an `execute` method; this file only parses the command line,
//! sets up logging and dispatches.

use clap::{Parser, Subcommand};
use compute_ledger_node::{
    commands::{
        Output, claim::ClaimCommand, cluster::ClusterCommand, demo::DemoCommand,
        devnet::DevnetCommand, index::IndexCommand, keys::KeysCommand, lease::LeaseCommand,
        oracle::OracleCommand, order::OrderCommand, run::RunCommand, serve::ServeCommand,
        settle::SettleCommand, shares::SharesCommand,
    },
    config::Overrides,
};

#[derive(Debug, Parser)]
#[command(
    name = "compute-ledger",
    version,
    about = "compute-ledger node: index, wallet JSON-RPC, oracle and keeper"
)]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A live local compute market in one terminal (what `make demo` runs).
    Demo(DemoCommand),
    /// Start a local anvil, deploy the ledger, write the deployment JSON and dev keystores.
    Devnet(DevnetCommand),
    /// Run the indexer, the wallet server, and the keeper and oracles configured.
    Run(RunCommand),
    /// Index the chain into sled (and follow it; `--once` stops when caught up).
    Index(IndexCommand),
    /// Index and serve the wallet JSON-RPC.
    Serve(ServeCommand),
    /// Run the configured oracles (with the indexer, which keeps their proof archive).
    Oracle(OracleCommand),
    /// Create, import and list encrypted keystores.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Cluster owner actions.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Lease actions (owner and tenant).
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Share actions (owner offers, investors buy and transfer).
    #[command(subcommand)]
    Shares(SharesCommand),
    /// Limit orders for lease shares on the share exchange (ask, bid, fill, cancel, show).
    #[command(subcommand)]
    Order(OrderCommand),
    /// Claim settled rent.
    Claim(ClaimCommand),
    /// Settle due epochs (missed and resolved ones; reported ones with proofs from a deliveries
    /// archive).
    Settle(SettleCommand),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo prints its own board; its loops only speak up about problems.
    let default_level = if matches!(cli.command, Command::Demo(_)) { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: log files (the demo's node log, journald) stay plain.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let (overrides, out) = (&cli.overrides, Output { json: cli.json });
    let result = match cli.command {
        Command::Demo(command) => command.execute().await,
        Command::Devnet(command) => command.execute(out).await,
        Command::Run(command) => command.execute(overrides).await,
        Command::Serve(command) => command.execute(overrides).await,
        Command::Oracle(command) => command.execute(overrides).await,
        Command::Index(command) => command.execute(overrides).await,
        Command::Keys(command) => command.execute(out),
        Command::Cluster(command) => command.execute(overrides, out).await,
        Command::Lease(command) => command.execute(overrides, out).await,
        Command::Shares(command) => command.execute(overrides, out).await,
        Command::Order(command) => command.execute(overrides, out).await,
        Command::Claim(command) => command.execute(overrides, out).await,
        Command::Settle(command) => command.execute(overrides, out).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
