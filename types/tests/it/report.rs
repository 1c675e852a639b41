//! The report's EIP-712 encoding against what the Solidity side computes.

use alloy::{
    primitives::{B256, address, aliases::U40, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::SolStruct,
};
use compute_ledger_types::{UsageReport, encode_signature, recover_signer, report_domain};

fn report() -> UsageReport {
    UsageReport {
        clusterId: 1,
        epoch: 42,
        gpusInstalled: 512,
        gpusHealthy: 510,
        gpuSecondsAvailable: U40::from(15_300u64),
        gpuSecondsBusy: U40::from(12_000u64),
        itEnergyWh: U40::from(2_400u64),
        facilityEnergyWh: U40::from(2_640u64),
        deliveriesRoot: B256::repeat_byte(0xaa),
        telemetryRoot: B256::repeat_byte(0xbb),
    }
}

#[test]
fn type_string_matches_the_contract() {
    let expected = "UsageReport(uint64 clusterId,uint64 epoch,uint32 gpusInstalled,uint32 gpusHealthy,\
uint40 gpuSecondsAvailable,uint40 gpuSecondsBusy,uint40 itEnergyWh,uint40 facilityEnergyWh,\
bytes32 deliveriesRoot,bytes32 telemetryRoot)";
    assert_eq!(UsageReport::eip712_root_type(), expected);
    assert_eq!(report().eip712_type_hash(), keccak256(expected));
}

#[test]
fn signature_recovers_the_signer_and_binds_the_domain() {
    let signer = PrivateKeySigner::random();
    let registry = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    let domain = report_domain(31_337, registry);
    let digest = report().signing_hash(&domain);
    let signature = encode_signature(&signer.sign_hash_sync(&digest).expect("sign"));
    assert_eq!(signature.len(), 65);
    assert!(signature[64] == 27 || signature[64] == 28, "v in {{27, 28}} as ECDSA.recover expects");
    assert_eq!(recover_signer(digest, &signature).expect("recover"), signer.address());

    for other in [
        report_domain(1, registry),
        report_domain(31_337, address!("0x0000000000000000000000000000000000000001")),
    ] {
        assert_ne!(
            report().signing_hash(&other),
            digest,
            "chain id and registry are in the digest"
        );
    }
    let tampered = UsageReport { gpuSecondsBusy: U40::from(12_001u64), ..report() };
    assert_ne!(
        recover_signer(tampered.signing_hash(&domain), &signature).expect("recover"),
        signer.address()
    );
}

#[test]
fn metrics_bounds_match_the_contract() {
    assert!(report().metrics_valid(30));
    assert!(!UsageReport { gpuSecondsBusy: U40::from(15_301u64), ..report() }.metrics_valid(30));
    assert!(!UsageReport { gpusHealthy: 513, ..report() }.metrics_valid(30));
    assert!(!UsageReport { facilityEnergyWh: U40::from(2_399u64), ..report() }.metrics_valid(30));
    assert!(!report().metrics_valid(29), "available above installed x epoch length");
}
