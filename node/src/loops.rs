//! The long-running loops a cluster owner's node runs beside the indexer: the oracle (sample,
//! finalize, sign, submit, archive) and the keeper (settle due epochs, then keep NAV feeds and
//! quotes current).

use std::{sync::Arc, sync::atomic::Ordering, time::Duration};

use compute_ledger_oracle::{
    Oracle, OracleConfig, Retention, SampleDb, TelemetrySource, run_live_notifying,
};
use compute_ledger_sdk::{Keeper, KeeperRun, Reports};
use tokio::sync::{mpsc, watch};

use crate::{
    Backoff, NodeError, Result, Shutdown,
    cosign::{Cosigning, Peer},
    index::{DeliveriesArchive, DueCursor, NodeProofs},
    metrics::Metrics,
    openadr::watch::AckWatch,
    outbox::{Outbox, RetentionPolicy},
};

/// How often the outbox asks the chain and the co-signers about pending epochs (doubling up to
/// 30 s after a failure, e.g. an unreachable RPC).
const SUBMIT_POLL: Duration = Duration::from_secs(2);

/// Due leases one keeper round takes from the index's queue, in queue order from where the last
/// round stopped (the rest wait for the next rounds; see [`DueCursor`]).
pub const KEEPER_ROUND_LEASES: usize = 1_000;

/// One keeper round from the node's own index: chain time and the market's windows (four chain
/// reads), the due epochs from the index's due queue ([`Index::due_epochs`]: reads grow with
/// the due leases, not with all leases), then [`Keeper::settle_epochs`] and the closing of those
/// leases' challenges past their deadline. Chain calls beyond the first four are the batches'
/// simulations and transactions: O(due).
///
/// [`Index::due_epochs`]: crate::index::Index::due_epochs
pub async fn keeper_round(
    keeper: &Keeper,
    proofs: &NodeProofs,
    batch_size: usize,
) -> Result<KeeperRun> {
    keeper_round_from(keeper, proofs, batch_size, &mut DueCursor::default()).await
}

/// As [`keeper_round`], taking the due leases from where the last round stopped (`cursor`, see
/// [`DueCursor`]): the keeper loop's rounds, so leases stuck at the queue's front never starve
/// the ones behind them.
pub async fn keeper_round_from(
    keeper: &Keeper,
    proofs: &NodeProofs,
    batch_size: usize,
    cursor: &mut DueCursor,
) -> Result<KeeperRun> {
    let now = keeper.client().chain_time().await?;
    let windows = keeper.windows().await?;
    let index = proofs.index.clone();
    let mut from = std::mem::take(cursor);
    let (due, from) = tokio::task::spawn_blocking(move || {
        let due = index.due_epochs_from(now, &windows, &mut from, KEEPER_ROUND_LEASES);
        (due, from)
    })
    .await
    .map_err(|e| NodeError::Index {
        path: proofs.index.path().to_path_buf(),
        reason: format!("the keeper's index reader failed: {e}"),
    })?;
    *cursor = from;
    let due = due?;
    let mut run = keeper.settle_epochs(&due.epochs, proofs, batch_size).await?;
    run.expired_challenges = keeper.expire_challenges_of(&due.expired_challenges).await?;
    refresh_prices(keeper, proofs, &run).await?;
    Ok(run)
}

/// Clusters whose quotes one round updates at most.
const QUOTES_PER_ROUND: usize = 64;

/// After a round's settlements: pokes the NAV feeds of the leases that settled (their rise cap's
/// anchor and trailing ratio move on) and applies new reports to the quotes of clusters with a
/// price curve (those whose newest report the index has and the quote has not).
async fn refresh_prices(keeper: &Keeper, proofs: &NodeProofs, run: &KeeperRun) -> Result<()> {
    let settled: std::collections::BTreeSet<_> = run.settled.iter().map(|s| s.lease_id).collect();
    let settled: Vec<_> = settled.into_iter().collect();
    for lease in keeper.poke_navs(&settled).await? {
        tracing::debug!(%lease, "NAV feed poked");
    }
    if keeper.client().deployment().pricer.is_none() {
        return Ok(());
    }
    let index = proofs.index.clone();
    let behind = tokio::task::spawn_blocking(move || index.quotes_behind(QUOTES_PER_ROUND))
        .await
        .map_err(|e| NodeError::Index {
            path: proofs.index.path().to_path_buf(),
            reason: format!("the keeper's index reader failed: {e}"),
        })??;
    for q in keeper.update_quotes(&behind).await? {
        tracing::info!(
            cluster = q.cluster_id, epoch = q.epoch, utilization_bps = q.utilization_bps,
            quote = %q.price_per_gpu_hour, "quote moved"
        );
    }
    Ok(())
}

