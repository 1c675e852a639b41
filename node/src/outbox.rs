//! The oracle's outbox: every finalized epoch's report goes on chain once, in epoch order, with the
//! threshold of its attestor set's signatures, and comes back if a reorg takes it out.
//!
//! The report file (`data_dir/reports/epoch-N.json`) is the durable record; the sampler tells the
//! outbox in-process which epoch it just published, so each file is read once (all of them once at
//! start). An epoch stays pending until its report is on chain or its reporting window closes; an
//! epoch on chain is re-checked until its window closes, and resent if a reorg removed it. Each
//! round does a bounded amount of work.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::{Arc, atomic::Ordering},
};

use alloy::{
    primitives::{Address, Bytes, U256},
    sol_types::Eip712Domain,
};
use compute_ledger_oracle::{EpochClock, OracleConfig, ReportFile, SignedReport};
use compute_ledger_sdk::{ErrorKind, Reports, SdkError};
use compute_ledger_types::UsageReport;
use tokio::sync::mpsc;

use crate::{
    NodeError, Result,
    cosign::{
        AttestorCache, Checked, Cosigning, Mismatch, Peer, PendingEpoch, check_answer,
        report_differences, short_error,
    },
    index::DeliveriesArchive,
    metrics::Metrics,
};

/// The "peer" named when the report on chain differs from ours.
const CHAIN: &str = "chain";

/// Most pending epochs advanced in one round (a long backlog drains over several rounds).
const EPOCHS_PER_ROUND: usize = 16;
/// Most retired epochs checked for pruning in one round.
const PRUNES_PER_ROUND: usize = 16;

/// When an epoch's files may go: `keep_s` after its end, once its leases are settled. Epochs to
/// prune are sent on `to_prune` (the sampler, which owns the oracle's store, deletes them).
#[derive(Debug)]
pub struct RetentionPolicy {
    /// Seconds to keep an epoch's files after its end.
    pub keep_s: u64,
    /// Where prunable epochs are sent.
    pub to_prune: mpsc::Sender<u64>,
}

/// The oracle's report files (`epoch-N.json`) with their epochs, in epoch order — numeric, so a
/// backlog that crosses a power of ten (`epoch-9`, `epoch-10`) goes out oldest first. Other files
/// (temporary ones included) are ignored.
pub fn reports_in_epoch_order(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let epoch = name.strip_prefix("epoch-")?.strip_suffix(".json")?.parse().ok()?;
            Some((epoch, path))
        })
        .collect();
    files.sort();
    files
}

/// One cluster's outbox.
#[derive(Debug)]
pub struct Outbox {
    cluster_id: u64,
    clock: EpochClock,
    reports_dir: PathBuf,
    own: Option<Address>,
    relayer: Reports,
    domain: Eip712Domain,
    archive: DeliveriesArchive,
    cosign: Arc<Cosigning>,
    metrics: Arc<Metrics>,
    peers: Vec<Peer>,
    report_window: Option<u64>,
    /// Epochs finalized here whose report is not known on chain.
    pending: BTreeMap<u64, SignedReport>,
    /// Epochs whose report is on chain, with their report, until their window closes.
    on_chain: BTreeMap<u64, SignedReport>,
    /// Highest epoch read from a report file.
    loaded_through: Option<u64>,
    /// Leases with a leaf in each loaded epoch (retention waits for them to settle).
    leases: BTreeMap<u64, Vec<U256>>,
    /// Epochs whose window closed, oldest first, waiting to be pruned.
    retired: BTreeSet<u64>,
    retention: Option<RetentionPolicy>,
    attestors: AttestorCache,
    /// (epoch, peer) pairs already counted as a mismatch (counted once, not every round).
    mismatched: BTreeSet<(u64, String)>,
    warned_not_attestor: bool,
}

