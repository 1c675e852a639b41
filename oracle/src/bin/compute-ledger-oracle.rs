//! `compute-ledger-oracle`: run one cluster's oracle standalone — sample, persist, and write a
//! signed report per epoch to `data_dir/reports/` (the node submits them on-chain).

use std::path::PathBuf;

use clap::Parser;
use compute_ledger_oracle::{Oracle, OracleConfig, TelemetrySource, run_live, run_range};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Oracle configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Sample `[from, to)` as fast as possible instead of live (sources that can read the past).
    #[arg(long, requires = "to")]
    from: Option<u64>,
    /// End of the range (exclusive).
    #[arg(long, requires = "from")]
    to: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let config = OracleConfig::load(&args.config)?;
    let source = TelemetrySource::from_config(&config.source)?;
    let signer = config.signer.as_ref().map(|k| k.load()).transpose()?;
    let mut oracle = Oracle::open(config, source)?;
    match (args.from, args.to) {
        (Some(from), Some(to)) => {
            for path in run_range(&mut oracle, signer.as_ref(), from, to).await? {
                println!("{}", path.display());
            }
        }
        _ => {
            let shutdown = async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("SIGTERM handler");
                tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
            };
            run_live(&mut oracle, signer.as_ref(), shutdown).await?;
        }
    }
    Ok(())
}