/// Runs [`keeper_round`] every `interval` until shutdown. Proofs come from the node's
/// deliveries archive; failures are logged and retried on the next round; skipped epochs are
/// logged (at debug when another keeper settled them first).
pub async fn keeper_loop(
    keeper: Keeper,
    proofs: NodeProofs,
    batch_size: usize,
    interval: Duration,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    let mut cursor = DueCursor::default();
    loop {
        let round = tokio::select! {
            round = keeper_round_from(&keeper, &proofs, batch_size, &mut cursor) => round,
            () = shutdown.wait() => break,
        };
        match round {
            Ok(run) => log_round(&run, &metrics),
            Err(e) => {
                if matches!(e, NodeError::Sdk(compute_ledger_sdk::SdkError::Timeout { .. })) {
                    // Never mined: it may wait behind a nonce a reorg freed.
                    keeper.client().resync_nonce();
                }
                tracing::warn!("keeper: {e}; retrying next round");
            }
        }
        if shutdown.sleep(interval).await {
            break;
        }
    }
    tracing::info!("keeper stopped");
}

fn log_round(run: &KeeperRun, metrics: &Metrics) {
    for s in &run.settled {
        tracing::info!(
            lease = %s.lease_id, epoch = s.epoch, rent = %s.rent, credit = %s.sla_credit,
            missed = s.missed, "settled"
        );
    }
    metrics.epochs_settled.fetch_add(run.settled.len() as u64, Ordering::Relaxed);
    for waiting in &run.without_proof {
        tracing::debug!(lease = %waiting.lease_id, epoch = waiting.epoch, "no delivery proof here; left for a keeper that has it");
    }
    for skip in &run.skipped {
        let (lease, epoch, reason) = (skip.due.lease_id, skip.due.epoch, &skip.reason);
        if skip.already_settled {
            tracing::debug!(%lease, epoch, "skipped: another keeper settled it first");
        } else {
            tracing::info!(%lease, epoch, %reason, "skipped this round");
        }
    }
    for (batch, reason) in &run.reverted {
        tracing::info!(epochs = batch.len(), %reason, "a batch reverted on chain; retried next round");
    }
}

/// How a cluster's oracle shares and keeps its reports.
#[derive(Debug, Clone, Default)]
pub struct OracleOptions {
    /// Co-signers' nodes, asked for their signatures.
    pub peers: Vec<Peer>,
    /// How long after an epoch's end its files are kept (once settled); `None`: forever.
    pub keep_files: Option<Duration>,
    /// The process-wide sample database this oracle keeps its trees in (its own store in
    /// `data_dir/samples.sled` is copied in on first use); `None`: that own store.
    pub samples: Option<SampleDb>,
}

/// Opens `config`'s oracle in `samples` (or in a store of its own).
fn open_oracle(
    config: &OracleConfig,
    samples: Option<&SampleDb>,
) -> compute_ledger_oracle::Result<Oracle> {
    let source = TelemetrySource::from_config(&config.source)?;
    Ok(match samples {
        Some(db) => {
            let store = db.store(config.cluster_id, Some(&Oracle::own_store_dir(config)))?;
            Oracle::open_in(config.clone(), source, store)?
        }
        None => Oracle::open(config.clone(), source)?,
    })
}

/// Most time between sampler restarts after a failure (doubling from 1 s).
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(60);

/// Samples a cluster at 1 Hz and gets every finalized epoch's report on chain with its attestor
/// set's threshold of signatures, collected from `peers` (see [`Outbox`]); archives each epoch's
/// deliveries tree for `ledger_deliveryProof` and the keeper. A failing sampler is restarted with
/// backoff (its state is in `/health`); only a failure to start at all stops the node.
#[allow(clippy::too_many_arguments)]
pub async fn oracle_loop(
    config: OracleConfig,
    options: OracleOptions,
    relayer: Reports,
    archive: DeliveriesArchive,
    cosign: Arc<Cosigning>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) -> Result<()> {
    let signer = config.signer.as_ref().map(compute_ledger_oracle::KeyConfig::load).transpose()?;
    let cluster = config.cluster_id;
    // Open once here so a bad source or store stops start-up with its reason.
    let first = open_oracle(&config, options.samples.as_ref())?;
    let acknowledgements = match config.demand_response {
        Some(_) if options.samples.is_none() => {
            return Err(NodeError::Config {
                origin: format!("oracle of cluster {cluster}"),
                reason: "demand_response needs the node's shared sample database (samples_dir)"
                    .into(),
            });
        }
        Some(_) => Some(AckWatch::new(relayer.client().clone(), cluster, first.store().clone())?),
        None => None,
    };
    let (published, mut newly_published) = watch::channel(0u64);
    let (to_prune, prunable) = mpsc::channel(PRUNE_QUEUE);
    let sampler = Sampler {
        config: &config,
        samples: options.samples.as_ref(),
        signer: signer.as_ref(),
        cosign: &cosign,
        published,
    };
    let sampling = sampler.supervise(first, prunable, &shutdown);
    let submitting = async {
        let own = signer.as_ref().map(alloy::signers::Signer::address);
        let retention = options
            .keep_files
            .map(|keep| RetentionPolicy { keep_s: keep.as_secs(), to_prune: to_prune.clone() });
        let mut outbox = Outbox::new(
            &config,
            own,
            relayer,
            archive,
            cosign.clone(),
            metrics,
            options.peers,
            retention,
        )?;
        let mut backoff = Backoff::new(SUBMIT_POLL, Duration::from_secs(30));
        loop {
            let round = tokio::select! {
                round = outbox.round() => round,
                () = shutdown.wait() => return Ok::<(), NodeError>(()),
            };
            let wait = match round {
                Ok(()) => {
                    backoff.reset();
                    SUBMIT_POLL
                }
                Err(e) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(cluster, "oracle submit: {e}; retrying in {} s", wait.as_secs());
                    wait
                }
            };
            // A new report wakes the outbox at once; otherwise it polls (co-signers' signatures
            // and reorgs are only seen by asking).
            tokio::select! {
                changed = newly_published.changed() => {
                    if changed.is_err() {
                        return Ok(()); // the sampler stopped for good (shutdown)
                    }
                }
                stop = shutdown.sleep(wait) => if stop { return Ok(()) },
            }
            outbox.load_new()?;
        }
    };
    let watching = async {
        match acknowledgements {
            Some(watch) => watch.run(ACK_WATCH_POLL, shutdown.clone()).await,
            None => Ok(()),
        }
    };
    // An outbox that cannot work (its archive unwritable) stops the node rather than sampling
    // reports nobody sends.
    let stopped = tokio::try_join!(sampling, submitting, watching).map(drop);
    tracing::info!(cluster, "oracle stopped");
    stopped
}