impl Outbox {
    /// The outbox of `config`'s cluster, relaying with `relayer` and asking `peers` for their
    /// signatures. Reads every report file already written. With a `retention` policy, epochs
    /// past it are handed over for pruning.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &OracleConfig,
        own: Option<Address>,
        relayer: Reports,
        archive: DeliveriesArchive,
        cosign: Arc<Cosigning>,
        metrics: Arc<Metrics>,
        peers: Vec<Peer>,
        retention: Option<RetentionPolicy>,
    ) -> Result<Self> {
        let mut outbox = Self {
            cluster_id: config.cluster_id,
            clock: EpochClock { genesis: config.genesis, length: config.epoch_length },
            reports_dir: config.data_dir.join("reports"),
            own,
            domain: relayer.domain(),
            relayer,
            archive,
            cosign,
            metrics,
            peers,
            report_window: None,
            pending: BTreeMap::new(),
            on_chain: BTreeMap::new(),
            loaded_through: None,
            leases: BTreeMap::new(),
            retired: BTreeSet::new(),
            retention,
            attestors: AttestorCache::default(),
            mismatched: BTreeSet::new(),
            warned_not_attestor: false,
        };
        outbox.load_new()?;
        Ok(outbox)
    }

    /// Epochs waiting to go on chain.
    pub fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.keys().copied()
    }

    /// Reads the report files of epochs after the last one read (the sampler just published one).
    pub fn load_new(&mut self) -> Result<()> {
        for (epoch, path) in reports_in_epoch_order(&self.reports_dir) {
            if self.loaded_through.is_some_and(|through| epoch <= through) {
                continue;
            }
            self.loaded_through = Some(epoch);
            // One unreadable file must not stop the other epochs' reports.
            let file = match read_report(&path) {
                Ok(file) => file,
                Err(e) => {
                    tracing::error!(
                        cluster = self.cluster_id,
                        epoch,
                        "{e}; this epoch's report is not sent (move the file aside and restart the node to rewrite it)"
                    );
                    continue;
                }
            };
            if file.outcome.summary.epoch != epoch
                || file.signed.report.clusterId != self.cluster_id
            {
                tracing::error!(
                    cluster = self.cluster_id,
                    path = %path.display(),
                    "holds cluster {} epoch {}, not cluster {} epoch {epoch}: was it copied from another oracle? Not sent",
                    file.signed.report.clusterId, file.outcome.summary.epoch, self.cluster_id
                );
                continue;
            }
            // Keep the deliveries tree for the keeper and `ledger_deliveryProof` first: it is
            // needed whoever relays the report.
            if let Some(tree) = file.outcome.tree()? {
                self.archive.put(self.cluster_id, epoch, &tree)?;
            }
            let leases = file.outcome.summary.deliveries.iter().map(|l| l.lease_id).collect();
            self.leases.insert(epoch, leases);
            self.cosign.offer(file.signed.clone());
            self.pending.insert(epoch, file.signed);
        }
        Ok(())
    }

    fn deadline(&self, epoch: u64, window: u64) -> u64 {
        self.clock.end(epoch) + window
    }

    /// One round: re-check reports on chain (a reorg may have removed one), then advance up to
    /// 16 pending epochs oldest first (a backlog drains over several rounds).
    pub async fn round(&mut self) -> Result<()> {
        let result = self.try_round().await;
        let error = result.as_ref().err().map(|e| short_error(&e.to_string()));
        self.cosign.update(self.cluster_id, |status| status.last_error = error);
        result
    }

    async fn try_round(&mut self) -> Result<()> {
        let window = match self.report_window {
            Some(window) => window,
            None => *self.report_window.insert(self.relayer.report_window().await?),
        };
        let now = self.relayer.chain_time().await?;
        self.recheck_on_chain(now, window).await?;
        let epochs: Vec<u64> = self.pending.keys().copied().take(EPOCHS_PER_ROUND).collect();
        let mut waiting = Vec::new();
        for epoch in epochs {
            match self.advance(epoch, now, window).await? {
                Progress::Done => {}
                Progress::Waiting(status) => waiting.push(status),
                Progress::NotEnded => break,
            }
        }
        let pending_after: BTreeSet<u64> = self.pending.keys().copied().collect();
        waiting.retain(|w| pending_after.contains(&w.epoch));
        self.cosign.update(self.cluster_id, |status| status.pending = waiting);
        self.prune_settled(now).await?;
        if let Some(first) = self.pending.keys().chain(self.on_chain.keys()).min() {
            self.attestors.forget_before(*first);
            self.mismatched.retain(|(epoch, _)| epoch >= first);
        }
        Ok(())
    }

    /// Hands retired epochs past the retention time whose leases all settled to the sampler for
    /// pruning, oldest first (leases settle in epoch order: the first unsettled one stops it).
    async fn prune_settled(&mut self, now: u64) -> Result<()> {
        let Some(policy) = &self.retention else {
            // Files kept forever: nothing to remember about retired epochs.
            for epoch in std::mem::take(&mut self.retired) {
                self.leases.remove(&epoch);
            }
            return Ok(());
        };
        let candidates: Vec<u64> = self.retired.iter().copied().take(PRUNES_PER_ROUND).collect();
        for epoch in candidates {
            if now < self.clock.end(epoch).saturating_add(policy.keep_s) {
                break;
            }
            for lease in self.leases.get(&epoch).into_iter().flatten() {
                let info = self.relayer.client().lease(*lease).await?;
                let settled = info.next_epoch > epoch
                    || info.status == compute_ledger_sdk::LeaseStatus::Cancelled;
                if !settled {
                    return Ok(());
                }
            }
            if policy.to_prune.try_send(epoch).is_err() {
                return Ok(()); // the sampler is busy or restarting: next round
            }
            self.retired.remove(&epoch);
            self.leases.remove(&epoch);
        }
        Ok(())
    }

    async fn recheck_on_chain(&mut self, now: u64, window: u64) -> Result<()> {
        let epochs: Vec<u64> = self.on_chain.keys().copied().collect();
        for epoch in epochs {
            let still = self.relayer.report_of(self.cluster_id, epoch).await?.is_some();
            let closed = now > self.deadline(epoch, window);
            if still && closed {
                self.on_chain.remove(&epoch);
                self.cosign.forget(self.cluster_id, epoch);
                self.retired.insert(epoch);
            } else if !still {
                let signed = self.on_chain.remove(&epoch).expect("listed above");
                tracing::warn!(
                    cluster = self.cluster_id,
                    epoch,
                    "the report was reorged out of the chain; sending it again"
                );
                // The reorg dropped our transaction too: its nonce is free again.
                self.relayer.client().resync_nonce();
                self.pending.insert(epoch, signed);
            }
        }
        Ok(())
    }

    /// Moves `epoch` on chain. When someone else relayed it, checks that what the chain holds is
    /// the report this node built: a different one (a colluding threshold) is flagged loudly,
    /// while the tenant or a holder can still challenge it.
    async fn mark_on_chain(&mut self, epoch: u64, relayed_by_us: bool) -> Result<()> {
        if !relayed_by_us && let Some(ours) = self.pending.get(&epoch).map(|s| s.report.clone()) {
            let registry = self.relayer.client().registry();
            let stored = registry
                .reportMetrics(self.cluster_id, epoch)
                .call()
                .await
                .map_err(compute_ledger_sdk::SdkError::from)?;
            // The registry keeps every billing field; `telemetryRoot` only in the event.
            let accepted = UsageReport {
                deliveriesRoot: stored.deliveriesRoot,
                gpusInstalled: stored.gpusInstalled,
                gpusHealthy: stored.gpusHealthy,
                gpuSecondsAvailable: stored.gpuSecondsAvailable,
                gpuSecondsBusy: stored.gpuSecondsBusy,
                itEnergyWh: stored.itEnergyWh,
                facilityEnergyWh: stored.facilityEnergyWh,
                ..ours.clone()
            };
            let fields = report_differences(&ours, &accepted);
            if !fields.is_empty() && self.mismatched.insert((epoch, CHAIN.to_string())) {
                let listed: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{} ours {} on chain {}", f.field, f.ours, f.theirs))
                    .collect();
                tracing::error!(
                    cluster = self.cluster_id,
                    epoch,
                    "the report accepted on chain is not the one this node built ({}): challenge it within the challenge window if it bills wrongly",
                    listed.join(", ")
                );
                self.cosign.record_mismatch(
                    self.cluster_id,
                    Mismatch { epoch, peer: CHAIN.into(), fields },
                );
            }
        }
        if let Some(signed) = self.pending.remove(&epoch) {
            self.on_chain.insert(epoch, signed);
        }
        self.cosign.update(self.cluster_id, |status| {
            status.last_on_chain = status.last_on_chain.max(Some(epoch));
        });
        Ok(())
    }

    async fn advance(&mut self, epoch: u64, now: u64, window: u64) -> Result<Progress> {
        let on_chain = self.relayer.report_of(self.cluster_id, epoch).await?.is_some();
        if on_chain {
            self.mark_on_chain(epoch, false).await?;
            return Ok(Progress::Done);
        }
        if now > self.deadline(epoch, window) {
            tracing::warn!(
                cluster = self.cluster_id,
                epoch,
                "reporting window closed without a report on chain; the epoch settles as missed"
            );
            self.pending.remove(&epoch);
            self.cosign.forget(self.cluster_id, epoch);
            self.cosign.record_missed(self.cluster_id, epoch);
            self.retired.insert(epoch);
            return Ok(Progress::Done);
        }
        // The chain's clock may trail the wall clock: later epochs can't be ahead of this one.
        if now < self.clock.end(epoch) {
            return Ok(Progress::NotEnded);
        }
        let (mut valid, threshold) = self.attestor_signatures(epoch).await?;
        if valid.len() < usize::from(threshold) {
            self.collect_from_peers(epoch).await?;
            (valid, _) = self.attestor_signatures(epoch).await?;
        }
        if valid.len() < usize::from(threshold) {
            let reachable = self.cosign.reachable_peers(self.cluster_id);
            return Ok(Progress::Waiting(PendingEpoch {
                epoch,
                signatures: valid.len(),
                threshold,
                waiting_for: format!(
                    "{} of {threshold} attestor signatures; {reachable} of {} co-signers reachable",
                    valid.len(),
                    self.peers.len()
                ),
            }));
        }
        let report = self.pending[&epoch].report.clone();
        // Ascending signer order, as the registry requires (the map is ordered by address).
        let signatures: Vec<Bytes> = valid.into_values().collect();
        match self.relayer.submit(&report, signatures).await {
            Ok(()) => {
                self.metrics.reports_submitted.fetch_add(1, Ordering::Relaxed);
                tracing::info!(cluster = self.cluster_id, epoch, "report submitted");
                self.mark_on_chain(epoch, true).await?;
                Ok(Progress::Done)
            }
            Err(SdkError::Contract(revert)) if revert.kind == ErrorKind::EpochNotEnded => {
                Ok(Progress::NotEnded)
            }
            // A co-signer relayed it first: it is on chain, nothing is lost.
            Err(SdkError::Contract(revert)) if revert.kind == ErrorKind::EpochAlreadyReported => {
                tracing::info!(cluster = self.cluster_id, epoch, "report already on chain");
                self.mark_on_chain(epoch, false).await?;
                Ok(Progress::Done)
            }
            Err(SdkError::Contract(revert)) if revert.kind == ErrorKind::ReportDeadlinePassed => {
                tracing::warn!(
                    cluster = self.cluster_id,
                    epoch,
                    "report not accepted: {revert}; the epoch settles as missed"
                );
                self.pending.remove(&epoch);
                self.cosign.forget(self.cluster_id, epoch);
                self.cosign.record_missed(self.cluster_id, epoch);
                self.retired.insert(epoch);
                Ok(Progress::Done)
            }
            // The chain answered no (an unmapped revert, a refused or failed transaction): this
            // epoch waits with the reason shown, its collected signatures are asked for afresh,
            // and the later epochs go on.
            Err(
                e @ (SdkError::Contract(_)
                | SdkError::Revert(_)
                | SdkError::Rejected(_)
                | SdkError::RevertedOnChain { .. }),
            ) => {
                tracing::warn!(cluster = self.cluster_id, epoch, "submission refused: {e}");
                let own = self.own;
                let mut kept = 0;
                if let Some(held) = self.pending.get_mut(&epoch) {
                    held.signatures.retain(|signer, _| Some(*signer) == own);
                    kept = held.signatures.len();
                }
                Ok(Progress::Waiting(PendingEpoch {
                    epoch,
                    signatures: kept,
                    threshold,
                    waiting_for: short_error(&format!("submission refused: {e}")),
                }))
            }
            Err(e) => {
                if matches!(e, SdkError::Timeout { .. }) {
                    // Never mined: it may wait behind a nonce a reorg freed.
                    self.relayer.client().resync_nonce();
                }
                Err(e.into())
            }
        }
    }

    /// The held signatures that come from attestors of the set for `epoch`, and its threshold.
    async fn attestor_signatures(&mut self, epoch: u64) -> Result<(BTreeMap<Address, Bytes>, u8)> {
        let held = self.pending[&epoch].signatures.clone();
        let mut threshold = None;
        let mut valid = BTreeMap::new();
        let own = self.own;
        for account in held.keys().copied().chain(own) {
            let (is_attestor, set_threshold) = self.attestor(epoch, account).await?;
            threshold = Some(set_threshold);
            if is_attestor {
                if let Some(signature) = held.get(&account) {
                    valid.insert(account, signature.clone());
                }
            } else if Some(account) == own && !self.warned_not_attestor {
                self.warned_not_attestor = true;
                tracing::warn!(
                    cluster = self.cluster_id,
                    epoch,
                    %account,
                    "this node's attestor key is not in the cluster's attestor set: its signature does not count"
                );
            }
        }
        let threshold = match threshold {
            Some(threshold) => threshold,
            // No key here and nothing collected yet: any address tells the threshold.
            None => self.attestor(epoch, Address::ZERO).await?.1,
        };
        Ok((valid, threshold))
    }

    async fn attestor(&mut self, epoch: u64, account: Address) -> Result<(bool, u8)> {
        if let Some(answer) = self.attestors.get(epoch, account) {
            return Ok(answer);
        }
        let answer = self.relayer.attestor_of(self.cluster_id, epoch, account).await?;
        self.attestors.put(epoch, account, answer);
        Ok(answer)
    }

    /// Asks every peer for its signatures of `epoch`; keeps the genuine ones over our report.
    async fn collect_from_peers(&mut self, epoch: u64) -> Result<()> {
        let ours = self.pending[&epoch].clone();
        let answers = futures::future::join_all(
            self.peers.iter().map(|peer| peer.signed_report(self.cluster_id, epoch)),
        )
        .await;
        for (peer, answer) in self.peers.clone().iter().zip(answers) {
            let url = peer.shown().to_string();
            let theirs = match answer {
                Ok(Some(theirs)) => theirs,
                Ok(None) => {
                    self.peer_seen(&url, None, 0);
                    continue;
                }
                Err(reason) => {
                    tracing::debug!(cluster = self.cluster_id, epoch, peer = %url, "co-signer unreachable: {reason}");
                    self.peer_seen(&url, Some(reason), 0);
                    continue;
                }
            };
            match check_answer(&ours, theirs, &self.domain) {
                Checked::Differs(fields) => {
                    self.peer_seen(&url, None, 0);
                    if self.mismatched.insert((epoch, url.clone())) {
                        let listed: Vec<String> = fields
                            .iter()
                            .map(|f| format!("{} ours {} theirs {}", f.field, f.ours, f.theirs))
                            .collect();
                        tracing::warn!(
                            cluster = self.cluster_id,
                            epoch,
                            peer = %url,
                            "co-signer built a different report ({}); its signature is not combined",
                            listed.join(", ")
                        );
                        self.cosign.record_mismatch(
                            self.cluster_id,
                            Mismatch { epoch, peer: url, fields },
                        );
                    }
                }
                Checked::Refused(reason) => {
                    tracing::warn!(cluster = self.cluster_id, epoch, peer = %url, "co-signer's answer refused: {reason}");
                    self.peer_seen(&url, Some(reason), 0);
                }
                Checked::Signatures(signatures) => {
                    let mut kept = Vec::new();
                    for (signer, signature) in signatures {
                        if self.attestor(epoch, signer).await?.0 {
                            kept.push((signer, signature));
                        } else {
                            tracing::warn!(cluster = self.cluster_id, epoch, peer = %url, %signer, "co-signer sent a signature of a non-attestor; dropped");
                        }
                    }
                    self.peer_seen(&url, None, kept.len() as u64);
                    if let Some(held) = self.pending.get_mut(&epoch) {
                        held.signatures.extend(kept.iter().cloned());
                    }
                    self.cosign.add_signatures(self.cluster_id, epoch, &kept);
                }
            }
        }
        Ok(())
    }

    fn peer_seen(&self, url: &str, error: Option<String>, taken: u64) {
        self.cosign.update(self.cluster_id, |status| {
            let peer = status.peers.entry(url.to_string()).or_default();
            peer.reachable = error.is_none();
            peer.last_error = error;
            peer.signatures_taken += taken;
        });
    }
}

/// What one round did with one epoch.
#[derive(Debug)]
enum Progress {
    /// On chain, or its window closed.
    Done,
    /// Waiting for signatures.
    Waiting(PendingEpoch),
    /// Not ended by the chain's clock (nor are later epochs).
    NotEnded,
}

fn read_report(path: &Path) -> Result<ReportFile> {
    let io = |reason: String| NodeError::Io { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| io(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| io(format!("not a report file: {e}")))
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
        let epochs: Vec<u64> =
            reports_in_epoch_order(dir.path()).into_iter().map(|(epoch, _)| epoch).collect();
        assert_eq!(epochs, [2, 9, 10, 100]);
    }
}
