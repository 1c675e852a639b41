//! The EIP-712 usage report and its signing domain, exactly as `ClusterRegistry` verifies them.

use alloy::{
    primitives::{Address, B256, Bytes, Signature},
    sol,
    sol_types::{Eip712Domain, SolStruct, eip712_domain},
};

use crate::Result;

/// EIP-712 domain name of every compute-ledger signature.
pub const DOMAIN_NAME: &str = "ComputeLedger";
/// EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";
/// Largest value of the report's 40-bit fields (GPU-seconds and Wh per epoch).
pub const MAX_U40: u64 = (1 << 40) - 1;

sol! {
    /// What an oracle attests for one cluster and one epoch (field for field the Solidity struct).
    #[derive(Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    struct UsageReport {
        uint64 clusterId;
        uint64 epoch;
        uint32 gpusInstalled;
        uint32 gpusHealthy;
        uint40 gpuSecondsAvailable;
        uint40 gpuSecondsBusy;
        uint40 itEnergyWh;
        uint40 facilityEnergyWh;
        bytes32 deliveriesRoot;
        bytes32 telemetryRoot;
    }
}

/// The signing domain: `ComputeLedger` / `1` / `chain_id` / the `ClusterRegistry` address.
pub fn report_domain(chain_id: u64, registry: Address) -> Eip712Domain {
    eip712_domain! {
        name: DOMAIN_NAME,
        version: DOMAIN_VERSION,
        chain_id: chain_id,
        verifying_contract: registry,
    }
}

impl UsageReport {
    /// The digest attestors sign (`\x19\x01 ‖ domainSeparator ‖ structHash`).
    pub fn signing_hash(&self, domain: &Eip712Domain) -> B256 {
        self.eip712_signing_hash(domain)
    }

    /// Whether the metrics satisfy the bounds the contract enforces for `epoch_length` seconds.
    pub fn metrics_valid(&self, epoch_length: u32) -> bool {
        self.gpusHealthy <= self.gpusInstalled
            && self.gpuSecondsBusy <= self.gpuSecondsAvailable
            && u128::from(self.gpuSecondsAvailable.to::<u64>())
                <= u128::from(self.gpusInstalled) * u128::from(epoch_length)
            && self.facilityEnergyWh >= self.itEnergyWh
    }
}

/// A signature as the contract takes it: 65 bytes `r ‖ s ‖ v` with `v` in {27, 28}.
pub fn encode_signature(signature: &Signature) -> Bytes {
    Bytes::copy_from_slice(&signature.as_bytes())
}

/// The address that signed `digest` with the 65-byte `signature`.
pub fn recover_signer(digest: B256, signature: &[u8]) -> Result<Address> {
    let signature = Signature::try_from(signature)?;
    Ok(signature.recover_address_from_prehash(&digest)?)
}

/// Efficiency figures of an epoch's totals: the one definition the oracle, the node's index and
/// wallets share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Efficiency {
    /// Busy / available GPU-seconds, basis points.
    pub utilization_bps: u64,
    /// Available / installed GPU-seconds, basis points.
    pub availability_bps: u64,
    /// Facility / IT energy × 1000 (power usage effectiveness); `None` without IT energy.
    pub pue_milli: Option<u64>,
    /// Facility watt-hours per busy GPU-hour; `None` without busy time.
    pub wh_per_gpu_hour: Option<u64>,
}

impl Efficiency {
    /// The figures of GPU-seconds available and busy out of `installed_seconds`, and IT and
    /// facility energy in Wh.
    pub fn of(
        available: u64,
        busy: u64,
        installed_seconds: u64,
        it_wh: u64,
        facility_wh: u64,
    ) -> Self {
        Self {
            utilization_bps: (busy * 10_000).checked_div(available).unwrap_or(0),
            availability_bps: (available * 10_000).checked_div(installed_seconds).unwrap_or(0),
            pue_milli: (facility_wh * 1_000).checked_div(it_wh),
            wh_per_gpu_hour: (facility_wh * 3_600).checked_div(busy),
        }
    }
}
