//! `compute-ledger run` (and `serve`, `oracle`): the indexer plus the wallet server, keeper and
//! oracle loops, all stopped together by one SIGINT/SIGTERM.

use std::{sync::Arc, time::Duration};

use clap::Parser;
use compute_ledger_oracle::OracleConfig;
use compute_ledger_sdk::{Client, Keeper, Reports};
use tokio::task::JoinSet;

use crate::{
    Indexer, NodeError, Result, Shutdown,
    config::{Overrides, Settings},
    cosign::Peer,
    index::{DeliveriesArchive, Index, NodeProofs},
    loops::{OracleOptions, keeper_loop, oracle_loop},
    metrics::Metrics,
    rpc::{Ledger, serve},
};

/// Which loops run beside the indexer.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    server: bool,
    keeper: bool,
    oracles: bool,
}

impl Parts {
    /// Everything configured.
    pub const ALL: Self = Self { server: true, keeper: true, oracles: true };
    /// Indexer and wallet server.
    pub const SERVE: Self = Self { server: true, keeper: false, oracles: false };
    /// Indexer and oracles.
    pub const ORACLE: Self = Self { server: false, keeper: false, oracles: true };
}

/// `run`: the indexer, the wallet server, and the keeper and oracles configured.
#[derive(Debug, Clone, Parser)]
pub struct RunCommand {}

impl RunCommand {
    /// Runs until SIGINT/SIGTERM, or until a loop fails (which stops the others).
    pub async fn execute(self, overrides: &Overrides) -> Result<()> {
        run(overrides, Parts::ALL).await
    }
}

/// Runs `parts` until SIGINT/SIGTERM, or until a loop fails (which stops the others).
pub(crate) async fn run(overrides: &Overrides, parts: Parts) -> Result<()> {
    let settings = Settings::resolve(overrides)?;
    let deployment = settings.deployment()?;
    let provider = settings.provider(&deployment).await?;
    let decimals = compute_ledger_sdk::token_decimals(&provider, deployment.stablecoin).await?;
    let index = Index::open(&settings.index_dir)?;
    let archive = DeliveriesArchive::open(&settings.deliveries_dir)?;
    let moved = archive.import_from_index(&index)?;
    if moved > 0 {
        tracing::info!(trees = moved, to = %archive.path().display(), "moved the deliveries archive out of the index");
    }
    let metrics = Arc::new(Metrics::default());
    let indexer = Indexer::new(
        index.clone(),
        provider,
        deployment.clone(),
        settings.file.indexer.confirmations,
        metrics.clone(),
    )?;
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let mut tasks: JoinSet<Result<()>> = JoinSet::new();

    // Co-signers pull each other's signatures from the server: it runs whenever an oracle has
    // peers, also under `compute-ledger oracle`.
    let cosigning = parts.oracles && settings.file.oracles.iter().any(|o| !o.peers.is_empty());
    let mut cosign = Arc::default();
    let server = if parts.server || cosigning {
        let ledger = Ledger::new(
            index.clone(),
            archive.clone(),
            &indexer,
            metrics.clone(),
            settings.file.server.limits.clone(),
            settings.public_url.clone(),
        );
        cosign = ledger.cosign.clone();
        ledger.decimals.store(decimals, std::sync::atomic::Ordering::Relaxed);
        let server = serve(settings.listen, ledger).await?;
        tracing::info!("wallet JSON-RPC (HTTP and WebSocket) at http://{}", server.addr);
        Some(server)
    } else {
        None
    };

    if parts.keeper {
        match &settings.file.keeper {
            Some(keeper) => {
                let client =
                    Client::connect(&settings.rpc_url, deployment.clone(), keeper.key.load()?)
                        .await?;
                tracing::info!(account = %client.address(), "keeper on");
                let proofs = NodeProofs { index: index.clone(), archive: archive.clone() };
                let (metrics, shutdown) = (metrics.clone(), shutdown.clone());
                let (batch, interval) =
                    (keeper.batch_size, Duration::from_millis(keeper.interval_ms));
                tasks.spawn(async move {
                    keeper_loop(Keeper::new(client), proofs, batch, interval, metrics, shutdown)
                        .await;
                    Ok(())
                });
            }
            None => tracing::info!("no [keeper] in the config: keeper off"),
        }
    }

    if parts.oracles {
        for entry in &settings.file.oracles {
            let config = OracleConfig::load(&entry.config)?;
            if config.chain_id != deployment.chain_id || config.registry != deployment.registry {
                return Err(NodeError::Config {
                    origin: entry.config.display().to_string(),
                    reason: format!(
                        "signs for chain {} registry {}, but the deployment is chain {} registry {}",
                        config.chain_id, config.registry, deployment.chain_id, deployment.registry
                    ),
                });
            }
            let relayer_key = entry.relayer.as_ref().or(config.signer.as_ref()).ok_or_else(|| {
                NodeError::Config {
                    origin: entry.config.display().to_string(),
                    reason: "no key to submit reports with: set [signer] in the oracle config or relayer in the node config".into(),
                }
            })?;
            let client =
                Client::connect(&settings.rpc_url, deployment.clone(), relayer_key.load()?).await?;
            let peers =
                entry.peers.iter().cloned().map(Peer::new).collect::<Result<Vec<Peer>>>()?;
            tracing::info!(cluster = config.cluster_id, co_signers = peers.len(), "oracle on");
            let (archive, metrics, shutdown) = (archive.clone(), metrics.clone(), shutdown.clone());
            let options = OracleOptions {
                peers,
                keep_files: Some(Duration::from_secs(entry.retention_days.saturating_mul(86_400))),
            };
            tasks.spawn(oracle_loop(
                config,
                options,
                Reports::new(client),
                archive,
                cosign.clone(),
                metrics,
                shutdown,
            ));
        }
    }

    let poll = Duration::from_millis(settings.file.indexer.poll_ms);
    tasks.spawn(indexer.run(poll, shutdown.clone()));

    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome =
            joined.unwrap_or_else(|e| Err(NodeError::Server(format!("a loop panicked: {e}"))));
        if let Err(e) = outcome {
            tracing::error!("{e}; stopping every loop");
            shutdown.trigger();
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    if let Some(server) = server {
        let _ = server.handle.stop();
        server.handle.stopped().await;
    }
    index.flush_all()?;
    tracing::info!("stopped cleanly");
    result
}
