//! The keeper's work: find lease epochs that may settle, and settle them in batches (anyone may;
//! the market pays nothing for it, so owners and investors run keepers for their own rent).
//!
//! An epoch is due when it ended and either its report's challenge window closed (settles with
//! a Merkle proof of the lease's delivery, or, once its proof deadline passed without one, as
//! unproven), nobody reported it by the deadline (settles as missed), the arbiter ruled on a
//! challenge of it, or a challenge's resolution deadline passed unruled (the report stands).
//! Missed and unproven epochs are the owner's failure: no rent, the full SLA credit to the
//! tenant and the full rent to holders, both from the bond. So every lease ends by itself while
//! a keeper runs. Settlement is strictly in epoch order per lease, so a lease's scan stops at its
//! first epoch that is not due.

use std::collections::HashMap;

use alloy::primitives::{B256, U256};
use compute_ledger_types::DeliveriesTree;

use crate::{
    Amount, Client, ErrorKind, LeaseInfo, LeaseStatus, Result, SdkError,
    bindings::{DisputeDesk, LeaseMarket},
    tx::transact,
};

// The desk's `DisputeStatus` values.
const DISPUTE_OPEN: u8 = 1;
const DISPUTE_UPHELD: u8 = 2;
const DISPUTE_REJECTED: u8 = 3;
const DISPUTE_CONFLICT: u8 = 5;

/// Epochs one lease scan looks at, at most (a long-neglected lease catches up over several runs).
const MAX_EPOCHS_PER_SCAN: u64 = 256;

/// Where the keeper gets the (delivered, proof) of a lease in a reported epoch: the oracle's
/// archive of deliveries trees, or the node's `ledger_deliveryProof`.
pub trait DeliveryProofs {
    /// The lease's delivered GPU-seconds in (cluster, epoch) and its proof; `Ok(None)` when this
    /// store has none, an error (e.g. [`SdkError::ProofStore`]) when it cannot tell.
    fn delivery(
        &self,
        cluster_id: u64,
        epoch: u64,
        lease_id: U256,
    ) -> Result<Option<(u64, Vec<B256>)>>;
}

/// Deliveries trees kept in memory, by (cluster, epoch).
#[derive(Debug, Clone, Default)]
pub struct ProofBook {
    trees: HashMap<(u64, u64), DeliveriesTree>,
}

impl ProofBook {
    /// Keeps the tree of (cluster, epoch).
    pub fn insert(&mut self, cluster_id: u64, epoch: u64, tree: DeliveriesTree) {
        self.trees.insert((cluster_id, epoch), tree);
    }
}

impl DeliveryProofs for ProofBook {
    fn delivery(
        &self,
        cluster_id: u64,
        epoch: u64,
        lease_id: U256,
    ) -> Result<Option<(u64, Vec<B256>)>> {
        let Some(tree) = self.trees.get(&(cluster_id, epoch)) else { return Ok(None) };
        let Some(leaf) = tree.leaf(lease_id) else { return Ok(None) };
        Ok(tree.proof(lease_id).ok().map(|proof| (leaf.delivered, proof)))
    }
}

/// Why an epoch may settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueKind {
    /// Reported and past its challenge window: settles with the lease's delivery proof, or as
    /// unproven once `unproven_after` (chain time) has passed without one.
    Reported {
        /// After this chain time the epoch may settle as unproven.
        unproven_after: u64,
    },
    /// Not reported by the deadline: settles as missed.
    Missed,
    /// The arbiter ruled on a challenge: settles with the ruling.
    Resolved,
    /// Two conflicting leaves of the lease were proven: settles as unproven.
    Conflict,
    /// Reported and past its challenge window, but an earlier epoch of the lease is under
    /// challenge: its proof is sent now and kept by the market for its turn, so the challenge
    /// cannot push it past its proof deadline.
    Ahead,
}

/// What scanning one epoch found.
enum Scan {
    Due(DueKind),
    /// Under an open challenge: later epochs may still have their proofs sent ahead.
    Challenged,
    NotYet,
}

/// How a settled epoch was billed (the market's `Outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The report's leaf, proven.
    Proven,
    /// The arbiter's ruling.
    Arbitrated,
    /// No report by the deadline (the owner's failure).
    Missed,
    /// No proof of the lease's leaf by the proof deadline, or conflicting leaves (the owner's
    /// failure).
    Unproven,
}

