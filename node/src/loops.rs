//! The long-running loops a cluster owner's node runs beside the indexer: the oracle (sample,
//! finalize, sign, submit, archive) and the keeper (settle due epochs).

use std::{collections::BTreeSet, sync::Arc, sync::atomic::Ordering, time::Duration};

use compute_ledger_oracle::{Oracle, OracleConfig, ReportFile, TelemetrySource, run_live};
use compute_ledger_sdk::{ErrorKind, Keeper, Reports, SdkError};

use crate::{
    NodeError, Result, Shutdown,
    index::{DeliveriesArchive, NodeProofs},
    metrics::Metrics,
};

/// How often the oracle looks for finalized epochs to submit (doubling up to 30 s after a
/// failure, e.g. an unreachable RPC).
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
        match keeper.settle_due(&proofs, batch_size).await {
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

/// Samples a cluster at 1 Hz and, for every finalized epoch, submits the signed report (once:
/// the chain is asked first, so a restart never submits twice) and archives its deliveries tree
/// for `ledger_deliveryProof` and the keeper.
pub async fn oracle_loop(
    config: OracleConfig,
    relayer: Reports,
    archive: DeliveriesArchive,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) -> Result<()> {
    let signer = config.signer.as_ref().map(compute_ledger_oracle::KeyConfig::load).transpose()?;
    let source = TelemetrySource::from_config(&config.source)?;
    let mut oracle = Oracle::open(config.clone(), source)?;
    let sampling = async {
        let result = run_live(&mut oracle, signer.as_ref(), shutdown.wait()).await;
        shutdown.trigger_if_err(&result);
        result.map_err(NodeError::from)
    };
    let submitting = async {
        let mut done = BTreeSet::new();
        let mut backoff = SUBMIT_POLL;
        loop {
            let wait = match submit_pending(&config, &relayer, &archive, &metrics, &mut done).await
            {
                Ok(()) => {
                    backoff = SUBMIT_POLL;
                    SUBMIT_POLL
                }
                Err(e) => {
                    tracing::warn!(
                        cluster = config.cluster_id,
                        "oracle submit: {e}; retrying in {} s",
                        backoff.as_secs()
                    );
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    wait
                }
            };
            if shutdown.sleep(wait).await {
                return Ok::<(), NodeError>(());
            }
        }
    };
    let (sampled, submitted) = tokio::join!(sampling, submitting);
    sampled.and(submitted)
}

/// Submits every written report file not yet on chain and still within its reporting window.
/// The oracle's report files (`epoch-N.json`) in epoch order — numeric, so a backlog that crosses
/// a power of ten (`epoch-9`, `epoch-10`) goes out oldest first. Other files are ignored.
fn reports_in_epoch_order(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<(u64, std::path::PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let epoch = name.strip_prefix("epoch-")?.strip_suffix(".json")?.parse().ok()?;
            Some((epoch, path))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, path)| path).collect()
}

async fn submit_pending(
    config: &OracleConfig,
    relayer: &Reports,
    archive: &DeliveriesArchive,
    metrics: &Metrics,
    done: &mut BTreeSet<u64>,
) -> Result<()> {
    let dir = config.data_dir.join("reports");
    let io =
        |path: &std::path::Path, e: String| NodeError::Io { path: path.to_path_buf(), reason: e };
    for path in reports_in_epoch_order(&dir) {
        let path = path.as_path();
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e.to_string()))?;
        let file: ReportFile = serde_json::from_str(&text).map_err(|e| io(path, e.to_string()))?;
        let epoch = file.outcome.summary.epoch;
        if done.contains(&epoch) {
            continue;
        }
        if let Some(tree) = file.outcome.tree()? {
            archive.put(config.cluster_id, epoch, tree.leaves())?;
        }
        if relayer.report_of(config.cluster_id, epoch).await?.is_some() {
            done.insert(epoch);
            continue;
        }
        match relayer.submit(&file.signed.report, file.signed.ordered_signatures()).await {
            Ok(()) => {
                metrics.reports_submitted.fetch_add(1, Ordering::Relaxed);
                tracing::info!(cluster = config.cluster_id, epoch, "report submitted");
                done.insert(epoch);
            }
            // The chain's clock trails the wall clock by up to a block: try again next round.
            Err(SdkError::Contract(revert)) if revert.kind == ErrorKind::EpochNotEnded => {
                tracing::debug!(cluster = config.cluster_id, epoch, "epoch not ended on chain yet");
                return Ok(());
            }
            // A co-signer relayed it first: it is on chain, nothing is lost.
            Err(SdkError::Contract(revert)) if revert.kind == ErrorKind::EpochAlreadyReported => {
                tracing::info!(cluster = config.cluster_id, epoch, "report already on chain");
                done.insert(epoch);
            }
            Err(SdkError::Contract(revert)) if revert.kind == ErrorKind::ReportDeadlinePassed => {
                tracing::warn!(
                    cluster = config.cluster_id,
                    epoch,
                    "report not accepted: {revert}; the epoch settles as missed"
                );
                done.insert(epoch);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::reports_in_epoch_order;

    #[test]
    fn backlogged_reports_go_out_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["epoch-10.json", "epoch-9.json", "epoch-100.json", "epoch-2.json", "notes.txt"]
        {
            std::fs::write(dir.path().join(name), "{}").expect("write");
        }
        std::fs::write(dir.path().join("epoch-11.json.tmp"), "{}").expect("write");
        let names: Vec<String> = reports_in_epoch_order(dir.path())
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["epoch-2.json", "epoch-9.json", "epoch-10.json", "epoch-100.json"]);
    }
}
