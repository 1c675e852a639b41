// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import "../src/libraries/Errors.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {Lease, LeaseStatus, LeaseTerms, Outcome, ProvenLeaf, UsageReport} from "../src/libraries/Types.sol";
import {BaseTest} from "./BaseTest.sol";

/// @notice Second independent review of the v2 contracts, focused on the code added after the
/// first review (settle-ahead proofs, conflicts, the proof deadline, the after-move reservation
/// check, rotation rules, governance through the desk, late funding, zero-value moves).
/// `test_attack_*` found an attack, now fixed (the test asserts the property that holds);
/// `test_withstands_*` are attempts the contracts withstood.
contract Attacks2Test is BaseTest {
    // ================================================================ attacks found, fixed

    /// ATTACK R1 (owner alone): the OUTGOING attestor set overwrites the pending set a tenant
    /// funded under. Consent is taken from "the set that verifies the CURRENT epoch"; a pending
    /// set that has not begun yet can be replaced by that (outgoing) set alone. An owner exploits
    /// it with keys it controls:
    ///  1. It registers a cluster whose set is its own key (`rogue`), no lease is open.
    ///  2. Alone, from the next epoch (the allowed UnconsentedRotationLater form), it schedules an
    ///     independent 2-of-3 set H. Then it creates a lease that lies wholly under H.
    ///  3. The tenant checks what attests its epochs (isAttestor / attestorState: H for every
    ///     epoch of its term; the owner key attests only the current epoch, which is not leased)
    ///     and funds.
    ///  4. Still in the same epoch, the owner's key, being "the set in force", signs a consented
    ///     rotation back to {rogue} from the same epoch: it overwrites H. Every epoch of the running
    ///     lease is now attested by the owner alone, who can report any delivery for it.
    /// The same hole lets any outgoing set (e.g. compromised keys being rotated out) replace its
    /// successor before it begins. Violates "an owner cannot change who attests a running lease's
    /// epochs alone" and the design's promise that a lease "runs entirely under the set its tenant
    /// saw before funding".
    /// Fix (ClusterRegistry, not size-bound): while leases are open, a pending set that has not
    /// begun may not be overwritten (revert RotationPending until it begins and becomes the set in
    /// force, which then consents), e.g. in rotateAttestors:
    ///     `if (consented && c.pendingSet != 0 && c.pendingFrom > current) revert RotationPending(...)`;
    /// or require the pending set's threshold as well as the current set's for such an overwrite.
    /// Fixed: with a lease open, a pending set is not replaced before its reporting hand-over ends
    /// (RotationPending).
    function test_attack_outgoingSetOverwritesPendingSetOfFundedLease() public {
        (address rogue, uint256 rogueKey) = makeAddrAndKey("rogue");
        address[] memory own = new address[](1);
        own[0] = rogue;
        vm.startPrank(owner);
        uint64 cid = registry.registerCluster("ipfs://x", bytes32(0), EPOCH, own, 1);
        market.depositBond(cid, address(usd), 10_000e6);
        // 2. alone (no lease open), from the next epoch: an honest 2-of-3 set for epochs >= 1
        registry.rotateAttestors(cid, attestors, 2, 1, new bytes[](0));
        LeaseTerms memory t = _terms(1, 4);
        t.clusterId = cid;
        uint256 id = market.createLease(t);
        vm.stopPrank();

        // 3. the tenant checks every epoch of its term: honest set, not the owner's key.
        for (uint64 e = 1; e < 4; ++e) {
            (bool honest,) = registry.isAttestor(cid, e, attestors[0]);
            (bool ownKey,) = registry.isAttestor(cid, e, rogue);
            assertTrue(honest && !ownKey);
        }
        vm.prank(tenant);
        market.fund(id);

        // 4. the owner's key alone "consents" to putting itself back for epochs >= 1.
        bytes[] memory consent = new bytes[](1);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(rogueKey, registry.rotationDigest(cid, own, 1, 1));
        consent[0] = abi.encodePacked(r, s, v);
        vm.prank(owner);
        (bool ok,) = address(registry)
            .call(abi.encodeCall(registry.rotateAttestors, (cid, own, 1, uint64(1), consent)));

        (bool ownKeyNow,) = registry.isAttestor(cid, 1, rogue);
        if (ownKeyNow) {
            // Consequence: epoch 1 of the running lease, signed by the owner's key alone, is accepted.
            _warpToEpochEnd(1);
            UsageReport memory rep = _report(1, ReportLib.deliveryLeaf(id, 1, _full(), 0));
            rep.clusterId = cid;
            uint256[] memory keys = new uint256[](1);
            keys[0] = rogueKey;
            registry.submitReport(rep, _sign(rep, keys));
            emit log("owner-signed report of a leased epoch accepted");
        }
        assertFalse(ok, "the outgoing set alone must not replace the set a funded lease runs under");
        assertFalse(ownKeyNow, "the owner's key attests the running lease's epochs");
    }

    // ================================================================ withstood

    /// Settle-ahead (tenant, dark arbiter): the tenant challenges epoch 1 late in its window and
    /// the arbiter never rules; epoch 2's proof deadline passes while epoch 1 is still blocked. The
    /// owner proved epoch 2 ahead as soon as its challenge window closed, so the tenant's
    /// settleUnproven(2) fails and anyone (even with a junk argument) settles epoch 2 as Proven.
    function test_withstands_aheadProofSurvivesBlockedEarlierEpoch() public {
        uint256 id = _activeLease(2);
        vm.warp(_epochEnd(1) + 30 minutes);
        _submit(_report(1, ReportLib.deliveryLeaf(id, 1, _full(), 0)));
        vm.warp(block.timestamp + CHALLENGE_WINDOW - 1);
        vm.prank(tenant);
        desk.challenge(id, 1);
        uint256 resolveBy = block.timestamp + RESOLUTION_WINDOW;

        _reportSingle(id, 2, _full());
        // Not before epoch 2's own challenge window closed.
        vm.expectRevert(
            abi.encodeWithSelector(
                ChallengeWindowOpen.selector, id, uint64(2), block.timestamp + CHALLENGE_WINDOW
            )
        );
        market.settle(id, 2, _full(), 0, new bytes32[](0));
        skip(CHALLENGE_WINDOW);
        vm.prank(owner);
        market.settle(id, 2, _full(), 0, new bytes32[](0)); // kept for its turn
        vm.expectRevert(abi.encodeWithSelector(EpochProven.selector, id, uint64(2)));
        market.settle(id, 2, _full(), 0, new bytes32[](0));
        // Ahead, only a proof is accepted.
        vm.expectRevert(abi.encodeWithSelector(EpochNotNext.selector, id, uint64(2), uint64(1)));
        market.settleUnproven(id, 2);

        vm.warp(resolveBy); // arbiter dark; epoch 2's own deadline is long gone
        assertGt(block.timestamp, market.proofDeadline(id, 2));
        vm.startPrank(tenant);
        market.settle(id, 1, _full(), 0, new bytes32[](0)); // report stands
        vm.expectRevert(abi.encodeWithSelector(EpochProven.selector, id, uint64(2)));
        market.settleUnproven(id, 2);
        market.settle(id, 2, 0, 0, new bytes32[](0)); // junk argument: the kept proof is billed
        vm.stopPrank();
        Lease memory l = market.getLease(id);
        assertEq(uint8(l.status), uint8(LeaseStatus.Ended));
        assertEq(l.credits, 0);
        assertEq(market.claimable(id, owner), 2 * _epochRent());
    }

    /// Settle-ahead cannot be used by the owner to escape a dispute: no proof ahead while the
    /// epoch can still be challenged or a challenge is open; an arbitrated epoch settles only in
    /// turn, with the ruling; and two leaves proven at the desk still turn an epoch proven ahead
    /// into unproven (holders compensated, tenant credited, from the bond).
    function test_withstands_aheadProofVersusChallengeAndConflict() public {
        uint256 id = _activeLease(3);
        _reportSingle(id, 1, _full()); // epoch 1 stays unsettled (next) throughout
        // Epoch 2: challenged by the tenant; the owner cannot prove ahead while it is open.
        _reportSingle(id, 2, _full());
        vm.prank(tenant);
        desk.challenge(id, 2);
        uint256 resolveBy = block.timestamp + RESOLUTION_WINDOW;
        skip(CHALLENGE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(EpochChallenged.selector, id, uint64(2), resolveBy));
        market.settle(id, 2, _full(), 0, new bytes32[](0));
        vm.prank(arbiter);
        desk.resolveChallenge(id, 2, _full() / 2, 0, true);
        vm.expectRevert(abi.encodeWithSelector(EpochNotNext.selector, id, uint64(2), uint64(1)));
        market.settle(id, 2, _full(), 0, new bytes32[](0));

        // Epoch 3: a lying oracle put two leaves for the lease; the owner proves the big one ahead.
        uint256[] memory ls = new uint256[](2);
        (ls[0], ls[1]) = (id, id);
        uint64[] memory ds = new uint64[](2);
        (ds[0], ds[1]) = (_full(), 1);
        (bytes32 root, bytes32[][] memory proofs) = _deliveriesTree(ls, 3, ds);
        _warpToEpochEnd(3);
        _submit(_report(3, root));
        skip(CHALLENGE_WINDOW);
        vm.prank(owner);
        market.settle(id, 3, _full(), 0, proofs[0]);
        vm.prank(tenant);
        desk.proveConflict(id, 3, ProvenLeaf(_full(), 0, proofs[0]), ProvenLeaf(1, 0, proofs[1]));
        // Arbitrated epochs cannot be turned into conflicts.
        vm.expectRevert(abi.encodeWithSelector(EpochArbitrated.selector, id, uint64(2)));
        desk.proveConflict(id, 2, ProvenLeaf(_full(), 0, proofs[0]), ProvenLeaf(1, 0, proofs[1]));

        market.settle(id, 1, _full(), 0, new bytes32[](0));
        market.settle(id, 2, 0, 0, new bytes32[](0));
        market.settle(id, 3, _full(), 0, proofs[0]);
        Lease memory l = market.getLease(id);
        assertEq(uint8(l.status), uint8(LeaseStatus.Ended));
        // epoch 1 full rent, epoch 2 half, epoch 3 compensation; tenant: half-epoch shortfall + full credit
        assertEq(market.claimable(id, owner), _epochRent() + _epochRent() / 2 + _epochRent());
        assertEq(l.escrow, _epochRent() / 2 + _epochRent());
        assertGt(l.credits, _maxCredit());
    }

    /// Proof deadline after an expired challenge: expire() and settleUnproven bundled at resolveBy
    /// still fail for proofGrace; the owner's late-but-in-grace proof (even ahead) wins.
    function test_withstands_expiredChallengeKeepsGraceForAheadProof() public {
        uint256 id = _activeLease(2);
        _reportSingle(id, 1, 0); // epoch 1 stays next (nobody settles it yet)
        _reportSingle(id, 2, _full());
        vm.warp(block.timestamp + CHALLENGE_WINDOW - 1);
        vm.prank(tenant);
        desk.challenge(id, 2);
        uint256 resolveBy = block.timestamp + RESOLUTION_WINDOW;
        vm.warp(resolveBy);
        desk.expire(id, 2);
        assertEq(market.proofDeadline(id, 2), resolveBy + PROOF_GRACE);
        market.settle(id, 1, 0, 0, new bytes32[](0));
        vm.expectRevert(
            abi.encodeWithSelector(ProofWindowOpen.selector, id, uint64(2), resolveBy + PROOF_GRACE)
        );
        market.settleUnproven(id, 2);
        vm.warp(resolveBy + PROOF_GRACE);
        vm.prank(owner);
        market.settle(id, 2, _full(), 0, new bytes32[](0));
        assertEq(market.getLease(id).credits, _maxCredit(), "only epoch 1 (zero delivered) credited");
    }

    /// Rotation rules hold where a lease is open: the owner alone can neither schedule nor overwrite
    /// a set; a begun set cannot be replaced while old epochs may still be reported (and those
    /// late reports are still verified by the old set, the new set's by the new one); a consent is
    /// bound to its nonce.
    function test_withstands_rotationWithOpenLease() public {
        uint256 id = _activeLease(4);
        address[] memory next = new address[](2);
        (next[0], next[1]) = (attestors[0], attestors[1]);
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(InsufficientSignatures.selector, 0, 2));
        registry.rotateAttestors(clusterId, next, 2, 1, new bytes[](0));
        bytes[] memory consent = _consent(clusterId, next, 2, 1, 2);
        registry.rotateAttestors(clusterId, next, 2, 1, consent); // from epoch 1, consented
        vm.stopPrank();

        // Epoch 1 begins: the new set verifies it; epoch 0 (old) may still be reported by the old set.
        vm.warp(_epochEnd(0) + 10);
        uint256[] memory old3 = new uint256[](1);
        old3[0] = attestorKeys[2]; // not in the new set
        UsageReport memory r0 = _report(0, bytes32(uint256(1)));
        bytes[] memory s0 = new bytes[](2);
        bytes[] memory a = _sign(r0, _keys(1));
        bytes[] memory b = _sign(r0, old3);
        (s0[0], s0[1]) = (a[0], b[0]);
        registry.submitReport(r0, s0); // old set, old epoch: accepted
        bytes[] memory c1 = _consent(clusterId, attestors, 2, 3, 2);
        uint256 retryAfter = _epochEnd(0) + REPORT_WINDOW + 1;
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(RotationPending.selector, uint64(1), retryAfter));
        registry.rotateAttestors(clusterId, attestors, 2, 3, c1);
        // After the old epochs' deadline the rotation promotes and proceeds (consent of the new set).
        vm.warp(_epochEnd(0) + REPORT_WINDOW + 1);
        c1 = _consent(clusterId, attestors, 2, 3, 2);
        vm.prank(owner);
        registry.rotateAttestors(clusterId, attestors, 2, 3, c1);
        vm.prank(owner);
        vm.expectRevert(); // nonce moved on
        registry.rotateAttestors(clusterId, attestors, 2, 3, c1);
        // The old-only key cannot sign epoch 1 or 2.
        _warpToEpochEnd(1);
        UsageReport memory r1 = _report(1, ReportLib.deliveryLeaf(id, 1, _full(), 0));
        bytes[] memory s1 = new bytes[](2);
        a = _sign(r1, _keys(1));
        b = _sign(r1, old3);
        (s1[0], s1[1]) = (a[0], b[0]);
        vm.expectRevert(abi.encodeWithSelector(NotAttestor.selector, attestors[2]));
        registry.submitReport(r1, s1);
    }

    /// Reservation after the move: a batch that repeats the id with a zero value or that moves
    /// reserved shares back and forth is judged on the final balance; buyShares consumes the
    /// offer first, so a purchase never trips the reservation. Zero-value moves record no boundary.
    function test_withstands_batchZeroValueAndBuyShares() public {
        uint256 id = _activeLease(3);
        vm.prank(owner);
        market.offerShares(id, 600_000, 2);
        uint256[] memory ids = new uint256[](3);
        (ids[0], ids[1], ids[2]) = (id, id, id);
        uint256[] memory vals = new uint256[](3);
        (vals[0], vals[1], vals[2]) = (0, 400_000, 1);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(SharesReserved.selector, id, uint256(600_000)));
        market.safeBatchTransferFrom(owner, alice, ids, vals, "");
        vals[2] = 0;
        vm.prank(owner);
        market.safeBatchTransferFrom(owner, alice, ids, vals, ""); // exactly the unreserved part

        _reportSingle(id, 1, _full());
        skip(10 minutes); // epoch 2, epoch 1 unsettled: a backlog
        vm.prank(bob);
        vm.recordLogs();
        market.safeTransferFrom(bob, alice, id, 0, "");
        assertEq(vm.getRecordedLogs().length, 1, "only TransferSingle: no HolderBalanceRecorded");
        vm.prank(bob);
        market.buyShares(id, 600_000, 2); // all reserved shares, during the backlog
        skip(CHALLENGE_WINDOW);
        market.settle(id, 1, _full(), 0, new bytes32[](0));
        _reportAndSettle(id, 2, _full());
        // Epoch 1: owner 60%, alice 40%. Epoch 2: bob 60%, alice 40%.
        assertEq(market.claimable(id, owner), _epochRent() * 6 / 10);
        assertEq(market.claimable(id, bob), _epochRent() * 6 / 10);
        assertEq(market.claimable(id, alice), _epochRent() * 8 / 10);
    }

    /// Governance is the desk's owner, two-step: the market follows the desk; a pending owner
    /// cannot act before accepting.
    function test_withstands_governanceFollowsDesk() public {
        address next = makeAddr("nextGov");
        vm.prank(governance);
        desk.transferOwnership(next);
        vm.prank(next);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, next));
        market.setStablecoinAllowed(address(1), true);
        vm.prank(next);
        desk.acceptOwnership();
        assertEq(market.owner(), next);
        vm.prank(governance);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, governance));
        market.setStablecoinAllowed(address(1), true);
        vm.prank(next);
        market.setStablecoinAllowed(address(1), true);
    }

    /// Liveness with late funding and every party stopping: funded late (start moved), the last
    /// epoch reported at its deadline, challenged at the last second, arbiter dark, owner silent.
    /// Anyone ends the lease exactly reportWindow + challengeWindow + resolutionWindow + proofGrace
    /// after the last epoch, and the money adds up.
    function test_withstands_lateFundingLivenessAndConservation() public {
        vm.prank(owner);
        uint256 id = market.createLease(_terms(1, 4));
        vm.warp(_epochEnd(1) + 1); // epoch 2 began: starts at 3
        vm.prank(tenant);
        market.fund(id);
        assertEq(market.getLease(id).startEpoch, 3);
        vm.warp(_epochEnd(3) + REPORT_WINDOW);
        _submit(_report(3, ReportLib.deliveryLeaf(id, 3, _full(), 0)));
        vm.warp(block.timestamp + CHALLENGE_WINDOW - 1);
        vm.prank(tenant);
        desk.challenge(id, 3);
        uint256 bound = _epochEnd(3) + REPORT_WINDOW + CHALLENGE_WINDOW + RESOLUTION_WINDOW + PROOF_GRACE;
        vm.warp(bound - 1);
        vm.expectRevert(abi.encodeWithSelector(ProofWindowOpen.selector, id, uint64(3), bound - 1));
        market.settleUnproven(id, 3);
        vm.warp(bound);
        vm.prank(keeper);
        market.settleUnproven(id, 3);
        assertEq(uint8(market.getLease(id).status), uint8(LeaseStatus.Ended));
        desk.expire(id, 3);
        Lease memory l = market.getLease(id);
        uint256 sum = market.bondOf(clusterId, address(usd)).total + l.escrow + l.rentPool + l.credits;
        assertEq(usd.balanceOf(address(market)), sum);
        assertEq(usd.balanceOf(address(desk)), desk.payouts(address(usd), tenant));
        assertEq(market.bondOf(clusterId, address(usd)).locked, 0);
    }
}
