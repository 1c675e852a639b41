//! Lease allocation: which GPUs (or, for a powered shell, which power feeds) serve which lease,
//! and how the lease is billed.

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

/// One lease and what serves it: GPUs (by UUID) for a GPU lease, or the sub-metered power feeds
/// (racks, rows or halls, by id) of a powered shell with its contracted kW.
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
    /// GPU UUIDs serving the lease (empty for a powered shell).
    #[serde(default)]
    pub gpus: Vec<String>,
    /// A powered shell's feeds (sub-meter ids); empty for a GPU lease.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub racks: Vec<String>,
    /// A powered shell's critical-IT capacity, kW (the lease's units); 0 for a GPU lease.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kw: u32,
}

fn is_zero(kw: &u32) -> bool {
    *kw == 0
}

impl LeaseAllocation {
    /// Whether `epoch` is within the term.
    pub fn covers(&self, epoch: u64) -> bool {
        (self.start_epoch..self.end_epoch).contains(&epoch)
    }

    /// Whether this is a powered-shell lease (billed in kW-seconds of power available).
    pub fn is_powered_shell(&self) -> bool {
        !self.racks.is_empty()
    }

    /// A powered shell's delivered kW-seconds from its feeds' powered seconds: the contracted kW
    /// times the share of feed-seconds with power available, rounded down (toward the tenant).
    pub fn powered_kw_seconds(&self, feed_seconds_powered: u64) -> u64 {
        let feeds = self.racks.len() as u64;
        if feeds == 0 {
            return 0;
        }
        (u128::from(self.kw) * u128::from(feed_seconds_powered) / u128::from(feeds))
            .try_into()
            .unwrap_or(u64::MAX)
    }
}
