// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CollateralFactory, NavOracleDeployer} from "../src/CollateralFactory.sol";
import {DemandResponse} from "../src/DemandResponse.sol";
import {LeaseNavOracle} from "../src/LeaseNavOracle.sol";
import {LeaseShareToken} from "../src/LeaseShareToken.sol";
import "../src/libraries/Errors.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {Billing, LeaseStatus, LeaseTerms, Unit, UsageReport} from "../src/libraries/Types.sol";
import {DemandResponseBase} from "./utils/DemandResponseBase.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";
import {PoweredShellBase} from "./utils/PoweredShellBase.sol";

/// @notice An independent review of powered-shell leases (Kw unit + energy pass-through) and their
/// NAV feed. Findings are fixed; each test states the property that now holds.
contract PowerAttacksShellTest is PoweredShellBase {
    function _oracleFor(uint256 id) internal returns (LeaseNavOracle oracle) {
        CollateralFactory factory = new CollateralFactory(market, 1_000, new NavOracleDeployer());
        (, oracle) = factory.create(id);
    }

    // ================================================================ findings, fixed

    /// F1 (High, fixed): LeaseNavOracle._rentPaid = F·(end−start) − escrow assumed the escrow holds
    /// rent only. A powered shell's escrow also holds the most energy of every epoch, so after the
    /// first settlement `price()` underflowed and reverted for a 10-epoch shell: Morpho could not
    /// price, lend against, withdraw or liquidate the collateral. The feed now takes the escrowed
    /// energy and the energy billed (`Lease.energyBilled`) out of what the escrow paid.
    function test_F1_navFeedRevertsForPoweredShellWithTariff() public {
        uint256 id = _shell(10);
        LeaseNavOracle oracle = _oracleFor(id);
        oracle.price(); // fine before anything settled
        _settleLeaf(id, 1, FULL_POWER, 1_500_000); // fully delivered, max energy
        assertGt(oracle.price(), 0, "priced, not reverted");
    }

    /// F1b (High, same root cause, fixed): with a short term the feed did not revert but valued a
    /// fully delivered shell at half its worth (ratio 0.5 instead of 1.0).
    function test_F1b_navFeedUnderstatesDeliveryRatioOfPoweredShell() public {
        uint256 id = _shell(3);
        LeaseNavOracle oracle = _oracleFor(id);
        _settleLeaf(id, 1, FULL_POWER, 1_500_000); // 100 % delivered
        assertEq(oracle.breakdown().ratio1e18, 1e18, "a fully delivered epoch is a full ratio");
    }

    // ================================================================ withstood

    /// Odd epoch length (rounding in cap·1000/3600), extreme units/prices/tariffs, a meter that
    /// claims uint64 max: escrow never underflows and the market holds exactly what it owes.
    function testFuzz_W_kwEscrowNeverUnderflowsWithRounding(
        uint32 units,
        uint128 price,
        uint128 tariff,
        uint64 wh
    ) public {
        units = uint32(bound(units, 1, 1_000_000));
        price = uint128(bound(price, 1, 1e9));
        tariff = uint128(bound(tariff, 1, 1e12));
        uint32 len = 11; // cap·1000/3600 rounds
        vm.prank(owner);
        uint64 c = registry.registerCluster("ipfs://odd", keccak256("odd"), len, attestors, 2);
        vm.prank(governance);
        usd.mint(owner, type(uint128).max / 4);
        vm.prank(governance);
        usd.mint(tenant, type(uint128).max / 4);
        vm.prank(owner);
        market.depositBond(c, address(usd), type(uint128).max / 8);
        LeaseTerms memory t = _shellTerms(1, 4);
        t.clusterId = c;
        t.units = units;
        t.pricePerUnitHour = price;
        t.energyPricePerKwh = tariff;
        vm.prank(owner);
        uint256 id = market.createLease(t);
        vm.prank(tenant);
        try market.fund(id) {}
        catch { // escrow above uint128: not fundable, fine
            return;
        }
        (,, uint64 genesis,) = registry.clusterInfo(c);
        for (uint64 e = 1; e < 4; ++e) {
            vm.warp(uint256(genesis) + (uint256(e) + 1) * len);
            UsageReport memory r = UsageReport({
                clusterId: c,
                epoch: e,
                gpusInstalled: 1,
                gpusHealthy: 1,
                gpuSecondsAvailable: len,
                gpuSecondsBusy: 0,
                itEnergyWh: 0,
                facilityEnergyWh: 0,
                deliveriesRoot: ReportLib.deliveryLeaf(id, e, type(uint64).max, wh),
                telemetryRoot: bytes32(0)
            });
            registry.submitReport(r, _sign(r, _keys(2)));
            skip(CHALLENGE_WINDOW);
            market.settle(id, e, type(uint64).max, wh, new bytes32[](0));
        }
        assertEq(uint8(market.getLease(id).status), uint8(LeaseStatus.Ended));
        assertEq(
            usd.balanceOf(address(market)),
            market.bondOf(clusterId, address(usd)).total + market.bondOf(c, address(usd)).total
                + market.getLease(id).escrow + market.getLease(id).rentPool + market.getLease(id).credits,
            "books"
        );
    }

    /// Late funding moves the start: the escrow is exactly the epochs left (rent + max energy),
    /// and max energy every remaining epoch empties it to zero, never below.
    function test_W_lateFundingEscrowCoversMaxEnergyExactly() public {
        vm.prank(owner);
        uint256 id = market.createLease(_shellTerms(2, 5));
        _warpToEpochEnd(2); // epoch 3 running: funding starts at 4
        vm.prank(tenant);
        market.fund(id);
        assertEq(market.getLease(id).startEpoch, 4);
        assertEq(market.getLease(id).escrow, EPOCH_RENT + MAX_ENERGY);
        _settleLeaf(id, 4, type(uint64).max, type(uint64).max);
        assertEq(market.getLease(id).escrow, 0);
    }

    /// A GPU lease is never billed energy, whatever energyWh its leaf carries.
    function test_W_gpuLeaseIgnoresEnergyInLeaf() public {
        uint256 id = _activeLease(1);
        uint256 bond = market.bondOf(clusterId, address(usd)).total;
        uint256 escrow = market.getLease(id).escrow;
        _warpToEpochEnd(1);
        _submit(_report(1, ReportLib.deliveryLeaf(id, 1, _full(), type(uint64).max)));
        skip(CHALLENGE_WINDOW);
        market.settle(id, 1, _full(), type(uint64).max, new bytes32[](0));
        assertEq(market.bondOf(clusterId, address(usd)).total, bond, "no energy to the bond");
        assertEq(escrow - market.getLease(id).escrow, _epochRent(), "only rent left escrow");
    }

    /// A tenant cannot dodge energy with a conflict made of a leaf and an inner node, nor settle
    /// with a leaf taken from the sibling of a curtailment leaf.
    function test_W_innerNodeOrCurtailmentLeafIsNotALeaseLeaf() public {
        uint256 id = _shell(1);
        bytes32[] memory leaves = new bytes32[](3);
        leaves[0] = ReportLib.deliveryLeaf(id, 1, FULL_POWER, 1_500_000);
        leaves[1] = keccak256("curtailment-ish");
        leaves[2] = ReportLib.deliveryLeaf(id + 1, 1, 1, 1);
        _warpToEpochEnd(1);
        _submit(_report(1, MerkleBuilder.root(leaves)));
        skip(CHALLENGE_WINDOW);
        // A proof whose "leaf" is the inner node over leaves 0 and 1.
        bytes32[] memory p = new bytes32[](1);
        p[0] = leaves[2];
        vm.expectPartialRevert(InvalidProof.selector);
        market.settle(id, 1, 0, 0, p);
        market.settle(id, 1, FULL_POWER, 1_500_000, MerkleBuilder.proof(leaves, 0));
    }
}

