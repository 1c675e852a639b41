// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReportLib} from "../../src/libraries/ReportLib.sol";
import {LeaseTerms, Unit} from "../../src/libraries/Types.sol";
import {BaseTest} from "../BaseTest.sol";

/// @notice A powered shell on the shared cluster: 1,500 kW at $0.20 per kW-hour of capacity, energy
/// passed through at $0.05 per kWh, a 99.9 % availability SLA.
abstract contract PoweredShellBase is BaseTest {
    uint32 internal constant KW = 1_500;
    uint128 internal constant PRICE_PER_KW_HOUR = 200_000; // $0.20 per kW-hour of capacity
    uint128 internal constant TARIFF = 50_000; // $0.05 per kWh
    uint64 internal constant FULL_POWER = uint64(KW) * EPOCH; // kW-seconds in one epoch
    uint256 internal constant EPOCH_RENT = uint256(KW) * PRICE_PER_KW_HOUR; // $300 per 1-hour epoch
    uint256 internal constant MAX_ENERGY = uint256(KW) * TARIFF; // 1,500 kWh at $0.05: $75

    function _shellTerms(uint64 start, uint64 end) internal view returns (LeaseTerms memory t) {
        t = _terms(start, end);
        t.unit = Unit.Kw;
        t.units = KW;
        t.pricePerUnitHour = PRICE_PER_KW_HOUR;
        t.energyPricePerKwh = TARIFF;
        t.slaBps = 9_990; // 99.9 % power availability
    }

    /// A funded shell over epochs [1, 1 + epochs).
    function _shell(uint64 epochs) internal returns (uint256 id) {
        vm.prank(owner);
        id = market.createLease(_shellTerms(1, 1 + epochs));
        vm.prank(tenant);
        market.fund(id);
    }

    function _reportLeaf(uint256 id, uint64 epoch, uint64 delivered, uint64 energyWh) internal {
        _warpToEpochEnd(epoch);
        _submit(_report(epoch, ReportLib.deliveryLeaf(id, epoch, delivered, energyWh)));
    }

    function _settleLeaf(uint256 id, uint64 epoch, uint64 delivered, uint64 energyWh) internal {
        _reportLeaf(id, epoch, delivered, energyWh);
        skip(CHALLENGE_WINDOW);
        market.settle(id, epoch, delivered, energyWh, new bytes32[](0));
    }
}
