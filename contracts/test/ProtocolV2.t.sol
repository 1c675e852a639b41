// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {ClusterRegistry} from "../src/ClusterRegistry.sol";
import {DisputeDesk} from "../src/DisputeDesk.sol";
import {LeaseMarket} from "../src/LeaseMarket.sol";
import "../src/libraries/Errors.sol";
import "../src/libraries/Events.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {
    Billing,
    Lease,
    LeaseStatus,
    LeaseTerms,
    Outcome,
    ProvenLeaf,
    UsageReport
} from "../src/libraries/Types.sol";
import {BaseTest} from "./BaseTest.sol";

/// @notice Regression tests for the protocol-v2 fixes: one test (or group) per v1 finding, each
/// asserting the property that must hold now.
contract ProtocolV2Test is BaseTest {
    uint256 internal constant ACC = 1e36; // RentLib.ACC_SCALE
    address internal carol = makeAddr("carol");
    address internal dave = makeAddr("dave");

    // ------------------------------------------------------------ helpers

    /// Market balance == Σ lease (escrow + rentPool + credits) + the main cluster's bond total.
    function _assertConserved(uint256[] memory ids) internal view {
        uint256 sum = market.bondOf(clusterId, address(usd)).total;
        for (uint256 i; i < ids.length; ++i) {
            Lease memory l = market.getLease(ids[i]);
            sum += uint256(l.escrow) + l.rentPool + l.credits;
        }
        assertEq(usd.balanceOf(address(market)), sum, "market balance == escrow + pools + credits + bond");
    }

    function _one(uint256 id) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](1);
        ids[0] = id;
    }

    function _registerClusterLen(uint32 len) internal returns (uint64 cid) {
        vm.prank(owner);
        cid = registry.registerCluster("ipfs://short", keccak256("short"), len, attestors, 2);
    }

    function _termsFor(uint64 cid, uint64 start, uint64 end) internal view returns (LeaseTerms memory t) {
        t = _terms(start, end);
        t.clusterId = cid;
    }

    /// A report for a cluster of `len`-second epochs (metrics within that epoch's bounds).
    function _reportFor(uint64 cid, uint64 epoch, bytes32 root, uint32 len)
        internal
        pure
        returns (UsageReport memory)
    {
        return UsageReport({
            clusterId: cid,
            epoch: epoch,
            gpusInstalled: 16,
            gpusHealthy: 16,
            gpuSecondsAvailable: uint40(16 * uint256(len)),
            gpuSecondsBusy: uint40(12 * uint256(len)),
            itEnergyWh: 100,
            facilityEnergyWh: 110,
            deliveriesRoot: root,
            telemetryRoot: bytes32(0)
        });
    }

    function _acc(uint256 perShareUnits) internal pure returns (uint256) {
        return 1 + perShareUnits;
    }

    // ------------------------------------------------------------ 1. omitted leaf

    /// A report that leaves the lease's leaf out cannot freeze the lease: after the proof deadline
    /// anyone settles it as unproven (the owner's failure), the lease ends, the tenant gets the full
    /// SLA credit and holders the full rent, both from the bond, and the cluster can leave.
    function test_omittedLeaf_leaseStillEnds() public {
        uint256 id = _activeLease(1); // epoch 1 only
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, SHARES / 4, "");
        assertEq(market.activeLeases(clusterId), 1);
        uint256 bondBefore = market.bondOf(clusterId, address(usd)).total;

        // The oracle's tree has a leaf for another lease only.
        _warpToEpochEnd(1);
        _submit(_report(1, ReportLib.deliveryLeaf(999, 1, _full(), 0)));
        uint256 deadline = market.proofDeadline(id, 1);
        assertEq(deadline, block.timestamp + CHALLENGE_WINDOW + PROOF_GRACE);

        skip(CHALLENGE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector, id, uint64(1)));
        market.settle(id, 1, _full(), 0, new bytes32[](0));
        vm.warp(deadline);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(ProofWindowOpen.selector, id, uint64(1), deadline));
        market.settleUnproven(id, 1);
        vm.expectRevert(abi.encodeWithSelector(EpochReported.selector, clusterId, uint64(1)));
        market.settleMissed(id, 1);

        vm.warp(deadline + 1);
        vm.expectEmit(true, true, false, true, address(market));
        emit EpochSettled(
            id, 1, 0, 0, _epochRent(), _maxCredit(), _acc(_epochRent() * ACC / SHARES), Outcome.Unproven
        );
        vm.expectEmit(true, false, false, true, address(market));
        emit LeaseEnded(id, _epochRent());
        vm.prank(keeper);
        market.settleUnproven(id, 1);

        Lease memory l = market.getLease(id);
        assertEq(uint8(l.status), uint8(LeaseStatus.Ended));
        assertEq(market.activeLeases(clusterId), 0, "activeLeases drops");
        assertEq(l.credits, _maxCredit(), "tenant: full SLA credit");
        assertEq(l.escrow, _epochRent(), "no rent billed");
        assertEq(market.claimable(id, owner), _epochRent() * 3 / 4);
        assertEq(market.claimable(id, alice), _epochRent() / 4);
        assertEq(market.bondOf(clusterId, address(usd)).total, bondBefore - _maxCredit() - _epochRent());
        assertEq(market.bondOf(clusterId, address(usd)).locked, 0);
        _assertConserved(_one(id));

        // Every base unit leaves: tenant (credit + whole escrow), holders (full rent), owner (bond).
        uint256 t0 = usd.balanceOf(tenant);
        vm.prank(tenant);
        market.withdrawTenantFunds(id);
        assertEq(usd.balanceOf(tenant) - t0, _maxCredit() + _epochRent());
        vm.prank(owner);
        market.claim(id);
        vm.prank(alice);
        market.claim(id);
        assertEq(market.getLease(id).rentPool, 0);
        assertEq(usd.balanceOf(address(market)), market.bondOf(clusterId, address(usd)).total);

        vm.startPrank(owner);
        registry.deregisterCluster(clusterId);
        market.withdrawBond(clusterId, address(usd), market.bondOf(clusterId, address(usd)).total);
        vm.stopPrank();
        assertEq(usd.balanceOf(address(market)), 0, "nothing stranded");
        (,,, bool active) = registry.clusterInfo(clusterId);
        assertFalse(active);
    }

    // ------------------------------------------------------------ 2. attestor rotation

    /// While a lease is open, the owner cannot swap the attestor set alone: the set in force must
    /// consent with its threshold, and a consent is good for one rotation only. Without open leases
    /// the owner alone may rotate (lost keys).
    function test_ownerCannotRotateOutCoSignerMidLease() public {
        _activeLease(3);
        (address rogue, uint256 rogueKey) = makeAddrAndKey("rogue");
        address[] memory set = new address[](1);
        set[0] = rogue;
        uint64 from = registry.currentEpoch(clusterId) + 1;

        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(InsufficientSignatures.selector, 0, 2));
        registry.rotateAttestors(clusterId, set, 1, from, new bytes[](0));
        bytes[] memory one = _consent(clusterId, set, 1, from, 1);
        vm.expectRevert(abi.encodeWithSelector(InsufficientSignatures.selector, 1, 2));
        registry.rotateAttestors(clusterId, set, 1, from, one);
        // The owner's own key (not in the set in force) does not count.
        _expectForgedConsentRejected(set, from, one[0], rogueKey, rogue);

        // With the threshold of the current set it works.
        bytes[] memory two = _consent(clusterId, set, 1, from, 2);
        vm.expectEmit(true, true, false, true, address(registry));
        emit AttestorsSet(clusterId, 2, from, 1, set, true);
        registry.rotateAttestors(clusterId, set, 1, from, two);
        _assertPending(rogue, from);

        // The same consent cannot be replayed: the digest carries the rotation nonce.
        address recovered = ECDSA.recover(registry.rotationDigest(clusterId, set, 1, from), two[0]);
        vm.expectRevert(abi.encodeWithSelector(NotAttestor.selector, recovered));
        registry.rotateAttestors(clusterId, set, 1, from, two);
        vm.stopPrank();

        // With no open lease the owner alone may rotate (empty consent).
        uint64 lone = _registerClusterLen(EPOCH);
        vm.prank(owner);
        vm.expectEmit(true, true, false, true, address(registry));
        emit AttestorsSet(lone, 4, 1, 1, set, false);
        registry.rotateAttestors(lone, set, 1, 1, new bytes[](0));
    }

    function _expectForgedConsentRejected(
        address[] memory set,
        uint64 from,
        bytes memory memberSig,
        uint256 rogueKey,
        address rogue
    ) internal {
        bytes[] memory forged = new bytes[](2);
        forged[0] = memberSig;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(rogueKey, registry.rotationDigest(clusterId, set, 1, from));
        forged[1] = abi.encodePacked(r, s, v);
        if (rogue < attestors[0]) (forged[0], forged[1]) = (forged[1], forged[0]);
        vm.expectRevert(abi.encodeWithSelector(NotAttestor.selector, rogue));
        registry.rotateAttestors(clusterId, set, 1, from, forged);
    }

    function _assertPending(address member, uint64 from) internal view {
        (,, address[] memory pending, uint8 pendingThreshold, uint64 pendingFrom, uint32 nonce) =
            registry.attestorState(clusterId);
        assertEq(pending.length, 1);
        assertEq(pending[0], member);
        assertEq(pendingThreshold, 1);
        assertEq(pendingFrom, from);
        assertEq(nonce, 1);
    }

    // ------------------------------------------------------------ 3. reports in any order

    /// A later epoch's report never blocks an earlier one: epoch N is accepted after N+1 within its
    /// own deadline, both settle with proofs, N is never missed.
    function test_laterReportFirst_earlierEpochStillReportable() public {
        uint32 len = 10 minutes;
        uint64 cid = _registerClusterLen(len);
        (,, uint64 genesis,) = registry.clusterInfo(cid);
        vm.startPrank(owner);
        market.depositBond(cid, address(usd), 1_000e6);
        uint256 id = market.createLease(_termsFor(cid, 1, 3));
        vm.stopPrank();
        vm.prank(tenant);
        market.fund(id);
        uint64 full = uint64(GPUS) * len;

        // Epoch 2 ends 10 minutes after epoch 1 and is reported first.
        vm.warp(genesis + 3 * uint256(len));
        UsageReport memory r2 = _reportFor(cid, 2, ReportLib.deliveryLeaf(id, 2, full, 0), len);
        registry.submitReport(r2, _sign(r2, _keys(2)));
        // Epoch 1, 30 minutes after its end (< its 1 h deadline), is still accepted.
        vm.warp(genesis + 2 * uint256(len) + 30 minutes);
        UsageReport memory r1 = _reportFor(cid, 1, ReportLib.deliveryLeaf(id, 1, full, 0), len);
        registry.submitReport(r1, _sign(r1, _keys(2)));
        (, uint64 at1) = registry.reportOf(cid, 1);
        (, uint64 at2) = registry.reportOf(cid, 2);
        assertEq(at1, block.timestamp);
        assertEq(at2, genesis + 3 * uint256(len));
        bytes[] memory sigs1 = _sign(r1, _keys(2));
        vm.expectRevert(abi.encodeWithSelector(EpochAlreadyReported.selector, cid, uint64(1)));
        registry.submitReport(r1, sigs1);

        // N is never missed, and settlement stays in order.
        skip(2 hours);
        vm.expectRevert(abi.encodeWithSelector(EpochReported.selector, cid, uint64(1)));
        market.settleMissed(id, 1);
        // Epoch 2's proof may come first: it is kept for epoch 2's turn (proofs never wait).
        vm.expectEmit(true, true, false, true, address(market));
        emit DeliveryProven(id, 2, full, 0);
        market.settle(id, 2, full, 0, new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(EpochNotNext.selector, id, uint64(2), uint64(1)));
        market.settleUnproven(id, 2);

        uint256 rent = uint256(full) * PRICE / 3600;
        vm.expectEmit(true, true, false, true, address(market));
        emit EpochSettled(id, 1, full, rent, 0, 0, _acc(rent * ACC / SHARES), Outcome.Proven);
        market.settle(id, 1, full, 0, new bytes32[](0));
        vm.expectEmit(true, true, false, true, address(market));
        emit EpochSettled(id, 2, full, rent, 0, 0, _acc(2 * (rent * ACC / SHARES)), Outcome.Proven);
        market.settle(id, 2, 0, 0, new bytes32[](0)); // the kept proof counts, args ignored
        assertEq(uint8(market.getLease(id).status), uint8(LeaseStatus.Ended));
        assertEq(market.claimable(id, owner), 2 * rent);
    }

    // ------------------------------------------------------------ 4. holders' protection

    /// Holders can defend their rent: a holder (not the tenant) challenges an under-reported epoch
    /// with a bond and the arbiter corrects it; a dark oracle makes the bond pay holders the full
    /// rent. An owner colluding with the tenant cannot move the holders' rent to the tenant.
    function test_holderCanChallenge_andIsCompensated() public {
        uint256 id = _activeLease(2); // epochs 1, 2
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, 400_000, ""); // alice bought 40%
        uint256 bond = desk.challengeBond(id);
        assertEq(bond, _epochRent() * CHALLENGE_BOND_BPS / 10_000);

        // Epoch 1: the (owner-friendly) oracle reports 0 delivered for the lease: the tenant would
        // get its rent back and the full credit, holders nothing.
        _reportSingle(id, 1, 0);
        vm.prank(bob); // neither tenant nor holder
        vm.expectRevert(abi.encodeWithSelector(NotTenantOrHolder.selector, id, bob));
        desk.challenge(id, 1);

        uint256 a0 = usd.balanceOf(alice);
        vm.prank(alice);
        desk.challenge(id, 1);
        assertEq(a0 - usd.balanceOf(alice), bond, "holder posts the bond");
        assertEq(usd.balanceOf(address(desk)), bond);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(AlreadyChallenged.selector, id, uint64(1)));
        desk.challenge(id, 1);

        skip(CHALLENGE_WINDOW);
        vm.expectRevert(); // EpochChallenged until the arbiter rules
        market.settle(id, 1, 0, 0, new bytes32[](0));
        vm.prank(arbiter);
        desk.resolveChallenge(id, 1, _full(), 0, true);
        assertEq(desk.payouts(address(usd), alice), bond);

        uint256 accAfter1 = _acc(_epochRent() * ACC / SHARES);
        vm.expectEmit(true, true, false, true, address(market));
        emit EpochSettled(id, 1, _full(), _epochRent(), 0, 0, accAfter1, Outcome.Arbitrated);
        vm.prank(keeper);
        market.settle(id, 1, 0, 0, new bytes32[](0)); // args ignored: the ruling bills

        // Epoch 2: the oracle goes dark; after the deadline anyone settles it missed.
        vm.warp(_epochEnd(2) + REPORT_WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(ReportPending.selector, uint64(2), _epochEnd(2) + REPORT_WINDOW)
        );
        market.settleMissed(id, 2);
        skip(1);
        vm.expectEmit(true, true, false, true, address(market));
        emit EpochSettled(
            id, 2, 0, 0, _epochRent(), _maxCredit(), accAfter1 + _epochRent() * ACC / SHARES, Outcome.Missed
        );
        vm.prank(keeper);
        market.settleMissed(id, 2);

        // Holders got the full rent of both epochs; the tenant only the credit and unbilled escrow.
        assertEq(market.claimable(id, alice), 2 * _epochRent() * 4 / 10);
        assertEq(market.claimable(id, owner), 2 * _epochRent() * 6 / 10);
        Lease memory l = market.getLease(id);
        assertEq(l.credits, _maxCredit());
        assertEq(l.escrow, _epochRent());
        _assertConserved(_one(id));

        a0 = usd.balanceOf(alice);
        vm.startPrank(alice);
        market.claim(id);
        desk.withdrawPayout(address(usd));
        vm.stopPrank();
        assertEq(usd.balanceOf(alice) - a0, 2 * _epochRent() * 4 / 10 + bond, "rent + bond back");
        assertEq(usd.balanceOf(address(desk)), 0);
    }

    // ------------------------------------------------------------ 5. challenges end

    /// A challenge costs a bond; the arbiter rules inside the window: upheld returns the bond to
    /// the challenger, rejected pays it to the cluster owner (both through withdrawPayout).
    function test_challengeNeedsBond_arbiterRulesInWindow() public {
        uint256 id = _activeLease(2);
        uint256 bond = desk.challengeBond(id);
        _reportSingle(id, 1, _full());

        vm.startPrank(tenant);
        usd.approve(address(desk), 0);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(desk), 0, bond)
        );
        desk.challenge(id, 1);
        usd.approve(address(desk), type(uint256).max);
        desk.challenge(id, 1);
        vm.stopPrank();

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(NotArbiter.selector, alice));
        desk.resolveChallenge(id, 1, 0, 0, true);
        skip(RESOLUTION_WINDOW - 1);
        vm.prank(arbiter);
        desk.resolveChallenge(id, 1, _full() / 2, 0, true); // upheld: half delivered
        vm.prank(arbiter);
        vm.expectRevert(abi.encodeWithSelector(NoOpenChallenge.selector, id, uint64(1)));
        desk.resolveChallenge(id, 1, 0, 0, false);
        market.settle(id, 1, 0, 0, new bytes32[](0));
        assertEq(market.getLease(id).escrow, 2 * _epochRent() - _epochRent() / 2);
        uint256 t0 = usd.balanceOf(tenant);
        vm.prank(tenant);
        assertEq(desk.withdrawPayout(address(usd)), bond);
        assertEq(usd.balanceOf(tenant) - t0, bond, "upheld: bond back");

        // Epoch 2: rejected, the bond is forfeited to governance (no party profits from it).
        _reportSingle(id, 2, _full());
        vm.prank(tenant);
        desk.challenge(id, 2);
        vm.prank(arbiter);
        desk.resolveChallenge(id, 2, _full(), 0, false);
        assertEq(desk.payouts(address(usd), governance), bond);
        assertEq(desk.payouts(address(usd), owner), 0);
        assertEq(desk.payouts(address(usd), tenant), 0);
        market.settle(id, 2, 0, 0, new bytes32[](0));
        uint256 g0 = usd.balanceOf(governance);
        vm.prank(governance);
        desk.withdrawPayout(address(usd));
        assertEq(usd.balanceOf(governance) - g0, bond, "rejected: bond forfeited");
        vm.prank(tenant);
        vm.expectRevert(NothingToClaim.selector);
        desk.withdrawPayout(address(usd));
        assertEq(usd.balanceOf(address(desk)), 0);
    }

    /// An unruled challenge ends: after the resolution window the arbiter can no longer rule, the
    /// epoch settles with the report's proof (the report stands) and expire() returns the bond.
    function test_challengeTimesOut() public {
        uint256 id = _activeLease(1);
        uint256 bond = desk.challengeBond(id);
        _reportSingle(id, 1, _full());
        skip(10 minutes);
        vm.prank(tenant);
        desk.challenge(id, 1);
        uint256 resolveBy = block.timestamp + RESOLUTION_WINDOW;
        assertEq(market.proofDeadline(id, 1), resolveBy + PROOF_GRACE);

        vm.warp(resolveBy - 1);
        vm.expectRevert(abi.encodeWithSelector(EpochChallenged.selector, id, uint64(1), resolveBy));
        market.settle(id, 1, _full(), 0, new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(ResolutionPending.selector, id, uint64(1), resolveBy));
        desk.expire(id, 1);

        vm.warp(resolveBy);
        vm.prank(arbiter);
        vm.expectRevert(abi.encodeWithSelector(ResolutionWindowClosed.selector, id, uint64(1), resolveBy));
        desk.resolveChallenge(id, 1, 0, 0, true);
        vm.expectRevert(
            abi.encodeWithSelector(ProofWindowOpen.selector, id, uint64(1), resolveBy + PROOF_GRACE)
        );
        market.settleUnproven(id, 1);

        // The report stands: settles with its proof.
        vm.expectEmit(true, true, false, true, address(market));
        emit EpochSettled(
            id, 1, _full(), _epochRent(), 0, 0, _acc(_epochRent() * ACC / SHARES), Outcome.Proven
        );
        vm.prank(owner);
        market.settle(id, 1, _full(), 0, new bytes32[](0));

        vm.expectEmit(true, true, false, true, address(desk));
        emit EpochChallengeExpired(id, 1);
        vm.prank(keeper);
        desk.expire(id, 1);
        assertEq(desk.payouts(address(usd), tenant), bond);
        uint256 t0 = usd.balanceOf(tenant);
        vm.prank(tenant);
        desk.withdrawPayout(address(usd));
        assertEq(usd.balanceOf(tenant) - t0, bond);
        assertEq(usd.balanceOf(address(desk)), 0);
    }

    /// No challenge can be opened while no arbiter is named (nobody could rule on it).
    function test_noChallengeWithoutArbiter() public {
        LeaseMarket bare = _deployMarket("");
        DisputeDesk bareDesk = DisputeDesk(address(bare.disputes()));
        assertEq(bareDesk.arbiter(), address(0));
        vm.prank(governance);
        bare.setStablecoinAllowed(address(usd), true);
        vm.startPrank(owner);
        usd.approve(address(bare), type(uint256).max);
        bare.depositBond(clusterId, address(usd), 1_000e6);
        uint256 id = bare.createLease(_terms(1, 2));
        vm.stopPrank();
        vm.startPrank(tenant);
        usd.approve(address(bare), type(uint256).max);
        usd.approve(address(bareDesk), type(uint256).max);
        bare.fund(id);
        vm.stopPrank();
        // The bare market's lease 1 collides with nothing in `market`: build its leaf by id.
        _warpToEpochEnd(1);
        _submit(_report(1, ReportLib.deliveryLeaf(id, 1, _full(), 0)));

        vm.prank(tenant);
        vm.expectRevert(NoArbiter.selector);
        bareDesk.challenge(id, 1);
        vm.prank(owner); // a holder neither
        vm.expectRevert(NoArbiter.selector);
        bareDesk.challenge(id, 1);

        skip(CHALLENGE_WINDOW);
        bare.settle(id, 1, _full(), 0, new bytes32[](0));
        assertEq(uint8(bare.getLease(id).status), uint8(LeaseStatus.Ended));
    }

    // ------------------------------------------------------------ 6. back rent

    /// Rent of an epoch belongs to whoever held when it ended, however late it settles: a seller
    /// keeps epochs 1-2 after selling in epoch 3 (transfer and buyShares), and a chain of transfers
    /// and resales across several unsettled epochs pays each holder exactly its epochs.
    function test_backRentGoesToHolderDuringDelivery() public {
        uint256 id = _activeLease(6); // epochs 1..6
        uint256 r = _epochRent(); // 16 per share per epoch: every split is exact
        vm.prank(bob);
        usd.approve(address(market), type(uint256).max);

        _warpToEpochEnd(1);
        _submit(_report(1, ReportLib.deliveryLeaf(id, 1, _full(), 0)));
        _warpToEpochEnd(2);
        _submit(_report(2, ReportLib.deliveryLeaf(id, 2, _full(), 0)));

        // Epoch 3, epochs 1-2 unsettled: the owner sells 300k by transfer and 200k by buyShares.
        skip(10 minutes);
        assertEq(market.unsettledEpochs(id), 2);
        vm.startPrank(owner);
        market.safeTransferFrom(owner, alice, id, 300_000, "");
        market.offerShares(id, 200_000, 1);
        vm.stopPrank();
        vm.prank(bob);
        market.buyShares(id, 200_000, 1);

        // Epoch 4: settle epoch 1 only; alice and bob resell to carol.
        _warpToEpochEnd(3);
        _submit(_report(3, ReportLib.deliveryLeaf(id, 3, _full(), 0)));
        skip(CHALLENGE_WINDOW);
        market.settle(id, 1, _full(), 0, new bytes32[](0));
        assertEq(market.claimable(id, owner), r, "epoch 1 is the seller's");
        assertEq(market.claimable(id, alice), 0);
        assertEq(market.claimable(id, bob), 0);
        vm.prank(alice);
        market.safeTransferFrom(alice, carol, id, 100_000, "");
        vm.prank(bob);
        market.safeTransferFrom(bob, carol, id, 50_000, "");
        vm.prank(owner);
        market.claim(id); // a claim between boundaries
        vm.prank(alice);
        vm.expectRevert(NothingToClaim.selector);
        market.claim(id);

        // Epoch 5: settle epoch 2; carol passes 100k to dave by a batch transfer.
        _warpToEpochEnd(4);
        _submit(_report(4, ReportLib.deliveryLeaf(id, 4, _full(), 0)));
        skip(CHALLENGE_WINDOW);
        market.settle(id, 2, _full(), 0, new bytes32[](0));
        assertEq(market.claimable(id, owner), r, "epoch 2 is the seller's too");
        uint256[] memory ids = new uint256[](1);
        ids[0] = id;
        uint256[] memory vals = new uint256[](1);
        vals[0] = 100_000;
        vm.prank(carol);
        market.safeBatchTransferFrom(carol, dave, ids, vals, "");

        // Epoch 6: nothing settles; alice self-transfers, bob resells 50k to the owner.
        _warpToEpochEnd(5);
        _submit(_report(5, ReportLib.deliveryLeaf(id, 5, _full(), 0)));
        skip(CHALLENGE_WINDOW);
        vm.prank(alice);
        market.safeTransferFrom(alice, alice, id, 200_000, "");
        vm.prank(bob);
        market.safeTransferFrom(bob, owner, id, 50_000, "");
        vm.prank(carol); // carol holds since epoch 4: nothing of hers settled yet
        vm.expectRevert(NothingToClaim.selector);
        market.claim(id);

        // After the term, before the backlog settles: a transfer changes nothing owed.
        _warpToEpochEnd(6);
        _submit(_report(6, ReportLib.deliveryLeaf(id, 6, _full(), 0)));
        skip(CHALLENGE_WINDOW);
        assertEq(market.unsettledEpochs(id), 4);
        vm.prank(dave);
        market.safeTransferFrom(dave, alice, id, 50_000, "");
        for (uint64 e = 3; e <= 6; ++e) {
            market.settle(id, e, _full(), 0, new bytes32[](0));
        }
        assertEq(uint8(market.getLease(id).status), uint8(LeaseStatus.Ended));

        // Holdings at the end of each epoch (k = 1,000 shares):
        // e1-2 owner 1000 | e3 owner 500 alice 300 bob 200 | e4 owner 500 alice 200 bob 150 carol 150
        // e5 owner 500 alice 200 bob 150 carol 50 dave 100 | e6 owner 550 alice 200 bob 100 carol 50 dave 100
        uint256 k = r / 1000; // rent of 1,000 shares per epoch
        assertEq(
            market.claimable(id, owner),
            r + (500 + 500 + 500 + 550) * k,
            "owner: epoch 2 + retained shares 3-6"
        );
        assertEq(market.claimable(id, alice), (300 + 200 + 200 + 200) * k, "alice from epoch 3 on");
        assertEq(market.claimable(id, bob), (200 + 150 + 150 + 100) * k, "bob from epoch 3 on");
        assertEq(market.claimable(id, carol), (150 + 50 + 50) * k, "carol from epoch 4 on");
        assertEq(market.claimable(id, dave), (100 + 100) * k, "dave from epoch 5 on");

        address[5] memory hs = [owner, alice, bob, carol, dave];
        for (uint256 i; i < hs.length; ++i) {
            vm.prank(hs[i]);
            market.claim(id);
        }
        assertEq(market.getLease(id).rentPool, 0, "claims == rent pool exactly");
        _assertConserved(_one(id));
    }

    // ------------------------------------------------------------ 7. offers, funding, registry

    /// Offered shares are set aside (the seller cannot move them away) but can be bought; offers
    /// die with the lease.
    function test_offeredSharesSetAside_andOffersDieWithLease() public {
        uint256 id = _activeLease(1);
        vm.prank(bob);
        usd.approve(address(market), type(uint256).max);
        vm.startPrank(owner);
        vm.expectRevert(
            abi.encodeWithSignature(
                "ERC1155InsufficientBalance(address,uint256,uint256,uint256)", owner, SHARES, SHARES + 1, id
            )
        );
        market.offerShares(id, SHARES + 1, 2);
        market.offerShares(id, 400_000, 2);
        vm.expectRevert(abi.encodeWithSelector(SharesReserved.selector, id, uint256(400_000)));
        market.safeTransferFrom(owner, alice, id, 600_001, "");
        market.safeTransferFrom(owner, alice, id, 600_000, ""); // the unreserved part moves
        vm.expectRevert(abi.encodeWithSelector(SharesReserved.selector, id, uint256(400_000)));
        market.safeTransferFrom(owner, alice, id, 1, "");
        vm.stopPrank();

        uint256 o0 = usd.balanceOf(owner);
        vm.prank(bob);
        market.buyShares(id, 100_000, 2);
        assertEq(usd.balanceOf(owner) - o0, 200_000);
        assertEq(market.balanceOf(bob, id), 100_000);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(OfferUnavailable.selector, id, uint256(300_000), uint256(2)));
        market.buyShares(id, 300_001, 2);

        _reportAndSettle(id, 1, _full()); // the lease ends
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrongLeaseStatus.selector, id, uint8(LeaseStatus.Ended)));
        market.buyShares(id, 1, 2);
        vm.prank(owner); // no reservation once the offer is dead
        market.safeTransferFrom(owner, alice, id, 300_000, "");
    }

    /// A stablecoin paused through the whole start epoch delays the lease instead of killing it:
    /// funded late, it starts at the next epoch, escrows only the epochs left and releases the
    /// skipped epochs' bond lock.
    function test_pausedStablecoin_leaseFundedLate() public {
        vm.prank(owner);
        uint256 id = market.createLease(_terms(1, 4)); // epochs 1..3
        uint256 perEpoch = _maxCredit() + _epochRent();
        assertEq(market.bondOf(clusterId, address(usd)).locked, 3 * perEpoch);

        vm.prank(governance);
        usd.pause();
        vm.warp(_epochEnd(0) + 1); // epoch 1 begins, paused
        vm.prank(tenant);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        market.fund(id);
        vm.warp(_epochEnd(1) + 1); // epoch 2: the whole start epoch passed paused
        vm.prank(governance);
        usd.unpause();

        assertEq(market.escrowRequired(id), _epochRent(), "only epoch 3 left");
        uint256 t0 = usd.balanceOf(tenant);
        vm.expectEmit(true, true, false, true, address(market));
        emit LeaseFunded(id, tenant, _epochRent(), 3);
        vm.prank(tenant);
        market.fund(id);
        assertEq(t0 - usd.balanceOf(tenant), _epochRent());
        Lease memory l = market.getLease(id);
        assertEq(l.startEpoch, 3);
        assertEq(l.nextEpoch, 3);
        assertEq(market.bondOf(clusterId, address(usd)).locked, perEpoch, "skipped epochs' lock released");

        _reportAndSettle(id, 3, _full());
        assertEq(uint8(market.getLease(id).status), uint8(LeaseStatus.Ended));
        assertEq(market.bondOf(clusterId, address(usd)).locked, 0);
        assertEq(market.claimable(id, owner), _epochRent());
        _assertConserved(_one(id));
    }

    /// Anyone may cancel a lease that can no longer be funded (its last epoch began); before that
    /// only the owner may.
    function test_unfundableLease_anyoneCancels() public {
        vm.prank(owner);
        uint256 id = market.createLease(_terms(1, 3)); // epochs 1..2
        vm.warp(_epochEnd(0) + 1); // epoch 1: still fundable (for epoch 2)
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(LeaseStillFundable.selector, id, uint64(3)));
        market.cancelLease(id);

        vm.warp(_epochEnd(1) + 1); // epoch 2, the last, began
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(FundingClosed.selector, id, uint64(3)));
        market.fund(id);
        vm.expectEmit(true, true, false, true, address(market));
        emit LeaseCancelled(id, keeper);
        vm.prank(keeper);
        market.cancelLease(id);
        assertEq(market.bondOf(clusterId, address(usd)).locked, 0);
        assertEq(market.activeLeases(clusterId), 0);
        vm.prank(owner);
        registry.deregisterCluster(clusterId);
    }

    /// A registry with no market linked yet lets an owner deregister.
    function test_deregisterWithoutMarket() public {
        ClusterRegistry fresh = new ClusterRegistry(governance, REPORT_WINDOW);
        vm.startPrank(owner);
        uint64 cid = fresh.registerCluster("ipfs://x", bytes32(0), EPOCH, attestors, 2);
        fresh.rotateAttestors(cid, attestors, 1, 1, new bytes[](0)); // no market: owner alone
        fresh.deregisterCluster(cid);
        vm.stopPrank();
        (,,, bool active) = fresh.clusterInfo(cid);
        assertFalse(active);
    }

    /// Report times after 2106 (beyond uint32 seconds) are exact, end to end.
    function test_submittedAtAfter2106() public {
        vm.warp(uint256(type(uint32).max) + 12 hours + 17);
        uint64 cur = registry.currentEpoch(clusterId);
        vm.prank(owner);
        uint256 id = market.createLease(_terms(cur + 1, cur + 2));
        vm.prank(tenant);
        market.fund(id);
        vm.warp(_epochEnd(cur + 1) + 7 minutes);
        _submit(_report(cur + 1, ReportLib.deliveryLeaf(id, cur + 1, _full(), 0)));
        (, uint64 submittedAt) = registry.reportOf(clusterId, cur + 1);
        assertGt(submittedAt, type(uint32).max);
        assertEq(submittedAt, block.timestamp);
        assertEq(market.proofDeadline(id, cur + 1), block.timestamp + CHALLENGE_WINDOW + PROOF_GRACE);

        skip(CHALLENGE_WINDOW - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ChallengeWindowOpen.selector, id, cur + 1, uint256(submittedAt) + CHALLENGE_WINDOW
            )
        );
        market.settle(id, cur + 1, _full(), 0, new bytes32[](0));
        vm.prank(tenant);
        desk.challenge(id, cur + 1); // the window is computed right too
        vm.prank(arbiter);
        desk.resolveChallenge(id, cur + 1, _full(), 0, false);
        market.settle(id, cur + 1, 0, 0, new bytes32[](0));
        assertEq(market.claimable(id, owner), _epochRent());
    }

    /// A tree with two leaves for the same lease contradicts itself: once anyone proves both, the
    /// epoch settles unproven whichever leaf a settler brings (it cannot pick the one it likes).
    function test_conflictingLeaves_settleUnproven() public {
        uint256 id = _activeLease(1);
        uint256[] memory ls = new uint256[](3);
        (ls[0], ls[1], ls[2]) = (id, id, 77);
        uint64[] memory ds = new uint64[](3);
        (ds[0], ds[1], ds[2]) = (_full(), _full() / 2, 5);
        (bytes32 root, bytes32[][] memory proofs) = _deliveriesTree(ls, 1, ds);
        _warpToEpochEnd(1);
        _submit(_report(1, root));

        vm.expectRevert(abi.encodeWithSelector(LeavesAgree.selector, id, uint64(1)));
        desk.proveConflict(id, 1, ProvenLeaf(_full(), 0, proofs[0]), ProvenLeaf(_full(), 0, proofs[0]));
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector, id, uint64(1)));
        desk.proveConflict(id, 1, ProvenLeaf(_full(), 0, proofs[0]), ProvenLeaf(5, 0, proofs[2]));

        vm.expectEmit(true, true, false, true, address(desk));
        emit ConflictingLeavesProven(id, 1, _full(), 0, _full() / 2, 0);
        vm.prank(keeper);
        desk.proveConflict(id, 1, ProvenLeaf(_full(), 0, proofs[0]), ProvenLeaf(_full() / 2, 0, proofs[1]));
        vm.expectRevert(abi.encodeWithSelector(AlreadyChallenged.selector, id, uint64(1)));
        desk.proveConflict(id, 1, ProvenLeaf(_full(), 0, proofs[0]), ProvenLeaf(_full() / 2, 0, proofs[1]));
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(AlreadyChallenged.selector, id, uint64(1)));
        desk.challenge(id, 1);

        // The owner brings the full leaf after the window: the epoch still settles unproven.
        skip(CHALLENGE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(EpochReported.selector, clusterId, uint64(1)));
        market.settleMissed(id, 1);
        vm.expectEmit(true, true, false, true, address(market));
        emit EpochSettled(
            id, 1, 0, 0, _epochRent(), _maxCredit(), _acc(_epochRent() * ACC / SHARES), Outcome.Unproven
        );
        vm.prank(owner);
        market.settle(id, 1, _full(), 0, proofs[0]);
        assertEq(market.getLease(id).escrow, _epochRent(), "nothing billed");
        assertEq(market.getLease(id).credits, _maxCredit());
        _assertConserved(_one(id));
    }
}
