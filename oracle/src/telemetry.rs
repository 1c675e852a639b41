//! `telemetryRoot`: a hash chain over an epoch's archived sample log, so an auditor holding the
//! JSON-lines file can recompute exactly what the report committed to.
//!
//! ```text
//! h0 = keccak256("ComputeLedger telemetry v1" ‖ clusterId as 8 bytes BE ‖ epoch as 8 bytes BE)
//! hi = keccak256(h(i-1) ‖ keccak256(line i))      for the epoch's lines in file order
//! telemetryRoot = hn
//! ```
//!
//! A line is one [`SampleRecord`](crate::SampleRecord) as written in the archive, without its
//! trailing newline; lines are in increasing `t`. An epoch with no line commits to `h0`.

use alloy::primitives::{B256, keccak256};

/// Domain tag of the chain's first link.
pub const TELEMETRY_TAG: &[u8] = b"ComputeLedger telemetry v1";

/// Incremental telemetry-root computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelemetryHasher {
    head: B256,
}

impl TelemetryHasher {
    /// Starts the chain for one cluster and epoch.
    pub fn new(cluster_id: u64, epoch: u64) -> Self {
        let mut seed = TELEMETRY_TAG.to_vec();
        seed.extend_from_slice(&cluster_id.to_be_bytes());
        seed.extend_from_slice(&epoch.to_be_bytes());
        Self { head: keccak256(seed) }
    }

    /// Appends one archived line.
    pub fn push(&mut self, line: &[u8]) {
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(self.head.as_slice());
        buf[32..].copy_from_slice(keccak256(line).as_slice());
        self.head = keccak256(buf);
    }

    /// The root so far.
    pub fn root(&self) -> B256 {
        self.head
    }
}

/// Recomputes the root of an archived JSON-lines file's content.
pub fn telemetry_root_of_archive(cluster_id: u64, epoch: u64, archive: &str) -> B256 {
    let mut hasher = TelemetryHasher::new(cluster_id, epoch);
    archive.lines().filter(|l| !l.is_empty()).for_each(|l| hasher.push(l.as_bytes()));
    hasher.root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_binds_cluster_epoch_and_every_line() {
        let archive = "{\"t\":1,\"gpus\":[]}\n{\"t\":2,\"gpus\":[]}\n";
        let root = telemetry_root_of_archive(1, 5, archive);
        let mut h = TelemetryHasher::new(1, 5);
        h.push(b"{\"t\":1,\"gpus\":[]}");
        h.push(b"{\"t\":2,\"gpus\":[]}");
        assert_eq!(root, h.root());
        assert_ne!(root, telemetry_root_of_archive(2, 5, archive), "cluster bound");
        assert_ne!(root, telemetry_root_of_archive(1, 6, archive), "epoch bound");
        assert_ne!(
            root,
            telemetry_root_of_archive(1, 5, "{\"t\":2,\"gpus\":[]}\n{\"t\":1,\"gpus\":[]}\n"),
            "order bound"
        );
        assert_ne!(
            root,
            telemetry_root_of_archive(1, 5, "{\"t\":1,\"gpus\":[]}\n"),
            "no line dropped"
        );
        assert_eq!(telemetry_root_of_archive(1, 5, ""), TelemetryHasher::new(1, 5).root());
    }
}
