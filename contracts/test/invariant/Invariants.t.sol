// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DevStablecoin} from "../../src/DevStablecoin.sol";
import {LeaseMarket} from "../../src/LeaseMarket.sol";
import {Challenge, DisputeStatus, Lease, LeaseStatus} from "../../src/libraries/Types.sol";
import {BaseTest} from "../BaseTest.sol";
import {AdversarialHandler} from "./AdversarialHandler.sol";
import {Handler} from "./Handler.sol";
import {Model} from "./Model.sol";
import {ReentrantHolder, RejectingHolder} from "./Receivers.sol";

/// @notice Protocol invariants over three clusters, two stablecoins, three tenants, five EOA and two
/// contract holders (one re-entrant, one refusing), rotating 2-of-3 attestor sets, disputes, a
/// pausing and blocklisting issuer, and an adversary calling everything with unfiltered arguments.
///
/// Invariants (checked after every call): money conserved per stablecoin in the market and the
/// desk; per-lease escrow, credit and rent-pool accounting; bond accounting and locks; each holder
/// paid its epoch-end-balance share of every settlement; share balances and offers; activeLeases;
/// reports immutable; dispute bonds, payouts and proof deadlines; and the model's step checks
/// (settlement outcomes and amounts, nothing settled twice, forward-only leases, expected reverts).
/// `afterInvariant` checks liveness on a snapshot: past every deadline, permissionless calls end
/// every lease, then every base unit but rounding dust is taken out.
///
/// The handler also probes the two bugs this suite found in the v2 draft (an expired challenge
/// shortening the proof grace; a batch repeating an id moving offered shares), both fixed.
/// INVARIANT_SUMMARY=../.devnet/coverage.txt appends per-run action counts (for tuning).
contract InvariantsTest is BaseTest {
    Handler internal handler;
    AdversarialHandler internal adversary;
    DevStablecoin internal usd2;
    DevStablecoin[2] internal tokens;
    ReentrantHolder internal reenterer;

    function setUp() public override {
        super.setUp();
        usd2 = new DevStablecoin(governance);
        tokens = [usd, usd2];
        vm.prank(governance);
        market.setStablecoinAllowed(address(usd2), true);

        // Six attestors (BaseTest's three first), ascending: clusters draw their 2-of-3 sets here.
        address[6] memory pool;
        uint256[6] memory keys;
        for (uint256 i; i < 6; ++i) {
            (pool[i], keys[i]) = makeAddrAndKey(string.concat("attestor", vm.toString(i)));
        }
        _sort(pool, keys);

        // Three clusters: BaseTest's (1 h epochs), another owner's (20 min), and a third (30 min).
        address owner2 = makeAddr("owner2");
        uint64[3] memory clusters;
        clusters[0] = clusterId;
        vm.prank(owner2);
        clusters[1] = registry.registerCluster("ipfs://c2", 0, 20 minutes, _set(pool, 3, 4, 5), 2);
        vm.prank(owner);
        clusters[2] = registry.registerCluster("ipfs://c3", 0, 30 minutes, _set(pool, 0, 2, 4), 2);

        address[3] memory tenants;
        uint256[3] memory tenantKeys;
        (tenants[0], tenantKeys[0]) = (tenant, tenantKey);
        (tenants[1], tenantKeys[1]) = makeAddrAndKey("tenant2");
        (tenants[2], tenantKeys[2]) = makeAddrAndKey("tenant3");
        address carol = makeAddr("carol");
        reenterer = new ReentrantHolder(market, address(desk), tokens, carol);
        RejectingHolder rejecter = new RejectingHolder(market, address(desk), tokens);

        address[] memory holders = new address[](7);
        (holders[0], holders[1], holders[2], holders[3]) = (owner, owner2, alice, bob);
        (holders[4], holders[5], holders[6]) = (carol, address(reenterer), address(rejecter));
        _fund(holders, tenants);
        for (uint256 c; c < 3; ++c) {
            for (uint256 t; t < 2; ++t) {
                vm.prank(c == 1 ? owner2 : owner);
                market.depositBond(clusters[c], address(tokens[t]), 50_000e6);
            }
        }

        handler = new Handler(
            Handler.Config({
                registry: registry,
                market: market,
                tokens: tokens,
                governance: governance,
                arbiter: arbiter,
                keeper: keeper,
                clusters: clusters,
                tenants: tenants,
                tenantKeys: tenantKeys,
                holders: holders,
                attestors: pool,
                attestorKeys: keys,
                reenterer: reenterer,
                rejecter: rejecter
            })
        );
        adversary = new AdversarialHandler(handler);
        handler.setAdversary(address(adversary));

        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: _handlerSelectors()}));
        targetContract(address(adversary));
    }

    // ================================================================= money

    /// Per stablecoin: the market holds exactly escrow + unclaimed rent + SLA credits + bonds, and
    /// the desk exactly its open challenge bonds + payouts (also while paused or blocklisted).
    function invariant_moneyIsConserved() public view {
        uint256 leases = market.leaseCount();
        uint64 clusterCount = registry.clusterCount();
        for (uint256 t; t < 2; ++t) {
            address token = address(tokens[t]);
            uint256 owed;
            for (uint256 id = 1; id <= leases; ++id) {
                Lease memory l = market.getLease(id);
                if (l.stablecoin == token) owed += uint256(l.escrow) + l.rentPool + l.credits;
            }
            for (uint64 c = 1; c <= clusterCount; ++c) {
                owed += market.bondOf(c, token).total;
            }
            assertEq(tokens[t].balanceOf(address(market)), owed, "market balance != obligations");

            uint256 held;
            Model.Key[] memory keys = handler.challengeKeys();
            for (uint256 i; i < keys.length; ++i) {
                Challenge memory c = desk.challengeOf(keys[i].id, keys[i].epoch);
                if (market.getLease(keys[i].id).stablecoin == token) held += c.bond;
            }
            address[] memory accounts = handler.accounts();
            for (uint256 i; i < accounts.length; ++i) {
                held += desk.payouts(token, accounts[i]);
            }
            assertEq(tokens[t].balanceOf(address(desk)), held, "desk balance != bonds + payouts");
        }
    }

    /// Per lease: escrow + rent settled from it (+ the remainder withdrawn) == amount funded; SLA
    /// credits and the rent pool match what settled less what was taken out.
    function invariant_leaseAccounting() public view {
        for (uint256 i; i < handler.leaseCount(); ++i) {
            uint256 id = handler.leaseIds(i);
            Model.LeaseModel memory m = handler.leaseModel(id);
            Lease memory l = market.getLease(id);
            assertEq(l.escrow + m.rent + m.remainderOut, m.escrowFunded, "escrow + rent settled != funded");
            assertEq(l.credits + m.creditsOut, m.credit, "credits owed + withdrawn != credited");
            assertEq(l.rentPool + m.claimed, m.rent + m.comp, "rent pool + claimed != rent + compensation");
            assertEq(l.rentPerShare, m.acc, "accumulator");
            if (l.status == LeaseStatus.Active || l.status == LeaseStatus.Ended) {
                assertEq(l.nextEpoch, m.next, "next epoch");
                assertEq(l.startEpoch, m.start, "start epoch");
            }
            assertEq(
                l.status == LeaseStatus.Ended, m.next == m.end && m.funded, "ended iff every epoch settled"
            );
        }
    }

    /// Per cluster and stablecoin: bond total == deposits - withdrawals - credits - compensation
    /// (rejected challenge bonds are forfeited to governance on the desk, not here); the lock is exactly the
    /// worst case of every unsettled epoch of open leases, and never exceeds the bond.
    function invariant_bondAccounting() public view {
        uint256 leases = market.leaseCount();
        for (uint64 c = 1; c <= registry.clusterCount(); ++c) {
            for (uint256 t; t < 2; ++t) {
                address token = address(tokens[t]);
                LeaseMarket.Bond memory b = market.bondOf(c, token);
                uint256 locked;
                for (uint256 id = 1; id <= leases; ++id) {
                    Lease memory l = market.getLease(id);
                    bool open = l.status == LeaseStatus.Offered || l.status == LeaseStatus.Active;
                    if (open && l.clusterId == c && l.stablecoin == token) {
                        locked += uint256(l.bondPerEpoch) * (l.endEpoch - l.nextEpoch);
                    }
                }
                assertEq(b.locked, locked, "bond lock != worst case of open epochs");
                assertLe(b.locked, b.total, "bond lock above bond");
                if (handler.clusterOwner(c) != address(0)) {
                    assertEq(
                        b.total,
                        handler.bondIn(c, token) - handler.bondOut(c, token) - handler.bondPaid(c, token),
                        "bond != deposits - withdrawals - credits - compensation"
                    );
                }
            }
        }
    }

    /// Disputes: each challenge's bond and status on the desk match the model; every account's
    /// payouts are exactly the bonds the model says it won (upheld, expired or conflict: the
    /// challenger; rejected: governance) less what it withdrew; the proof deadline of each
    /// next epoch is the design's (the challenge window, or a later resolution deadline, + grace).
    function invariant_disputes() public view {
        Model.Key[] memory keys = handler.challengeKeys();
        for (uint256 i; i < keys.length; ++i) {
            Challenge memory c = desk.challengeOf(keys[i].id, keys[i].epoch);
            (DisputeStatus status, address challenger,,, uint128 bond,) =
                handler.challenges(keys[i].id, keys[i].epoch);
            assertEq(uint8(c.status), uint8(status), "challenge status");
            assertEq(c.challenger, challenger, "challenger");
            assertEq(c.bond, status == DisputeStatus.Open ? bond : 0, "challenge bond held");
        }
        address[] memory accounts = handler.accounts();
        for (uint256 t; t < 2; ++t) {
            for (uint256 i; i < accounts.length; ++i) {
                uint256 expected = handler.expectedPayout(address(tokens[t]), accounts[i]);
                assertEq(desk.payouts(address(tokens[t]), accounts[i]), expected, "desk payout");
            }
        }
        for (uint256 i; i < handler.leaseCount(); ++i) {
            uint256 id = handler.leaseIds(i);
            Lease memory l = market.getLease(id);
            (bool reported,,) = handler.reports(l.clusterId, l.nextEpoch);
            (DisputeStatus s,,,,,) = handler.challenges(id, l.nextEpoch);
            if (l.status != LeaseStatus.Active || !reported) continue;
            if (s == DisputeStatus.Upheld || s == DisputeStatus.Rejected || s == DisputeStatus.Conflict) {
                continue;
            }
            assertEq(
                market.proofDeadline(id, l.nextEpoch),
                handler.designDeadline(id, l.nextEpoch),
                "proof deadline"
            );
        }
    }

    // ================================================================= holders

    /// Each holder's claimed + claimable equals its epoch-end-balance share of every settlement's
    /// rent + compensation, rounded down by at most one unit per checkpoint (transfer or claim).
    function invariant_rentFollowsEpochEndBalances() public view {
        for (uint256 i; i < handler.leaseCount(); ++i) {
            uint256 id = handler.leaseIds(i);
            address[] memory hs = handler.holdersOf(id);
            uint256 total;
            for (uint256 h; h < hs.length; ++h) {
                uint256 got = handler.claimedBy(id, hs[h]) + market.claimable(id, hs[h]);
                uint256 expected = handler.expectedEarned(id, hs[h]);
                assertLe(got, expected, "holder paid more than its share");
                assertLe(expected - got, 2 * handler.touches(id, hs[h]) + 2, "holder short of its share");
                total += got;
            }
            Model.LeaseModel memory m = handler.leaseModel(id);
            assertLe(total, m.rent + m.comp, "holders paid more than settled");
        }
    }

    /// Share balances match the ghost (built from transfer events), sum to the supply, and an
    /// active lease's offer is always backed by the seller's shares.
    function invariant_sharesAndOffers() public view {
        for (uint256 i; i < handler.leaseCount(); ++i) {
            uint256 id = handler.leaseIds(i);
            address[] memory hs = handler.holdersOf(id);
            uint256 supply;
            for (uint256 h; h < hs.length; ++h) {
                assertEq(market.balanceOf(hs[h], id), handler.ghostBalance(id, hs[h]), "ghost balance");
                supply += market.balanceOf(hs[h], id);
            }
            assertEq(supply, handler.leaseModel(id).shares, "share supply");
            (address seller, uint128 offered,) = market.offers(id);
            if (market.getLease(id).status == LeaseStatus.Active) {
                assertLe(offered, market.balanceOf(seller, id), "offer not backed by the seller's shares");
            }
        }
    }

    // ================================================================= registry and progress

    /// activeLeases(cluster) counts exactly the offered and active leases.
    function invariant_activeLeasesCount() public view {
        uint64 clusterCount = registry.clusterCount();
        uint256[] memory open = new uint256[](clusterCount + 1);
        for (uint256 id = 1; id <= market.leaseCount(); ++id) {
            Lease memory l = market.getLease(id);
            if (l.status == LeaseStatus.Offered || l.status == LeaseStatus.Active) open[l.clusterId] += 1;
        }
        for (uint64 c = 1; c <= clusterCount; ++c) {
            assertEq(market.activeLeases(c), open[c], "activeLeases");
        }
    }

    /// Accepted reports never change.
    function invariant_reportsAreImmutable() public view {
        Model.Key[] memory keys = handler.reportKeys();
        for (uint256 i; i < keys.length; ++i) {
            (bool exists, uint64 submittedAt, bytes32 root) =
                handler.reports(uint64(keys[i].id), keys[i].epoch);
            (bytes32 storedRoot, uint64 storedAt) = registry.reportOf(uint64(keys[i].id), keys[i].epoch);
            assertTrue(exists);
            assertEq(storedRoot, root, "report root changed");
            assertEq(storedAt, submittedAt, "report time changed");
        }
    }

    /// Every step the model checks while ingesting: settlement outcomes and amounts (rent of
    /// min(delivery, cap), 0 when missed or unproven), nothing settled twice or out of order,
    /// forward-only nextEpoch/status/rentPerShare, dispute steps, and expected reverts (frozen
    /// stablecoin, reserved shares, bad reports, early unproven settlement) changing nothing.
    function invariant_modelHolds() public view {
        assertEq(handler.violation(), "");
    }

    // ================================================================= liveness

    /// Far past every deadline, permissionless calls drive every lease to an end (while the
    /// stablecoins may still be frozen: settlement moves no tokens); then, unfrozen, every base unit
    /// is taken out by someone but per-lease rounding dust. Runs on a snapshot.
    function afterInvariant() public {
        uint256 snapshot = vm.snapshotState();
        uint256 last;
        for (uint256 id = 1; id <= market.leaseCount(); ++id) {
            Lease memory l = market.getLease(id);
            uint256 end = uint256(l.genesis) + uint256(l.endEpoch) * l.epochLength;
            if (end > last) last = end;
        }
        uint256 bound = REPORT_WINDOW + CHALLENGE_WINDOW + RESOLUTION_WINDOW + PROOF_GRACE;
        if (last + bound + 1 > block.timestamp) vm.warp(last + bound + 1);

        handler.settleEverything();
        for (uint256 id = 1; id <= market.leaseCount(); ++id) {
            LeaseStatus s = market.getLease(id).status;
            assertTrue(s == LeaseStatus.Ended || s == LeaseStatus.Cancelled, "lease not driven to an end");
        }
        for (uint64 c = 1; c <= registry.clusterCount(); ++c) {
            assertEq(market.activeLeases(c), 0, "open leases left");
        }
        invariant_moneyIsConserved();

        handler.unfreezeAll();
        handler.withdrawEverything();
        invariant_modelHolds();
        invariant_rentFollowsEpochEndBalances();
        invariant_disputes();
        for (uint256 t; t < 2; ++t) {
            uint256 dust;
            for (uint256 id = 1; id <= market.leaseCount(); ++id) {
                Lease memory l = market.getLease(id);
                if (l.stablecoin != address(tokens[t])) continue;
                assertEq(l.escrow + l.credits, 0, "tenant funds left");
                assertLe(l.rentPool, _dustBound(id), "rent left beyond rounding dust");
                dust += l.rentPool;
            }
            for (uint64 c = 1; c <= registry.clusterCount(); ++c) {
                assertEq(market.bondOf(c, address(tokens[t])).total, 0, "bond left");
            }
            assertEq(tokens[t].balanceOf(address(market)), dust, "market holds more than dust");
            assertEq(tokens[t].balanceOf(address(desk)), 0, "desk holds funds");
        }
        // Coverage per run, for tuning: INVARIANT_SUMMARY=../.devnet/coverage.txt (a writable path).
        string memory summary = vm.envOr("INVARIANT_SUMMARY", string(""));
        if (bytes(summary).length != 0) vm.writeLine(summary, _summary());
        vm.revertToState(snapshot);
    }

    // ================================================================= set-up helpers

    /// The handler's actions, weighted by repetition (the fuzzer picks uniformly among all targeted
    /// functions, the adversary's 34 included: at these weights it makes about a fifth of the calls).
    function _handlerSelectors() internal pure returns (bytes4[] memory s) {
        bytes4[44] memory base = [
            Handler.createLease.selector,
            Handler.createLease.selector,
            Handler.fund.selector,
            Handler.fund.selector,
            Handler.cancel.selector,
            Handler.warp.selector,
            Handler.warp.selector,
            Handler.report.selector,
            Handler.report.selector,
            Handler.report.selector,
            Handler.reportOutOfOrder.selector,
            Handler.badReport.selector,
            Handler.settle.selector,
            Handler.settle.selector,
            Handler.settle.selector,
            Handler.settleBatch.selector,
            Handler.replaySettle.selector,
            Handler.proveAhead.selector,
            Handler.proveAhead.selector,
            Handler.proveAhead.selector,
            Handler.probeWrongSettlement.selector,
            Handler.probeWrongSettlement.selector,
            Handler.challenge.selector,
            Handler.challenge.selector,
            Handler.resolve.selector,
            Handler.expire.selector,
            Handler.proveConflict.selector,
            Handler.claim.selector,
            Handler.claim.selector,
            Handler.withdrawTenant.selector,
            Handler.withdrawPayout.selector,
            Handler.transfer.selector,
            Handler.transfer.selector,
            Handler.batchTransfer.selector,
            Handler.offer.selector,
            Handler.buy.selector,
            Handler.depositBond.selector,
            Handler.withdrawBond.selector,
            Handler.rotate.selector,
            Handler.deregister.selector,
            Handler.pause.selector,
            Handler.blocklist.selector,
            Handler.toggleReceiver.selector,
            Handler.toggleAllowed.selector
        ];
        s = new bytes4[](3 * base.length);
        for (uint256 i; i < s.length; ++i) {
            s[i] = base[i % base.length];
        }
    }

    function _fund(address[] memory holders, address[3] memory tenants) internal {
        address[] memory all = new address[](holders.length + 3);
        for (uint256 i; i < holders.length; ++i) {
            all[i] = holders[i];
        }
        for (uint256 i; i < 3; ++i) {
            all[holders.length + i] = tenants[i];
        }
        for (uint256 i; i < all.length; ++i) {
            for (uint256 t; t < 2; ++t) {
                vm.prank(governance);
                tokens[t].mint(all[i], 1e15);
                if (all[i].code.length != 0) continue; // receivers approved in their constructor
                vm.startPrank(all[i]);
                tokens[t].approve(address(market), type(uint256).max);
                tokens[t].approve(address(desk), type(uint256).max);
                vm.stopPrank();
            }
        }
    }

    function _sort(address[6] memory a, uint256[6] memory k) internal pure {
        for (uint256 i; i < 6; ++i) {
            for (uint256 j = i + 1; j < 6; ++j) {
                if (a[j] < a[i]) (a[i], a[j], k[i], k[j]) = (a[j], a[i], k[j], k[i]);
            }
        }
    }

    function _set(address[6] memory pool, uint256 a, uint256 b, uint256 c)
        internal
        pure
        returns (address[] memory set)
    {
        set = new address[](3);
        (set[0], set[1], set[2]) = (pool[a], pool[b], pool[c]);
    }

    /// Flooring strands under two units per holder checkpoint, plus two per holder (0 for the
    /// adversary's leases, which can carry no rent: they have no bond).
    function _dustBound(uint256 id) internal view returns (uint256 bound) {
        if (!handler.known(id)) return 0;
        address[] memory hs = handler.holdersOf(id);
        for (uint256 h; h < hs.length; ++h) {
            bound += 2 * handler.touches(id, hs[h]) + 2;
        }
    }

    function _summary() internal view returns (string memory line) {
        string[33] memory names = [
            "createLease",
            "funded",
            "fundedLate",
            "fundWithPermit",
            "cancelByAnyone",
            "report",
            "reportedOutOfOrder",
            "leafOmitted",
            "conflictingLeaves",
            "proven",
            "arbitrated",
            "missed",
            "unproven",
            "settleBatch",
            "challenged",
            "upheld",
            "rejected",
            "expired",
            "conflict",
            "transfer",
            "batchTransfer",
            "buy",
            "rotateWithConsent",
            "rotateOwnerOnly",
            "deregistered",
            "frozenRevert",
            "expectedRevert",
            "provenAhead",
            "probedEarlyUnproven",
            "probedWhileChallenged",
            "probedBadProof",
            "probedBadChallenge",
            "adversary"
        ];
        for (uint256 i; i < names.length; ++i) {
            line =
                string.concat(line, names[i], "=", vm.toString(handler.count(bytes32(bytes(names[i])))), " ");
        }
        bytes4[10] memory adv = [
            market.settle.selector,
            market.settleMissed.selector,
            market.settleBatch.selector,
            market.cancelLease.selector,
            desk.expire.selector,
            market.safeTransferFrom.selector,
            market.createLease.selector,
            market.fund.selector,
            registry.registerCluster.selector,
            registry.deregisterCluster.selector
        ];
        for (uint256 i; i < adv.length; ++i) {
            uint256 n = adversary.succeeded(adv[i]);
            if (n != 0) {
                line = string.concat(line, "adv.", vm.toString(bytes32(adv[i])), "=", vm.toString(n), " ");
            }
        }
        line = string.concat(line, "reentrantClaims=", vm.toString(reenterer.claims()), " ");
        line = string.concat(line, "reentrantTransfers=", vm.toString(reenterer.transfers()), " ");
    }
}
