//! The keeper's due queue: one key per active lease, ordered by the chain time at which its next
//! unsettled epoch ends (`due/{ends_at}/{lease}`), written in the same atomic batch (and undo
//! record) as the events that move it. A keeper round reads only the leases whose next epoch has
//! ended, and judges their epochs from the index's own rows (reports with their acceptance time,
//! the lease's disputes): its reads grow with the due leases, not with all leases.
//!
//! Open challenges are kept the same way, by ruling deadline (`challenge/{resolve_by}/{lease}/
//! {epoch}`), so a round finds those to close (their bonds go back) without reading every lease,
//! including those of leases that ended meanwhile.
//!
//! The index trails the chain by its confirmations, so a list may hold an epoch that settled or
//! was challenged since: the keeper simulates every batch and skips such an item.

use std::{collections::HashMap, ops::Bound};

use alloy::primitives::U256;
use compute_ledger_sdk::{
    DisputeState, DueEpoch, EpochFacts, LeaseWalk, MAX_EPOCHS_PER_SCAN, WalkStep, Windows,
};

use super::{
    apply::Changes,
    model::{ClusterRow, LeaseRow, LeaseStatus},
    store::Index,
};
use crate::{NodeError, Result};

const DUE_PREFIX: &str = "due/";
const CHALLENGE_PREFIX: &str = "challenge/";

fn due_key(ends_at: u64, lease: U256) -> String {
    format!("{DUE_PREFIX}{ends_at:016x}/{lease:064x}")
}

/// Chain time at which `epoch` of `cluster` ends.
fn epoch_end(cluster: &ClusterRow, epoch: u64) -> u64 {
    cluster.genesis + (epoch + 1) * u64::from(cluster.epoch_length)
}

/// Queues `lease` under the end of its next epoch, if it is active with epochs left to settle.
pub(crate) fn enqueue(ch: &mut Changes<'_>, cluster: &ClusterRow, lease: &LeaseRow) {
    if lease.status == LeaseStatus::Active && lease.next_epoch < lease.end_epoch {
        let key = due_key(epoch_end(cluster, lease.next_epoch), lease.id);
        ch.put_plain(key, lease.id.to_string().into_bytes());
    }
}

/// Takes the lease out of the queue where its next epoch `epoch` put it (nothing if absent).
pub(crate) fn dequeue(ch: &mut Changes<'_>, cluster: &ClusterRow, lease_id: U256, epoch: u64) {
    ch.remove_plain(due_key(epoch_end(cluster, epoch), lease_id));
}

fn challenge_key(resolve_by: u64, lease: U256, epoch: u64) -> String {
    format!("{CHALLENGE_PREFIX}{resolve_by:016x}/{lease:064x}/{epoch:016x}")
}

/// Keeps the open-challenge key of `epoch` of `lease` (just changed by a desk event) in step with
/// its newest dispute row: present while it is open, gone once ruled, expired or in conflict.
pub(crate) fn track_challenge(ch: &mut Changes<'_>, lease: &LeaseRow, epoch: u64) {
    let Some(row) = lease.disputes.iter().rev().find(|d| d.epoch == epoch) else { return };
    let key = challenge_key(row.resolve_by, lease.id, epoch);
    if row.status == "open" {
        ch.put_plain(key, Vec::new());
    } else {
        ch.remove_plain(key);
    }
}

/// What a keeper round may do now, read from the index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueList {
    /// Epochs that may settle (or have their proofs sent ahead), each lease's in order.
    pub epochs: Vec<DueEpoch>,
    /// Challenges (lease, epoch) still open past their ruling deadline, to close (any lease's,
    /// ended ones included).
    pub expired_challenges: Vec<(U256, u64)>,
    /// Leases taken from the queue.
    pub leases: usize,
    /// Index records read to build the list (queue keys, leases, clusters, reports): what a
    /// round costs the index, growing with the due leases only.
    pub records_read: usize,
}

/// Where the last keeper round stopped reading the due queue. The next round goes on after it
/// and wraps around to the front, so however many leases at the front cannot settle yet
/// (waiting for a report, a window or a proof this node lacks), those behind them are reached
/// within `due leases / limit` rounds instead of never.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueCursor(Option<Vec<u8>>);

impl Index {
    /// Ids of the active leases whose next unsettled epoch ended by chain time `now`, the
    /// longest-waiting first, at most `limit`; reads only the queue keys it returns.
    pub fn due_leases(&self, now: u64, limit: usize) -> Result<Vec<U256>> {
        self.due_leases_from(now, &mut DueCursor::default(), limit)
    }

