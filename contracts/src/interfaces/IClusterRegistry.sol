// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {UsageReport} from "../libraries/Types.sol";

/// @title IClusterRegistry
/// @notice GPU clusters, their attestor sets and their signed per-epoch usage reports.
interface IClusterRegistry {
    /// @notice Registers a cluster owned by the caller; its epoch 0 starts now.
    /// @param metadataUri Where the cluster's description lives (GPU model, count, region, power).
    /// @param metadataHash keccak256 of the document at `metadataUri`.
    /// @param epochLength Seconds per epoch (60 s .. 7 days; 10 s allowed for devnets).
    /// @param attestors Addresses whose EIP-712 signatures attest reports.
    /// @param threshold How many distinct attestors must sign each report (M of N).
    /// @return clusterId The new cluster's id (starting at 1).
    function registerCluster(
        string calldata metadataUri,
        bytes32 metadataHash,
        uint32 epochLength,
        address[] calldata attestors,
        uint8 threshold
    ) external returns (uint64 clusterId);

    /// @notice Names a new attestor set that verifies reports for epochs >= `fromEpoch`.
    /// @dev Owner only; `fromEpoch` must be in the future. Replaces a pending rotation that has not
    /// begun. While the cluster has an offered or active lease, `consent` must carry the threshold
    /// of signatures of the set verifying the current epoch over `rotationDigest` (ascending
    /// signers), so the owner cannot swap out a co-signer on its own; with none it may be empty.
    function rotateAttestors(
        uint64 clusterId,
        address[] calldata attestors,
        uint8 threshold,
        uint64 fromEpoch,
        bytes[] calldata consent
    ) external;

    /// @notice The EIP-712 digest the current set signs to consent to a rotation
    /// (`AttestorRotation(clusterId, nonce, attestors, threshold, fromEpoch)`, nonce = rotations so far).
    function rotationDigest(uint64 clusterId, address[] calldata attestors, uint8 threshold, uint64 fromEpoch)
        external
        view
        returns (bytes32);

    /// @notice Deregisters a cluster that has no offered or active lease (or no market linked yet).
    function deregisterCluster(uint64 clusterId) external;

    /// @notice Accepts a usage report signed by at least `threshold` attestors of the epoch's set.
    /// Anyone may relay it. Signatures must come in ascending signer-address order.
    /// @param report The report; its epoch must have ended, be within its own reporting deadline and
    /// not be reported yet. Epochs are independent: any order of arrival is accepted.
    /// @param signatures 65-byte ECDSA signatures over the EIP-712 digest of `report`.
    function submitReport(UsageReport calldata report, bytes[] calldata signatures) external;

    /// @notice The owner, epoch length, genesis time and active flag of a cluster.
    function clusterInfo(uint64 clusterId)
        external
        view
        returns (address owner, uint32 epochLength, uint64 genesis, bool active);

    /// @notice The deliveries root and acceptance time of a report (both zero when none).
    function reportOf(uint64 clusterId, uint64 epoch)
        external
        view
        returns (bytes32 deliveriesRoot, uint64 submittedAt);

    /// @notice Seconds after an epoch's end during which its report is accepted.
    function reportWindow() external view returns (uint64);

    /// @notice The cluster's current epoch (0 during the first epoch).
    function currentEpoch(uint64 clusterId) external view returns (uint64);

    /// @notice Whether `account` may attest reports of `epoch`, and the threshold for that epoch.
    function isAttestor(uint64 clusterId, uint64 epoch, address account)
        external
        view
        returns (bool, uint8 threshold);

    /// @notice The id of the attestor set that verifies `epoch` as the registry stands now. A set
    /// never changes once created, so an id taken now keeps naming the same members.
    function attestorSetOf(uint64 clusterId, uint64 epoch) external view returns (uint32 setId);

    /// @notice Whether `account` belongs to attestor set `setId` (0 for none).
    function isSetMember(uint32 setId, address account) external view returns (bool);

    /// @notice The EIP-712 digest an attestor signs for `report`.
    function reportDigest(UsageReport calldata report) external view returns (bytes32);
}
