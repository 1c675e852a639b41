// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title RentLib
/// @notice Settlement math. All amounts are stablecoin base units; every division rounds down, so
/// rounding can only leave dust in the contract, never pay out more than was escrowed.
library RentLib {
    /// @notice Seconds per hour: prices are per GPU-hour, deliveries in GPU-seconds.
    uint256 internal constant SECONDS_PER_HOUR = 3600;
    /// @notice Basis points in 100%.
    uint256 internal constant BPS = 10_000;
    /// @notice Fixed-point scale of the rent-per-share accumulator. With at most `MAX_SHARES`
    /// shares, flooring the accumulator strands less than one base unit per settlement.
    uint256 internal constant ACC_SCALE = 1e36;
    /// @notice Most shares one lease may have.
    uint256 internal constant MAX_SHARES = 1e30;

    /// @notice GPU-seconds a lease can bill in one epoch: gpus x epoch length.
    function capacity(uint256 gpus, uint256 epochLength) internal pure returns (uint256) {
        return gpus * epochLength;
    }

    /// @notice Rent for `delivered` GPU-seconds, capped at the lease's capacity.
    function rent(uint256 delivered, uint256 cap, uint256 pricePerGpuHour) internal pure returns (uint256) {
        uint256 billable = delivered < cap ? delivered : cap;
        return billable * pricePerGpuHour / SECONDS_PER_HOUR;
    }

    /// @notice Rent of a fully delivered epoch: what holders are compensated from the bond when an
    /// epoch is missed or unproven (the owner's failure).
    function fullRent(uint256 cap, uint256 pricePerGpuHour) internal pure returns (uint256) {
        return cap * pricePerGpuHour / SECONDS_PER_HOUR;
    }

    /// @notice SLA credit owed to the tenant when delivery falls below `slaBps` of capacity: the
    /// shortfall's rent value times `creditBps`. At most `rent(cap) * slaBps * creditBps`.
    function slaCredit(
        uint256 delivered,
        uint256 cap,
        uint256 pricePerGpuHour,
        uint256 slaBps,
        uint256 creditBps
    ) internal pure returns (uint256) {
        uint256 floor = cap * slaBps / BPS;
        if (delivered >= floor) return 0;
        return (floor - delivered) * pricePerGpuHour * creditBps / (SECONDS_PER_HOUR * BPS);
    }
}
