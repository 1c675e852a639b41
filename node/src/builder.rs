//! One node, assembled the same way by `compute-ledger run` and by the demo: the sled index and
//! the deliveries archive, the indexer following the chain, the wallet server, the keeper and one
//! oracle loop per cluster, all stopped by one [`Shutdown`].
//!
//! [`NodeBuilder::open`] opens the state and connects the indexer, [`NodeBuilder::serve`] starts
//! the wallet server, [`NodeBuilder::start`] starts following the chain and returns the
//! [`RunningNode`], to which the keeper and the oracles are added. A loop that fails stops the
//! whole node, and [`RunningNode::stopped`] returns its error.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use alloy::providers::DynProvider;
use compute_ledger_oracle::OracleConfig;
use compute_ledger_sdk::{Client, Deployment, Keeper, Reports};
use tokio::{sync::watch, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    Indexer, NodeError, Result, Shutdown,
    cosign::Cosigning,
    index::{DeliveriesArchive, Index, NodeProofs, model::SyncStatus},
    loops::{OracleOptions, keeper_loop, oracle_loop},
    metrics::Metrics,
    rpc::{Ledger, Limits, RpcServer, serve},
};

/// Where a node keeps its state and how its indexer follows the chain.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The sled index of the chain's events.
    pub index_dir: PathBuf,
    /// The deliveries archive (proofs for the keeper and `ledger_deliveryProof`).
    pub deliveries_dir: PathBuf,
    /// Blocks to wait before indexing a block.
    pub confirmations: u64,
    /// How often the indexer polls the head once caught up.
    pub poll: Duration,
}

/// What the wallet server listens on and answers with.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Listen address (HTTP and WebSocket on one port; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Request and subscription limits.
    pub limits: Limits,
    /// Base URL wallets reach the server at.
    pub public_url: String,
    /// The stablecoin's decimals, for amounts in answers.
    pub decimals: u8,
}

/// How the keeper settles due epochs.
#[derive(Debug, Clone, Copy)]
pub struct KeeperOptions {
    /// Settlements per transaction.
    pub batch_size: usize,
    /// Time between rounds.
    pub interval: Duration,
}

/// A node whose state is open and whose indexer is connected, not yet following the chain.
#[derive(Debug)]
pub struct NodeBuilder {
    index: Index,
    archive: DeliveriesArchive,
    metrics: Arc<Metrics>,
    indexer: Indexer,
    poll: Duration,
    server: Option<RpcServer>,
    cosign: Arc<Cosigning>,
}

impl NodeBuilder {
    /// Opens the index and the deliveries archive (moving an archive an older node kept inside
    /// the index out of it) and connects the indexer to `provider`.
    pub fn open(
        options: &NodeOptions,
        provider: DynProvider,
        deployment: Deployment,
    ) -> Result<Self> {
        let index = Index::open(&options.index_dir)?;
        let archive = DeliveriesArchive::open(&options.deliveries_dir)?;
        let moved = archive.import_from_index(&index)?;
        if moved > 0 {
            tracing::info!(trees = moved, to = %archive.path().display(), "moved the deliveries archive out of the index");
        }
        let metrics = Arc::new(Metrics::default());
        let indexer = Indexer::new(
            index.clone(),
            provider,
            deployment,
            options.confirmations,
            metrics.clone(),
        )?;
        Ok(Self {
            index,
            archive,
            metrics,
            indexer,
            poll: options.poll,
            server: None,
            cosign: Arc::default(),
        })
    }

    /// Starts the wallet JSON-RPC server (which also serves co-signers their peers'
    /// signatures); returns where it listens.
    pub async fn serve(&mut self, options: ServerOptions) -> Result<SocketAddr> {
        let ledger = Ledger::new(
            self.index.clone(),
            self.archive.clone(),
            &self.indexer,
            self.metrics.clone(),
            options.limits,
            options.public_url,
        );
        ledger.decimals.store(options.decimals, std::sync::atomic::Ordering::Relaxed);
        self.cosign = ledger.cosign.clone();
        let server = serve(options.listen, ledger).await?;
        let addr = server.addr;
        self.server = Some(server);
        Ok(addr)
    }

