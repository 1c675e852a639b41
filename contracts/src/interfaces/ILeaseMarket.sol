// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Lease, LeaseStatus, LeaseTerms, SettleItem} from "../libraries/Types.sol";

/// @title ILeaseMarket
/// @notice GPU leases paid in an allowlisted payment stablecoin: performance bonds, full-term
/// escrow, ERC-1155 rent shares (token id = lease id), epoch settlement against attested
/// deliveries, SLA credits and holders' compensation, bonded challenges with a deadline, and
/// pull-payment claims.
interface ILeaseMarket {
    // ------------------------------------------------------------ governance

    /// @notice Adds or removes a payment stablecoin from the allowlist (existing leases go on).
    function setStablecoinAllowed(address token, bool allowed) external;

    // ------------------------------------------------------------ bonds

    /// @notice Adds `amount` of `token` to the caller's cluster bond (pulls with transferFrom).
    function depositBond(uint64 clusterId, address token, uint256 amount) external;

    /// @notice Withdraws bond that no open lease's worst-case SLA credits can still need.
    function withdrawBond(uint64 clusterId, address token, uint256 amount) external;

    // ------------------------------------------------------------ leases

    /// @notice Creates a lease on the caller's cluster and mints `totalShares` shares to the caller.
    /// Locks the lease's worst case from the free bond: every epoch missed, i.e. the full SLA credit
    /// to the tenant plus the full rent to holders, per epoch.
    /// @return leaseId The new lease id, also its ERC-1155 token id (starting at 1).
    function createLease(LeaseTerms calldata terms) external returns (uint256 leaseId);

    /// @notice The tenant pays the escrow (units x epoch length x epochs x price / 3600, plus, for a
    /// powered shell with a tariff, the most energy its kW can draw at the tariff) with a prior
    /// approval; the lease becomes active. Funded after its start epoch began (say, the stablecoin
    /// was paused), the lease starts at the next epoch and escrows only the epochs left.
    function fund(uint256 leaseId) external;

    /// @notice As `fund`, approving the escrow with an EIP-2612 permit in the same call. A permit
    /// already used (front-run) is tolerated as long as the allowance covers the escrow.
    function fundWithPermit(uint256 leaseId, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Cancels a lease that was never funded and releases its bond lock: the cluster owner
    /// at any time, anyone once its last epoch has begun (it can no longer be funded).
    function cancelLease(uint256 leaseId) external;

    /// @notice The cluster owner offers `amount` of its shares of an active lease at
    /// `pricePerShare` (stablecoin base units); replaces any earlier offer. Offered shares are set
    /// aside (the owner cannot transfer them away) and keep earning for the owner until sold; the
    /// offer dies when the lease ends.
    function offerShares(uint256 leaseId, uint256 amount, uint256 pricePerShare) external;

    /// @notice Buys `amount` shares from the owner's offer of an active lease, paying the owner
    /// directly. Reverts if the offer has fewer shares or a price above `maxPricePerShare`. Partial
    /// fills leave the rest. The buyer earns from the current epoch on; ended epochs stay the seller's.
    function buyShares(uint256 leaseId, uint256 amount, uint256 maxPricePerShare) external;

    // ------------------------------------------------------------ settlement

    /// @notice Settles the lease's next epoch. With a report: after its challenge window (and any
    /// open challenge's resolution deadline), with a Merkle proof of (leaseId, epoch, delivered,
    /// energyWh) against the report's deliveries root. Without a report after the reporting deadline: as
    /// missed (args ignored). After an arbiter's ruling: with the ruling (args ignored). After
    /// conflicting leaves were proven: as unproven (args ignored). For a later epoch than the
    /// lease's next (say, an earlier one is under challenge), a valid proof is kept instead
    /// (`DeliveryProven`): the epoch settles with it in its turn and can no longer become
    /// unproven, so proofs never wait for settlement order.
    function settle(
        uint256 leaseId,
        uint64 epoch,
        uint64 delivered,
        uint64 energyWh,
        bytes32[] calldata proof
    ) external;

    /// @notice Settles an epoch that nobody reported by its deadline as missed: no rent from escrow,
    /// the full SLA credit to the tenant and the full rent to holders, both from the owner's bond.
    function settleMissed(uint256 leaseId, uint64 epoch) external;

    /// @notice Settles a reported epoch whose leaf for the lease nobody proved by `proofDeadline` as
    /// unproven: booked like a missed epoch (the owner's failure). Anyone may call it.
    function settleUnproven(uint256 leaseId, uint64 epoch) external;

    /// @notice Settles many (lease, epoch) items in one call, in the order given.
    function settleBatch(SettleItem[] calldata items) external;

    /// @notice Flags an epoch as disputed; only the market's DisputeDesk may call it. Settlement
    /// asks the desk for the verdict of flagged epochs only.
    function markDisputed(uint256 leaseId, uint64 epoch) external;

    // ------------------------------------------------------------ payouts

    /// @notice Pays the caller the rent its shares of `leaseId` have earned (pull payment).
    /// @return amount What was paid.
    function claim(uint256 leaseId) external returns (uint256 amount);

    /// @notice Pays the tenant its SLA credits and, once the lease ended, the escrow remainder.
    /// @return amount What was paid.
    function withdrawTenantFunds(uint256 leaseId) external returns (uint256 amount);

    // ------------------------------------------------------------ views

    /// @notice Rent `account` could claim from `leaseId` now.
    function claimable(uint256 leaseId, address account) external view returns (uint256);

    /// @notice Offered and active leases of a cluster (deregistration needs zero).
    function activeLeases(uint64 clusterId) external view returns (uint256);

    /// @notice Escrow the tenant must fund now (for an offered lease: the epochs from the first one
    /// it would bill if funded now; otherwise what was funded).
    function escrowRequired(uint256 leaseId) external view returns (uint256);

    /// @notice After this time a reported epoch without a proven leaf may settle as unproven (0 when
    /// the epoch has no report).
    function proofDeadline(uint256 leaseId, uint64 epoch) external view returns (uint256);

    /// @notice Epochs of an active lease that have ended but not settled (their rent still belongs
    /// to whoever held when each ended).
    function unsettledEpochs(uint256 leaseId) external view returns (uint64);

    /// @notice Every stored field of a lease (reverts `UnknownLease`).
    function getLease(uint256 leaseId) external view returns (Lease memory);

    /// @notice Where a lease is in its life (`None` for an unknown id), when its term ends (the
    /// end of its last epoch, unix seconds) and its stablecoin: what contracts that trade its
    /// shares need, in one call. A lease stays `Active` until its last epoch settles, after the
    /// term; its shares earn nothing more once the term is over.
    function leaseStatus(uint256 leaseId)
        external
        view
        returns (LeaseStatus status, uint256 termEnd, address stablecoin);

    /// @notice Seconds after a report's acceptance during which it may be challenged.
    function challengeWindow() external view returns (uint64);

    /// @notice Seconds after a challenge during which the arbiter may rule.
    function resolutionWindow() external view returns (uint64);

    /// @notice Seconds after the challenge window (or an open challenge's resolution deadline) in
    /// which a leaf's proof is awaited before the epoch may settle as unproven.
    function proofGrace() external view returns (uint64);
}