impl Outcome {
    /// From the event's enum value.
    pub fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Proven,
            1 => Self::Arbitrated,
            2 => Self::Missed,
            _ => Self::Unproven,
        }
    }

    /// Lower-case name, as the index and the JSON-RPC show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proven => "proven",
            Self::Arbitrated => "arbitrated",
            Self::Missed => "missed",
            Self::Unproven => "unproven",
        }
    }
}

/// A (lease, epoch) that may settle now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueEpoch {
    /// The lease.
    pub lease_id: U256,
    /// Its cluster.
    pub cluster_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// Why it may settle.
    pub kind: DueKind,
}

/// One settled (lease, epoch), from the market's `EpochSettled` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// The lease.
    pub lease_id: U256,
    /// The epoch.
    pub epoch: u64,
    /// GPU-seconds billed.
    pub delivered: u64,
    /// Rent moved from escrow to share holders.
    pub rent: Amount,
    /// Rent paid to share holders from the owner's bond (missed or unproven epochs).
    pub compensation: Amount,
    /// SLA credit moved from the owner's bond to the tenant.
    pub sla_credit: Amount,
    /// How the epoch was billed.
    pub outcome: Outcome,
    /// No report came by the deadline.
    pub missed: bool,
}

/// What a keeper run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeeperRun {
    /// Epochs settled, in order.
    pub settled: Vec<Settlement>,
    /// Reported epochs skipped for want of a delivery proof while their proof deadline has not
    /// passed (with every later epoch of the same lease).
    pub without_proof: Vec<DueEpoch>,
    /// Challenges past their deadline that the run closed (bond back to the challenger).
    pub expired_challenges: usize,
    /// Epochs whose proofs were sent ahead of settlement order (an earlier epoch is challenged).
    pub proven_ahead: Vec<DueEpoch>,
    /// Transactions sent.
    pub transactions: usize,
}

/// The keeper role: a [`Client`] that pays gas to settle epochs.
#[derive(Debug, Clone)]
pub struct Keeper {
    client: Client,
}

impl Keeper {
    /// The keeper role for `client`'s signer.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every epoch of every active lease that may settle now (judged by chain time).
    pub async fn due_epochs(&self) -> Result<Vec<DueEpoch>> {
        let now = self.client.chain_time().await?;
        let report_window = self.client.registry().reportWindow().call().await?;
        let market = self.client.market();
        let windows = (market.challengeWindow().call().await?, market.proofGrace().call().await?);
        let mut reports = HashMap::new();
        let mut due = Vec::new();
        for id in 1..=self.client.lease_count().await? {
            let lease = self.client.lease(U256::from(id)).await?;
            if lease.status != LeaseStatus::Active {
                continue;
            }
            let last = lease.end_epoch.min(lease.next_epoch + MAX_EPOCHS_PER_SCAN);
            let mut challenged = false;
            for epoch in lease.next_epoch..last {
                let ends = lease.epoch_end(epoch);
                if now < ends {
                    break;
                }
                let scan =
                    self.due_kind(&lease, epoch, now, ends + report_window, windows, &mut reports);
                let kind = match (scan.await?, challenged) {
                    (Scan::Due(DueKind::Reported { .. }), true) => DueKind::Ahead,
                    (Scan::Due(_) | Scan::Challenged, true) => continue,
                    (Scan::Due(kind), false) => kind,
                    (Scan::Challenged, false) => {
                        challenged = true;
                        continue;
                    }
                    (Scan::NotYet, _) => break,
                };
                due.push(DueEpoch {
                    lease_id: lease.id,
                    cluster_id: lease.cluster_id,
                    epoch,
                    kind,
                });
            }
        }
        Ok(due)
    }