    /// Starts following the chain; every loop of the node stops when `shutdown` is triggered.
    pub fn start(self, shutdown: Shutdown) -> RunningNode {
        let sync = self.indexer.status();
        let mut node = RunningNode {
            index: self.index,
            archive: self.archive,
            metrics: self.metrics,
            sync,
            shutdown,
            server: self.server,
            cosign: self.cosign,
            tasks: JoinSet::new(),
        };
        let indexing = self.indexer.run(self.poll, node.shutdown.clone());
        node.spawn(indexing);
        node
    }
}

/// A node following the chain, to which the keeper and oracle loops are added.
#[derive(Debug)]
pub struct RunningNode {
    /// The index (readers see a consistent view while the indexer writes).
    pub index: Index,
    /// The deliveries archive.
    pub archive: DeliveriesArchive,
    /// The node's counters (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// How far the indexer got.
    pub sync: watch::Receiver<SyncStatus>,
    shutdown: Shutdown,
    server: Option<RpcServer>,
    cosign: Arc<Cosigning>,
    tasks: JoinSet<Result<()>>,
}

/// An oracle loop of a [`RunningNode`], which can be stopped on its own.
#[derive(Debug)]
pub struct OracleHandle {
    stop: Shutdown,
    finished: CancellationToken,
}

impl OracleHandle {
    /// Tells this oracle alone to stop (the rest of the node runs on).
    pub fn stop(&self) {
        self.stop.trigger();
    }

    /// Waits until its loop returned: its store is closed, so it can be started again.
    pub async fn stopped(&self) {
        self.finished.cancelled().await;
    }
}

impl RunningNode {
    /// The node's shutdown signal.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Starts the keeper: it settles due epochs with the proofs in this node's archive.
    pub fn spawn_keeper(&mut self, client: Client, options: KeeperOptions) {
        let proofs = NodeProofs { index: self.index.clone(), archive: self.archive.clone() };
        let keeping = keeper_loop(
            Keeper::new(client),
            proofs,
            options.batch_size,
            options.interval,
            self.metrics.clone(),
            self.shutdown.clone(),
        );
        self.spawn(async move {
            keeping.await;
            Ok(())
        });
    }

    /// Starts one cluster's oracle, which submits its reports with `relayer`; it stops with the
    /// node, or alone through the handle.
    pub fn spawn_oracle(
        &mut self,
        config: OracleConfig,
        options: OracleOptions,
        relayer: Reports,
    ) -> OracleHandle {
        let stop = self.shutdown.child();
        let finished = CancellationToken::new();
        let sampling = oracle_loop(
            config,
            options,
            relayer,
            self.archive.clone(),
            self.cosign.clone(),
            self.metrics.clone(),
            stop.clone(),
        );
        let done = finished.clone().drop_guard();
        self.spawn(async move {
            let _done = done; // tells the handle once the loop returned, however it ended
            sampling.await
        });
        OracleHandle { stop, finished }
    }

    /// Starts a site's OpenADR VEN, polling its VTN every `every` until the node stops; it
    /// reports each attested curtailment to the VTN from this node's deliveries archive.
    pub fn spawn_ven(&mut self, ven: crate::openadr::ven::Ven, every: Duration) {
        let shutdown = self.shutdown.clone();
        self.spawn(ven.with_archive(self.archive.clone()).run(every, shutdown));
    }

    /// Runs `task` until it ends; an error stops every other loop of the node.
    fn spawn(&mut self, task: impl Future<Output = Result<()>> + Send + 'static) {
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            let result = task.await;
            shutdown.trigger_if_err(&result);
            result
        });
    }

    /// Waits until every loop returned (after a shutdown, or after one failed and stopped the
    /// others), then stops the server and writes the index to disk. Returns the first failure.
    pub async fn stopped(mut self) -> Result<()> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let outcome = joined.unwrap_or_else(|e| {
                self.shutdown.trigger();
                Err(NodeError::Server(format!("a loop panicked: {e}")))
            });
            if let Err(e) = outcome
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        if let Some(server) = self.server {
            let _ = server.handle.stop();
            server.handle.stopped().await;
        }
        self.index.flush_all()?;
        result
    }
}
