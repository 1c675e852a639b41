// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DisputeStatus, ProvenLeaf} from "../libraries/Types.sol";

/// @title IDisputeDesk
/// @notice Disputes of reported epochs: the tenant or any holder challenges with a bond, the arbiter
/// rules within a deadline, after which the report stands; anyone may show two conflicting leaves.
/// Holds only challenge bonds and the payouts they become.
interface IDisputeDesk {
    /// @notice Names the arbiter that rules on challenges (none can be opened before one is named).
    function setArbiter(address arbiter) external;

    /// @notice The tenant or any holder disputes a reported, unsettled epoch of an active lease
    /// within `challengeWindow` of the report, posting `challengeBond` in the lease's stablecoin
    /// (pulled with transferFrom). One challenge per epoch. The epoch cannot settle until the
    /// arbiter rules or `resolutionWindow` passes; after that the report stands.
    function challenge(uint256 leaseId, uint64 epoch) external;

    /// @notice The arbiter rules on an open challenge before its deadline: the delivered
    /// unit-seconds and the racks' metered energy (Wh; billed only by a powered shell with a tariff)
    /// to bill, and whether the challenger was right (bond returned) or not (bond forfeited to
    /// governance: to no party, so nobody profits from squatting an epoch's challenge).
    function resolveChallenge(
        uint256 leaseId,
        uint64 epoch,
        uint64 correctedDelivered,
        uint64 correctedEnergyWh,
        bool upheld
    ) external;

    /// @notice After an open challenge's deadline passed unruled, anyone closes it: the report
    /// stands and the challenger's bond is returned.
    function expire(uint256 leaseId, uint64 epoch) external;

    /// @notice Shows two different leaves for one (lease, epoch) under its report's root: the tree
    /// contradicts itself, so nobody may pick a leaf and the epoch settles as unproven (the owner's
    /// failure). An open challenge's bond is returned. Anyone may call it before the epoch settles
    /// or the arbiter rules.
    function proveConflict(uint256 leaseId, uint64 epoch, ProvenLeaf calldata a, ProvenLeaf calldata b)
        external;

    /// @notice Pays the caller its returned or awarded challenge bonds in `token` (pull payment).
    /// @return amount What was paid.
    function withdrawPayout(address token) external returns (uint256 amount);

    /// @notice The dispute status of an epoch, the arbiter's ruling (delivery and energy; Upheld or
    /// Rejected) and the resolution deadline of a challenge.
    function verdict(uint256 leaseId, uint64 epoch)
        external
        view
        returns (DisputeStatus status, uint64 ruled, uint64 ruledEnergyWh, uint64 resolveBy);

    /// @notice The bond a challenge of this lease costs.
    function challengeBond(uint256 leaseId) external view returns (uint256);

    /// @notice Bonds `account` may withdraw in `token`.
    function payouts(address token, address account) external view returns (uint256);
}