/// @notice An independent review of DemandResponse. Findings F2-F6 are fixed; each test states the
/// property that now holds.
contract PowerAttacksDemandResponseTest is DemandResponseBase {
    address internal sponsor2 = makeAddr("sponsor2");

    function setUp() public override {
        super.setUp();
        vm.prank(governance);
        usd.mint(sponsor2, 10_000e6);
    }

    /// The same site enrolled with the same load in sponsor 2's program; returns the enrollment.
    function _enrollInSecondProgram() internal returns (uint256 enrollment2) {
        vm.startPrank(sponsor2);
        uint256 program2 = dr.createProgram(address(usd), KWH_PRICE, PENALTY, drArbiter);
        usd.approve(address(dr), type(uint256).max);
        dr.fundProgram(program2, 1_000e6);
        vm.stopPrank();
        vm.startPrank(owner);
        enrollment2 = dr.enroll(program2, clusterId, COMMITTED_KW, payee);
        dr.depositSiteBond(enrollment2, 1_000e6);
        vm.stopPrank();
    }

    function _books() internal view {
        uint256 total;
        for (uint256 p = 1; p <= dr.programCount(); ++p) {
            (,,,,, uint128 funds) = dr.programs(p);
            total += funds;
        }
        for (uint256 e = 1; e <= dr.enrollmentCount(); ++e) {
            (,,,,, uint128 bond, uint128 locked) = dr.enrollments(e);
            total += bond + locked;
        }
        for (uint256 id = 1; id <= dr.eventCount(); ++id) {
            DemandResponse.CurtailmentEvent memory ev = dr.eventOf(id);
            (DemandResponse.EventStatus st, uint128 r) = (ev.status, ev.reserved);
            if (st != DemandResponse.EventStatus.Settled) total += r;
        }
        total += dr.owed(address(usd), payee) + dr.owed(address(usd), sponsor)
        + dr.owed(address(usd), sponsor2);
        assertEq(usd.balanceOf(address(dr)), total, "DR books");
    }

    // ================================================================ findings, fixed

    /// F2 (Medium, fixed): after an unruled contest "the attestation stands", yet a report sent at
    /// the end of the report window and contested in the last second of the review window left
    /// the site 2 seconds to settle before anyone could `settleUnattested`, which ignored the
    /// attested leaf: a full shed was penalized in full and unpaid. A contested event's deadline
    /// is now at least a review window after its resolution deadline, and an event whose leaf was
    /// shown (`proveReceipt`, or `settle`) never closes as unattested.
    function test_F2_lastSecondContestTurnsAttestedCurtailmentIntoFullPenalty() public {
        uint256 id = _dispatch();
        dr.acknowledge(id, _ackSig(id, attestorKeys[0]));
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = ReportLib.deliveryLeaf(7, 2, 1_000, 10);
        leaves[1] = dr.curtailmentLeaf(id, clusterId, 2_600_000, 100_000); // shed 2,500 kWh: all
        vm.warp(_epochEnd(2) + REPORT_WINDOW); // last second of the report window (legal)
        _submit(_report(2, MerkleBuilder.root(leaves)));
        skip(30 minutes - 1); // last second of the review window
        vm.prank(sponsor);
        dr.contest(id);
        uint64 resolveBy = dr.eventOf(id).resolveBy;
        // The arbiter does not rule. One block after resolveBy the sponsor tries to close the
        // event as unattested: the site still has a review window to settle with its leaf.
        vm.warp(uint256(resolveBy) + 12);
        vm.prank(sponsor);
        vm.expectPartialRevert(AttestationWindowOpen.selector);
        dr.settleUnattested(id);
        dr.settle(id, 2_600_000, 100_000, MerkleBuilder.proof(leaves, 1));
        assertEq(dr.owed(address(usd), payee), RESERVE, "the attested, unruled curtailment is paid");
        assertEq(dr.owed(address(usd), sponsor), 0, "no penalty for shedding everything");
    }

    /// F3 (Medium, fixed): no bound on how far ahead an event could start: a 1-hour event 50
    /// years out locked half the site's bond for 50 years. Events now start within `MAX_NOTICE`
    /// and last at most `MAX_DURATION`, so a bond is never locked for more than about 8 days plus
    /// the attestation deadline.
    function test_F3_farFutureDispatchFreezesSiteBond() public {
        uint64 start = uint64(block.timestamp + 50 * 365 days);
        vm.prank(sponsor);
        vm.expectPartialRevert(InvalidEventWindow.selector);
        dr.dispatch(enrollment, start, start + 1 hours);
        uint64 soon = uint64(block.timestamp + 1 hours);
        vm.prank(sponsor);
        vm.expectPartialRevert(InvalidEventWindow.selector);
        dr.dispatch(enrollment, soon, soon + 1 days + 1);
        vm.prank(sponsor);
        uint256 id = dr.dispatch(enrollment, soon, soon + 1 hours);
        vm.prank(owner);
        dr.unenroll(enrollment);
        vm.warp(dr.attestationDeadline(id) + 1);
        dr.settleUnattested(id);
        uint256 before = usd.balanceOf(owner);
        vm.prank(owner);
        dr.withdrawSiteBond(enrollment, 1_000e6);
        assertEq(usd.balanceOf(owner) - before, 1_000e6, "the site recovers its bond after leaving");
    }

    /// F4 (Medium, fixed): `acknowledge` checked the signer against the attestor set of the report
    /// epoch as of relay time. The site signed the receipt, then rotated its set from the next
    /// epoch on, front-running the sponsor's relay: the receipt was void and the site escaped the
    /// penalty. The signer is now checked against the set in force at dispatch.
    function test_F4_siteVoidsItsSignedAckByRotatingAttestors() public {
        vm.warp(_epochEnd(0)); // epoch 1
        uint64 start = uint64(_epochEnd(2) + 10 minutes); // an event in epoch 3
        vm.prank(sponsor);
        uint256 id = dr.dispatch(enrollment, start, start + 30 minutes);
        bytes memory ack = _ackSig(id, attestorKeys[0]); // the site's VEN signs the receipt
        // Front-run: a new set from epoch 2 on.
        address[] memory fresh = new address[](1);
        fresh[0] = makeAddr("fresh-attestor");
        vm.prank(owner);
        registry.rotateAttestors(clusterId, fresh, 1, 2, new bytes[](0));
        try dr.acknowledge(id, ack) {}
        catch (bytes memory err) {
            assertEq(bytes4(err), NotAttestor.selector); // the relay is refused as a stranger's
        }
        bool acknowledged = dr.eventOf(id).acknowledged;
        assertTrue(acknowledged, "a receipt the site signed binds it");
        vm.warp(dr.attestationDeadline(id) + 1);
        dr.settleUnattested(id);
        assertEq(dr.owed(address(usd), sponsor), MAX_PENALTY, "ignored acknowledged event penalized");
    }

    /// F5 (Medium, fixed): a contested-and-ruled event was penalized only if acknowledged, although
    /// the site's own leaf proved receipt: lying (an inflated leaf, contested and ruled 0) cost
    /// nothing where an honest zero-drop leaf cost the full penalty. Anyone may now show the leaf
    /// (`proveReceipt`), and a ruling penalizes the shortfall of an event the site received.
    function test_F5_lyingLeafThenRulingEscapesThePenaltyAnHonestLeafPays() public {
        uint256 id = _dispatch();
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = ReportLib.deliveryLeaf(7, 2, 1_000, 10);
        leaves[1] = dr.curtailmentLeaf(id, clusterId, 2_600_000, 100_000); // a lie: nothing shed
        _warpToEpochEnd(2);
        _submit(_report(2, MerkleBuilder.root(leaves)));
        vm.prank(sponsor);
        dr.contest(id);
        dr.proveReceipt(id, 2_600_000, 100_000, MerkleBuilder.proof(leaves, 1)); // the published lie
        vm.prank(drArbiter);
        dr.rule(id, 0); // telemetry: no drop at all
        dr.settle(id, 0, 0, new bytes32[](0));
        assertEq(dr.owed(address(usd), sponsor), MAX_PENALTY, "as an honest zero-curtailment leaf would");
    }

    /// F6 (Low/Medium, fixed): one cluster could enroll the same load in two programs and be
    /// dispatched for overlapping windows: one facility-meter drop was paid twice. A cluster's
    /// events, across every program, no longer overlap (`ClusterBusy`).
    function test_F6_sameCurtailmentPaidByTwoPrograms() public {
        uint256 enrollment2 = _enrollInSecondProgram();
        uint64 start = uint64(_epochEnd(1) + 10 minutes);
        vm.warp(_epochEnd(1));
        vm.prank(sponsor);
        uint256 a = dr.dispatch(enrollment, start, start + 30 minutes);
        vm.prank(sponsor2);
        vm.expectRevert(abi.encodeWithSelector(ClusterBusy.selector, clusterId, start + 30 minutes));
        dr.dispatch(enrollment2, start + 29 minutes, start + 59 minutes);
        vm.prank(sponsor2);
        uint256 b = dr.dispatch(enrollment2, start + 30 minutes, start + 40 minutes); // back to back is fine
        assertEq(b, a + 1);
    }

    // ------------------------------------------------ second review (R2), fixed

    /// R2-1 (High, fixed): contests required the curtailment leaf, which only the site holds (the
    /// registry keeps the root): a site that withheld its tree until the review window closed got a
    /// false "shed it all" leaf paid in full. A contest needs no leaf now; a ruling penalizes a
    /// shortfall only if the site received the event (acknowledged, or its leaf shown).
    function test_R2_1_siteWithholdsTreeSoSponsorCannotContestALie() public {
        uint256 id = _dispatch();
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = ReportLib.deliveryLeaf(7, 2, 1_000, 10);
        leaves[1] = dr.curtailmentLeaf(id, clusterId, 2_600_000, 100_000); // a lie: "shed it all"
        _warpToEpochEnd(2);
        _submit(_report(2, MerkleBuilder.root(leaves))); // only the root is public
        vm.prank(sponsor);
        dr.contest(id); // the sponsor's meter data says nothing was shed
        vm.prank(drArbiter);
        dr.rule(id, 0);
        skip(30 minutes);
        dr.settle(id, 2_600_000, 100_000, MerkleBuilder.proof(leaves, 1)); // the ruling counts
        assertEq(dr.owed(address(usd), payee), 0, "the lie is not paid");
        assertEq(dr.owed(address(usd), sponsor), 0, "never acknowledged, leaf never shown: no penalty");
        _books();
    }

    /// R2-2 (Medium, fixed): one far-ahead event blocked every other program's earlier event for
    /// up to 7 days (the calendar keeps only the latest end). The site now declines an event it
    /// has not acknowledged before it starts, which frees the calendar if it was the latest.
    function test_R2_2_oneFarAheadEventBlocksOtherProgramsForAWeek() public {
        uint256 enrollment2 = _enrollInSecondProgram();
        vm.warp(_epochEnd(1));
        uint64 farStart = uint64(block.timestamp + 7 days);
        vm.prank(sponsor);
        uint256 squat = dr.dispatch(enrollment, farStart, farStart + 1);
        uint64 s = uint64(block.timestamp + 1 days);
        vm.prank(sponsor2);
        vm.expectPartialRevert(ClusterBusy.selector);
        dr.dispatch(enrollment2, s, s + 1 hours);
        vm.prank(sponsor);
        vm.expectPartialRevert(NotClusterOwner.selector);
        dr.decline(squat); // only the site declines
        vm.prank(owner);
        dr.decline(squat);
        vm.prank(sponsor2);
        dr.dispatch(enrollment2, s, s + 1 hours);
        _books();
    }

    /// R2-3 (Medium, fixed): the registry answers for an epoch with its current sets, so after two
    /// rotations the dispatch epoch read as the promoted set and a receipt signed by the set in
    /// force at dispatch was refused. The event now records that set's id (sets never change).
    function test_R2_3_twoRotationsVoidAnAckOfTheDispatchTimeSet() public {
        vm.warp(_epochEnd(0)); // epoch 1
        uint64 start = uint64(_epochEnd(4) + 10 minutes); // an event in epoch 5
        vm.prank(sponsor);
        uint256 id = dr.dispatch(enrollment, start, start + 30 minutes);
        address[] memory b = new address[](1);
        b[0] = makeAddr("set-B");
        vm.prank(owner);
        registry.rotateAttestors(clusterId, b, 1, 2, new bytes[](0)); // B from epoch 2
        vm.warp(_epochEnd(2) + 1); // epoch 3, past epoch 1's report deadline
        address[] memory c = new address[](1);
        c[0] = makeAddr("set-C");
        vm.prank(owner);
        registry.rotateAttestors(clusterId, c, 1, 4, new bytes[](0)); // promotes B, C from 4
        vm.warp(start - 1); // the last second a receipt is accepted
        dr.acknowledge(id, _ackSig(id, attestorKeys[0])); // a key of the set in force at dispatch
        assertTrue(dr.eventOf(id).acknowledged);
        vm.warp(dr.attestationDeadline(id) + 1);
        dr.settleUnattested(id);
        assertEq(dr.owed(address(usd), sponsor), MAX_PENALTY, "an ignored acknowledged event is penalized");
    }

    /// R2-4 (Low, fixed): a site with a rotation scheduled could not acknowledge with its new
    /// set's key. Any set verifying the current or the report epoch may acknowledge now.
    function test_R2_4_ackByTheSetInForceAtTheEventRefused() public {
        vm.warp(_epochEnd(0)); // epoch 1
        (address fresh, uint256 freshKey) = makeAddrAndKey("fresh-attestor");
        address[] memory b = new address[](1);
        b[0] = fresh;
        vm.prank(owner);
        registry.rotateAttestors(clusterId, b, 1, 2, new bytes[](0)); // B from epoch 2
        uint64 start = uint64(_epochEnd(3) + 10 minutes); // an event in epoch 4
        vm.prank(sponsor);
        uint256 id = dr.dispatch(enrollment, start, start + 30 minutes);
        vm.warp(start - 1);
        dr.acknowledge(id, _ackSig(id, freshKey));
        assertTrue(dr.eventOf(id).acknowledged);
    }

    /// R3-H1 (High, fixed): a receipt was accepted until settlement, so a site could wait, watch
    /// its meter, and acknowledge only an event whose load happened to drop (paid), never one
    /// whose load did not (an unacknowledged event closes with no penalty). A receipt is now
    /// accepted only before the event starts.
    function test_R3_H1_aSiteCannotAcknowledgeAfterSeeingItsMeter() public {
        uint256 id = _dispatch();
        bytes memory ack = _ackSig(id, attestorKeys[0]);
        uint64 start = dr.eventOf(id).start;
        vm.warp(start);
        vm.expectRevert(abi.encodeWithSelector(AcknowledgementTooLate.selector, id, start));
        dr.acknowledge(id, ack);
        vm.warp(dr.eventOf(id).end + 1);
        vm.expectRevert(abi.encodeWithSelector(AcknowledgementTooLate.selector, id, start));
        dr.acknowledge(id, ack);
        assertFalse(dr.eventOf(id).acknowledged);
    }

    /// A declined event is closed: a receipt relayed afterwards changes nothing and is refused.
    function test_W_aDeclinedEventCannotBeAcknowledged() public {
        uint256 id = _dispatch();
        bytes memory ack = _ackSig(id, attestorKeys[0]);
        vm.prank(owner);
        dr.decline(id);
        vm.expectPartialRevert(WrongEventStatus.selector);
        dr.acknowledge(id, ack);
        assertEq(dr.busyUntil(clusterId), 0, "the calendar is free again");
        _books();
    }

    /// A site cannot decline an event it acknowledged, nor one that has begun.
    function test_W_aSiteCannotDeclineAnAcknowledgedOrStartedEvent() public {
        uint256 id = _dispatch();
        dr.acknowledge(id, _ackSig(id, attestorKeys[0]));
        vm.prank(owner);
        vm.expectPartialRevert(WrongEventStatus.selector);
        dr.decline(id);
        uint64 start = uint64(block.timestamp + 45 minutes);
        vm.prank(sponsor);
        uint256 other = dr.dispatch(enrollment, start, start + 5 minutes);
        vm.warp(start);
        vm.prank(owner);
        vm.expectPartialRevert(WrongEventStatus.selector);
        dr.decline(other);
    }

    // ================================================================ withstood

    function test_W_noDoubleSettlementAnyOrder() public {
        uint256 id = _dispatch();
        bytes32 leaf = dr.curtailmentLeaf(id, clusterId, 2_600_000, 100_000);
        _warpToEpochEnd(2);
        _submit(_report(2, leaf));
        skip(30 minutes);
        dr.settle(id, 2_600_000, 100_000, new bytes32[](0));
        vm.warp(dr.attestationDeadline(id) + 1);
        vm.expectPartialRevert(WrongEventStatus.selector);
        dr.settleUnattested(id);
        vm.expectPartialRevert(WrongEventStatus.selector);
        dr.settle(id, 2_600_000, 100_000, new bytes32[](0));
        vm.prank(sponsor);
        vm.expectPartialRevert(WrongEventStatus.selector);
        dr.contest(id);
        _books();
    }

    function test_W_unattestedThenSettleAndRuleAfterDeadlineRevert() public {
        uint256 id = _dispatch();
        bytes32 leaf = dr.curtailmentLeaf(id, clusterId, 2_600_000, 100_000);
        _warpToEpochEnd(2);
        _submit(_report(2, leaf));
        vm.prank(sponsor);
        dr.contest(id);
        vm.warp(dr.attestationDeadline(id) + 1);
        vm.prank(drArbiter);
        vm.expectPartialRevert(WrongEventStatus.selector);
        dr.rule(id, 0); // past resolveBy
        dr.settleUnattested(id); // nobody showed the leaf by the deadline, none acknowledged
        assertEq(dr.owed(address(usd), payee), 0);
        assertEq(dr.owed(address(usd), sponsor), 0);
        vm.expectPartialRevert(WrongEventStatus.selector);
        dr.settle(id, 2_600_000, 100_000, new bytes32[](0));
        (,,,,, uint128 bond, uint128 locked) = dr.enrollments(enrollment);
        assertEq(bond, 1_000e6);
        assertEq(locked, 0);
        _books();
    }

    function test_W_ackReplayAcrossEventsAndDeployments() public {
        uint256 id1 = _dispatch();
        vm.prank(sponsor);
        uint256 id2 = dr.dispatch(
            enrollment, uint64(block.timestamp + 45 minutes), uint64(block.timestamp + 50 minutes)
        );
        bytes memory ack1 = _ackSig(id1, attestorKeys[0]);
        vm.expectPartialRevert(NotAttestor.selector);
        dr.acknowledge(id2, ack1);
        DemandResponse other = new DemandResponse(registry, 30 minutes, 2 hours);
        vm.startPrank(sponsor);
        uint256 p = other.createProgram(address(usd), KWH_PRICE, PENALTY, drArbiter);
        usd.approve(address(other), type(uint256).max);
        other.fundProgram(p, 1_000e6);
        vm.stopPrank();
        vm.startPrank(owner);
        uint256 en = other.enroll(p, clusterId, COMMITTED_KW, payee);
        usd.approve(address(other), type(uint256).max);
        other.depositSiteBond(en, 1_000e6);
        vm.stopPrank();
        vm.prank(sponsor);
        uint256 oid =
            other.dispatch(en, uint64(block.timestamp + 20 minutes), uint64(block.timestamp + 50 minutes));
        assertEq(oid, id1);
        vm.expectPartialRevert(NotAttestor.selector);
        other.acknowledge(oid, ack1);
    }

    function test_W_leafOfOtherEventClusterOrEpochRejected() public {
        uint256 id = _dispatch();
        vm.prank(sponsor);
        uint256 id2 = dr.dispatch(
            enrollment, uint64(block.timestamp + 45 minutes), uint64(block.timestamp + 50 minutes)
        );
        bytes32[] memory leaves = new bytes32[](3);
        leaves[0] = dr.curtailmentLeaf(id2, clusterId, 2_600_000, 100_000);
        leaves[1] = dr.curtailmentLeaf(id, clusterId + 1, 2_600_000, 100_000);
        leaves[2] = ReportLib.deliveryLeaf(id, 2, 2_600_000, 100_000);
        _warpToEpochEnd(2);
        _submit(_report(2, MerkleBuilder.root(leaves)));
        skip(30 minutes);
        for (uint256 i; i < 3; ++i) {
            vm.expectPartialRevert(InvalidCurtailmentProof.selector);
            dr.settle(id, 2_600_000, 100_000, MerkleBuilder.proof(leaves, i));
        }
        // Inner node over leaves 0 and 1 as "leaf" with leaf 2 as proof.
        bytes32[] memory p = new bytes32[](1);
        p[0] = leaves[2];
        vm.expectPartialRevert(InvalidCurtailmentProof.selector);
        dr.settle(id, 0, 0, p);
    }

    /// An event spanning epochs 2-3 is attested in epoch 3's report, not in epoch 2's.
    function test_W_eventSpanningEpochsReportedInEndEpoch() public {
        uint64 start = uint64(_epochEnd(1) + 50 minutes);
        vm.warp(_epochEnd(1));
        vm.prank(sponsor);
        uint256 id = dr.dispatch(enrollment, start, start + 20 minutes);
        uint64 reportEpoch = dr.eventOf(id).reportEpoch;
        assertEq(reportEpoch, 3);
        bytes32 leaf = dr.curtailmentLeaf(id, clusterId, 2_000_000, 0);
        _warpToEpochEnd(2);
        _submit(_report(2, leaf)); // attested in the wrong epoch
        skip(30 minutes);
        vm.expectPartialRevert(NoReport.selector);
        dr.settle(id, 2_000_000, 0, new bytes32[](0));
        _warpToEpochEnd(3);
        _submit(_report(3, leaf));
        skip(30 minutes);
        dr.settle(id, 2_000_000, 0, new bytes32[](0));
        _books();
    }

    /// Unenrolling mid-event (site or sponsor) leaves the event to settle; the lock is released.
    function test_W_unenrollMidEventStillSettles() public {
        uint256 id = _dispatch();
        dr.acknowledge(id, _ackSig(id, attestorKeys[1]));
        vm.prank(owner);
        dr.unenroll(enrollment);
        vm.warp(dr.attestationDeadline(id) + 1);
        dr.settleUnattested(id);
        assertEq(dr.owed(address(usd), sponsor), MAX_PENALTY);
        (,,,,, uint128 bond, uint128 locked) = dr.enrollments(enrollment);
        assertEq(bond, 1_000e6 - MAX_PENALTY);
        assertEq(locked, 0);
        _books();
    }

    /// A sponsor that walks away cannot strand the site: an unacknowledged event nobody attested
    /// closes after the deadline and releases reserve and lock; the site's payouts are pull-based.
    function testFuzz_W_manyEventsConserveMoney(uint8 n, uint256 seed) public {
        n = uint8(bound(n, 1, 6));
        vm.warp(_epochEnd(1));
        uint256[] memory ids = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            uint64 start = uint64(block.timestamp + 1 + i * 10 minutes);
            vm.prank(sponsor);
            ids[i] = dr.dispatch(enrollment, start, start + 5 minutes + uint64(seed >> i & 0xff));
            if ((seed >> (i + 100)) & 1 == 1) dr.acknowledge(ids[i], _ackSig(ids[i], attestorKeys[0]));
        }
        _books();
        vm.warp(block.timestamp + 30 days);
        for (uint256 i; i < n; ++i) {
            dr.settleUnattested(ids[i]);
        }
        _books();
        (,,,,, uint128 bond, uint128 locked) = dr.enrollments(enrollment);
        assertEq(locked, 0);
        assertLe(bond, 1_000e6);
    }
}
