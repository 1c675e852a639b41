//! `compute-ledger run` (and `serve`, `oracle`): the indexer plus the wallet server, keeper and
//! oracle loops, all stopped together by one SIGINT/SIGTERM.

use std::time::Duration;

use clap::Parser;
use compute_ledger_oracle::OracleConfig;
use compute_ledger_sdk::{Client, Reports};

use crate::{
    KeeperOptions, NodeBuilder, NodeError, NodeOptions, Result, ServerOptions, Shutdown,
    config::{Overrides, Settings},
    cosign::Peer,
    loops::OracleOptions,
    openadr::{client::VtnClient, ven::Ven},
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
    let options = NodeOptions {
        index_dir: settings.index_dir.clone(),
        deliveries_dir: settings.deliveries_dir.clone(),
        confirmations: settings.file.indexer.confirmations,
        poll: Duration::from_millis(settings.file.indexer.poll_ms),
    };
    let mut builder = NodeBuilder::open(&options, provider, deployment.clone())?;
    let shutdown = Shutdown::new();
    shutdown.on_signals();

    // Co-signers pull each other's signatures from the server: it runs whenever an oracle has
    // peers, also under `compute-ledger oracle`.
    let cosigning = parts.oracles && settings.file.oracles.iter().any(|o| !o.peers.is_empty());
    if parts.server || cosigning {
        let addr = builder
            .serve(ServerOptions {
                listen: settings.listen,
                limits: settings.file.server.limits.clone(),
                public_url: settings.public_url.clone(),
                decimals,
            })
            .await?;
        tracing::info!("wallet JSON-RPC (HTTP and WebSocket) at http://{addr}");
    }

    // Every key and oracle config is checked before anything runs.
    let keeper = match (&settings.file.keeper, parts.keeper) {
        (Some(keeper), true) => {
            let client =
                Client::connect(&settings.rpc_url, deployment.clone(), keeper.key.load()?).await?;
            tracing::info!(account = %client.address(), "keeper on");
            let options = KeeperOptions {
                batch_size: keeper.batch_size,
                interval: Duration::from_millis(keeper.interval_ms),
            };
            Some((client, options))
        }
        (None, true) => {
            tracing::info!("no [keeper] in the config: keeper off");
            None
        }
        (_, false) => None,
    };
    let mut oracles = Vec::new();
    if parts.oracles {
        // One sample database for every oracle of this node (fsyncs grouped across clusters).
        let samples = if settings.file.oracles.is_empty() {
            None
        } else {
            let db = compute_ledger_oracle::SampleDb::open(&settings.samples_dir).map_err(|e| {
                NodeError::Config {
                    origin: "samples_dir".into(),
                    reason: format!("{}: {e}", settings.samples_dir.display()),
                }
            })?;
            Some(db)
        };
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
            // A like-days baseline reads the archives of the previous days: keep them that long.
            if let Some(dr) = config.demand_response
                && dr.baseline == compute_ledger_oracle::BaselineMethod::LikeDays
                && entry.retention_days <= u64::from(dr.like_days)
            {
                return Err(NodeError::Config {
                    origin: entry.config.display().to_string(),
                    reason: format!(
                        "a like-days baseline of {} days reads that many days of archives, but the \
                         node keeps them {} days: raise retention_days above like_days",
                        dr.like_days, entry.retention_days
                    ),
                });
            }
            let options = OracleOptions {
                peers,
                keep_files: Some(Duration::from_secs(entry.retention_days.saturating_mul(86_400))),
                samples: samples.clone(),
            };
            let ven = match &entry.ven {
                Some(ven) => {
                    let attestor = config.signer.as_ref().ok_or_else(|| NodeError::Config {
                        origin: entry.config.display().to_string(),
                        reason: "a VEN acknowledges events with the attestor key: set [signer]"
                            .into(),
                    })?;
                    let vtn =
                        VtnClient::new(ven.vtn_url()?.as_str(), &ven.client_id, &ven.secret()?)?;
                    let site = compute_ledger_sdk::Site::new(client.clone());
                    let load = ven.flexible_load()?;
                    tracing::info!(cluster = config.cluster_id, vtn = %ven.vtn_url, "VEN on");
                    let poll = Duration::from_millis(ven.poll_ms);
                    Some((Ven::new(vtn, site, attestor.load()?, config.cluster_id, load), poll))
                }
                None => None,
            };
            oracles.push((config, options, Reports::new(client), ven));
        }
    }

    let mut node = builder.start(shutdown);
    if let Some((client, options)) = keeper {
        node.spawn_keeper(client, options);
    }
    for (config, options, relayer, ven) in oracles {
        // Each runs until the node stops: no handle needed.
        drop(node.spawn_oracle(config, options, relayer));
        if let Some((ven, poll)) = ven {
            node.spawn_ven(ven, poll);
        }
    }
    let stopped = node.stopped().await;
    if stopped.is_ok() {
        tracing::info!("stopped cleanly");
    }
    stopped
}