    #[allow(clippy::too_many_arguments)]
    async fn due_kind(
        &self,
        lease: &LeaseInfo,
        epoch: u64,
        now: u64,
        report_deadline: u64,
        (challenge_window, proof_grace): (u64, u64),
        reports: &mut HashMap<(u64, u64), u64>,
    ) -> Result<Scan> {
        let verdict = self.client.disputes().verdict(lease.id, epoch).call().await?;
        match verdict.status {
            DISPUTE_OPEN if now < verdict.resolveBy => return Ok(Scan::Challenged),
            DISPUTE_UPHELD | DISPUTE_REJECTED => return Ok(Scan::Due(DueKind::Resolved)),
            DISPUTE_CONFLICT => return Ok(Scan::Due(DueKind::Conflict)),
            _ => {}
        }
        // An open (past its deadline) or expired challenge keeps its deadline in the proof's.
        let resolve_by = verdict.resolveBy;
        let key = (lease.cluster_id, epoch);
        let submitted_at = match reports.get(&key) {
            Some(at) => *at,
            None => {
                let stored = self.client.registry().reportOf(key.0, key.1).call().await?;
                reports.insert(key, stored.submittedAt);
                stored.submittedAt
            }
        };
        Ok(match submitted_at {
            0 if now > report_deadline => Scan::Due(DueKind::Missed),
            0 => Scan::NotYet,
            at if now >= at + challenge_window => Scan::Due(DueKind::Reported {
                unproven_after: (at + challenge_window).max(resolve_by) + proof_grace,
            }),
            _ => Scan::NotYet,
        })
    }

    /// Settles every due epoch in batches of at most `batch_size` items per transaction;
    /// epochs past their proof deadline without a proof settle as unproven (one transaction
    /// each, in order), and challenges past their deadline are closed so their bonds go back.
    /// An error from `proofs` stops the run (epochs batched so far are not sent; the next run
    /// retries them).
    pub async fn settle_due(
        &self,
        proofs: &impl DeliveryProofs,
        batch_size: usize,
    ) -> Result<KeeperRun> {
        let now = self.client.chain_time().await?;
        let mut run = KeeperRun::default();
        let mut items = Vec::new();
        let mut blocked_lease = None;
        for due in self.due_epochs().await? {
            if blocked_lease == Some(due.lease_id) {
                run.without_proof.push(due);
                continue;
            }
            let (delivered, proof) = match due.kind {
                DueKind::Ahead => {
                    if let Some((delivered, proof)) =
                        proofs.delivery(due.cluster_id, due.epoch, due.lease_id)?
                    {
                        self.prove_ahead(&due, delivered, proof, &mut run).await?;
                    }
                    continue;
                }
                DueKind::Reported { unproven_after } => {
                    // An unreadable store stops the run: settling such an epoch as unproven
                    // would bill the owner for a proof that exists.
                    match proofs.delivery(due.cluster_id, due.epoch, due.lease_id)? {
                        Some(found) => found,
                        None if now > unproven_after => {
                            self.flush(&mut items, batch_size, &mut run).await?;
                            self.settle_unproven_or_kept(&due, &mut run).await?;
                            continue;
                        }
                        None => {
                            blocked_lease = Some(due.lease_id);
                            run.without_proof.push(due);
                            continue;
                        }
                    }
                }
                DueKind::Missed | DueKind::Resolved | DueKind::Conflict => (0, Vec::new()),
            };
            items.push(LeaseMarket::SettleItem {
                leaseId: due.lease_id,
                epoch: due.epoch,
                delivered,
                proof,
            });
        }
        self.flush(&mut items, batch_size, &mut run).await?;
        run.expired_challenges = self.expire_challenges(now).await?;
        Ok(run)
    }

