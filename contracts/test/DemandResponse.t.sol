// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DemandResponse} from "../src/DemandResponse.sol";
import "../src/libraries/Errors.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {DemandResponseBase} from "./utils/DemandResponseBase.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";

/// @notice Demand response paid on attested curtailment: a sponsor funds a program, a site enrolls
/// 5,000 kW of miners as flexible load, the sponsor dispatches a 30-minute event, and the site's
/// report attests baseline and actual facility energy as a leaf of its deliveries tree.
contract DemandResponseTest is DemandResponseBase {
    /// Epoch 2's report with a lease leaf and the event's curtailment leaf; returns its proof.
    function _attest(uint256 eventId, uint64 baselineWh, uint64 actualWh)
        internal
        returns (bytes32[] memory)
    {
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = ReportLib.deliveryLeaf(7, 2, 1_000, 10);
        leaves[1] = dr.curtailmentLeaf(eventId, clusterId, baselineWh, actualWh);
        _warpToEpochEnd(2);
        _submit(_report(2, MerkleBuilder.root(leaves)));
        return MerkleBuilder.proof(leaves, 1);
    }

    function _ack(uint256 eventId, uint256 key) internal {
        dr.acknowledge(eventId, _ackSig(eventId, key));
    }

    function _balanceBooks() internal view {
        (,,,,, uint128 funds) = dr.programs(program);
        (,,,,, uint128 bond, uint128 locked) = dr.enrollments(enrollment);
        uint256 reserved;
        for (uint256 id = 1; id <= dr.eventCount(); ++id) {
            DemandResponse.CurtailmentEvent memory ev = dr.eventOf(id);
            (DemandResponse.EventStatus status, uint128 r) = (ev.status, ev.reserved);
            if (status != DemandResponse.EventStatus.Settled) reserved += r;
        }
        uint256 owed = dr.owed(address(usd), payee) + dr.owed(address(usd), sponsor);
        assertEq(usd.balanceOf(address(dr)), funds + reserved + bond + locked + owed, "books balance");
    }

    // ------------------------------------------------------------ paid on attestation

    function test_attestedCurtailmentIsPaidAtPriceTimesKwh() public {
        uint256 id = _dispatch();
        (,,,,, uint128 funds) = dr.programs(program);
        assertEq(funds, 1_000e6 - RESERVE, "the dispatch reserved the most it can pay");
        bytes32[] memory proof = _attest(id, 2_600_000, 100_000); // shed 2,500 kWh
        skip(30 minutes);
        dr.settle(id, 2_600_000, 100_000, proof);
        assertEq(dr.owed(address(usd), payee), RESERVE, "2,500 kWh x $0.20");
        assertEq(dr.owed(address(usd), sponsor), 0, "no shortfall, no penalty");
        vm.prank(payee);
        assertEq(dr.withdraw(address(usd)), RESERVE);
        assertEq(usd.balanceOf(payee), RESERVE);
        _balanceBooks();
    }

    function test_aShortfallIsPaidForWhatWasShedAndPenalizedForTheRest() public {
        uint256 id = _dispatch();
        _ack(id, attestorKeys[0]);
        bytes32[] memory proof = _attest(id, 2_600_000, 1_100_000); // shed 1,500 of 2,500 kWh
        skip(30 minutes);
        dr.settle(id, 2_600_000, 1_100_000, proof);
        assertEq(dr.owed(address(usd), payee), 300e6, "1,500 kWh x $0.20");
        assertEq(dr.owed(address(usd), sponsor), 100e6, "1,000 kWh short x $0.10");
        (,,,,, uint128 bond, uint128 locked) = dr.enrollments(enrollment);
        assertEq(bond, 1_000e6 - 100e6);
        assertEq(locked, 0);
        _balanceBooks();
    }

    function test_overCurtailingEarnsNoMoreThanTheCommitment() public {
        uint256 id = _dispatch();
        bytes32[] memory proof = _attest(id, 9_000_000, 0);
        skip(30 minutes);
        dr.settle(id, 9_000_000, 0, proof);
        assertEq(dr.owed(address(usd), payee), RESERVE);
        _balanceBooks();
    }

    // ------------------------------------------------------------ no event received, no event kept

    function test_vtnDownForTheEventMeansNoPayoutAndNoPenalty() public {
        uint256 id = _dispatch();
        // The site never received the event: no acknowledgement, its report has no leaf for it.
        _warpToEpochEnd(2);
        _submit(_report(2, ReportLib.deliveryLeaf(7, 2, 1_000, 10)));
        vm.expectPartialRevert(AttestationWindowOpen.selector);
        dr.settleUnattested(id);
        vm.warp(dr.attestationDeadline(id) + 1);
        dr.settleUnattested(id);
        assertEq(dr.owed(address(usd), payee), 0, "no payout invented");
        assertEq(dr.owed(address(usd), sponsor), 0, "no penalty invented");
        (,,,,, uint128 funds) = dr.programs(program);
        assertEq(funds, 1_000e6, "the reserve is back in the program");
        (,,,,, uint128 bond, uint128 locked) = dr.enrollments(enrollment);
        assertEq(bond, 1_000e6);
        assertEq(locked, 0);
        _balanceBooks();
    }

    function test_anAcknowledgedEventLeftUnattestedIsPenalizedInFull() public {
        uint256 id = _dispatch();
        _ack(id, attestorKeys[1]);
        vm.warp(dr.attestationDeadline(id) + 1);
        dr.settleUnattested(id);
        assertEq(dr.owed(address(usd), payee), 0);
        assertEq(dr.owed(address(usd), sponsor), MAX_PENALTY);
        _balanceBooks();
    }

    function test_onlyTheSitesAttestorsCanAcknowledge() public {
        uint256 id = _dispatch();
        (address stranger, uint256 strangerKey) = makeAddrAndKey("stranger");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(strangerKey, dr.ackDigest(id));
        vm.expectRevert(abi.encodeWithSelector(NotAttestor.selector, stranger));
        dr.acknowledge(id, abi.encodePacked(r, s, v));
    }

    // ------------------------------------------------------------ money is there before the event

    function test_aSponsorCannotDispatchWhatItHasNotFundedNorTakeBackWhatItReserved() public {
        vm.prank(sponsor);
        dr.withdrawProgramFunds(program, 600e6); // 400 left: less than one event's 500
        uint64 start = uint64(block.timestamp + 1 hours);
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(InsufficientProgramFunds.selector, RESERVE, 400e6));
        dr.dispatch(enrollment, start, start + 30 minutes);
        vm.prank(sponsor);
        dr.fundProgram(program, 100e6);
        _dispatch();
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(InsufficientProgramFunds.selector, 1, 0));
        dr.withdrawProgramFunds(program, 1);
    }

    function test_aSiteCannotWithdrawTheBondAnEventLocked() public {
        _dispatch();
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(BondLocked.selector, 1_000e6, 1_000e6 - MAX_PENALTY));
        dr.withdrawSiteBond(enrollment, 1_000e6);
    }

    function test_onlyTheSponsorDispatchesAndOnlyIntoTheFuture() public {
        uint64 start = uint64(block.timestamp + 1 hours);
        vm.expectRevert(abi.encodeWithSelector(NotSponsor.selector, program, address(this)));
        dr.dispatch(enrollment, start, start + 1);
        vm.prank(sponsor);
        vm.expectRevert(
            abi.encodeWithSelector(
                InvalidEventWindow.selector, uint64(block.timestamp), uint64(block.timestamp + 60)
            )
        );
        dr.dispatch(enrollment, uint64(block.timestamp), uint64(block.timestamp + 60));
        vm.prank(owner);
        dr.unenroll(enrollment);
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(EnrollmentInactive.selector, enrollment));
        dr.dispatch(enrollment, start, start + 60);
    }

    // ------------------------------------------------------------ a lying site

    function test_anInflatedBaselineIsContestedAndRuled() public {
        uint256 id = _dispatch();
        _ack(id, attestorKeys[0]);
        bytes32[] memory proof = _attest(id, 5_000_000, 2_500_000); // claims 2,500 kWh shed
        vm.prank(sponsor);
        dr.contest(id);
        vm.expectPartialRevert(CurtailmentContestOpen.selector);
        dr.settle(id, 5_000_000, 2_500_000, proof);
        vm.prank(drArbiter);
        dr.rule(id, 1_000_000); // the telemetry archive shows a 1,000 kWh drop
        dr.settle(id, 0, 0, new bytes32[](0));
        assertEq(dr.owed(address(usd), payee), 200e6);
        assertEq(dr.owed(address(usd), sponsor), 150e6);
        _balanceBooks();
    }

    function test_anUnruledContestLetsTheAttestationStand() public {
        uint256 id = _dispatch();
        bytes32[] memory proof = _attest(id, 2_600_000, 100_000);
        vm.prank(sponsor);
        dr.contest(id);
        skip(2 hours);
        dr.settle(id, 2_600_000, 100_000, proof);
        assertEq(dr.owed(address(usd), payee), RESERVE);
    }

    function test_aLeafNotInTheReportOrALeaseLeafIsNotCurtailment() public {
        uint256 id = _dispatch();
        bytes32[] memory proof = _attest(id, 2_600_000, 100_000);
        skip(30 minutes);
        vm.expectRevert(abi.encodeWithSelector(InvalidCurtailmentProof.selector, id));
        dr.settle(id, 2_600_000, 0, proof); // claims more shed than attested
        bytes32[] memory leaseSide = new bytes32[](1);
        leaseSide[0] = dr.curtailmentLeaf(id, clusterId, 2_600_000, 100_000);
        vm.expectRevert(abi.encodeWithSelector(InvalidCurtailmentProof.selector, id));
        dr.settle(id, 1_000, 10, leaseSide); // the lease leaf's numbers, proven from its sibling
        dr.settle(id, 2_600_000, 100_000, proof);
        vm.expectRevert(abi.encodeWithSelector(WrongEventStatus.selector, id, 4));
        dr.settle(id, 2_600_000, 100_000, proof);
    }

    function test_settlementWaitsForTheReviewWindow() public {
        uint256 id = _dispatch();
        bytes32[] memory proof = _attest(id, 2_600_000, 100_000);
        vm.expectPartialRevert(ReviewWindowOpen.selector);
        dr.settle(id, 2_600_000, 100_000, proof);
        skip(30 minutes);
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(ReviewWindowClosed.selector, id));
        dr.contest(id);
    }

    // ------------------------------------------------------------ conservation

    /// Whatever the site sheds and whether it acknowledged, the payout never exceeds the reserve,
    /// the penalty never exceeds the lock, and every base unit is in funds, bonds or owed.
    function testFuzz_demandResponseConservesMoney(uint64 baseline, uint64 actual, bool ack, bool attest)
        public
    {
        baseline = uint64(bound(baseline, 0, 10_000_000));
        actual = uint64(bound(actual, 0, 10_000_000));
        uint256 id = _dispatch();
        if (ack) _ack(id, attestorKeys[2]);
        if (attest) {
            bytes32[] memory proof = _attest(id, baseline, actual);
            skip(30 minutes);
            dr.settle(id, baseline, actual, proof);
        } else {
            vm.warp(dr.attestationDeadline(id) + 1);
            dr.settleUnattested(id);
        }
        assertLe(dr.owed(address(usd), payee), RESERVE);
        assertLe(dr.owed(address(usd), sponsor), MAX_PENALTY);
        if (!ack && !attest) assertEq(dr.owed(address(usd), sponsor), 0, "never received: never penalized");
        _balanceBooks();
        assertEq(usd.balanceOf(address(dr)), 2_000e6, "nothing left or entered but the deposits");
    }
}
