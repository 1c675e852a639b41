// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseTerms, SettleItem} from "../libraries/Types.sol";

/// @title ILeaseMarket
/// @notice GPU leases paid in an allowlisted payment stablecoin: performance bonds, full-term
/// escrow, ERC-1155 rent shares (token id = lease id), epoch settlement against attested
/// deliveries, SLA credits, challenges and pull-payment claims.
interface ILeaseMarket {
    // ------------------------------------------------------------ governance

    /// @notice Adds or removes a payment stablecoin from the allowlist (existing leases go on).
    function setStablecoinAllowed(address token, bool allowed) external;

    /// @notice Names the arbiter that resolves tenants' challenges.
    function setArbiter(address arbiter) external;

    // ------------------------------------------------------------ bonds

    /// @notice Adds `amount` of `token` to the caller's cluster bond (pulls with transferFrom).
    function depositBond(uint64 clusterId, address token, uint256 amount) external;

    /// @notice Withdraws bond that no open lease's worst-case SLA credits can still need.
    function withdrawBond(uint64 clusterId, address token, uint256 amount) external;

    // ------------------------------------------------------------ leases

    /// @notice Creates a lease on the caller's cluster and mints `totalShares` shares to the caller.
    /// Locks the lease's worst-case SLA credits (every epoch at zero delivery) from the free bond.
    /// @return leaseId The new lease id, also its ERC-1155 token id (starting at 1).
    function createLease(LeaseTerms calldata terms) external returns (uint256 leaseId);

    /// @notice The tenant pays the full-term escrow (gpus x epoch length x epochs x price / 3600)
    /// with a prior approval; the lease becomes active. Must happen before the first epoch begins.
    function fund(uint256 leaseId) external;

    /// @notice As `fund`, approving the escrow with an EIP-2612 permit in the same call. A permit
    /// already used (front-run) is tolerated as long as the allowance covers the escrow.
    function fundWithPermit(uint256 leaseId, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice The cluster owner cancels a lease that was never funded; releases the bond lock.
    function cancelLease(uint256 leaseId) external;

    /// @notice The cluster owner offers `amount` of its shares of an active lease at
    /// `pricePerShare` (stablecoin base units); replaces any earlier offer.
    function offerShares(uint256 leaseId, uint256 amount, uint256 pricePerShare) external;

    /// @notice Buys `amount` shares from the owner's offer, paying the owner directly. Reverts if
    /// the offer has fewer shares or a price above `maxPricePerShare`. Partial fills leave the rest.
    function buyShares(uint256 leaseId, uint256 amount, uint256 maxPricePerShare) external;

    // ------------------------------------------------------------ settlement

    /// @notice Settles the lease's next epoch. With a report: after its challenge window, with a
    /// Merkle proof of (leaseId, epoch, delivered) against the report's deliveries root. Without a
    /// report after the reporting deadline: as zero delivered (args ignored). After an arbiter's
    /// resolution: with the corrected delivery (args ignored).
    function settle(uint256 leaseId, uint64 epoch, uint64 delivered, bytes32[] calldata proof) external;

    /// @notice Settles an epoch that nobody reported by its deadline as zero delivered.
    function settleMissed(uint256 leaseId, uint64 epoch) external;

    /// @notice Settles many (lease, epoch) items in one call, in the order given.
    function settleBatch(SettleItem[] calldata items) external;

    /// @notice The tenant disputes a reported epoch within its challenge window; it cannot settle
    /// until the arbiter resolves it.
    function challenge(uint256 leaseId, uint64 epoch) external;

    /// @notice The arbiter fixes a challenged epoch's delivered GPU-seconds.
    function resolveChallenge(uint256 leaseId, uint64 epoch, uint64 correctedDelivered) external;

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

    /// @notice Full-term escrow the tenant must fund.
    function escrowRequired(uint256 leaseId) external view returns (uint256);
}
