// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IClusterRegistry} from "./interfaces/IClusterRegistry.sol";
import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";
import {ReportLib} from "./libraries/ReportLib.sol";
import {UsageReport} from "./libraries/Types.sol";

/// @title ClusterRegistry
/// @notice Clusters, attestor sets (M-of-N, rotated from a future epoch, with the current set's
/// consent while leases are open) and signed usage reports, one per epoch, each accepted on its own
/// until its own deadline (EIP-712 domain `ComputeLedger` / `1`). Holds no money: bonds, leases and
/// rent live in the LeaseMarket, which reads reports from here.
contract ClusterRegistry is IClusterRegistry, EIP712, Ownable2Step {
    // ------------------------------------------------------------ constants and storage

    /// @notice Most attestors in one set (bounds the report's signature loop).
    uint256 public constant MAX_ATTESTORS = 16;
    /// @notice Shortest epoch accepted (10 s lets a devnet show several epochs a minute).
    uint32 public constant MIN_EPOCH_LENGTH = 10;
    /// @notice Longest epoch accepted.
    uint32 public constant MAX_EPOCH_LENGTH = 7 days;

    /// @inheritdoc IClusterRegistry
    uint64 public immutable reportWindow;

    /// @dev Packed to two slots so report verification reads little storage.
    struct Cluster {
        // slot 0
        address owner;
        uint32 epochLength;
        uint64 genesis;
        // slot 1
        uint64 pendingFrom; // first epoch of the pending set
        uint32 activeSet; // verifies epochs before pendingFrom (all epochs when none is pending)
        uint32 pendingSet; // 0 when none
        uint8 activeThreshold;
        uint8 pendingThreshold;
        bool active;
        uint32 rotations; // nonce of consent signatures
    }

    /// @dev One accepted report: the deliveries root and packed metrics (exactly two slots).
    /// `acceptedDelay` is 1 + the seconds between the epoch's end and acceptance (at most the
    /// report window, < 2^32 - 1), so it never wraps and 0 means "no report".
    struct StoredReport {
        bytes32 deliveriesRoot;
        uint32 acceptedDelay;
        uint32 gpusInstalled;
        uint32 gpusHealthy;
        uint40 gpuSecondsAvailable;
        uint40 gpuSecondsBusy;
        uint40 itEnergyWh;
        uint40 facilityEnergyWh;
    }

    /// @notice The lease market consulted before deregistration.
    ILeaseMarket public market;
    /// @notice Number of clusters ever registered (ids are 1..clusterCount).
    uint64 public clusterCount;
    /// @notice Number of attestor sets ever created (ids are 1..setCount).
    uint32 public setCount;

    mapping(uint64 clusterId => Cluster) internal _clusters;
    mapping(uint64 clusterId => mapping(uint64 epoch => StoredReport)) internal _reports;
    mapping(uint32 setId => mapping(address => bool)) internal _isMember;
    mapping(uint32 setId => address[]) internal _members;

    /// @param governance Owner of governance functions (two-step transfer).
    /// @param reportWindow_ Seconds after an epoch's end during which its report is accepted.
    constructor(address governance, uint64 reportWindow_) EIP712("ComputeLedger", "1") Ownable(governance) {
        if (reportWindow_ == 0 || reportWindow_ >= type(uint32).max - 1) revert InvalidParameter();
        reportWindow = reportWindow_;
    }

    // ------------------------------------------------------------ governance

    /// @notice Links the lease market (once).
    function setMarket(ILeaseMarket market_) external onlyOwner {
        if (address(market_) == address(0)) revert ZeroAddress();
        if (address(market) != address(0)) revert MarketAlreadySet();
        market = market_;
        emit MarketSet(address(market_));
    }

    // ------------------------------------------------------------ clusters

    /// @inheritdoc IClusterRegistry
    function registerCluster(
        string calldata metadataUri,
        bytes32 metadataHash,
        uint32 epochLength,
        address[] calldata attestors,
        uint8 threshold
    ) external returns (uint64 clusterId) {
        if (epochLength < MIN_EPOCH_LENGTH || epochLength > MAX_EPOCH_LENGTH) {
            revert InvalidEpochLength(epochLength);
        }
        clusterId = ++clusterCount;
        uint32 setId = _createSet(clusterId, attestors, threshold, 0, false);
        Cluster storage c = _clusters[clusterId];
        c.owner = msg.sender;
        c.epochLength = epochLength;
        c.genesis = uint64(block.timestamp);
        c.activeSet = setId;
        c.activeThreshold = threshold;
        c.active = true;
        emit ClusterRegistered(
            clusterId, msg.sender, epochLength, uint64(block.timestamp), metadataUri, metadataHash
        );
    }

    /// @inheritdoc IClusterRegistry
    function rotateAttestors(
        uint64 clusterId,
        address[] calldata attestors,
        uint8 threshold,
        uint64 fromEpoch,
        bytes[] calldata consent
    ) external {
        Cluster storage c = _ownedActiveCluster(clusterId);
        uint64 current = _currentEpoch(c);
        if (fromEpoch <= current) revert RotationNotInFuture(fromEpoch, current);
        // While a lease is offered or running, its parties rely on the set in force: only that
        // set's threshold may replace it. With no open lease the owner alone may (lost keys).
        bool consented = _openLeases(clusterId) != 0;
        // Alone, only from the next epoch on: every lease created afterwards then runs entirely
        // under the set its tenant saw before funding.
        if (!consented && fromEpoch != current + 1) revert UnconsentedRotationLater(fromEpoch, current + 1);
        if (consented) {
            (uint32 setId, uint8 setThreshold) = _setFor(c, current);
            bytes32 digest = _hashTypedDataV4(
                ReportLib.rotationHash(clusterId, c.rotations, attestors, threshold, fromEpoch)
            );
            _verifySignatures(digest, consent, setId, setThreshold);
        }
        c.rotations += 1;
        if (c.pendingSet != 0) {
            // Epochs before the pending set may still be reported until their deadline, so the
            // active set is needed until then; afterwards promote and go on. With a lease open, a
            // pending set that has not begun is what the lease's tenant saw: the outgoing set
            // may not replace it on its own either (it can consent once the pending set began).
            uint256 lastOldDeadline =
                uint256(c.genesis) + uint256(c.pendingFrom) * c.epochLength + reportWindow;
            if ((consented || c.pendingFrom <= current) && block.timestamp <= lastOldDeadline) {
                revert RotationPending(c.pendingFrom, lastOldDeadline + 1);
            }
            if (c.pendingFrom <= current) _promote(c);
        }
        c.pendingSet = _createSet(clusterId, attestors, threshold, fromEpoch, consented);
        c.pendingThreshold = threshold;
        c.pendingFrom = fromEpoch;
    }

    /// @inheritdoc IClusterRegistry
    function deregisterCluster(uint64 clusterId) external {
        Cluster storage c = _ownedActiveCluster(clusterId);
        uint256 open = _openLeases(clusterId);
        if (open != 0) revert ClusterHasActiveLeases(clusterId, open);
        c.active = false;
        emit ClusterDeregistered(clusterId);
    }

    // ------------------------------------------------------------ reports

    /// @inheritdoc IClusterRegistry
    function submitReport(UsageReport calldata report, bytes[] calldata signatures) external {
        Cluster storage c = _clusters[report.clusterId];
        (address owner, uint32 epochLength, uint64 genesis) = (c.owner, c.epochLength, c.genesis);
        if (owner == address(0)) revert UnknownCluster(report.clusterId);
        if (!c.active) revert ClusterInactive(report.clusterId);

        // Deadline, then once-per-epoch, then signatures (cheap checks first). Each epoch stands on
        // its own: a later epoch's report never blocks an earlier one.
        uint64 epoch = report.epoch;
        uint256 endsAt = uint256(genesis) + (uint256(epoch) + 1) * epochLength;
        if (block.timestamp < endsAt) revert EpochNotEnded(epoch, endsAt);
        if (block.timestamp > endsAt + reportWindow) {
            revert ReportDeadlinePassed(epoch, endsAt + reportWindow);
        }
        StoredReport storage stored = _reports[report.clusterId][epoch];
        if (stored.acceptedDelay != 0) revert EpochAlreadyReported(report.clusterId, epoch);
        if (!ReportLib.metricsValid(report, epochLength)) revert InvalidMetrics();

        (uint32 setId, uint8 threshold) = _setFor(c, epoch);
        _verifySignatures(_hashTypedDataV4(ReportLib.structHash(report)), signatures, setId, threshold);

        // Effects. The delay is at most reportWindow (< 2^32 - 1), so the cast is exact.
        _reports[report.clusterId][epoch] = StoredReport({
            deliveriesRoot: report.deliveriesRoot,
            acceptedDelay: uint32(block.timestamp - endsAt + 1),
            gpusInstalled: report.gpusInstalled,
            gpusHealthy: report.gpusHealthy,
            gpuSecondsAvailable: report.gpuSecondsAvailable,
            gpuSecondsBusy: report.gpuSecondsBusy,
            itEnergyWh: report.itEnergyWh,
            facilityEnergyWh: report.facilityEnergyWh
        });
        emit ReportAccepted(report.clusterId, epoch, report, msg.sender);
    }

    // ------------------------------------------------------------ views

    /// @inheritdoc IClusterRegistry
    function clusterInfo(uint64 clusterId)
        external
        view
        returns (address owner, uint32 epochLength, uint64 genesis, bool active)
    {
        Cluster storage c = _clusters[clusterId];
        return (c.owner, c.epochLength, c.genesis, c.active);
    }

    /// @notice Attestor-set state of a cluster: active set, pending set and its first epoch, and
    /// the rotation nonce the next consent must sign.
    function attestorState(uint64 clusterId)
        external
        view
        returns (
            address[] memory active,
            uint8 activeThreshold,
            address[] memory pending,
            uint8 pendingThreshold,
            uint64 pendingFrom,
            uint32 rotationNonce
        )
    {
        Cluster storage c = _clusters[clusterId];
        return (
            _members[c.activeSet],
            c.activeThreshold,
            _members[c.pendingSet],
            c.pendingThreshold,
            c.pendingFrom,
            c.rotations
        );
    }

    /// @inheritdoc IClusterRegistry
    function reportOf(uint64 clusterId, uint64 epoch)
        external
        view
        returns (bytes32 deliveriesRoot, uint64 submittedAt)
    {
        StoredReport storage r = _reports[clusterId][epoch];
        uint32 delay = r.acceptedDelay;
        if (delay == 0) return (bytes32(0), 0);
        Cluster storage c = _clusters[clusterId];
        uint256 endsAt = uint256(c.genesis) + (uint256(epoch) + 1) * c.epochLength;
        return (r.deliveriesRoot, uint64(endsAt + delay - 1));
    }

    /// @notice Every stored field of a report (all zero when none was accepted).
    function reportMetrics(uint64 clusterId, uint64 epoch) external view returns (StoredReport memory) {
        return _reports[clusterId][epoch];
    }

    /// @inheritdoc IClusterRegistry
    function currentEpoch(uint64 clusterId) external view returns (uint64) {
        Cluster storage c = _clusters[clusterId];
        if (c.owner == address(0)) revert UnknownCluster(clusterId);
        return _currentEpoch(c);
    }

    /// @inheritdoc IClusterRegistry
    function isAttestor(uint64 clusterId, uint64 epoch, address account) external view returns (bool, uint8) {
        (uint32 setId, uint8 threshold) = _setFor(_clusters[clusterId], epoch);
        return (_isMember[setId][account], threshold);
    }

    /// @inheritdoc IClusterRegistry
    function attestorSetOf(uint64 clusterId, uint64 epoch) external view returns (uint32 setId) {
        (setId,) = _setFor(_clusters[clusterId], epoch);
    }

    /// @inheritdoc IClusterRegistry
    function isSetMember(uint32 setId, address account) external view returns (bool) {
        return _isMember[setId][account];
    }

    /// @inheritdoc IClusterRegistry
    function rotationDigest(uint64 clusterId, address[] calldata attestors, uint8 threshold, uint64 fromEpoch)
        external
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            ReportLib.rotationHash(clusterId, _clusters[clusterId].rotations, attestors, threshold, fromEpoch)
        );
    }

    /// @inheritdoc IClusterRegistry
    function reportDigest(UsageReport calldata report) external view returns (bytes32) {
        return _hashTypedDataV4(ReportLib.structHash(report));
    }

    /// @notice The EIP-712 domain separator (name `ComputeLedger`, version `1`, chain id, this contract).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------ internal

    function _ownedActiveCluster(uint64 clusterId) internal view returns (Cluster storage c) {
        c = _clusters[clusterId];
        if (c.owner == address(0)) revert UnknownCluster(clusterId);
        if (c.owner != msg.sender) revert NotClusterOwner(clusterId, msg.sender);
        if (!c.active) revert ClusterInactive(clusterId);
    }

    /// @dev The set that verifies `epoch`: the pending set from its first epoch on, else the active.
    function _setFor(Cluster storage c, uint64 epoch) internal view returns (uint32, uint8) {
        if (c.pendingSet != 0 && epoch >= c.pendingFrom) return (c.pendingSet, c.pendingThreshold);
        return (c.activeSet, c.activeThreshold);
    }

    /// @dev Offered and active leases of the cluster (none while the market is not linked yet).
    function _openLeases(uint64 clusterId) internal view returns (uint256) {
        return address(market) == address(0) ? 0 : market.activeLeases(clusterId);
    }

    function _currentEpoch(Cluster storage c) internal view returns (uint64) {
        return uint64((block.timestamp - c.genesis) / c.epochLength);
    }

    function _promote(Cluster storage c) internal {
        c.activeSet = c.pendingSet;
        c.activeThreshold = c.pendingThreshold;
        c.pendingSet = 0;
        c.pendingThreshold = 0;
        c.pendingFrom = 0;
    }

    function _createSet(
        uint64 clusterId,
        address[] calldata attestors,
        uint8 threshold,
        uint64 fromEpoch,
        bool consented
    ) internal returns (uint32 setId) {
        uint256 n = attestors.length;
        if (n == 0 || n > MAX_ATTESTORS || threshold == 0 || threshold > n) revert InvalidAttestorSet();
        setId = ++setCount;
        for (uint256 i; i < n; ++i) {
            address a = attestors[i];
            if (a == address(0) || _isMember[setId][a]) revert InvalidAttestorSet();
            _isMember[setId][a] = true;
        }
        _members[setId] = attestors;
        emit AttestorsSet(clusterId, setId, fromEpoch, threshold, attestors, consented);
    }

    /// @dev Recovers each signer (OpenZeppelin ECDSA rejects malleable and zero-signer signatures),
    /// requires strictly ascending signers (so none counts twice) that all belong to the set.
    function _verifySignatures(bytes32 digest, bytes[] calldata signatures, uint32 setId, uint8 threshold)
        internal
        view
    {
        if (signatures.length < threshold) revert InsufficientSignatures(signatures.length, threshold);
        address previous;
        for (uint256 i; i < signatures.length; ++i) {
            address signer = ECDSA.recoverCalldata(digest, signatures[i]);
            if (signer <= previous) revert SignersNotAscending(signer, previous);
            if (!_isMember[setId][signer]) revert NotAttestor(signer);
            previous = signer;
        }
    }
}
