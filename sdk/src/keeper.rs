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
use compute_ledger_types::{DeliveriesTree, DeliveryLeaf};

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
pub const MAX_EPOCHS_PER_SCAN: u64 = 256;

/// Where the keeper gets the leaf and proof of a lease in a reported epoch: the oracle's archive
/// of deliveries trees, or the node's `ledger_deliveryProof`.
pub trait DeliveryProofs {
    /// The lease's leaf in (cluster, epoch) (delivered unit-seconds, metered energy) and its
    /// proof; `Ok(None)` when this store has none, an error (e.g. [`SdkError::ProofStore`]) when
    /// it cannot tell.
    fn delivery(
        &self,
        cluster_id: u64,
        epoch: u64,
        lease_id: U256,
    ) -> Result<Option<(DeliveryLeaf, Vec<B256>)>>;
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
    ) -> Result<Option<(DeliveryLeaf, Vec<B256>)>> {
        let Some(tree) = self.trees.get(&(cluster_id, epoch)) else { return Ok(None) };
        let Some(leaf) = tree.leaf(lease_id) else { return Ok(None) };
        Ok(tree.proof(lease_id).ok().map(|proof| (*leaf, proof)))
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

/// What judging one epoch found.
enum Scan {
    Due(DueKind),
    /// Under an open challenge: later epochs may still have their proofs sent ahead.
    Challenged,
    NotYet,
}

/// The market's windows a keeper judges epochs by (see [`Keeper::windows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Seconds after an epoch's end by which its report must be accepted.
    pub report_window: u64,
    /// Seconds after a report's acceptance during which its epochs may be challenged.
    pub challenge_window: u64,
    /// Seconds after the challenge window (or an unruled challenge's deadline) by which a
    /// lease's delivery must be proven.
    pub proof_grace: u64,
}

/// Where a challenge of an epoch stands (the desk's `DisputeStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeState {
    /// Open: the arbiter may rule until `resolve_by` (chain time); past it the report stands.
    Open {
        /// The ruling deadline.
        resolve_by: u64,
    },
    /// Upheld or rejected: settles with the ruling.
    Ruled,
    /// Two conflicting leaves of the lease were proven: settles as unproven.
    Conflict,
    /// Closed unruled after `resolve_by`: the report stands, and its proof deadline counts from
    /// `resolve_by`.
    Expired {
        /// The ruling deadline that passed.
        resolve_by: u64,
    },
}

/// What a keeper knows of one epoch of a lease, read from the chain ([`Keeper::due_epochs`]) or
/// from an index (the node's due queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochFacts {
    /// Chain time at which the epoch ends.
    pub ends_at: u64,
    /// Chain time at which its report was accepted; `None` while unreported.
    pub reported_at: Option<u64>,
    /// Its challenge, if any.
    pub dispute: Option<DisputeState>,
}

/// What [`LeaseWalk::step`] decided for one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkStep {
    /// The epoch may settle now (or have its proof sent ahead).
    Due(DueEpoch),
    /// Not now, but later epochs of the lease may still be due (an earlier epoch is challenged).
    Skip,
    /// Neither this epoch nor any later one of the lease is due: stop walking.
    Stop,
}

/// Walks one lease's unsettled epochs in order and decides which may settle now: the one rule
/// the chain scan and the node's index share. Settlement is strictly in epoch order, so the walk
/// stops at the first epoch that is not due, except that behind a challenged epoch later
/// reported epochs may have their proofs sent ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseWalk {
    lease_id: U256,
    cluster_id: u64,
    challenged: bool,
}

impl LeaseWalk {
    /// A walk over lease `lease_id` of `cluster_id`, from its next unsettled epoch.
    pub fn new(lease_id: U256, cluster_id: u64) -> Self {
        Self { lease_id, cluster_id, challenged: false }
    }

