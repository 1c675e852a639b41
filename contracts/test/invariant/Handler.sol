// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {ClusterRegistry} from "../../src/ClusterRegistry.sol";
import {DevStablecoin} from "../../src/DevStablecoin.sol";
import {LeaseMarket} from "../../src/LeaseMarket.sol";
import {ReportLib} from "../../src/libraries/ReportLib.sol";
import {Billing, LeaseStatus, LeaseTerms, UsageReport} from "../../src/libraries/Types.sol";
import {MerkleBuilder} from "../utils/MerkleBuilder.sol";

/// @notice Drives the protocol through random but valid sequences of actions, and keeps ghost
/// totals the invariants compare against.
contract Handler is CommonBase, StdCheats, StdUtils {
    ClusterRegistry internal registry;
    LeaseMarket internal market;
    DevStablecoin internal usd;
    uint64 internal clusterId;
    uint256 internal attestorKey;
    address internal owner;
    address internal tenant;
    address internal arbiter;
    address[] public holders;

    uint256[] public leaseIds;
    mapping(uint64 epoch => uint256[]) internal _leafLeases;
    mapping(uint64 epoch => uint64[]) internal _leafDelivered;

    // ghosts
    mapping(uint256 leaseId => mapping(uint64 epoch => uint256)) public settledCount;
    mapping(uint256 leaseId => uint256) public rentSettled;
    mapping(uint256 leaseId => uint256) public claimed;
    uint256 public settlements;
    uint256 public maxSettledCount;
    mapping(bytes32 => uint256) public calls;

    constructor(
        ClusterRegistry registry_,
        LeaseMarket market_,
        DevStablecoin usd_,
        uint64 clusterId_,
        uint256 attestorKey_,
        address owner_,
        address tenant_,
        address arbiter_,
        address[] memory holders_
    ) {
        (registry, market, usd, clusterId, attestorKey) = (registry_, market_, usd_, clusterId_, attestorKey_);
        (owner, tenant, arbiter, holders) = (owner_, tenant_, arbiter_, holders_);
    }

    function leaseCount() external view returns (uint256) {
        return leaseIds.length;
    }

    function holderCount() external view returns (uint256) {
        return holders.length;
    }

    // ------------------------------------------------------------ actions

    /// Creates a lease starting 1-3 epochs ahead; three in four are funded at once (a lease
    /// left unfunded past its start can only be cancelled).
    function createLease(
        uint32 gpus,
        uint128 price,
        uint64 epochs,
        uint16 slaBps,
        uint16 creditBps,
        uint128 shares,
        uint8 flags
    ) external {
        if (leaseIds.length >= 12) return;
        calls["create"]++;
        uint64 start = registry.currentEpoch(clusterId) + 1 + (flags % 3);
        LeaseTerms memory t = LeaseTerms({
            clusterId: clusterId,
            tenant: tenant,
            stablecoin: address(usd),
            gpus: uint32(bound(gpus, 1, 64)),
            startEpoch: start,
            endEpoch: start + uint64(bound(epochs, 1, 6)),
            pricePerGpuHour: uint128(bound(price, 1, 10e6)),
            billing: Billing.Reserved,
            slaBps: uint16(bound(slaBps, 0, 10_000)),
            creditBps: uint16(bound(creditBps, 0, 10_000)),
            totalShares: uint128(bound(shares, 1, 1e21))
        });
        vm.prank(owner);
        uint256 id = market.createLease(t);
        leaseIds.push(id);
        if (flags % 4 != 0) {
            calls["fund"]++;
            vm.prank(tenant);
            market.fund(id);
        }
    }

    function fund(uint256 seed) external {
        if (leaseIds.length == 0) return;
        uint256 id = leaseIds[seed % leaseIds.length];
        LeaseMarket.Lease memory l = market.getLease(id);
        if (l.status != LeaseStatus.Offered || market.currentEpoch(id) >= l.startEpoch) return;
        calls["fund"]++;
        vm.prank(tenant);
        market.fund(id);
    }

    function cancel(uint256 seed) external {
        if (leaseIds.length == 0) return;
        uint256 id = leaseIds[seed % leaseIds.length];
        if (market.getLease(id).status != LeaseStatus.Offered) return;
        calls["cancel"]++;
        vm.prank(owner);
        market.cancelLease(id);
    }

    function warp(uint256 secs) external {
        calls["warp"]++;
        skip(bound(secs, 60, 3 hours));
    }

    /// Reports an epoch that has ended, with a random delivery for every lease covering it. When
    /// the last ended epoch is already reported (or past its deadline), waits for the current one.
    function report(uint256 seed) external {
        uint64 current = registry.currentEpoch(clusterId);
        (,,,,, uint64 nextEpoch) = registry.attestorState(clusterId);
        (,, uint64 genesis,) = registry.clusterInfo(clusterId);
        uint64 epoch = current == 0 ? 0 : current - 1;
        uint256 endsAt = uint256(genesis) + (uint256(epoch) + 1) * 1 hours;
        if (current == 0 || epoch < nextEpoch || block.timestamp > endsAt + registry.reportWindow()) {
            epoch = current;
            vm.warp(uint256(genesis) + (uint256(epoch) + 1) * 1 hours);
        }
        calls["report"]++;

        bytes32[] memory leaves = new bytes32[](leaseIds.length + 1);
        uint256 n;
        for (uint256 i; i < leaseIds.length; ++i) {
            LeaseMarket.Lease memory l = market.getLease(leaseIds[i]);
            if (epoch < l.startEpoch || epoch >= l.endEpoch) continue;
            uint64 cap = uint64(l.gpus) * l.epochLength;
            uint64 d = uint64(bound(uint256(keccak256(abi.encode(seed, i))), 0, cap + cap / 10));
            _leafLeases[epoch].push(leaseIds[i]);
            _leafDelivered[epoch].push(d);
            leaves[n++] = ReportLib.deliveryLeaf(leaseIds[i], epoch, d);
        }
        // An empty epoch still commits to something: a leaf no lease can claim.
        if (n == 0) leaves[n++] = keccak256("no deliveries");
        assembly {
            mstore(leaves, n)
        }
        UsageReport memory r = UsageReport({
            clusterId: clusterId,
            epoch: epoch,
            gpusInstalled: 1000,
            gpusHealthy: 1000,
            gpuSecondsAvailable: 1000 * 3600,
            gpuSecondsBusy: 900 * 3600,
            itEnergyWh: 700_000,
            facilityEnergyWh: 800_000,
            deliveriesRoot: MerkleBuilder.root(leaves),
            telemetryRoot: bytes32(seed)
        });
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(attestorKey, registry.reportDigest(r));
        bytes[] memory sigs = new bytes[](1);
        sigs[0] = abi.encodePacked(rr, s, v);
        registry.submitReport(r, sigs);
    }

    /// Settles the chosen lease's next epoch by whichever path applies now.
    function settle(uint256 seed) external {
        (uint256 id, bool found) = _activeLease(seed);
        if (!found) return;
        LeaseMarket.Lease memory l = market.getLease(id);
        uint64 epoch = l.nextEpoch;
        LeaseMarket.Challenge memory c = market.challengeOf(id, epoch);
        if (c.status == LeaseMarket.ChallengeStatus.Open) return;
        (, uint32 submittedAt) = registry.reportOf(clusterId, epoch);

        uint256 escrowBefore = l.escrow;
        if (c.status == LeaseMarket.ChallengeStatus.Resolved) {
            market.settle(id, epoch, 0, new bytes32[](0));
        } else if (submittedAt == 0) {
            uint256 deadline =
                uint256(l.genesis) + (uint256(epoch) + 1) * l.epochLength + registry.reportWindow();
            if (block.timestamp <= deadline) vm.warp(deadline + 1);
            market.settleMissed(id, epoch);
        } else {
            uint256 closesAt = uint256(submittedAt) + market.challengeWindow();
            if (block.timestamp < closesAt) vm.warp(closesAt);
            (uint64 delivered, bytes32[] memory proof) = _proof(id, epoch);
            market.settle(id, epoch, delivered, proof);
        }
        calls["settle"]++;
        rentSettled[id] += escrowBefore - market.getLease(id).escrow;
        settlements++;
        uint256 count = ++settledCount[id][epoch];
        if (count > maxSettledCount) maxSettledCount = count;
    }

    /// Replays an already-settled epoch; it must revert and change nothing.
    function replaySettle(uint256 seed) external {
        if (leaseIds.length == 0) return;
        uint256 id = leaseIds[seed % leaseIds.length];
        LeaseMarket.Lease memory l = market.getLease(id);
        if (l.nextEpoch == l.startEpoch || l.status == LeaseStatus.Offered) return;
        calls["replay"]++;
        uint64 epoch = uint64(bound(seed, l.startEpoch, l.nextEpoch - 1));
        (uint64 delivered, bytes32[] memory proof) = _proof(id, epoch);
        try market.settle(id, epoch, delivered, proof) {
            settledCount[id][epoch]++;
            maxSettledCount = 99;
        } catch {}
    }

    function challenge(uint256 seed) external {
        (uint256 id, bool found) = _activeLease(seed);
        if (!found) return;
        LeaseMarket.Lease memory l = market.getLease(id);
        uint64 epoch = l.nextEpoch;
        (, uint32 submittedAt) = registry.reportOf(clusterId, epoch);
        if (submittedAt == 0 || block.timestamp >= uint256(submittedAt) + market.challengeWindow()) return;
        if (market.challengeOf(id, epoch).status != LeaseMarket.ChallengeStatus.None) return;
        calls["challenge"]++;
        vm.prank(tenant);
        market.challenge(id, epoch);
    }

    function resolve(uint256 seed, uint64 corrected) external {
        if (leaseIds.length == 0) return;
        uint256 id = leaseIds[seed % leaseIds.length];
        uint64 epoch = market.getLease(id).nextEpoch;
        if (market.challengeOf(id, epoch).status != LeaseMarket.ChallengeStatus.Open) return;
        calls["resolve"]++;
        vm.prank(arbiter);
        market.resolveChallenge(id, epoch, corrected);
    }

    /// Claims for the first (holder, lease) pair from the seeds on that has rent due.
    function claim(uint256 holderSeed, uint256 leaseSeed) external {
        uint256 id;
        address who;
        bool found;
        for (uint256 i; i < leaseIds.length * holders.length && !found; ++i) {
            id = leaseIds[(leaseSeed % leaseIds.length + i / holders.length) % leaseIds.length];
            who = holders[(holderSeed % holders.length + i) % holders.length];
            found = market.claimable(id, who) != 0;
        }
        if (!found) return;
        calls["claim"]++;
        vm.prank(who);
        claimed[id] += market.claim(id);
    }

    function withdrawTenant(uint256 seed) external {
        if (leaseIds.length == 0) return;
        uint256 id = leaseIds[seed % leaseIds.length];
        LeaseMarket.Lease memory l = market.getLease(id);
        if (l.credits == 0 && !(l.status == LeaseStatus.Ended && l.escrow > 0)) return;
        calls["withdrawTenant"]++;
        vm.prank(tenant);
        market.withdrawTenantFunds(id);
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 leaseSeed, uint256 amount) external {
        if (leaseIds.length == 0) return;
        uint256 id = leaseIds[leaseSeed % leaseIds.length];
        address from = holders[fromSeed % holders.length];
        address to = holders[toSeed % holders.length];
        uint256 balance = market.balanceOf(from, id);
        if (balance == 0) return;
        calls["transfer"]++;
        vm.prank(from);
        market.safeTransferFrom(from, to, id, bound(amount, 1, balance), "");
    }

    // ------------------------------------------------------------ helpers

    /// The first active lease at or after the seed's position.
    function _activeLease(uint256 seed) internal view returns (uint256 id, bool found) {
        for (uint256 i; i < leaseIds.length; ++i) {
            id = leaseIds[(seed % leaseIds.length + i) % leaseIds.length];
            if (market.getLease(id).status == LeaseStatus.Active) return (id, true);
        }
    }

    function _proof(uint256 id, uint64 epoch)
        internal
        view
        returns (uint64 delivered, bytes32[] memory proof)
    {
        uint256[] storage ids = _leafLeases[epoch];
        bytes32[] memory leaves = new bytes32[](ids.length);
        uint256 index = type(uint256).max;
        for (uint256 i; i < ids.length; ++i) {
            leaves[i] = ReportLib.deliveryLeaf(ids[i], epoch, _leafDelivered[epoch][i]);
            if (ids[i] == id) (index, delivered) = (i, _leafDelivered[epoch][i]);
        }
        if (index == type(uint256).max) return (0, new bytes32[](0));
        proof = MerkleBuilder.proof(leaves, index);
    }
}
