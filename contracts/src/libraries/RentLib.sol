// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title RentLib
/// @notice Settlement math. All amounts are stablecoin base units; every division rounds down, so
/// rounding can only leave dust in the contract, never pay out more than was escrowed. A lease's
/// unit is a GPU or a kW; deliveries are unit-seconds, prices per unit-hour.
library RentLib {
    /// @notice Seconds per hour: prices are per unit-hour, deliveries in unit-seconds.
    uint256 internal constant SECONDS_PER_HOUR = 3600;
    /// @notice Watt-hours per kWh: energy is metered in Wh, priced per kWh.
    uint256 internal constant WH_PER_KWH = 1000;
    /// @notice Basis points in 100%.
    uint256 internal constant BPS = 10_000;
    /// @notice Fixed-point scale of the rent-per-share accumulator. With at most `MAX_SHARES`
    /// shares, flooring the accumulator strands less than one base unit per settlement.
    uint256 internal constant ACC_SCALE = 1e36;
    /// @notice Most shares one lease may have.
    uint256 internal constant MAX_SHARES = 1e30;

    /// @notice Unit-seconds a lease can bill in one epoch: units x epoch length.
    function capacity(uint256 units, uint256 epochLength) internal pure returns (uint256) {
        return units * epochLength;
    }

    /// @notice Rent for `delivered` unit-seconds, capped at the lease's capacity.
    function rent(uint256 delivered, uint256 cap, uint256 pricePerUnitHour) internal pure returns (uint256) {
        uint256 billable = delivered < cap ? delivered : cap;
        return billable * pricePerUnitHour / SECONDS_PER_HOUR;
    }

    /// @notice Rent of a fully delivered epoch: what holders are compensated from the bond when an
    /// epoch is missed or unproven (the owner's failure).
    function fullRent(uint256 cap, uint256 pricePerUnitHour) internal pure returns (uint256) {
        return cap * pricePerUnitHour / SECONDS_PER_HOUR;
    }

    /// @notice The energy pass-through of one epoch: the metered Wh, capped at what `cap`
    /// kW-seconds of power can draw (the power billed as available, at most the lease's kW for the
    /// whole epoch), at `pricePerKwh`. Never above `maxEnergyCharge`.
    function energyCharge(uint256 energyWh, uint256 cap, uint256 pricePerKwh)
        internal
        pure
        returns (uint256)
    {
        uint256 capWh = cap * WH_PER_KWH / SECONDS_PER_HOUR;
        uint256 billable = energyWh < capWh ? energyWh : capWh;
        return billable * pricePerKwh / WH_PER_KWH;
    }

    /// @notice The most one epoch's energy pass-through can be (the lease's kW drawn throughout):
    /// what the escrow holds per epoch for it, beside the full rent.
    function maxEnergyCharge(uint256 cap, uint256 pricePerKwh) internal pure returns (uint256) {
        return cap * pricePerKwh / SECONDS_PER_HOUR;
    }

    /// @notice SLA credit owed to the tenant when delivery falls below `slaBps` of capacity: the
    /// shortfall's rent value times `creditBps`. At most `rent(cap) * slaBps * creditBps`.
    function slaCredit(
        uint256 delivered,
        uint256 cap,
        uint256 pricePerUnitHour,
        uint256 slaBps,
        uint256 creditBps
    ) internal pure returns (uint256) {
        uint256 floor = cap * slaBps / BPS;
        if (delivered >= floor) return 0;
        return (floor - delivered) * pricePerUnitHour * creditBps / (SECONDS_PER_HOUR * BPS);
    }
}
