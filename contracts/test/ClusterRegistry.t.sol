// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {ClusterRegistry} from "../src/ClusterRegistry.sol";
import {ILeaseMarket} from "../src/interfaces/ILeaseMarket.sol";
import "../src/libraries/Errors.sol";
import "../src/libraries/Events.sol";
import {UsageReport} from "../src/libraries/Types.sol";
import {BaseTest} from "./BaseTest.sol";

contract ClusterRegistryTest is BaseTest {
    // ------------------------------------------------------------ governance

    function test_setMarket_onlyOnceByGovernance() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vm.prank(alice);
        registry.setMarket(ILeaseMarket(address(1)));

        vm.prank(governance);
        vm.expectRevert(MarketAlreadySet.selector);
        registry.setMarket(ILeaseMarket(address(1)));

        ClusterRegistry fresh = new ClusterRegistry(governance, REPORT_WINDOW);
        vm.prank(governance);
        vm.expectRevert(ZeroAddress.selector);
        fresh.setMarket(ILeaseMarket(address(0)));
    }

    function test_governance_transferIsTwoStep() public {
        vm.prank(governance);
        registry.transferOwnership(alice);
        assertEq(registry.owner(), governance, "still governance until accepted");
        vm.prank(alice);
        registry.acceptOwnership();
        assertEq(registry.owner(), alice);
    }

    // ------------------------------------------------------------ register

    function test_register_storesClusterAndEmits() public {
        vm.expectEmit(true, true, false, true, address(registry));
        emit ClusterRegistered(2, alice, 600, uint64(block.timestamp), "ipfs://x", bytes32(uint256(7)));
        vm.prank(alice);
        uint64 id = registry.registerCluster("ipfs://x", bytes32(uint256(7)), 600, attestors, 3);
        assertEq(id, 2);
        (address o, uint32 len, uint64 genesis, bool active) = registry.clusterInfo(id);
        assertEq(o, alice);
        assertEq(len, 600);
        assertEq(genesis, block.timestamp);
        assertTrue(active);
        assertEq(registry.currentEpoch(id), 0);
        skip(1800);
        assertEq(registry.currentEpoch(id), 3);
        (address[] memory active_, uint8 threshold,,,, uint32 rotations) = registry.attestorState(id);
        assertEq(active_.length, 3);
        assertEq(threshold, 3);
        assertEq(rotations, 0);
    }

    function test_register_rejectsBadEpochLength() public {
        vm.expectRevert(abi.encodeWithSelector(InvalidEpochLength.selector, uint32(9)));
        registry.registerCluster("", 0, 9, attestors, 1);
        vm.expectRevert(abi.encodeWithSelector(InvalidEpochLength.selector, uint32(7 days + 1)));
        registry.registerCluster("", 0, 7 days + 1, attestors, 1);
    }

    function test_register_rejectsBadAttestorSets() public {
        address[] memory none = new address[](0);
        vm.expectRevert(InvalidAttestorSet.selector);
        registry.registerCluster("", 0, EPOCH, none, 1);

        vm.expectRevert(InvalidAttestorSet.selector);
        registry.registerCluster("", 0, EPOCH, attestors, 0);

        vm.expectRevert(InvalidAttestorSet.selector);
        registry.registerCluster("", 0, EPOCH, attestors, 4);

        address[] memory withZero = new address[](2);
        withZero[0] = alice;
        vm.expectRevert(InvalidAttestorSet.selector);
        registry.registerCluster("", 0, EPOCH, withZero, 1);

        address[] memory dup = new address[](2);
        (dup[0], dup[1]) = (alice, alice);
        vm.expectRevert(InvalidAttestorSet.selector);
        registry.registerCluster("", 0, EPOCH, dup, 1);

        address[] memory tooMany = new address[](17);
        for (uint256 i; i < 17; ++i) {
            tooMany[i] = address(uint160(i + 1));
        }
        vm.expectRevert(InvalidAttestorSet.selector);
        registry.registerCluster("", 0, EPOCH, tooMany, 1);
    }

    // ------------------------------------------------------------ reports

    function test_submitReport_storesAndEmitsEveryField() public {
        UsageReport memory r = _report(0, keccak256("root"));
        bytes[] memory sigs = _sign(r, _keys(2));
        _warpToEpochEnd(0);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ReportAccepted(clusterId, 0, r, keeper);
        vm.prank(keeper); // anyone may relay
        registry.submitReport(r, sigs);

        (bytes32 root, uint64 submittedAt) = registry.reportOf(clusterId, 0);
        assertEq(root, keccak256("root"));
        assertEq(submittedAt, block.timestamp);
        ClusterRegistry.StoredReport memory s = registry.reportMetrics(clusterId, 0);
        assertEq(s.gpusInstalled, 16);
        assertEq(s.gpuSecondsBusy, 12 * EPOCH);
        assertEq(s.facilityEnergyWh, 12_320);
    }

    function test_submitReport_allThreeAttestorsAlsoAccepted() public {
        UsageReport memory r = _report(0, bytes32(0));
        _warpToEpochEnd(0);
        registry.submitReport(r, _sign(r, _keys(3)));
    }

    /// Finding 3 of the v2 review: a later epoch's report no longer blocks an earlier one.
    function test_submitReport_laterEpochFirst_earlierStillAccepted() public {
        _warpToEpochEnd(2);
        _submit(_report(2, 0));
        // Epoch 1 is still inside its own deadline: it is accepted, then never again.
        UsageReport memory old = _report(1, keccak256("late"));
        bytes[] memory sigs = _sign(old, _keys(2));
        registry.submitReport(old, sigs);
        (bytes32 root,) = registry.reportOf(clusterId, 1);
        assertEq(root, keccak256("late"));
        vm.expectRevert(abi.encodeWithSelector(EpochAlreadyReported.selector, clusterId, uint64(1)));
        registry.submitReport(old, sigs);
    }

    /// Finding 7 of the v2 review: the acceptance time survives 2106 (uint32 seconds would wrap).
    function test_submitReport_acceptanceTimeBeyond2106() public {
        vm.warp(uint256(type(uint32).max) + 1000);
        vm.prank(owner);
        uint64 late = registry.registerCluster("ipfs://late", 0, EPOCH, attestors, 2);
        (,, uint64 genesis,) = registry.clusterInfo(late);
        UsageReport memory r = _report(3, 0);
        r.clusterId = late;
        vm.warp(uint256(genesis) + 4 * EPOCH + 17);
        registry.submitReport(r, _sign(r, _keys(2)));
        (, uint64 submittedAt) = registry.reportOf(late, 3);
        assertEq(submittedAt, block.timestamp);
        assertGt(submittedAt, type(uint32).max);
    }

    function test_submitReport_rejectsReplay() public {
        UsageReport memory r = _report(0, 0);
        bytes[] memory sigs = _sign(r, _keys(2));
        _warpToEpochEnd(0);
        registry.submitReport(r, sigs);
        vm.expectRevert(abi.encodeWithSelector(EpochAlreadyReported.selector, clusterId, uint64(0)));
        registry.submitReport(r, sigs);
    }

    function test_submitReport_rejectsEpochNotEnded() public {
        UsageReport memory r = _report(0, 0);
        bytes[] memory sigs = _sign(r, _keys(2));
        vm.expectRevert(abi.encodeWithSelector(EpochNotEnded.selector, uint64(0), _epochEnd(0)));
        registry.submitReport(r, sigs);

        UsageReport memory future = _report(5, 0);
        sigs = _sign(future, _keys(2));
        _warpToEpochEnd(0);
        vm.expectRevert(abi.encodeWithSelector(EpochNotEnded.selector, uint64(5), _epochEnd(5)));
        registry.submitReport(future, sigs);
    }

    function test_submitReport_rejectsPastDeadline() public {
        UsageReport memory r = _report(0, 0);
        bytes[] memory sigs = _sign(r, _keys(2));
        vm.warp(_epochEnd(0) + REPORT_WINDOW + 1);
        vm.expectRevert(
            abi.encodeWithSelector(ReportDeadlinePassed.selector, uint64(0), _epochEnd(0) + REPORT_WINDOW)
        );
        registry.submitReport(r, sigs);
    }

    function test_submitReport_acceptedExactlyAtDeadline() public {
        UsageReport memory r = _report(0, 0);
        bytes[] memory sigs = _sign(r, _keys(2));
        vm.warp(_epochEnd(0) + REPORT_WINDOW);
        registry.submitReport(r, sigs);
    }

    function test_submitReport_rejectsUnknownAndInactiveCluster() public {
        UsageReport memory r = _report(0, 0);
        r.clusterId = 99;
        vm.expectRevert(abi.encodeWithSelector(UnknownCluster.selector, uint64(99)));
        registry.submitReport(r, new bytes[](0));

        vm.prank(owner);
        registry.deregisterCluster(clusterId);
        r.clusterId = clusterId;
        vm.expectRevert(abi.encodeWithSelector(ClusterInactive.selector, clusterId));
        registry.submitReport(r, new bytes[](0));
    }

    function test_submitReport_rejectsBrokenBounds() public {
        _warpToEpochEnd(0);
        UsageReport memory r = _report(0, 0);
        r.gpuSecondsBusy = r.gpuSecondsAvailable + 1;
        _expectInvalidMetrics(r);

        r = _report(0, 0);
        r.gpuSecondsAvailable = uint40(r.gpusInstalled) * EPOCH + 1;
        r.gpuSecondsBusy = 0;
        _expectInvalidMetrics(r);

        r = _report(0, 0);
        r.gpusHealthy = r.gpusInstalled + 1;
        _expectInvalidMetrics(r);

        r = _report(0, 0);
        r.facilityEnergyWh = r.itEnergyWh - 1;
        _expectInvalidMetrics(r);
    }

    function _expectInvalidMetrics(UsageReport memory r) internal {
        bytes[] memory sigs = _sign(r, _keys(2));
        vm.expectRevert(InvalidMetrics.selector);
        registry.submitReport(r, sigs);
    }

    function test_submitReport_rejectsTooFewSignatures() public {
        UsageReport memory r = _report(0, 0);
        bytes[] memory sigs = _sign(r, _keys(1));
        _warpToEpochEnd(0);
        vm.expectRevert(abi.encodeWithSelector(InsufficientSignatures.selector, 1, 2));
        registry.submitReport(r, sigs);
    }

    function test_submitReport_rejectsNonAttestor() public {
        UsageReport memory r = _report(0, 0);
        (address mallory, uint256 malloryKey) = makeAddrAndKey("mallory");
        uint256[] memory keys = new uint256[](2);
        (keys[0], keys[1]) = (attestorKeys[0], malloryKey);
        if (mallory < attestors[0]) (keys[0], keys[1]) = (keys[1], keys[0]);
        bytes[] memory sigs = _sign(r, keys);
        _warpToEpochEnd(0);
        vm.expectRevert(abi.encodeWithSelector(NotAttestor.selector, mallory));
        registry.submitReport(r, sigs);
    }

    function test_submitReport_rejectsForgedSignature() public {
        UsageReport memory r = _report(0, 0);
        bytes[] memory sigs = _sign(r, _keys(2));
        sigs[1][5] = bytes1(uint8(sigs[1][5]) ^ 0xff); // corrupt r: recovers someone else, or nobody
        _warpToEpochEnd(0);
        vm.expectRevert();
        registry.submitReport(r, sigs);
    }

    function test_submitReport_rejectsTamperedField() public {
        UsageReport memory r = _report(0, keccak256("honest"));
        bytes[] memory sigs = _sign(r, _keys(2));
        r.gpuSecondsBusy += 1; // over-report after signing
        _warpToEpochEnd(0);
        vm.expectPartialRevert(NotAttestor.selector);
        registry.submitReport(r, sigs);
    }

    function test_submitReport_rejectsDuplicateSigner() public {
        UsageReport memory r = _report(0, 0);
        uint256[] memory keys = new uint256[](2);
        (keys[0], keys[1]) = (attestorKeys[0], attestorKeys[0]);
        bytes[] memory sigs = _sign(r, keys);
        _warpToEpochEnd(0);
        vm.expectRevert(abi.encodeWithSelector(SignersNotAscending.selector, attestors[0], attestors[0]));
        registry.submitReport(r, sigs);
    }

    function test_submitReport_rejectsUnsortedSigners() public {
        UsageReport memory r = _report(0, 0);
        uint256[] memory keys = new uint256[](2);
        (keys[0], keys[1]) = (attestorKeys[1], attestorKeys[0]);
        bytes[] memory sigs = _sign(r, keys);
        _warpToEpochEnd(0);
        vm.expectRevert(abi.encodeWithSelector(SignersNotAscending.selector, attestors[0], attestors[1]));
        registry.submitReport(r, sigs);
    }

    function test_submitReport_rejectsSignatureForOtherChain() public {
        UsageReport memory r = _report(0, 0);
        uint256 realChain = block.chainid;
        vm.chainId(realChain + 1);
        bytes[] memory sigs = _sign(r, _keys(2)); // digest binds chain id
        vm.chainId(realChain);
        _warpToEpochEnd(0);
        vm.expectPartialRevert(NotAttestor.selector);
        registry.submitReport(r, sigs);
    }

    function test_submitReport_rejectsSignatureForOtherContract() public {
        ClusterRegistry other = new ClusterRegistry(governance, REPORT_WINDOW);
        UsageReport memory r = _report(0, 0);
        bytes32 digest = other.reportDigest(r);
        assertTrue(digest != registry.reportDigest(r), "domain binds verifying contract");
        bytes[] memory sigs = new bytes[](2);
        for (uint256 i; i < 2; ++i) {
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(attestorKeys[i], digest);
            sigs[i] = abi.encodePacked(rr, s, v);
        }
        _warpToEpochEnd(0);
        vm.expectPartialRevert(NotAttestor.selector);
        registry.submitReport(r, sigs);
    }

    function test_domain_isComputeLedgerV1() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256(
                    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
                ),
                keccak256("ComputeLedger"),
                keccak256("1"),
                block.chainid,
                address(registry)
            )
        );
        assertEq(registry.domainSeparator(), expected);
    }

    // ------------------------------------------------------------ rotation

    function test_rotate_takesEffectFromFutureEpoch() public {
        (address newA, uint256 newKey) = makeAddrAndKey("newAttestor");
        address[] memory set = new address[](1);
        set[0] = newA;
        vm.prank(owner);
        registry.rotateAttestors(clusterId, set, 1, 1, new bytes[](0));

        (bool isOld,) = registry.isAttestor(clusterId, 0, attestors[0]);
        (bool isNew, uint8 threshold) = registry.isAttestor(clusterId, 1, newA);
        assertTrue(isOld && isNew);
        assertEq(threshold, 1);

        // Epoch 0 still needs the old 2-of-3, even when reported after epoch 1.
        uint256[] memory newKeys = new uint256[](1);
        newKeys[0] = newKey;
        UsageReport memory r1 = _report(1, 0);
        bytes[] memory old = _sign(r1, _keys(2));
        _warpToEpochEnd(1);
        vm.expectRevert(abi.encodeWithSelector(NotAttestor.selector, attestors[0]));
        registry.submitReport(r1, old);
        registry.submitReport(r1, _sign(r1, newKeys));

        UsageReport memory r0 = _report(0, 0);
        bytes[] memory byNewSet = _sign(r0, newKeys);
        vm.expectRevert(abi.encodeWithSelector(InsufficientSignatures.selector, 1, 2));
        registry.submitReport(r0, byNewSet);
        _submit(r0);
        (address[] memory active,, address[] memory pending,, uint64 pendingFrom,) =
            registry.attestorState(clusterId);
        assertEq(active[0], attestors[0], "the old set still verifies late reports of epoch 0");
        assertEq(pending[0], newA);
        assertEq(pendingFrom, 1);
    }

    /// Without an open lease the owner rotates alone, but only from the next epoch: a lease
    /// created later then runs entirely under the set its tenant saw.
    function test_rotate_aloneOnlyFromNextEpoch() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(UnconsentedRotationLater.selector, uint64(3), uint64(1)));
        registry.rotateAttestors(clusterId, attestors, 1, 3, new bytes[](0));
    }

    function test_rotate_rejectsPastOrCurrentEpoch() public {
        skip(EPOCH * 3);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(RotationNotInFuture.selector, uint64(3), uint64(3)));
        registry.rotateAttestors(clusterId, attestors, 1, 3, new bytes[](0));
    }

    function test_rotate_onlyOwnerOfActiveCluster() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(NotClusterOwner.selector, clusterId, alice));
        registry.rotateAttestors(clusterId, attestors, 1, 5, new bytes[](0));
        vm.expectRevert(abi.encodeWithSelector(UnknownCluster.selector, uint64(42)));
        registry.rotateAttestors(42, attestors, 1, 5, new bytes[](0));
    }

    function test_rotate_pendingSetBegunWaitsForOldDeadline() public {
        vm.startPrank(owner);
        registry.rotateAttestors(clusterId, attestors, 1, 1, new bytes[](0));
        vm.warp(_epochEnd(0) + 1); // epoch 1 has begun; epoch 0 may still be reported
        vm.expectRevert(
            abi.encodeWithSelector(RotationPending.selector, uint64(1), _epochEnd(0) + REPORT_WINDOW + 1)
        );
        registry.rotateAttestors(clusterId, attestors, 3, 2, new bytes[](0));
        vm.warp(_epochEnd(0) + REPORT_WINDOW + 1);
        uint64 next = registry.currentEpoch(clusterId) + 1;
        registry.rotateAttestors(clusterId, attestors, 3, next, new bytes[](0));
        vm.stopPrank();
        (, uint8 activeThreshold,, uint8 pendingThreshold, uint64 pendingFrom,) =
            registry.attestorState(clusterId);
        assertEq(activeThreshold, 1, "begun rotation promoted");
        assertEq(pendingThreshold, 3);
        assertEq(pendingFrom, next);
    }

    /// Finding 2 of the v2 review: with a lease open, the owner cannot swap the attestor set alone.
    function test_rotate_withOpenLeaseNeedsCurrentSetConsent() public {
        _activeLease(4);
        (address mine,) = makeAddrAndKey("ownersOwnKey");
        address[] memory set = new address[](1);
        set[0] = mine;
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(InsufficientSignatures.selector, 0, 2));
        registry.rotateAttestors(clusterId, set, 1, 2, new bytes[](0));
        // One co-signer is not the threshold either.
        bytes[] memory one = _consent(clusterId, set, 1, 2, 1);
        vm.expectRevert(abi.encodeWithSelector(InsufficientSignatures.selector, 1, 2));
        registry.rotateAttestors(clusterId, set, 1, 2, one);
        // Consent to another set does not carry over.
        bytes[] memory other = _consent(clusterId, attestors, 1, 2, 2);
        vm.expectPartialRevert(NotAttestor.selector);
        registry.rotateAttestors(clusterId, set, 1, 2, other);

        bytes[] memory consent = _consent(clusterId, set, 1, 2, 2);
        vm.expectEmit(true, false, false, true, address(registry));
        emit AttestorsSet(clusterId, registry.setCount() + 1, 2, 1, set, true);
        registry.rotateAttestors(clusterId, set, 1, 2, consent);
        // The consent was for one rotation: replaying it fails (the nonce moved on).
        vm.expectPartialRevert(NotAttestor.selector);
        registry.rotateAttestors(clusterId, set, 1, 2, consent);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ deregister

    function test_deregister_onlyWithoutOpenLeases() public {
        vm.prank(owner);
        uint256 leaseId = market.createLease(_terms(1, 3));
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ClusterHasActiveLeases.selector, clusterId, 1));
        registry.deregisterCluster(clusterId);

        vm.startPrank(owner);
        market.cancelLease(leaseId);
        vm.expectEmit(true, false, false, false, address(registry));
        emit ClusterDeregistered(clusterId);
        registry.deregisterCluster(clusterId);
        vm.expectRevert(abi.encodeWithSelector(ClusterInactive.selector, clusterId));
        registry.deregisterCluster(clusterId);
        vm.stopPrank();
        (,,, bool active) = registry.clusterInfo(clusterId);
        assertFalse(active);
    }

    /// Finding 7 of the v2 review: a registry whose market is not linked yet can still deregister.
    function test_deregister_withoutMarket() public {
        ClusterRegistry lone = new ClusterRegistry(governance, REPORT_WINDOW);
        vm.startPrank(owner);
        uint64 id = lone.registerCluster("ipfs://lone", 0, EPOCH, attestors, 2);
        lone.deregisterCluster(id);
        vm.stopPrank();
        (,,, bool active) = lone.clusterInfo(id);
        assertFalse(active);
    }
}
