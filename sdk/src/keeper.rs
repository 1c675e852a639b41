//! The keeper's work: find lease epochs that may settle, and settle them in batches (anyone may;
//! the market pays nothing for it, so owners and investors run keepers for their own rent).
//!
//! An epoch is due when it ended and either its report's challenge window closed (settles with
//! a Merkle proof of the lease's delivery), nobody reported it by the deadline (settles as
//! missed: zero rent, full SLA credit), or the arbiter resolved a challenge of it. Settlement is
//! strictly in epoch order per lease, so a lease's scan stops at its first epoch that is not due.

use std::collections::HashMap;

use alloy::primitives::{B256, U256};
use compute_ledger_types::DeliveriesTree;

use crate::{Amount, Client, LeaseInfo, LeaseStatus, Result, bindings::LeaseMarket, tx::transact};

/// Epochs one lease scan looks at, at most (a long-neglected lease catches up over several runs).
const MAX_EPOCHS_PER_SCAN: u64 = 256;

/// Where the keeper gets the (delivered, proof) of a lease in a reported epoch: the oracle's
/// archive of deliveries trees, or the node's `ledger_deliveryProof`.
pub trait DeliveryProofs {
    /// The lease's delivered GPU-seconds in (cluster, epoch) and its proof, if known.
    fn delivery(&self, cluster_id: u64, epoch: u64, lease_id: U256) -> Option<(u64, Vec<B256>)>;
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
    fn delivery(&self, cluster_id: u64, epoch: u64, lease_id: U256) -> Option<(u64, Vec<B256>)> {
        let tree = self.trees.get(&(cluster_id, epoch))?;
        Some((tree.leaf(lease_id)?.delivered, tree.proof(lease_id).ok()?))
    }
}

/// Why an epoch may settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueKind {
    /// Reported and past its challenge window: needs the lease's delivery proof.
    Reported,
    /// Not reported by the deadline: settles as zero delivered.
    Missed,
    /// Challenged and resolved by the arbiter: settles with the corrected delivery.
    Resolved,
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
    /// SLA credit moved from the owner's bond to the tenant.
    pub sla_credit: Amount,
    /// No report came by the deadline.
    pub missed: bool,
}

/// What a keeper run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeeperRun {
    /// Epochs settled, in order.
    pub settled: Vec<Settlement>,
    /// Reported epochs skipped for want of a delivery proof (with every later epoch of the
    /// same lease).
    pub without_proof: Vec<DueEpoch>,
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
        let challenge_window = self.client.market().challengeWindow().call().await?;
        let mut reports = HashMap::new();
        let mut due = Vec::new();
        for id in 1..=self.client.lease_count().await? {
            let lease = self.client.lease(U256::from(id)).await?;
            if lease.status != LeaseStatus::Active {
                continue;
            }
            let last = lease.end_epoch.min(lease.next_epoch + MAX_EPOCHS_PER_SCAN);
            for epoch in lease.next_epoch..last {
                let ends = lease.epoch_end(epoch);
                if now < ends {
                    break;
                }
                let Some(kind) = self
                    .due_kind(
                        &lease,
                        epoch,
                        now,
                        ends + report_window,
                        challenge_window,
                        &mut reports,
                    )
                    .await?
                else {
                    break;
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

    async fn due_kind(
        &self,
        lease: &LeaseInfo,
        epoch: u64,
        now: u64,
        report_deadline: u64,
        challenge_window: u64,
        reports: &mut HashMap<(u64, u64), u64>,
    ) -> Result<Option<DueKind>> {
        let challenge = self.client.market().challengeOf(lease.id, epoch).call().await?;
        match challenge.status {
            1 => return Ok(None),
            2 => return Ok(Some(DueKind::Resolved)),
            _ => {}
        }
        let key = (lease.cluster_id, epoch);
        let submitted_at = match reports.get(&key) {
            Some(at) => *at,
            None => {
                let stored = self.client.registry().reportOf(key.0, key.1).call().await?;
                reports.insert(key, u64::from(stored.submittedAt));
                u64::from(stored.submittedAt)
            }
        };
        Ok(match submitted_at {
            0 if now > report_deadline => Some(DueKind::Missed),
            0 => None,
            at if now >= at + challenge_window => Some(DueKind::Reported),
            _ => None,
        })
    }

    /// Settles every due epoch in batches of at most `batch_size` items per transaction.
    pub async fn settle_due(
        &self,
        proofs: &impl DeliveryProofs,
        batch_size: usize,
    ) -> Result<KeeperRun> {
        let mut run = KeeperRun::default();
        let mut items = Vec::new();
        let mut blocked_lease = None;
        for due in self.due_epochs().await? {
            if blocked_lease == Some(due.lease_id) {
                run.without_proof.push(due);
                continue;
            }
            let (delivered, proof) = match due.kind {
                DueKind::Reported => match proofs.delivery(due.cluster_id, due.epoch, due.lease_id)
                {
                    Some(found) => found,
                    None => {
                        blocked_lease = Some(due.lease_id);
                        run.without_proof.push(due);
                        continue;
                    }
                },
                DueKind::Missed | DueKind::Resolved => (0, Vec::new()),
            };
            items.push(LeaseMarket::SettleItem {
                leaseId: due.lease_id,
                epoch: due.epoch,
                delivered,
                proof,
            });
        }
        for chunk in items.chunks(batch_size.max(1)) {
            let market = self.client.market();
            let receipt = transact(market.settleBatch(chunk.to_vec())).await?;
            run.transactions += 1;
            run.settled.extend(self.settlements(&receipt));
        }
        Ok(run)
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
        Settlement {
            lease_id: e.leaseId,
            epoch: e.epoch,
            delivered: e.deliveredGpuSeconds,
            rent: self.client.amount(e.rent),
            sla_credit: self.client.amount(e.slaCredit),
            missed: e.missed,
        }
    }
}