    /// As [`due_leases`](Self::due_leases), going on after where `cursor` says the last call
    /// stopped and wrapping around to the front (each due lease at most once per call); leaves in
    /// `cursor` where this call stopped, or the front once it read every due lease.
    pub fn due_leases_from(
        &self,
        now: u64,
        cursor: &mut DueCursor,
        limit: usize,
    ) -> Result<Vec<U256>> {
        let front = DUE_PREFIX.as_bytes().to_vec();
        let end = format!("{DUE_PREFIX}{:016x}", now.saturating_add(1)).into_bytes();
        let spans = match cursor.0.take() {
            Some(after) if after < end => vec![
                (Bound::Excluded(after.clone()), Bound::Excluded(end)),
                (Bound::Included(front), Bound::Included(after)),
            ],
            _ => vec![(Bound::Included(front), Bound::Excluded(end))],
        };
        let mut ids = Vec::new();
        if limit == 0 {
            return Ok(ids);
        }
        for span in spans {
            for entry in self.db().range::<Vec<u8>, _>(span) {
                let (key, value) = entry.map_err(|e| self.err(&e))?;
                let text = String::from_utf8_lossy(&value);
                let id = U256::from_str_radix(&text, 10).map_err(|e| NodeError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: format!("a due-queue entry holds no lease id ({e})"),
                })?;
                ids.push(id);
                if ids.len() == limit {
                    cursor.0 = Some(key.to_vec()); // the next call starts after this one
                    return Ok(ids);
                }
            }
        }
        Ok(ids) // every due lease read: the next call starts at the front
    }

    /// Challenges (lease, epoch) still open whose ruling deadline passed by chain time `now`,
    /// the oldest first, at most `limit`; reads only the keys it returns.
    pub fn expired_challenges(&self, now: u64, limit: usize) -> Result<Vec<(U256, u64)>> {
        let end = format!("{CHALLENGE_PREFIX}{:016x}", now.saturating_add(1));
        self.db()
            .range(CHALLENGE_PREFIX.as_bytes()..end.as_bytes())
            .keys()
            .take(limit)
            .map(|key| {
                let key = key.map_err(|e| self.err(&e))?;
                let key = String::from_utf8_lossy(&key).into_owned();
                let mut parts = key.split('/').skip(2);
                let lease = parts.next().and_then(|hex| U256::from_str_radix(hex, 16).ok());
                let epoch = parts.next().and_then(|hex| u64::from_str_radix(hex, 16).ok());
                match (lease, epoch) {
                    (Some(lease), Some(epoch)) => Ok((lease, epoch)),
                    _ => Err(NodeError::Corrupt { key, reason: "not a challenge key".into() }),
                }
            })
            .collect()
    }

    /// The epochs a keeper may settle at chain time `now` under `windows`, for at most `limit`
    /// due leases (see [`Index::due_leases`]): each lease's epochs are judged by
    /// [`LeaseWalk`] from its row, its cluster's and the reports' (each report read once for
    /// all leases of its cluster).
    pub fn due_epochs(&self, now: u64, windows: &Windows, limit: usize) -> Result<DueList> {
        self.due_epochs_from(now, windows, &mut DueCursor::default(), limit)
    }

    /// As [`due_epochs`](Self::due_epochs), reading the due queue from `cursor` on (see
    /// [`Index::due_leases_from`]): what a keeper that runs round after round uses.
    pub fn due_epochs_from(
        &self,
        now: u64,
        windows: &Windows,
        cursor: &mut DueCursor,
        limit: usize,
    ) -> Result<DueList> {
        let mut list = DueList::default();
        let mut clusters: HashMap<u64, ClusterRow> = HashMap::new();
        let mut reported: HashMap<(u64, u64), Option<u64>> = HashMap::new();
        list.expired_challenges = self.expired_challenges(now, limit)?;
        list.records_read += list.expired_challenges.len();
        let ids = self.due_leases_from(now, cursor, limit)?;
        list.records_read += ids.len();
        for id in ids {
            list.records_read += 1;
            let Some(lease) = self.lease(id)? else { continue };
            if lease.status != LeaseStatus::Active {
                continue;
            }
            list.leases += 1;
            let cluster = match clusters.get(&lease.cluster_id) {
                Some(cluster) => cluster.clone(),
                None => {
                    list.records_read += 1;
                    let Some(cluster) = self.cluster(lease.cluster_id)? else { continue };
                    clusters.insert(lease.cluster_id, cluster.clone());
                    cluster
                }
            };
            let last = lease.end_epoch.min(lease.next_epoch + MAX_EPOCHS_PER_SCAN);
            let mut walk = LeaseWalk::new(lease.id, lease.cluster_id);
            for epoch in lease.next_epoch..last {
                let ends_at = epoch_end(&cluster, epoch);
                if now < ends_at {
                    break;
                }
                let key = (lease.cluster_id, epoch);
                let reported_at = match reported.get(&key) {
                    Some(at) => *at,
                    None => {
                        list.records_read += 1;
                        let at = self.report(key.0, key.1)?.map(|r| r.accepted_at);
                        reported.insert(key, at);
                        at
                    }
                };
                let facts = EpochFacts { ends_at, reported_at, dispute: dispute(&lease, epoch) };
                match walk.step(epoch, &facts, now, windows) {
                    WalkStep::Due(due) => list.epochs.push(due),
                    WalkStep::Skip => {}
                    WalkStep::Stop => break,
                }
            }
        }
        Ok(list)
    }
}

/// The newest dispute of `epoch` of `lease`, as the keeper judges it.
fn dispute(lease: &LeaseRow, epoch: u64) -> Option<DisputeState> {
    let row = lease.disputes.iter().rev().find(|d| d.epoch == epoch)?;
    match row.status.as_str() {
        "open" => Some(DisputeState::Open { resolve_by: row.resolve_by }),
        "upheld" | "rejected" => Some(DisputeState::Ruled),
        "conflict" => Some(DisputeState::Conflict),
        "expired" => Some(DisputeState::Expired { resolve_by: row.resolve_by }),
        _ => None,
    }
}
