// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CapacityPricer} from "../src/CapacityPricer.sol";
import "../src/libraries/Errors.sol";
import {PricerBase} from "./utils/PricerBase.sol";

/// @notice The adaptive quote for new leases: utilization from accepted reports against a target
/// of 80%, steepness 4, 5% per reported epoch at full error, around the owner's reference and floor.
contract CapacityPricerTest is PricerBase {
    uint128 internal constant REFERENCE = 2_000_000; // $2.00 per GPU-hour
    uint128 internal constant FLOOR = 1_000_000;

    function setUp() public override {
        super.setUp();
        vm.warp(_epochEnd(0)); // the curve starts with epoch 1
        vm.prank(owner);
        pricer.setCurve(clusterId, REFERENCE, FLOOR);
    }

    function test_onlyTheOwnerSetsASaneCurve() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(NotClusterOwner.selector, clusterId, alice));
        pricer.setCurve(clusterId, REFERENCE, FLOOR);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(InvalidPriceCurve.selector, 1, 2));
        pricer.setCurve(clusterId, 1, 2);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(InvalidPriceCurve.selector, 0, 0));
        pricer.setCurve(clusterId, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(UnknownCluster.selector, 99));
        pricer.setCurve(99, REFERENCE, FLOOR);
        vm.expectRevert(abi.encodeWithSelector(NoPriceCurve.selector, 99));
        pricer.update(99);
        assertEq(pricer.quote(99), 0, "no curve, no quote");
        assertEq(pricer.quote(clusterId), REFERENCE, "before any report: the reference");
    }

    function test_aBusyClusterQuotesUpAtOnceAndKeepsClimbing() public {
        _reportBusy(1, 10_000);
        assertEq(pricer.update(clusterId), 4 * 2_100_000, "full: steepness x (reference x 1.05)");
        CapacityPricer.Curve memory c = pricer.curveOf(clusterId);
        assertEq(c.priceAtTarget, 2_100_000);
        assertEq(c.lastUtilizationBps, 10_000);
        assertEq(c.lastReportedEpoch, 1);
        _reportBusy(2, 10_000);
        assertEq(pricer.update(clusterId), 4 * 2_205_000, "another 5% at target");
    }

    function test_anIdleClusterQuotesDownAndDriftsToItsFloor() public {
        _reportBusy(1, 0);
        // err -1: price at target / 1.05, quote a quarter of it, but never below the floor.
        assertEq(pricer.update(clusterId), FLOOR);
        assertEq(pricer.curveOf(clusterId).priceAtTarget, uint256(REFERENCE) * 1e18 / 1.05e18);
        for (uint64 e = 2; e < 30; ++e) {
            _reportBusy(e, 0);
        }
        pricer.update(clusterId);
        assertEq(pricer.curveOf(clusterId).priceAtTarget, FLOOR, "the price at target stops at the floor");
        assertEq(pricer.quote(clusterId), FLOOR);
    }

    function test_onTargetTheQuoteIsThePriceAtTarget() public {
        _reportBusy(1, 8_000);
        assertEq(pricer.update(clusterId), REFERENCE);
        _reportBusy(2, 7_500); // err -6.25%: quote = pat x (1 - 0.75 x 0.0625)
        uint256 pat = uint256(REFERENCE) * 1e18 / (1e18 + 0.05e18 * 625 / 10_000);
        assertEq(pricer.update(clusterId), pat - pat * 0.75e18 / 1e18 * 625 / 10_000);
    }

    function test_anUpStepAndAnEqualDownStepCancel() public {
        _reportBusy(1, 10_000); // err +1
        _reportBusy(2, 0); // err -1
        pricer.update(clusterId);
        assertEq(pricer.curveOf(clusterId).priceAtTarget, REFERENCE);
    }

    function test_missedEpochsAreSkippedAndAPendingOneWaits() public {
        _reportBusy(1, 10_000);
        // Epoch 2 is never reported; epoch 3's report comes while 2's window is still open.
        _reportBusy(3, 10_000);
        vm.warp(_epochEnd(2) + REPORT_WINDOW); // epoch 2's report may still come
        pricer.update(clusterId);
        vm.expectRevert(abi.encodeWithSelector(QuoteUpToDate.selector, clusterId, 2));
        pricer.update(clusterId);
        assertEq(pricer.curveOf(clusterId).lastReportedEpoch, 1, "stops before epoch 2");
        assertEq(pricer.curveOf(clusterId).nextEpoch, 2);
        vm.warp(_epochEnd(2) + REPORT_WINDOW + 1);
        pricer.update(clusterId);
        CapacityPricer.Curve memory c = pricer.curveOf(clusterId);
        assertEq(c.lastReportedEpoch, 3, "epoch 2 missed: skipped");
        assertEq(c.priceAtTarget, 2_205_000, "two reported epochs applied, in order");
    }

    function test_updatesInAnyOrderOrByAnyoneGiveTheSameQuote() public {
        _reportBusy(1, 9_000);
        vm.prank(alice);
        pricer.update(clusterId);
        _reportBusy(2, 3_000);
        _reportBusy(3, 9_500);
        vm.prank(bob);
        uint256 stepwise = pricer.update(clusterId);

        // The same reports, one update at the end, on a fresh pricer.
        CapacityPricer fresh = new CapacityPricer(registry, 0.8e18, 4e18, 0.05e18);
        vm.warp(_epochEnd(0));
        vm.prank(owner);
        fresh.setCurve(clusterId, REFERENCE, FLOOR);
        vm.warp(_epochEnd(3) + 1);
        assertEq(fresh.update(clusterId), stepwise);
    }

    function test_aNewReferenceRestartsThePriceAtTarget() public {
        _reportBusy(1, 10_000);
        pricer.update(clusterId);
        vm.prank(owner);
        pricer.setCurve(clusterId, 3_000_000, 2_000_000);
        assertEq(pricer.curveOf(clusterId).priceAtTarget, 3_000_000);
        assertEq(pricer.quote(clusterId), 12_000_000, "the last utilization still applies");
        assertEq(pricer.curveOf(clusterId).nextEpoch, 2, "applied epochs stay applied");
    }

    function testFuzz_theQuoteStaysWithinFloorAndCeiling(uint256 seed) public {
        for (uint64 e = 1; e < 40; ++e) {
            _reportBusy(e, uint256(keccak256(abi.encode(seed, e))) % 10_001);
            uint256 q = pricer.update(clusterId);
            assertGe(q, FLOOR);
            assertLe(pricer.curveOf(clusterId).priceAtTarget, uint256(REFERENCE) * pricer.MAX_MULTIPLE());
            assertLe(q, uint256(REFERENCE) * pricer.MAX_MULTIPLE() * 4);
        }
    }
}
