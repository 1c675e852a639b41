//! `compute-ledger`: the node a cluster owner runs and a wallet talks to. Each subcommand lives in
//! `commands/`; this file only parses the command line and dispatches.

use clap::{Parser, Subcommand};
use compute_ledger_node::{commands, config::Overrides};

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
    Demo(commands::demo::Args),
    /// Start a local anvil, deploy the ledger, write the deployment JSON and dev keystores.
    Devnet(commands::devnet::Args),
    /// Run the indexer, the wallet server, and the keeper and oracles configured.
    Run,
    /// Index the chain into sled (and follow it; `--once` stops when caught up).
    Index(commands::index::Args),
    /// Index and serve the wallet JSON-RPC.
    Serve,
    /// Run the configured oracles (with the indexer, which keeps their proof archive).
    Oracle,
    /// Create, import and list encrypted keystores.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Cluster owner actions.
    #[command(subcommand)]
    Cluster(commands::actions::ClusterCommand),
    /// Lease actions (owner and tenant).
    #[command(subcommand)]
    Lease(commands::actions::LeaseCommand),
    /// Share actions (owner offers, investors buy and transfer).
    #[command(subcommand)]
    Shares(commands::actions::SharesCommand),
    /// Claim settled rent.
    Claim(commands::actions::ClaimArgs),
    /// Settle due epochs (missed and resolved ones; reported ones with proofs from a deliveries
    /// archive).
    Settle(commands::actions::SettleArgs),
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
    let out = commands::Output { json: cli.json };
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args).await,
        Command::Devnet(args) => commands::devnet::run(&cli.overrides, args, out).await,
        Command::Run => commands::run::run(&cli.overrides, commands::run::Parts::ALL).await,
        Command::Serve => commands::run::run(&cli.overrides, commands::run::Parts::SERVE).await,
        Command::Oracle => commands::run::run(&cli.overrides, commands::run::Parts::ORACLE).await,
        Command::Index(args) => commands::index::run(&cli.overrides, args).await,
        Command::Keys(command) => commands::keys::run(command, out),
        Command::Cluster(command) => commands::actions::cluster(&cli.overrides, command, out).await,
        Command::Lease(command) => commands::actions::lease(&cli.overrides, command, out).await,
        Command::Shares(command) => commands::actions::shares(&cli.overrides, command, out).await,
        Command::Claim(args) => commands::actions::claim(&cli.overrides, args, out).await,
        Command::Settle(args) => commands::actions::settle(&cli.overrides, args, out).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
