// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {InvalidProof} from "./Errors.sol";
import {UsageReport} from "./Types.sol";

/// @title ReportLib
/// @notice EIP-712 struct hash of a usage report and the deliveries Merkle leaf encoding.
library ReportLib {
    /// @notice EIP-712 type hash of `UsageReport`.
    bytes32 internal constant USAGE_REPORT_TYPEHASH = keccak256(
        "UsageReport(uint64 clusterId,uint64 epoch,uint32 gpusInstalled,uint32 gpusHealthy,"
        "uint40 gpuSecondsAvailable,uint40 gpuSecondsBusy,uint40 itEnergyWh,uint40 facilityEnergyWh,"
        "bytes32 deliveriesRoot,bytes32 telemetryRoot)"
    );

    /// @notice EIP-712 type hash of an attestor rotation the current set consents to.
    bytes32 internal constant ATTESTOR_ROTATION_TYPEHASH = keccak256(
        "AttestorRotation(uint64 clusterId,uint32 nonce,address[] attestors,uint8 threshold,uint64 fromEpoch)"
    );

    /// @notice The EIP-712 struct hash of a rotation (`nonce` is the cluster's rotation count, so a
    /// consent signature is good for one rotation only).
    function rotationHash(
        uint64 clusterId,
        uint32 nonce,
        address[] calldata attestors,
        uint8 threshold,
        uint64 fromEpoch
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                ATTESTOR_ROTATION_TYPEHASH,
                clusterId,
                nonce,
                keccak256(abi.encodePacked(attestors)),
                threshold,
                fromEpoch
            )
        );
    }

    /// @notice The EIP-712 struct hash of `report`.
    function structHash(UsageReport calldata report) internal pure returns (bytes32) {
        return keccak256(abi.encode(USAGE_REPORT_TYPEHASH, report));
    }

    /// @notice The deliveries-tree leaf of (leaseId, epoch, delivered unit-seconds, the lease's
    /// metered energy in Wh), in the OpenZeppelin StandardMerkleTree convention:
    /// keccak256(bytes.concat(keccak256(abi.encode(...)))).
    function deliveryLeaf(uint256 leaseId, uint64 epoch, uint64 delivered, uint64 energyWh)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(leaseId, epoch, delivered, energyWh))));
    }

    /// @notice Reverts `InvalidProof` unless `proof` shows the leaf (leaseId, epoch, delivered,
    /// energyWh) under `root`.
    function requireLeaf(
        bytes32 root,
        uint256 leaseId,
        uint64 epoch,
        uint64 delivered,
        uint64 energyWh,
        bytes32[] memory proof
    ) internal pure {
        if (!MerkleProof.verify(proof, root, deliveryLeaf(leaseId, epoch, delivered, energyWh))) {
            revert InvalidProof(leaseId, epoch);
        }
    }

    /// @notice Whether the metrics satisfy the protocol bounds for an epoch of `epochLength` seconds.
    function metricsValid(UsageReport calldata r, uint32 epochLength) internal pure returns (bool) {
        return r.gpusHealthy <= r.gpusInstalled && r.gpuSecondsBusy <= r.gpuSecondsAvailable
            && uint256(r.gpuSecondsAvailable) <= uint256(r.gpusInstalled) * epochLength
            && r.facilityEnergyWh >= r.itEnergyWh;
    }
}