    /// Judges `epoch` (the next one after the previous step's) at chain time `now`.
    pub fn step(
        &mut self,
        epoch: u64,
        facts: &EpochFacts,
        now: u64,
        windows: &Windows,
    ) -> WalkStep {
        if now < facts.ends_at {
            return WalkStep::Stop;
        }
        let kind = match (judge(facts, now, windows), self.challenged) {
            (Scan::Due(DueKind::Reported { .. }), true) => DueKind::Ahead,
            (Scan::Due(_) | Scan::Challenged, true) => return WalkStep::Skip,
            (Scan::Due(kind), false) => kind,
            (Scan::Challenged, false) => {
                self.challenged = true;
                return WalkStep::Skip;
            }
            (Scan::NotYet, _) => return WalkStep::Stop,
        };
        WalkStep::Due(DueEpoch {
            lease_id: self.lease_id,
            cluster_id: self.cluster_id,
            epoch,
            kind,
        })
    }
}

/// Why one ended epoch may settle now, if it may.
fn judge(facts: &EpochFacts, now: u64, windows: &Windows) -> Scan {
    let resolve_by = match facts.dispute {
        Some(DisputeState::Open { resolve_by }) if now < resolve_by => return Scan::Challenged,
        Some(DisputeState::Ruled) => return Scan::Due(DueKind::Resolved),
        Some(DisputeState::Conflict) => return Scan::Due(DueKind::Conflict),
        // An open (past its deadline) or expired challenge keeps its deadline in the proof's.
        Some(DisputeState::Open { resolve_by } | DisputeState::Expired { resolve_by }) => {
            resolve_by
        }
        None => 0,
    };
    match facts.reported_at {
        None if now > facts.ends_at + windows.report_window => Scan::Due(DueKind::Missed),
        None => Scan::NotYet,
        Some(at) if now >= at + windows.challenge_window => Scan::Due(DueKind::Reported {
            unproven_after: (at + windows.challenge_window).max(resolve_by) + windows.proof_grace,
        }),
        Some(_) => Scan::NotYet,
    }
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
    /// Epochs left out because their settlement would revert (found by simulating each batch and
    /// splitting it), each with the contract's reason, and the later epochs of their leases
    /// (which cannot settle before them). The rest of their batch was sent.
    pub skipped: Vec<Skipped>,
    /// Batches sent that reverted anyway (the chain changed between simulation and inclusion,
    /// e.g. another keeper settled first), with the reason; the round went on without them.
    pub reverted: Vec<(Vec<DueEpoch>, String)>,
}

/// An epoch a keeper round left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The epoch.
    pub due: DueEpoch,
    /// The contract's decoded revert, or why the epoch waits for an earlier one.
    pub reason: String,
    /// Someone else (another keeper) settled it first: nothing is wrong.
    pub already_settled: bool,
}

