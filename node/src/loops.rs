//! The long-running loops a cluster owner's node runs beside the indexer: the oracle (sample,
//! finalize, sign, submit, archive) and the keeper (settle due epochs).

use std::{sync::Arc, sync::atomic::Ordering, time::Duration};

use compute_ledger_oracle::{Oracle, OracleConfig, TelemetrySource, run_live_notifying};
use compute_ledger_sdk::{Keeper, Reports};
use tokio::sync::watch;

use crate::{
    NodeError, Result, Shutdown,
    cosign::{Cosigning, Peer},
    index::{DeliveriesArchive, NodeProofs},
    metrics::Metrics,
    outbox::Outbox,
};

/// How often the outbox asks the chain and the co-signers about pending epochs (doubling up to
/// 30 s after a failure, e.g. an unreachable RPC).
const SUBMIT_POLL: Duration = Duration::from_secs(2);

/// Settles due epochs every `interval` until shutdown. Proofs come from the node's deliveries
/// archive; failures are logged and retried on the next round.
pub async fn keeper_loop(
    keeper: Keeper,
    proofs: NodeProofs,
    batch_size: usize,
    interval: Duration,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    loop {
        let due = tokio::select! {
            due = keeper.settle_due(&proofs, batch_size) => due,
            () = shutdown.wait() => break,
        };
        match due {
            Ok(run) => {
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
            }
            Err(e) => tracing::warn!("keeper: {e}; retrying next round"),
        }
        if shutdown.sleep(interval).await {
            break;
        }
    }
    tracing::info!("keeper stopped");
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
    peers: Vec<Peer>,
    relayer: Reports,
    archive: DeliveriesArchive,
    cosign: Arc<Cosigning>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) -> Result<()> {
    let signer = config.signer.as_ref().map(compute_ledger_oracle::KeyConfig::load).transpose()?;
    let cluster = config.cluster_id;
    // Open once here so a bad source or store stops start-up with its reason.
    let first = Oracle::open(config.clone(), TelemetrySource::from_config(&config.source)?)?;
    let (published, mut newly_published) = watch::channel(0u64);
    let sampling =
        supervise_sampler(first, &config, signer.as_ref(), &cosign, &shutdown, published);
    let submitting = async {
        let own = signer.as_ref().map(alloy::signers::Signer::address);
        let mut outbox =
            Outbox::new(&config, own, relayer, archive, cosign.clone(), metrics, peers)?;
        let mut backoff = SUBMIT_POLL;
        loop {
            let round = tokio::select! {
                round = outbox.round() => round,
                () = shutdown.wait() => return Ok::<(), NodeError>(()),
            };
            let wait = match round {
                Ok(()) => {
                    backoff = SUBMIT_POLL;
                    SUBMIT_POLL
                }
                Err(e) => {
                    tracing::warn!(
                        cluster,
                        "oracle submit: {e}; retrying in {} s",
                        backoff.as_secs()
                    );
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
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
    let (sampled, submitted) = tokio::join!(sampling, submitting);
    tracing::info!(cluster, "oracle stopped");
    sampled.and(submitted)
}

/// Runs the sampler until shutdown, reopening it with backoff after a failure (a store error, a
/// full disk): the other clusters' oracles, the keeper and the wallet server keep running.
async fn supervise_sampler(
    first: Oracle,
    config: &OracleConfig,
    signer: Option<&alloy::signers::local::PrivateKeySigner>,
    cosign: &Cosigning,
    shutdown: &Shutdown,
    published: watch::Sender<u64>,
) -> Result<()> {
    let cluster = config.cluster_id;
    let mut next = Some(first);
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = std::time::Instant::now();
        let attempt = async {
            let mut oracle = match next.take() {
                Some(oracle) => oracle,
                None => {
                    Oracle::open(config.clone(), TelemetrySource::from_config(&config.source)?)?
                }
            };
            cosign.update(cluster, |s| s.sampler = "running".into());
            run_live_notifying(&mut oracle, signer, shutdown.wait(), |epoch| {
                published.send_replace(epoch);
            })
            .await
        };
        match attempt.await {
            Ok(()) => {
                cosign.update(cluster, |s| s.sampler = "stopped".into());
                return Ok(());
            }
            Err(e) => {
                if started.elapsed() > MAX_RESTART_BACKOFF {
                    backoff = Duration::from_secs(1); // it ran fine for a while: a fresh failure
                }
                tracing::error!(
                    cluster,
                    "oracle sampler failed: {e}; restarting in {} s",
                    backoff.as_secs()
                );
                cosign.update(cluster, |s| {
                    s.sampler = format!("restarting in {} s after: {e}", backoff.as_secs());
                });
                if shutdown.sleep(backoff).await {
                    return Ok(());
                }
                backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
            }
        }
    }
}
