// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CapacityPricer} from "../../src/CapacityPricer.sol";
import {UsageReport} from "../../src/libraries/Types.sol";
import {BaseTest} from "../BaseTest.sol";

/// @notice BaseTest with a CapacityPricer at the deployment's parameters (target 80%, steepness 4,
/// 5% per reported epoch) and reports of a chosen utilization.
abstract contract PricerBase is BaseTest {
    CapacityPricer internal pricer;

    function setUp() public virtual override {
        super.setUp();
        pricer = new CapacityPricer(registry, 0.8e18, 4e18, 0.05e18);
    }

    /// Reports `epoch` with `busyBps` of the available GPU time busy (at the epoch's end).
    function _reportBusy(uint64 epoch, uint256 busyBps) internal {
        _warpToEpochEnd(epoch);
        UsageReport memory r = _report(epoch, keccak256(abi.encode("deliveries", epoch)));
        r.gpuSecondsBusy = uint40(uint256(r.gpuSecondsAvailable) * busyBps / 10_000);
        _submit(r);
    }
}