/// How often a demand-response site's acknowledgements are read from the chain.
const ACK_WATCH_POLL: Duration = Duration::from_secs(2);

/// Epochs waiting to be pruned (the outbox sends at most a round's worth at a time).
const PRUNE_QUEUE: usize = 64;

/// What the supervised sampler needs on every (re)start.
struct Sampler<'a> {
    config: &'a OracleConfig,
    samples: Option<&'a SampleDb>,
    signer: Option<&'a alloy::signers::local::PrivateKeySigner>,
    cosign: &'a Cosigning,
    published: watch::Sender<u64>,
}

impl Sampler<'_> {
    /// Runs the sampler until shutdown, reopening it with backoff after a failure (a store error,
    /// a full disk): the other clusters' oracles, the keeper and the wallet server keep running.
    /// Prunes the epochs the outbox hands over (the sampler owns the oracle's store).
    async fn supervise(
        self,
        first: Oracle,
        mut prunable: mpsc::Receiver<u64>,
        shutdown: &Shutdown,
    ) -> Result<()> {
        let cluster = self.config.cluster_id;
        let mut next = Some(first);
        let mut backoff = Backoff::new(Duration::from_secs(1), MAX_RESTART_BACKOFF);
        loop {
            let started = std::time::Instant::now();
            let attempt = async {
                let mut oracle = match next.take() {
                    Some(oracle) => oracle,
                    None => open_oracle(self.config, self.samples)?,
                };
                self.cosign.update(cluster, |s| s.sampler = "running".into());
                let retention = oracle.retention();
                let pruning = prune(&retention, &mut prunable);
                let sampling = run_live_notifying(&mut oracle, self.signer, shutdown.wait(), |e| {
                    self.published.send_replace(e);
                });
                tokio::select! {
                    sampled = sampling => sampled,
                    pruned = pruning => pruned,
                }
            };
            match attempt.await {
                Ok(()) => {
                    self.cosign.update(cluster, |s| s.sampler = "stopped".into());
                    return Ok(());
                }
                Err(e) => {
                    if started.elapsed() > MAX_RESTART_BACKOFF {
                        backoff.reset(); // it ran fine a while: a fresh failure
                    }
                    let wait = backoff.next_delay();
                    tracing::error!(
                        cluster,
                        "oracle sampler failed: {e}; restarting in {} s",
                        wait.as_secs()
                    );
                    self.cosign.update(cluster, |s| {
                        s.sampler = format!("restarting in {} s after: {e}", wait.as_secs());
                    });
                    if shutdown.sleep(wait).await {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Deletes each epoch handed over, off the async threads (it fsyncs). Never returns `Ok` while
/// the outbox is there to send more.
async fn prune(
    retention: &Retention,
    prunable: &mut mpsc::Receiver<u64>,
) -> compute_ledger_oracle::Result<()> {
    while let Some(epoch) = prunable.recv().await {
        let handle = retention.clone();
        match tokio::task::spawn_blocking(move || handle.prune_epoch(epoch)).await {
            Ok(Ok(())) => tracing::info!(epoch, "settled epoch's files pruned"),
            Ok(Err(e)) => tracing::warn!(epoch, "pruning: {e}; kept"),
            Err(e) => tracing::warn!(epoch, "pruning task: {e}; kept"),
        }
    }
    std::future::pending().await
}
