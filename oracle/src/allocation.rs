//! Lease allocation: which GPUs serve which lease, and how the lease is billed.

use serde::{Deserialize, Serialize};

use crate::epoch::GpuTally;

/// How a lease's delivery is counted (mirrors the contract's `Billing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Billing {
    /// Healthy GPU-seconds of the leased GPUs: the tenant pays for capacity held for it.
    Reserved,
    /// Busy (utilization-weighted) GPU-seconds: the tenant pays for work done.
    Metered,
}

impl Billing {
    /// One GPU's contribution to a lease's delivery.
    pub fn delivered(self, tally: &GpuTally) -> u64 {
        match self {
            Self::Reserved => tally.healthy_s,
            Self::Metered => tally.busy_s(),
        }
    }
}

/// One lease and the GPUs (by UUID) dedicated to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseAllocation {
    /// The on-chain lease id.
    pub lease_id: u64,
    /// Billing mode, as in the lease's terms.
    pub billing: Billing,
    /// First epoch of the term.
    pub start_epoch: u64,
    /// First epoch after the term.
    pub end_epoch: u64,
    /// GPU UUIDs serving the lease.
    pub gpus: Vec<String>,
}

impl LeaseAllocation {
    /// Whether `epoch` is within the term.
    pub fn covers(&self, epoch: u64) -> bool {
        (self.start_epoch..self.end_epoch).contains(&epoch)
    }
}