    /// Sends a proof ahead of settlement order; one an earlier run already sent is fine.
    async fn prove_ahead(
        &self,
        due: &DueEpoch,
        delivered: u64,
        proof: Vec<B256>,
        run: &mut KeeperRun,
    ) -> Result<()> {
        let market = self.client.market();
        match transact(market.settle(due.lease_id, due.epoch, delivered, proof)).await {
            Ok(_) => {
                run.transactions += 1;
                run.proven_ahead.push(*due);
                Ok(())
            }
            Err(SdkError::Contract(r)) if r.kind == ErrorKind::EpochProven => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Settles an epoch nobody proved as unproven; if someone proved it ahead of order after
    /// all, settles it with that kept proof instead.
    async fn settle_unproven_or_kept(&self, due: &DueEpoch, run: &mut KeeperRun) -> Result<()> {
        let market = self.client.market();
        let receipt = match transact(market.settleUnproven(due.lease_id, due.epoch)).await {
            Err(SdkError::Contract(r)) if r.kind == ErrorKind::EpochProven => {
                transact(market.settle(due.lease_id, due.epoch, 0, Vec::new())).await?
            }
            other => other?,
        };
        run.transactions += 1;
        run.settled.extend(self.settlements(&receipt));
        Ok(())
    }

    async fn flush(
        &self,
        items: &mut Vec<LeaseMarket::SettleItem>,
        batch_size: usize,
        run: &mut KeeperRun,
    ) -> Result<()> {
        for chunk in items.chunks(batch_size.max(1)) {
            let market = self.client.market();
            let receipt = transact(market.settleBatch(chunk.to_vec())).await?;
            run.transactions += 1;
            run.settled.extend(self.settlements(&receipt));
        }
        items.clear();
        Ok(())
    }

    /// Closes challenges whose resolution deadline passed unruled (found in the desk's
    /// `EpochChallengeOpened` logs); returns how many.
    async fn expire_challenges(&self, now: u64) -> Result<usize> {
        use alloy::{providers::Provider, rpc::types::Filter, sol_types::SolEvent};
        let deployment = self.client.deployment();
        let filter = Filter::new()
            .address(deployment.disputes)
            .event_signature(DisputeDesk::EpochChallengeOpened::SIGNATURE_HASH)
            .from_block(deployment.deploy_block);
        let logs = self.client.provider().get_logs(&filter).await?;
        let mut expired = 0;
        for log in logs {
            let Ok(opened) = log.log_decode::<DisputeDesk::EpochChallengeOpened>() else {
                continue;
            };
            let e = opened.inner.data;
            if now < e.resolveBy {
                continue;
            }
            let desk = self.client.disputes();
            let verdict = desk.verdict(e.leaseId, e.epoch).call().await?;
            if verdict.status == DISPUTE_OPEN {
                transact(desk.expire(e.leaseId, e.epoch)).await?;
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Settles a reported epoch whose lease leaf nobody proved by its proof deadline as
    /// unproven (the owner's failure).
    pub async fn settle_unproven(&self, lease_id: U256, epoch: u64) -> Result<Settlement> {
        let receipt = transact(self.client.market().settleUnproven(lease_id, epoch)).await?;
        self.first_settlement(&receipt)
    }

    /// Settles one reported epoch with its delivery proof.
    pub async fn settle(
        &self,
        lease_id: U256,
        epoch: u64,
        delivered: u64,
        proof: Vec<B256>,
    ) -> Result<Settlement> {
        let receipt =
            transact(self.client.market().settle(lease_id, epoch, delivered, proof)).await?;
        self.first_settlement(&receipt)
    }

    /// Settles an epoch nobody reported by its deadline as zero delivered.
    pub async fn settle_missed(&self, lease_id: U256, epoch: u64) -> Result<Settlement> {
        let receipt = transact(self.client.market().settleMissed(lease_id, epoch)).await?;
        self.first_settlement(&receipt)
    }

    fn first_settlement(
        &self,
        receipt: &alloy::rpc::types::TransactionReceipt,
    ) -> Result<Settlement> {
        let event = crate::tx::event_in::<LeaseMarket::EpochSettled>(receipt)?;
        Ok(self.settlement(&event))
    }

    fn settlements(&self, receipt: &alloy::rpc::types::TransactionReceipt) -> Vec<Settlement> {
        receipt
            .inner
            .logs()
            .iter()
            .filter_map(|log| log.log_decode::<LeaseMarket::EpochSettled>().ok())
            .map(|log| self.settlement(&log.inner.data))
            .collect()
    }

    fn settlement(&self, e: &LeaseMarket::EpochSettled) -> Settlement {
        let outcome = Outcome::from_u8(e.outcome);
        Settlement {
            lease_id: e.leaseId,
            epoch: e.epoch,
            delivered: e.deliveredGpuSeconds,
            rent: self.client.amount(e.rent),
            compensation: self.client.amount(e.compensation),
            sla_credit: self.client.amount(e.slaCredit),
            outcome,
            missed: outcome == Outcome::Missed,
        }
    }
}