/// A settlement the keeper means to batch.
type Pending = (DueEpoch, LeaseMarket::SettleItem);

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

    /// The market's windows, read from the chain (three calls).
    pub async fn windows(&self) -> Result<Windows> {
        let market = self.client.market();
        Ok(Windows {
            report_window: self.client.registry().reportWindow().call().await?,
            challenge_window: market.challengeWindow().call().await?,
            proof_grace: market.proofGrace().call().await?,
        })
    }

    /// Every epoch of every active lease that may settle now (judged by chain time), found by
    /// reading every lease from the chain: O(leases) calls per run, for SDK users without an
    /// index. The node reads its due queue instead (O(due)) and hands the result to
    /// [`Keeper::settle_epochs`].
    pub async fn due_epochs(&self) -> Result<Vec<DueEpoch>> {
        let now = self.client.chain_time().await?;
        let windows = self.windows().await?;
        let mut reported = HashMap::new();
        let mut due = Vec::new();
        for id in 1..=self.client.lease_count().await? {
            let lease = self.client.lease(U256::from(id)).await?;
            if lease.status != LeaseStatus::Active {
                continue;
            }
            let last = lease.end_epoch.min(lease.next_epoch + MAX_EPOCHS_PER_SCAN);
            let mut walk = LeaseWalk::new(lease.id, lease.cluster_id);
            for epoch in lease.next_epoch..last {
                let ends_at = lease.epoch_end(epoch);
                if now < ends_at {
                    break;
                }
                let facts = self.epoch_facts(&lease, epoch, ends_at, &mut reported).await?;
                match walk.step(epoch, &facts, now, &windows) {
                    WalkStep::Due(found) => due.push(found),
                    WalkStep::Skip => {}
                    WalkStep::Stop => break,
                }
            }
        }
        Ok(due)
    }

    /// One epoch's report time and challenge, from the chain (reports cached per run: a
    /// cluster's report covers all its leases).
    async fn epoch_facts(
        &self,
        lease: &LeaseInfo,
        epoch: u64,
        ends_at: u64,
        reported: &mut HashMap<(u64, u64), u64>,
    ) -> Result<EpochFacts> {
        let verdict = self.client.disputes().verdict(lease.id, epoch).call().await?;
        let dispute = match verdict.status {
            DISPUTE_OPEN => Some(DisputeState::Open { resolve_by: verdict.resolveBy }),
            DISPUTE_UPHELD | DISPUTE_REJECTED => Some(DisputeState::Ruled),
            DISPUTE_CONFLICT => Some(DisputeState::Conflict),
            _ if verdict.resolveBy > 0 => {
                Some(DisputeState::Expired { resolve_by: verdict.resolveBy })
            }
            _ => None,
        };
        let key = (lease.cluster_id, epoch);
        let submitted_at = match reported.get(&key) {
            Some(at) => *at,
            None => {
                let stored = self.client.registry().reportOf(key.0, key.1).call().await?;
                reported.insert(key, stored.submittedAt);
                stored.submittedAt
            }
        };
        Ok(EpochFacts { ends_at, reported_at: (submitted_at > 0).then_some(submitted_at), dispute })
    }

    /// Finds due epochs by scanning the chain ([`Keeper::due_epochs`], O(leases)), settles them
    /// ([`Keeper::settle_epochs`]) and closes challenges past their deadline (found in the
    /// desk's logs) so their bonds go back.
    pub async fn settle_due(
        &self,
        proofs: &impl DeliveryProofs,
        batch_size: usize,
    ) -> Result<KeeperRun> {
        let due = self.due_epochs().await?;
        let mut run = self.settle_epochs(&due, proofs, batch_size).await?;
        let now = self.client.chain_time().await?;
        run.expired_challenges = self.expire_challenges(now).await?;
        Ok(run)
    }

    /// Settles `due` (in order: each lease's epochs ascending, as [`Keeper::due_epochs`] and the
    /// node's due queue list them) in batches of at most `batch_size` items per transaction.
    /// Epochs past their proof deadline without a proof settle as unproven (one transaction
    /// each, in order). Each batch is simulated first; an item that would revert (settled by
    /// another keeper, challenged since, a stale list) is found by splitting the batch, left out
    /// with its reason in [`KeeperRun::skipped`] together with its lease's later epochs, and the
    /// rest is sent. A batch that reverts on chain all the same is retried once re-simulated,
    /// then recorded in [`KeeperRun::reverted`]; the round goes on either way. Errors that are no
    /// contract's answer (transport, a transaction not mined) and an error from `proofs` stop the
    /// round (epochs batched so far are not sent; the next round retries them).
    pub async fn settle_epochs(
        &self,
        due: &[DueEpoch],
        proofs: &impl DeliveryProofs,
        batch_size: usize,
    ) -> Result<KeeperRun> {
        let now = if due.is_empty() { 0 } else { self.client.chain_time().await? };
        let mut run = KeeperRun::default();
        let mut items: Vec<Pending> = Vec::new();
        // Leases whose settlement stops this round at an epoch: their later epochs wait.
        let mut blocked: HashMap<U256, String> = HashMap::new();
        for due in due {
            if let Some(reason) = blocked.get(&due.lease_id) {
                if reason == WAITS_FOR_PROOF {
                    run.without_proof.push(*due);
                } else {
                    let reason = reason.clone();
                    run.skipped.push(Skipped { due: *due, reason, already_settled: false });
                }
                continue;
            }
            let ((delivered, energy_wh), proof) = match due.kind {
                DueKind::Ahead => {
                    if let Some((leaf, proof)) =
                        proofs.delivery(due.cluster_id, due.epoch, due.lease_id)?
                    {
                        self.prove_ahead(due, &leaf, proof, &mut run).await?;
                    }
                    continue;
                }
                DueKind::Reported { unproven_after } => {
                    // An unreadable store stops the run: settling such an epoch as unproven
                    // would bill the owner for a proof that exists.
                    match proofs.delivery(due.cluster_id, due.epoch, due.lease_id)? {
                        Some((leaf, proof)) => ((leaf.delivered, leaf.energy_wh), proof),
                        None if now > unproven_after => {
                            self.flush(&mut items, batch_size, &mut run, &mut blocked).await?;
                            if let Some(reason) = blocked.get(&due.lease_id) {
                                let reason = reason.clone();
                                run.skipped.push(Skipped {
                                    due: *due,
                                    reason,
                                    already_settled: false,
                                });
                                continue;
                            }
                            self.settle_unproven_or_kept(due, &mut run, &mut blocked).await?;
                            continue;
                        }
                        None => {
                            blocked.insert(due.lease_id, WAITS_FOR_PROOF.into());
                            run.without_proof.push(*due);
                            continue;
                        }
                    }
                }
                DueKind::Missed | DueKind::Resolved | DueKind::Conflict => ((0, 0), Vec::new()),
            };
            let item = LeaseMarket::SettleItem {
                leaseId: due.lease_id,
                epoch: due.epoch,
                delivered,
                energyWh: energy_wh,
                proof,
            };
            items.push((*due, item));
        }
        self.flush(&mut items, batch_size, &mut run, &mut blocked).await?;
        Ok(run)
    }

    /// Sends a proof ahead of settlement order; one an earlier run already sent is fine.
    async fn prove_ahead(
        &self,
        due: &DueEpoch,
        leaf: &DeliveryLeaf,
        proof: Vec<B256>,
        run: &mut KeeperRun,
    ) -> Result<()> {
        let market = self.client.market();
        let call = market.settle(due.lease_id, due.epoch, leaf.delivered, leaf.energy_wh, proof);
        match transact(call).await {
            Ok(_) => {
                run.transactions += 1;
                run.proven_ahead.push(*due);
                Ok(())
            }
            Err(SdkError::Contract(r)) if r.kind == ErrorKind::EpochProven => Ok(()),
            Err(e) => match refusal(&e) {
                Some(skip) => {
                    run.skipped.push(skip.of(*due));
                    Ok(())
                }
                None => Err(e),
            },
        }
    }

    /// Settles an epoch nobody proved as unproven; if someone proved it ahead of order after
    /// all, settles it with that kept proof instead. A contract refusal skips the epoch (and
    /// blocks its lease's later epochs for the round).
    async fn settle_unproven_or_kept(
        &self,
        due: &DueEpoch,
        run: &mut KeeperRun,
        blocked: &mut HashMap<U256, String>,
    ) -> Result<()> {
        let market = self.client.market();
        let sent = match transact(market.settleUnproven(due.lease_id, due.epoch)).await {
            Err(SdkError::Contract(r)) if r.kind == ErrorKind::EpochProven => {
                transact(market.settle(due.lease_id, due.epoch, 0, 0, Vec::new())).await
            }
            other => other,
        };
        match sent {
            Ok(receipt) => {
                run.transactions += 1;
                run.settled.extend(self.settlements(&receipt));
                Ok(())
            }
            Err(e) => match refusal(&e) {
                Some(skip) => {
                    run.transactions += usize::from(matches!(e, SdkError::RevertedOnChain { .. }));
                    blocked.insert(due.lease_id, EARLIER_SKIPPED.into());
                    run.skipped.push(skip.of(*due));
                    Ok(())
                }
                None => Err(e),
            },
        }
    }

    /// Sends `items` in batches of `batch_size`, each through [`Keeper::settle_batch`].
    async fn flush(
        &self,
        items: &mut Vec<Pending>,
        batch_size: usize,
        run: &mut KeeperRun,
        blocked: &mut HashMap<U256, String>,
    ) -> Result<()> {
        let items = std::mem::take(items);
        for chunk in items.chunks(batch_size.max(1)) {
            self.settle_batch(chunk.to_vec(), run, blocked).await?;
        }
        Ok(())
    }

    /// Simulates `batch`, leaves out each item that would revert (and its lease's later items),
    /// and sends the rest; a send that reverts anyway is re-simulated once, then recorded.
    async fn settle_batch(
        &self,
        mut batch: Vec<Pending>,
        run: &mut KeeperRun,
        blocked: &mut HashMap<U256, String>,
    ) -> Result<()> {
        for attempt in 0..2 {
            self.leave_out_failing(&mut batch, run, blocked).await?;
            if batch.is_empty() {
                return Ok(());
            }
            let items = batch.iter().map(|(_, item)| item.clone()).collect();
            let error = match transact(self.client.market().settleBatch(items)).await {
                Ok(receipt) => {
                    run.transactions += 1;
                    run.settled.extend(self.settlements(&receipt));
                    return Ok(());
                }
                Err(e) if refusal(&e).is_none() => return Err(e),
                Err(e) => e,
            };
            run.transactions += usize::from(matches!(error, SdkError::RevertedOnChain { .. }));
            if attempt == 1 {
                run.reverted.push((batch.iter().map(|(due, _)| *due).collect(), error.to_string()));
            }
        }
        Ok(())
    }

    /// Removes from `batch` every item whose settlement would revert, recording each in
    /// `run.skipped` with its reason, and the later items of its lease. Finds each by bisecting
    /// on prefixes (a prefix reverts exactly when it holds a failing item): 1 + log2(n) calls
    /// per failing item, one call when none fails.
    async fn leave_out_failing(
        &self,
        batch: &mut Vec<Pending>,
        run: &mut KeeperRun,
        blocked: &mut HashMap<U256, String>,
    ) -> Result<()> {
        loop {
            batch.retain(|(due, _)| match blocked.get(&due.lease_id) {
                Some(reason) => {
                    let reason = reason.clone();
                    run.skipped.push(Skipped { due: *due, reason, already_settled: false });
                    false
                }
                None => true,
            });
            if batch.is_empty() {
                return Ok(());
            }
            let Some(mut failure) = self.simulate(batch).await? else { return Ok(()) };
            // The shortest failing prefix ends at the failing item; `failure` is its revert.
            let (mut good, mut bad) = (0, batch.len());
            while bad - good > 1 {
                let mid = good + (bad - good) / 2;
                match self.simulate(&batch[..mid]).await? {
                    Some(shorter) => (bad, failure) = (mid, shorter),
                    None => good = mid,
                }
            }
            let (due, _) = batch.remove(bad - 1);
            blocked.insert(due.lease_id, EARLIER_SKIPPED.into());
            run.skipped.push(failure.of(due));
        }
    }

    /// `eth_call` of `settleBatch(batch)`: `None` if it would succeed, else why it would revert.
    async fn simulate(&self, batch: &[Pending]) -> Result<Option<Refusal>> {
        let items = batch.iter().map(|(_, item)| item.clone()).collect();
        match self.client.market().settleBatch(items).call_raw().await {
            Ok(_) => Ok(None),
            Err(e) => {
                let e = SdkError::from(e);
                refusal(&e).map(Some).ok_or(e)
            }
        }
    }

    /// Closes the given challenges (lease, epoch), whose resolution deadline passed unruled, so
    /// their bonds go back; one already closed or ruled is passed over. Returns how many it
    /// closed.
    pub async fn expire_challenges_of(&self, challenges: &[(U256, u64)]) -> Result<usize> {
        let mut expired = 0;
        for (lease_id, epoch) in challenges {
            match transact(self.client.disputes().expire(*lease_id, *epoch)).await {
                Ok(_) => expired += 1,
                Err(e) if refusal(&e).is_some() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
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

    /// Settles one reported epoch with its deliveries leaf (delivered unit-seconds, metered Wh)
    /// and the leaf's proof.
    pub async fn settle(
        &self,
        lease_id: U256,
        epoch: u64,
        delivered: u64,
        energy_wh: u64,
        proof: Vec<B256>,
    ) -> Result<Settlement> {
        let market = self.client.market();
        let receipt = transact(market.settle(lease_id, epoch, delivered, energy_wh, proof)).await?;
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
            delivered: e.delivered,
            rent: self.client.amount(e.rent),
            compensation: self.client.amount(e.compensation),
            sla_credit: self.client.amount(e.slaCredit),
            outcome,
            missed: outcome == Outcome::Missed,
        }
    }
}

/// Why a later epoch of a lease waits this round.
const EARLIER_SKIPPED: &str = "an earlier epoch of the lease was skipped this round";
const WAITS_FOR_PROOF: &str = "an earlier epoch of the lease waits for its delivery proof";

/// A contract's refusal of a settlement.
struct Refusal {
    reason: String,
    already_settled: bool,
}

impl Refusal {
    fn of(self, due: DueEpoch) -> Skipped {
        Skipped { due, reason: self.reason, already_settled: self.already_settled }
    }
}

/// The contract's answer in `e`, if it is one (a revert, simulated or on chain), not a failure
/// to ask (transport, timeout).
fn refusal(e: &SdkError) -> Option<Refusal> {
    let already_settled = |kind| {
        // Settled by someone else: the epoch, or the lease's last epoch (it ended).
        matches!(kind, ErrorKind::EpochAlreadySettled | ErrorKind::WrongLeaseStatus)
    };
    match e {
        SdkError::Contract(r) => {
            Some(Refusal { reason: r.to_string(), already_settled: already_settled(r.kind) })
        }
        SdkError::Revert(_) | SdkError::RevertedOnChain { .. } => {
            Some(Refusal { reason: e.to_string(), already_settled: false })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOWS: Windows = Windows { report_window: 60, challenge_window: 15, proof_grace: 15 };

    fn facts(ends_at: u64, reported_at: Option<u64>, dispute: Option<DisputeState>) -> EpochFacts {
        EpochFacts { ends_at, reported_at, dispute }
    }

    fn kind(step: WalkStep) -> Option<DueKind> {
        match step {
            WalkStep::Due(due) => Some(due.kind),
            _ => None,
        }
    }

    #[test]
    fn an_unreported_epoch_is_missed_only_after_its_report_deadline() {
        let mut walk = LeaseWalk::new(U256::from(1), 1);
        let epoch = facts(100, None, None);
        assert_eq!(walk.step(0, &epoch, 99, &WINDOWS), WalkStep::Stop, "not ended");
        assert_eq!(walk.step(0, &epoch, 160, &WINDOWS), WalkStep::Stop, "deadline not passed");
        assert_eq!(kind(walk.step(0, &epoch, 161, &WINDOWS)), Some(DueKind::Missed));
    }

    #[test]
    fn a_reported_epoch_is_due_when_its_challenge_window_closes() {
        let mut walk = LeaseWalk::new(U256::from(1), 1);
        let epoch = facts(100, Some(110), None);
        assert_eq!(walk.step(0, &epoch, 124, &WINDOWS), WalkStep::Stop);
        let due = kind(walk.step(0, &epoch, 125, &WINDOWS));
        assert_eq!(due, Some(DueKind::Reported { unproven_after: 140 }));
        // A challenge that expired unruled moves the proof deadline to its own.
        let expired = facts(100, Some(110), Some(DisputeState::Expired { resolve_by: 200 }));
        let due = kind(walk.step(0, &expired, 201, &WINDOWS));
        assert_eq!(due, Some(DueKind::Reported { unproven_after: 215 }));
    }

    #[test]
    fn behind_a_challenged_epoch_only_proofs_go_ahead() {
        let mut walk = LeaseWalk::new(U256::from(1), 1);
        let now = 500;
        let challenged = facts(100, Some(110), Some(DisputeState::Open { resolve_by: 600 }));
        assert_eq!(walk.step(0, &challenged, now, &WINDOWS), WalkStep::Skip);
        let reported = facts(130, Some(140), None);
        assert_eq!(kind(walk.step(1, &reported, now, &WINDOWS)), Some(DueKind::Ahead));
        let missed = facts(160, None, None);
        assert_eq!(walk.step(2, &missed, now, &WINDOWS), WalkStep::Skip, "waits for its turn");
        let fresh = facts(190, Some(495), None);
        assert_eq!(walk.step(3, &fresh, now, &WINDOWS), WalkStep::Stop);
    }

    #[test]
    fn rulings_and_conflicts_settle_whatever_the_report() {
        let mut walk = LeaseWalk::new(U256::from(1), 1);
        let ruled = facts(100, Some(110), Some(DisputeState::Ruled));
        assert_eq!(kind(walk.step(0, &ruled, 111, &WINDOWS)), Some(DueKind::Resolved));
        let conflict = facts(130, Some(140), Some(DisputeState::Conflict));
        assert_eq!(kind(walk.step(1, &conflict, 141, &WINDOWS)), Some(DueKind::Conflict));
    }
}
