//! The sampling loop: 1 Hz on the wall clock (catching up first where the source can read the
//! past), or as fast as possible over a fixed range for replays and drills. Each finalized epoch
//! is signed with the node's attestor key and written to `data_dir/reports/epoch-N.json`.

use std::{future::Future, path::PathBuf, time::Duration};

use alloy::signers::local::PrivateKeySigner;
use compute_ledger_types::report_domain;
use serde::{Deserialize, Serialize};

use crate::{EpochOutcome, Oracle, OracleError, Result, SignedReport, oracle::write_atomically};

/// A finalized epoch as written for submission: the signed report and its deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFile {
    /// The report with this node's signature (co-signers' are merged in later).
    pub signed: SignedReport,
    /// The epoch's outcome (summary, leaves, archive path).
    pub outcome: EpochOutcome,
}

/// Seconds since the unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Signs and writes one outcome; returns the file written.
pub fn publish(
    oracle: &Oracle,
    signer: Option<&PrivateKeySigner>,
    outcome: EpochOutcome,
) -> Result<PathBuf> {
    let config = oracle.config();
    let mut signed = SignedReport::new(outcome.report.clone());
    if let Some(signer) = signer {
        signed.sign(signer, &report_domain(config.chain_id, config.registry))?;
    }
    let path = oracle.report_path(outcome.summary.epoch);
    let dir = path.parent().expect("report files live in a directory");
    std::fs::create_dir_all(dir).map_err(|e| OracleError::io(dir, e))?;
    let body = serde_json::to_vec_pretty(&ReportFile { signed, outcome })?;
    write_atomically(&path, &body)?;
    Ok(path)
}

/// Publishes finalized epochs whose report file is missing (a crash between finalizing an epoch
/// and writing its file). Called before sampling resumes. Pruned epochs are not listed.
pub fn republish_missing(
    oracle: &Oracle,
    signer: Option<&PrivateKeySigner>,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for epoch in oracle.finalized_epochs()? {
        if !oracle.report_path(epoch).exists() {
            let outcome = oracle.outcome(epoch)?.expect("listed epochs are stored");
            written.push(publish(oracle, signer, outcome)?);
        }
    }
    Ok(written)
}

/// Samples every second in `[from, to)` as fast as the source answers, publishing each epoch
/// finalized on the way, and the last one at the end.
pub async fn run_range(
    oracle: &mut Oracle,
    signer: Option<&PrivateKeySigner>,
    from: u64,
    to: u64,
) -> Result<Vec<PathBuf>> {
    let mut written = republish_missing(oracle, signer)?;
    let start = oracle.resume_at(from)?.max(from);
    for t in start..to {
        // Close a finished epoch before sampling, so a failing sample never delays its report.
        if let Some(outcome) = oracle.finalize_due(t)? {
            written.push(publish(oracle, signer, outcome)?);
        }
        if let Some(outcome) = oracle.tick(t).await? {
            written.push(publish(oracle, signer, outcome)?);
        }
    }
    if let Some(outcome) = oracle.finalize_due(to)? {
        written.push(publish(oracle, signer, outcome)?);
    }
    Ok(written)
}

/// How far (seconds) the live loop may fall behind a live source before it jumps to now.
pub const MAX_LIVE_LAG_S: u64 = 2;

/// Samples at 1 Hz until `shutdown` resolves. A failed second is logged and counts as missing;
/// the loop never stops for a bad sample.
///
/// A live source (NVML, dcgm-exporter) only knows *now*: each sample is bounded by the oracle's
/// sample timeout, and when the loop falls more than [`MAX_LIVE_LAG_S`] behind (a hung exporter)
/// it jumps to now and the skipped seconds count as unavailable, never stamped with later
/// readings. A finished epoch closes on the clock either way.
pub async fn run_live(
    oracle: &mut Oracle,
    signer: Option<&PrivateKeySigner>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    run_live_notifying(oracle, signer, shutdown, |_| {}).await
}

/// [`run_live`], calling `published(epoch)` after each report file is written, so a submitter in
/// the same process hears of it at once (the file stays the durable record).
pub async fn run_live_notifying(
    oracle: &mut Oracle,
    signer: Option<&PrivateKeySigner>,
    shutdown: impl Future<Output = ()>,
    mut published: impl FnMut(u64),
) -> Result<()> {
    for path in republish_missing(oracle, signer)? {
        tracing::info!(path = %path.display(), "report rewritten after a restart");
        published(0);
    }
    let mut emit = |oracle: &Oracle, outcome: EpochOutcome| -> Result<PathBuf> {
        let epoch = outcome.summary.epoch;
        let path = publish(oracle, signer, outcome)?;
        published(epoch);
        Ok(path)
    };
    let live = !oracle.can_backfill();
    let mut next = oracle.resume_at(unix_now())?;
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            _ = interval.tick() => {}
        }
        while next <= unix_now() {
            if oracle.waiting_for_curtailments(next, unix_now())? {
                break; // the node has not yet reported every acknowledgement up to the epoch's end
            }
            if let Some(outcome) = oracle.finalize_due(next)? {
                emit(oracle, outcome)?;
            }
            // Checked right before sampling: a live reading is never stamped on a second more
            // than MAX_LIVE_LAG_S old.
            let now = unix_now();
            if live && now > next + MAX_LIVE_LAG_S {
                tracing::warn!(
                    from = next,
                    to = now,
                    "live source fell behind; skipped seconds count as unavailable"
                );
                next = now;
                continue; // close an epoch the jump crossed before sampling
            }
            match oracle.tick(next).await {
                Ok(Some(outcome)) => {
                    let path = emit(oracle, outcome)?;
                    tracing::info!(path = %path.display(), "report written");
                }
                Ok(None) => {}
                Err(e @ (OracleError::Store(_) | OracleError::StoreTask(_))) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, t = next, "sample failed; second counts as unavailable")
                }
            }
            next += 1;
        }
        // The source may be down across the boundary: close the epoch on the clock anyway.
        if let Some(outcome) = oracle.finalize_due(unix_now())? {
            emit(oracle, outcome)?;
        }
    }
}
