// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CapacityPricer} from "../src/CapacityPricer.sol";
import {InvalidPriceCurve} from "../src/libraries/Errors.sol";
import {PricerBase} from "./utils/PricerBase.sol";

/// @notice Second-round review of CapacityPricer (target 80%, steepness 4, speed 5%: the
/// deployment's parameters in CapacityPricer.t.sol). Each test asserts the correct behaviour and
/// failed on the code the review read (fixed since).
contract PricerAttacks2Test is PricerBase {
    uint128 internal constant REFERENCE = 2_000_000;
    uint128 internal constant FLOOR = 1_000_000;

    /// R2-4. `_learn` stores the adapted price with an unchecked `uint128(...)` cast, but the
    /// ceiling it is clamped to is `referencePrice * 16`, up to 2^132. A reference above
    /// 2^128 / 16 (accepted by `setCurve`) makes a busy epoch wrap the price at target around:
    /// at `type(uint128).max`, one fully busy epoch drops it to ~5% of the reference and the quote
    /// of a saturated cluster collapses instead of rising.
    function test_R2_4_priceAtTargetWrapsAroundInsteadOfRising() public {
        vm.warp(_epochEnd(0));
        // A reference whose 16x ceiling would not fit the stored price is refused ...
        uint128 absurd = type(uint128).max;
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(InvalidPriceCurve.selector, absurd, 0));
        pricer.setCurve(clusterId, absurd, 0);
        // ... and the largest accepted one climbs, never wraps.
        uint128 refPrice = type(uint128).max / 16;
        vm.prank(owner);
        pricer.setCurve(clusterId, refPrice, 0);
        _reportBusy(1, 10_000); // saturated
        vm.warp(_epochEnd(1) + REPORT_WINDOW + 1);
        pricer.update(clusterId);
        CapacityPricer.Curve memory c = pricer.curveOf(clusterId);
        assertGe(c.priceAtTarget, refPrice, "a busy epoch never lowers the price at target");
    }

    /// R2-5. `update` walks one epoch at a time, 64 per call, through epochs with no report. After
    /// a quiet year (8,760 one-hour epochs with no report) the next report reaches the quote only
    /// after 137 calls (the keeper makes one per round); with 10-second epochs (allowed) a quiet
    /// year is 3.15 million epochs: ~49,000 calls before any new report counts. Nobody can skip
    /// ahead, so the quote stays stale for as long as catching up takes.
    function test_R2_5_aLongQuietSpellDelaysTheNextReportByGapOver64Calls() public {
        vm.warp(_epochEnd(0));
        vm.prank(owner);
        pricer.setCurve(clusterId, REFERENCE, FLOOR);
        _reportBusy(1, 2_000); // idle
        pricer.update(clusterId);

        uint64 back = 1 + 365 * 24; // a year later
        _reportBusy(back, 10_000); // saturated
        vm.warp(_epochEnd(back) + REPORT_WINDOW + 1);
        pricer.update(clusterId); // the keeper's round
        uint64 afterOne = pricer.curveOf(clusterId).lastReportedEpoch;
        uint256 calls = 1;
        uint256 gasUsed;
        while (pricer.curveOf(clusterId).lastReportedEpoch != back) {
            uint256 g = gasleft();
            pricer.update(clusterId);
            gasUsed += g - gasleft();
            ++calls;
        }
        emit log_named_uint("epochs since the last report", back - 1);
        emit log_named_uint("update calls to apply the new report", calls);
        emit log_named_uint("gas for those calls (approx.)", gasUsed);
        assertEq(afterOne, back, "one update applies the newest report after any gap");
    }

    /// R2-6. `nextEpoch == 0` doubles as "no curve yet", but 0 is also a real epoch. A curve set
    /// during epoch 0 keeps nextEpoch 0 until an update applies epoch 0, so a second `setCurve`
    /// re-initialises it to the current epoch and drops every report since: the owner picks which
    /// reports count (the threat model says it cannot). Here two idle epochs never reach the quote.
    function test_R2_6_setCurveInEpochZeroLetsTheOwnerDropReports() public {
        vm.prank(owner);
        pricer.setCurve(clusterId, REFERENCE, FLOOR); // epoch 0 (the cluster was just registered)
        _reportBusy(0, 1_000); // idle
        _reportBusy(1, 1_000); // idle
        vm.warp(_epochEnd(2)); // epoch 3: nobody has applied them yet (or the owner front-runs)
        vm.prank(owner);
        pricer.setCurve(clusterId, REFERENCE, FLOOR); // same curve
        emit log_named_uint("nextEpoch after the second setCurve", pricer.curveOf(clusterId).nextEpoch);
        _reportBusy(3, 10_000);
        vm.warp(_epochEnd(3) + REPORT_WINDOW + 1);
        pricer.update(clusterId);
        CapacityPricer.Curve memory c = pricer.curveOf(clusterId);
        emit log_named_uint("price at target", c.priceAtTarget);
        // Applying 0, 1 (idle) then 3 (busy) from the reference gives less than applying 3 alone.
        assertLt(c.priceAtTarget, 2_100_000, "the idle reports of epochs 0 and 1 were applied");
    }
}
