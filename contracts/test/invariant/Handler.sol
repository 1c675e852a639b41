// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {Vm} from "forge-std/Vm.sol";

import {ClusterRegistry} from "../../src/ClusterRegistry.sol";
import {DevStablecoin} from "../../src/DevStablecoin.sol";
import {DisputeDesk} from "../../src/DisputeDesk.sol";
import {LeaseMarket} from "../../src/LeaseMarket.sol";
import {ReportLib} from "../../src/libraries/ReportLib.sol";
import {
    Billing,
    DisputeStatus,
    Lease,
    LeaseStatus,
    LeaseTerms,
    ProvenLeaf,
    SettleItem,
    Unit,
    UsageReport
} from "../../src/libraries/Types.sol";
import {MerkleBuilder} from "../utils/MerkleBuilder.sol";
import {Model} from "./Model.sol";
import {ReentrantHolder, RejectingHolder} from "./Receivers.sol";

/// @notice Drives the protocol through valid sequences of actions by its real parties: cluster
/// owners (leases, bonds, offers, rotations with consent, deregistration), attestors (reports,
/// in or out of order, some omitting or duplicating a lease's leaf), tenants (funding, permits,
/// challenges, withdrawals), holders (transfers, purchases, claims, challenges; two of them
/// contracts), the arbiter, keepers (settlement, expiry, conflicts) and the stablecoin issuer
/// (pause, blocklist). Calls that must fail are wrapped and checked to fail and change nothing.
contract Handler is Model {
    struct Config {
        ClusterRegistry registry;
        LeaseMarket market;
        DevStablecoin[2] tokens;
        address governance;
        address arbiter;
        address keeper;
        uint64[3] clusters;
        address[3] tenants;
        uint256[3] tenantKeys;
        address[] holders;
        address[6] attestors; // ascending
        uint256[6] attestorKeys;
        ReentrantHolder reenterer;
        RejectingHolder rejecter;
    }

    uint256 internal constant MAX_LEASES = 14;

    address internal arbiter;
    address internal keeper;
    address public adversary;
    uint64[3] internal clusters;
    address[3] internal tenants;
    uint256[3] internal tenantKeys;
    address[] internal holderPool;
    address[] internal freezable; // who the issuer may blocklist
    address[6] internal attestors;
    uint256[6] internal attestorKeys;
    RejectingHolder internal rejecter;
    address internal reenterer;

    constructor(Config memory cfg) {
        (registry, market, tokens) = (cfg.registry, cfg.market, cfg.tokens);
        desk = DisputeDesk(address(cfg.market.disputes()));
        (governance, arbiter, keeper) = (cfg.governance, cfg.arbiter, cfg.keeper);
        (clusters, tenants, tenantKeys, holderPool) = (cfg.clusters, cfg.tenants, cfg.tenantKeys, cfg.holders);
        (attestors, attestorKeys, rejecter) = (cfg.attestors, cfg.attestorKeys, cfg.rejecter);
        reenterer = address(cfg.reenterer);
        reportWindow = registry.reportWindow();
        (challengeWindow, resolutionWindow, proofGrace) =
        (market.challengeWindow(), market.resolutionWindow(), market.proofGrace());
        challengeBondBps = desk.challengeBondBps();
        for (uint256 i; i < 3; ++i) {
            (address owner,,,) = registry.clusterInfo(clusters[i]);
            clusterOwner[clusters[i]] = owner;
            // Bonds deposited during set-up, before the handler saw any log.
            for (uint256 t; t < 2; ++t) {
                bondIn[clusters[i]][address(tokens[t])] = market.bondOf(clusters[i], address(tokens[t])).total;
            }
        }
        for (uint256 i; i < cfg.holders.length; ++i) {
            freezable.push(cfg.holders[i]);
        }
        for (uint256 i; i < 3; ++i) {
            freezable.push(cfg.tenants[i]);
        }
        freezable.push(address(market));
        freezable.push(address(desk));
    }

    function setAdversary(address adversary_) external {
        require(adversary == address(0));
        adversary = adversary_;
    }

    /// The adversary hands in the logs of each call (none when it reverted).
    function observe(Vm.Log[] calldata logs, bool succeeded) external {
        require(msg.sender == adversary, "only the adversary");
        if (succeeded) count["adversary"]++;
        _ingest(logs);
        _afterAction();
    }

    modifier observed() {
        vm.recordLogs();
        _;
        _ingest(vm.getRecordedLogs());
        _afterAction();
    }

    // ================================================================= leases

    function createLease(uint256 seed, uint256 raw, uint256 rawShares) external observed {
        seed = _mix(seed);
        if (leaseIds.length >= MAX_LEASES) return;
        uint64 c = clusters[seed % 3];
        (address owner, uint32 len, uint64 genesis, bool active) = registry.clusterInfo(c);
        DevStablecoin token = tokens[(seed >> 8) % 2];
        if (!active || !market.stablecoinAllowed(address(token))) return;
        LeaseTerms memory t = _terms(c, address(token), seed, raw, rawShares);
        uint256 perEpoch = _perEpoch(t, len);
        if (!_coverBond(c, token, owner, perEpoch * (t.endEpoch - t.startEpoch))) return;
        uint256 id = market.leaseCount() + 1;
        _register(id, t, len, genesis); // before the call: its mint is ingested with it
        _call(owner, address(market), abi.encodeCall(market.createLease, (t)));
        if (market.getLease(id).bondPerEpoch != perEpoch) {
            _fail(_at("bond locked per epoch", id, t.startEpoch));
        }
        count["createLease"]++;
        if ((seed >> 48) % 4 != 0) _fund(id, seed >> 56); // most tenants fund right away
    }

    /// Tops the free bond up to `lock` when short; false when the stablecoin cannot move now.
    function _coverBond(uint64 c, DevStablecoin token, address owner, uint256 lock) internal returns (bool) {
        LeaseMarket.Bond memory b = market.bondOf(c, address(token));
        if (lock <= b.total - b.locked) return true;
        if (_frozen(token, owner, address(market))) return false;
        _call(owner, address(market), abi.encodeCall(market.depositBond, (c, address(token), lock)));
        return true;
    }

    /// Terms starting one or two epochs ahead, for one to five epochs.
    function _terms(uint64 c, address token, uint256 seed, uint256 raw, uint256 rawShares)
        internal
        view
        returns (LeaseTerms memory t)
    {
        uint64 start = registry.currentEpoch(c) + 1 + uint64((seed >> 24) % 2);
        t = LeaseTerms({
            clusterId: c,
            tenant: tenants[(seed >> 16) % 3],
            stablecoin: token,
            units: uint32(bound(uint32(raw), 1, 16)),
            startEpoch: start,
            endEpoch: start + uint64(bound(uint8(raw >> 32), 1, 5)),
            pricePerUnitHour: uint128(bound(uint64(raw >> 40), 1, 10e6)),
            billing: Billing((seed >> 32) % 2),
            slaBps: uint16(bound(uint16(raw >> 104), 0, BPS)),
            creditBps: uint16(bound(uint16(raw >> 120), 0, BPS)),
            totalShares: _shares(uint128(rawShares), rawShares >> 128),
            unit: Unit.Gpu,
            energyPricePerKwh: 0
        });
    }

    function fund(uint256 seed) external observed {
        seed = _mix(seed);
        (uint256 id, bool found) = _pick(seed, LeaseStatus.Offered);
        if (!found) return;
        _fund(id, seed >> 8);
    }

    /// The tenant funds by approval or by permit (sometimes already used by a relayer), and one
    /// time in four only after the start epoch began (the lease then starts an epoch later).
    function _fund(uint256 id, uint256 seed) internal {
        LeaseModel storage m = _lm[id];
        if (seed % 4 == 0 && _epochNow(m) < m.start && m.end - m.start >= 2) {
            vm.warp(_epochEnd(m, m.start - 1) + (seed >> 128) % m.len);
        }
        uint64 current = _epochNow(m);
        uint64 start = current < m.start ? m.start : current + 1;
        if (start >= m.end) {
            // No whole epoch left: funding is closed, the lease can only be cancelled.
            return _expectRevert(
                m.tenant, address(market), abi.encodeCall(market.fund, (id)), "funded a closed lease"
            );
        }
        DevStablecoin token = DevStablecoin(m.token);
        uint256 amount = _fullRent(m) * (m.end - start);
        bytes memory data;
        if ((seed >> 2) % 3 == 0) {
            uint256 deadline = block.timestamp + 1 hours;
            (uint8 v, bytes32 r, bytes32 s) = _permit(m.tenant, token, amount, deadline);
            // A relayer may use the permit first: funding must still go through on the allowance.
            if ((seed >> 4) % 2 == 0) token.permit(m.tenant, address(market), amount, deadline, v, r, s);
            data = abi.encodeCall(market.fundWithPermit, (id, deadline, v, r, s));
            count["fundWithPermit"]++;
        } else {
            vm.prank(m.tenant);
            token.approve(address(market), amount);
            data = abi.encodeCall(market.fund, (id));
        }
        _tokenCall(m.tenant, address(market), data, _frozen(token, m.tenant, address(market)), "fund");
    }

    function cancel(uint256 seed) external observed {
        seed = _mix(seed);
        (uint256 id, bool found) = _pick(seed, LeaseStatus.Offered);
        if (!found) return;
        LeaseModel storage m = _lm[id];
        bytes memory data = abi.encodeCall(market.cancelLease, (id));
        if (seed % 2 == 0) return _call(clusterOwner[m.cluster], address(market), data);
        // Anyone else only once the lease can no longer be funded.
        if (_epochNow(m) + 1 < m.end) {
            return _expectRevert(keeper, address(market), data, "outsider cancelled");
        }
        _call(keeper, address(market), data);
        count["cancelByAnyone"]++;
    }

    function warp(uint256 secs) external observed {
        skip(bound(secs, 1, secs % 8 == 0 ? 6 hours : 90 minutes));
    }

    // ================================================================= reports

    /// Reports every open epoch of a cluster, in shuffled order (so later epochs often come
    /// first); with none open, waits for the current epoch to end.
    function report(uint256 seed) external observed {
        seed = _mix(seed);
        uint64 c = clusters[seed % 3];
        (, uint32 len, uint64 genesis, bool active) = registry.clusterInfo(c);
        if (!active) return;
        uint64[] memory open = _reportable(c, len, genesis);
        if (open.length == 0) {
            _warpToEpochEnd(len, genesis);
            open = _reportable(c, len, genesis);
        }
        for (uint256 i = open.length; i > 1; --i) {
            uint256 j = uint256(keccak256(abi.encode(seed, i))) % i;
            (open[i - 1], open[j]) = (open[j], open[i - 1]);
        }
        for (uint256 i; i < open.length; ++i) {
            _submit(c, open[i], uint256(keccak256(abi.encode(seed, "leaves", i))), 0);
        }
    }

    /// At an epoch's end it and the epoch before are both open (epochs are no longer than the
    /// report window): reports them newest first.
    function reportOutOfOrder(uint256 seed) external observed {
        seed = _mix(seed);
        uint64 c = clusters[seed % 3];
        (, uint32 len, uint64 genesis, bool active) = registry.clusterInfo(c);
        if (!active) return;
        _warpToEpochEnd(len, genesis);
        uint64[] memory open = _reportable(c, len, genesis);
        for (uint256 i; i < open.length; ++i) {
            _submit(c, open[i], uint256(keccak256(abi.encode(seed, i))), 0);
        }
    }

    /// Refused reports: signed by outsiders, out of order or by too few attestors; or properly
    /// signed but past the epoch's deadline, for an epoch not ended, or a second one for an epoch.
    function badReport(uint256 seed) external observed {
        seed = _mix(seed);
        uint64 c = clusters[seed % 3];
        (, uint32 len, uint64 genesis, bool active) = registry.clusterInfo(c);
        if (!active) return;
        uint64 epoch = _badReportEpoch(c, len, genesis, seed >> 8);
        UsageReport memory r = _usage(c, epoch, keccak256(abi.encode(seed)), len);
        bytes[] memory sigs = _sign(registry.reportDigest(r), _badKeys(c, epoch, seed >> 8));
        _expectRevert(
            keeper, address(registry), abi.encodeCall(registry.submitReport, (r, sigs)), "bad report"
        );
    }

    /// An open epoch for the badly signed modes (0-2); else a late, current or reported one.
    function _badReportEpoch(uint64 c, uint32 len, uint64 genesis, uint256 mode)
        internal
        view
        returns (uint64)
    {
        uint64 current = uint64((block.timestamp - genesis) / len);
        uint64[] memory open = _reportable(c, len, genesis);
        mode %= 6;
        if (mode < 3 && open.length != 0) return open[0];
        if (mode == 4) {
            // an epoch past its deadline (reported or not: either way refused)
            uint64 lateBy = uint64(reportWindow / len) + 1;
            if (current > lateBy) return current - lateBy - 1;
        }
        if (mode == 5 && _reportKeys.length != 0) {
            Key memory k = _reportKeys[_reportKeys.length - 1];
            if (k.id == c) return k.epoch; // already reported: never rewritten
        }
        return current; // not ended yet
    }

    /// Keys for a bad report: outsiders (mode 0), members in descending order (1), one short of
    /// the threshold (2), or a valid set (the epoch itself makes the report bad).
    function _badKeys(uint64 c, uint64 epoch, uint256 mode) internal view returns (uint256[] memory keys) {
        (address[] memory members, uint8 threshold) = _members(c, epoch);
        mode %= 6;
        if (mode == 1 && threshold == 1) mode = 0; // one signature cannot be out of order
        keys = new uint256[](threshold);
        uint256 n;
        if (mode == 0) {
            for (uint256 i; i < 6 && n < threshold; ++i) {
                (bool isMember,) = registry.isAttestor(c, epoch, attestors[i]);
                if (!isMember) keys[n++] = attestorKeys[i];
            }
        } else {
            for (uint256 i; i < threshold; ++i) {
                keys[n++] = _keyOf(members[mode == 1 ? threshold - 1 - i : i]);
            }
            if (mode == 2) --n;
        }
        assembly { mstore(keys, n) }
    }

    // ================================================================= settlement

    function settle(uint256 seed) external observed {
        seed = _mix(seed);
        (uint256 id, bool found) = _pick(seed, LeaseStatus.Active);
        if (found) _settleNext(id, seed >> 8, true);
    }

    /// Settles, in one batch, every epoch of up to four leases that can settle now.
    function settleBatch(uint256 seed) external observed {
        seed = _mix(seed);
        skip(seed % 2 hours);
        SettleItem[] memory items = new SettleItem[](24);
        uint256 n;
        uint256 leases = leaseIds.length;
        for (uint256 i; i < leases && i < 4; ++i) {
            uint256 id = leaseIds[(seed % leases + i) % leases];
            Lease memory l = market.getLease(id);
            if (l.status != LeaseStatus.Active) continue;
            for (uint64 e = l.nextEpoch; e < l.endEpoch && n < items.length; ++e) {
                (bool ok, uint64 d, bytes32[] memory proof) = _batchable(id, e);
                if (!ok) break;
                items[n++] = SettleItem(id, e, d, 0, proof);
            }
        }
        if (n == 0) return;
        assembly { mstore(items, n) }
        _call(keeper, address(market), abi.encodeCall(market.settleBatch, (items)));
        count["settleBatch"]++;
    }

    /// Sends a later epoch's proof ahead of settlement order (say, the next epoch is under
    /// challenge): kept when admissible, refused otherwise, and never settles anything. Looks for
    /// a reported later epoch with the lease's leaf and may wait for its challenge window.
    function proveAhead(uint256 seed) external observed {
        seed = _mix(seed);
        if (leaseIds.length == 0) return;
        uint256 id = leaseIds[seed % leaseIds.length];
        Lease memory l = market.getLease(id);
        if (l.status != LeaseStatus.Active) return;
        LeaseModel storage m = _lm[id];
        for (uint64 e = l.nextEpoch + 1; e < l.endEpoch && e <= l.nextEpoch + 3; ++e) {
            (bool has, uint64 d, bytes32[] memory proof) = _proof(id, e, seed >> 16);
            ReportModel storage r = reports[m.cluster][e];
            if (!has || !r.exists) continue;
            if ((seed >> 8) % 2 == 0) _reach(uint256(r.submittedAt) + challengeWindow, true);
            ChallengeModel storage c = challenges[id][e];
            bool admissible = block.timestamp >= uint256(r.submittedAt) + challengeWindow
                && provenAhead[id][e] == 0
                && (c.status == DisputeStatus.None
                    || c.status == DisputeStatus.Expired
                    || (c.status == DisputeStatus.Open
                        && block.timestamp >= uint256(c.openedAt) + resolutionWindow));
            bytes memory data = abi.encodeCall(market.settle, (id, e, d, 0, proof));
            if (!admissible) {
                return _expectRevert(keeper, address(market), data, "kept an inadmissible proof");
            }
            return _call(keeper, address(market), data);
        }
    }

    /// Settled epochs, and epochs that are not next, refuse every settlement path.
    function replaySettle(uint256 seed) external observed {
        seed = _mix(seed);
        if (leaseIds.length == 0) return;
        uint256 id = leaseIds[seed % leaseIds.length];
        Lease memory l = market.getLease(id);
        if (l.status != LeaseStatus.Active && l.status != LeaseStatus.Ended) return;
        uint64 epoch;
        if (l.nextEpoch > l.startEpoch && (seed >> 8) % 2 == 0) {
            epoch = l.startEpoch + uint64((seed >> 16) % (l.nextEpoch - l.startEpoch));
        } else if (l.nextEpoch + 1 < l.endEpoch) {
            epoch = l.nextEpoch + 1;
        } else {
            return;
        }
        (, uint64 d, bytes32[] memory proof) = _proof(id, epoch, seed);
        // A later epoch's valid proof may be kept ahead of order (`proveAhead`); a settled one never.
        if (epoch < l.nextEpoch) {
            _expectRevert(
                keeper, address(market), abi.encodeCall(market.settle, (id, epoch, d, 0, proof)), "resettled"
            );
        }
        _expectRevert(keeper, address(market), abi.encodeCall(market.settleMissed, (id, epoch)), "resettled");
        _expectRevert(
            keeper, address(market), abi.encodeCall(market.settleUnproven, (id, epoch)), "resettled"
        );
    }

    /// Wrong ways to settle a lease's next epoch must all revert: missed although reported,
    /// unproven without a report or before the proof deadline, a proof before the challenge window
    /// closed or while a challenge may still be ruled on, a delivery that is no leaf.
    function probeWrongSettlement(uint256 seed) external observed {
        seed = _mix(seed);
        (uint256 id, bool found) = _probeTarget(seed);
        if (!found) return;
        uint64 e = market.getLease(id).nextEpoch;
        ReportModel storage r = reports[_lm[id].cluster][e];
        ChallengeModel storage c = challenges[id][e];
        // Often set the scene first: the epoch reported, maybe challenged.
        if (!r.exists && (seed >> 8) % 4 != 0 && _reportNext(id, seed >> 16, 0) && (seed >> 12) % 2 == 0) {
            _challengeEpoch(id, e, seed >> 24);
        }
        if (!r.exists) {
            return _expectRevert(
                keeper, address(market), abi.encodeCall(market.settleUnproven, (id, e)), "no report"
            );
        }
        _expectRevert(
            keeper, address(market), abi.encodeCall(market.settleMissed, (id, e)), "missed but reported"
        );
        _probeUnproven(id, e);
        (bool hasLeaf, uint64 d, bytes32[] memory proof) = _proof(id, e, seed);
        DisputeStatus s = c.status;
        if (
            !hasLeaf || s == DisputeStatus.Upheld || s == DisputeStatus.Rejected
                || s == DisputeStatus.Conflict
        ) return;
        bytes memory valid = abi.encodeCall(market.settle, (id, e, d, 0, proof));
        if (block.timestamp < uint256(r.submittedAt) + challengeWindow) {
            _expectRevert(keeper, address(market), valid, "proof before the challenge window closed");
            vm.warp(uint256(r.submittedAt) + challengeWindow);
        }
        if (s == DisputeStatus.Open && block.timestamp < uint256(c.openedAt) + resolutionWindow) {
            count["probedWhileChallenged"]++;
            return _expectRevert(keeper, address(market), valid, "settled while the challenge may be ruled");
        }
        // A proof kept ahead of order settles the epoch whatever the arguments: nothing to probe.
        if (provenAhead[id][e] != 0) return;
        d = d + 1 + uint64(seed % 1000);
        if (_hasLeaf(id, e, d, type(uint256).max)) return;
        _expectRevert(keeper, address(market), abi.encodeCall(market.settle, (id, e, d, 0, proof)), "no leaf");
        count["probedBadProof"]++;
    }

    /// An active lease, preferably one whose next epoch is challenged, else reported.
    function _probeTarget(uint256 seed) internal view returns (uint256 id, bool found) {
        uint256 n = leaseIds.length;
        for (uint256 want; want < 3; ++want) {
            for (uint256 i; i < n; ++i) {
                id = leaseIds[(seed % n + i) % n];
                Lease memory l = market.getLease(id);
                if (l.status != LeaseStatus.Active) continue;
                bool reported = reports[l.clusterId][l.nextEpoch].exists;
                bool challenged = challenges[id][l.nextEpoch].status == DisputeStatus.Open;
                if (want == 2 || (want == 1 && reported) || (want == 0 && challenged && (seed >> 8) % 2 == 0))
                {
                    return (id, true);
                }
            }
        }
    }

    // ================================================================= disputes

    function challenge(uint256 seed) external observed {
        seed = _mix(seed);
        if (seed % 4 == 0) _badChallenge(seed >> 2);
        else _challenge(seed);
    }

    /// An outsider's challenge, one after the window, or a second one, must revert.
    function _badChallenge(uint256 seed) internal {
        uint256 n = leaseIds.length;
        for (uint256 i; i < n; ++i) {
            uint256 id = leaseIds[(seed % n + i) % n];
            LeaseModel storage m = _lm[id];
            if (market.getLease(id).status != LeaseStatus.Active) continue;
            for (uint64 e = m.next; e < m.end; ++e) {
                ReportModel storage r = reports[m.cluster][e];
                if (!r.exists) continue;
                bool valid = block.timestamp < uint256(r.submittedAt) + challengeWindow
                    && challenges[id][e].status == DisputeStatus.None;
                address who = valid ? keeper : m.tenant; // the keeper holds no shares
                _expectRevert(who, address(desk), abi.encodeCall(desk.challenge, (id, e)), "bad challenge");
                count["probedBadChallenge"]++;
                return;
            }
        }
    }

    /// The tenant or a holder challenges a reported epoch still in its window (the attestors
    /// report the lease's next epoch first if none is); false if none could be opened.
    function _challenge(uint256 seed) internal returns (bool) {
        (uint256 id, bool found) = _pick(seed, LeaseStatus.Active);
        if (!found) return false;
        LeaseModel storage m = _lm[id];
        uint64 epoch = m.next;
        for (; epoch < m.end; ++epoch) {
            ReportModel storage r = reports[m.cluster][epoch];
            if (
                r.exists && block.timestamp < uint256(r.submittedAt) + challengeWindow
                    && challenges[id][epoch].status == DisputeStatus.None
            ) break;
        }
        if (epoch == m.end) {
            if (!_reportNext(id, seed >> 40, 0)) return false;
            epoch = m.next; // just reported: its challenge window opens now
        }
        return _challengeEpoch(id, epoch, seed >> 8);
    }

    /// The tenant or a holder with shares (and the bond) challenges; false while frozen.
    function _challengeEpoch(uint256 id, uint64 epoch, uint256 seed) internal returns (bool) {
        LeaseModel storage m = _lm[id];
        address who = _challenger(id, seed);
        if (DevStablecoin(m.token).balanceOf(who) < _fullRent(m)) who = m.tenant;
        bool frozen =
            _fullRent(m) * challengeBondBps / BPS != 0 && _frozen(DevStablecoin(m.token), who, address(desk));
        _tokenCall(who, address(desk), abi.encodeCall(desk.challenge, (id, epoch)), frozen, "challenge");
        return !frozen;
    }

    /// The arbiter rules on an open challenge (one is opened first if there is none).
    function resolve(uint256 seed, uint256 corrected) external observed {
        seed = _mix(seed);
        (Key memory k, bool found) = _openChallenge(seed);
        if (!(found && _ruleable(k)) && _challenge(seed >> 64)) (k, found) = _openChallenge(seed);
        if (found) _rule(k, seed >> 128, corrected);
    }

    /// Upholds one ruling in three; after the deadline the ruling must revert.
    function _rule(Key memory k, uint256 seed, uint256 corrected) internal {
        bool upheld = seed % 3 == 0;
        corrected = bound(corrected, 0, _cap(_lm[k.id]) * 5 / 4);
        bytes memory data =
            abi.encodeCall(desk.resolveChallenge, (k.id, k.epoch, uint64(corrected), 0, upheld));
        if (!_ruleable(k)) return _expectRevert(arbiter, address(desk), data, "ruled after the deadline");
        _call(arbiter, address(desk), data);
    }

    /// Lets an unruled challenge run out, then anyone returns the challenger's bond.
    function expire(uint256 seed) external observed {
        seed = _mix(seed);
        (Key memory k, bool found) = _openChallenge(seed);
        if (!found && _challenge(seed >> 64)) (k, found) = _openChallenge(seed);
        if (!found) return;
        uint256 resolveBy = uint256(challenges[k.id][k.epoch].openedAt) + resolutionWindow;
        bytes memory data = abi.encodeCall(desk.expire, (k.id, k.epoch));
        if (block.timestamp < resolveBy) {
            _expectRevert(keeper, address(desk), data, "expired before the resolution deadline");
            vm.warp(resolveBy);
        }
        _call(keeper, address(desk), data);
        // The report stands: its proof still gets the grace after the resolution deadline.
        if (market.getLease(k.id).nextEpoch == k.epoch) _probeUnproven(k.id, k.epoch);
    }

    /// Shows two different leaves of one lease under a report's root: the epoch settles unproven.
    /// With none at hand, the attestors report the next epoch of a lease with two leaves for it.
    function proveConflict(uint256 seed) external observed {
        seed = _mix(seed);
        uint256 leases = leaseIds.length;
        for (uint256 i; i < leases; ++i) {
            uint256 id = leaseIds[(seed % leases + i) % leases];
            Lease memory l = market.getLease(id);
            if (l.status != LeaseStatus.Active) continue;
            for (uint64 e = l.nextEpoch; e < l.endEpoch; ++e) {
                if (_conflictable(id, e, seed)) return;
            }
        }
        (uint256 lease, bool found) = _pick(seed, LeaseStatus.Active);
        if (!found || !_reportNext(lease, seed >> 8, lease)) return;
        uint64 next = market.getLease(lease).nextEpoch;
        // Half the time someone challenged it first: the conflict returns the challenger's bond.
        if ((seed >> 16) % 2 == 0) _challengeEpoch(lease, next, seed >> 24);
        _conflictable(lease, next, 0);
    }

    /// Proves the conflict if the epoch has two leaves (one leaf: must revert, LeavesAgree).
    function _conflictable(uint256 id, uint64 e, uint256 seed) internal returns (bool) {
        DisputeStatus s = challenges[id][e].status;
        uint256 leaves = _leafValues[id][e].length;
        bool ruled = s == DisputeStatus.Upheld || s == DisputeStatus.Rejected;
        if (leaves == 0 || ruled || s == DisputeStatus.Conflict || (leaves == 1 && seed % 4 != 0)) {
            return false;
        }
        (, uint64 a, bytes32[] memory pa) = _proof(id, e, 0);
        (, uint64 b, bytes32[] memory pb) = _proof(id, e, 1);
        bytes memory data =
            abi.encodeCall(desk.proveConflict, (id, e, ProvenLeaf(a, 0, pa), ProvenLeaf(b, 0, pb)));
        if (leaves == 1) _expectRevert(keeper, address(desk), data, "conflict of agreeing leaves");
        else _call(keeper, address(desk), data);
        return true;
    }

    // ================================================================= payouts

    function claim(uint256 seed) external observed {
        seed = _mix(seed);
        uint256 leases = leaseIds.length;
        uint256 holders = holderPool.length;
        for (uint256 i; i < leases * holders; ++i) {
            uint256 id = leaseIds[(seed % leases + i / holders) % leases];
            address who = holderPool[((seed >> 8) % holders + i) % holders];
            if (who == reenterer) continue; // it claims from its receive hook
            if (market.claimable(id, who) == 0) {
                if (i == 0 && (seed >> 16) % 8 == 0) {
                    _expectRevert(who, address(market), abi.encodeCall(market.claim, (id)), "claimed nothing");
                }
                continue;
            }
            bool frozen = _frozen(DevStablecoin(_lm[id].token), who, address(market));
            return _tokenCall(who, address(market), abi.encodeCall(market.claim, (id)), frozen, "claim");
        }
    }

    function withdrawTenant(uint256 seed) external observed {
        seed = _mix(seed);
        uint256 leases = leaseIds.length;
        for (uint256 i; i < leases; ++i) {
            uint256 id = leaseIds[(seed % leases + i) % leases];
            Lease memory l = market.getLease(id);
            if (l.credits == 0 && (l.status != LeaseStatus.Ended || l.escrow == 0)) continue;
            bool frozen = _frozen(DevStablecoin(l.stablecoin), l.tenant, address(market));
            bytes memory data = abi.encodeCall(market.withdrawTenantFunds, (id));
            return _tokenCall(l.tenant, address(market), data, frozen, "tenant withdrawal");
        }
    }

    function withdrawPayout(uint256 seed) external observed {
        seed = _mix(seed);
        uint256 n = holderPool.length + 3;
        for (uint256 i; i < 2 * n; ++i) {
            address who = _account((seed % n + i) % n);
            DevStablecoin token = tokens[((seed >> 8) % 2 + i / n) % 2];
            if (desk.payouts(address(token), who) == 0) continue;
            bool frozen = _frozen(token, who, address(desk));
            bytes memory data = abi.encodeCall(desk.withdrawPayout, (address(token)));
            return _tokenCall(who, address(desk), data, frozen, "payout withdrawal");
        }
    }

    // ================================================================= shares

    function transfer(uint256 seed, uint256 amount) external observed {
        seed = _mix(seed);
        if (leaseIds.length == 0) return;
        uint256 id = leaseIds[seed % leaseIds.length];
        (address from, bool found) = _holderWithShares(id, seed >> 8);
        if (!found) return;
        address to = _recipient(seed >> 16);
        uint256 movable = _movable(id, from);
        uint256 balance = ghostBalance[id][from];
        bool overReserve = movable < balance && to != from && (seed >> 24) % 4 == 0;
        amount = overReserve ? bound(amount, movable + 1, balance) : bound(amount, 0, movable);
        bytes memory data = abi.encodeCall(IERC1155.safeTransferFrom, (from, to, id, amount, ""));
        if (overReserve) return _expectRevert(from, address(market), data, "moved offered shares");
        if (_rejects(to)) return _expectRevert(from, address(market), data, "receiver hook ignored");
        _call(from, address(market), data);
        count["transfer"]++;
    }

    /// Batch transfers, sometimes with the same id twice (each entry must respect the offer).
    function batchTransfer(uint256 seed, uint256 a, uint256 b) external observed {
        seed = _mix(seed);
        if (leaseIds.length == 0) return;
        uint256[] memory ids = new uint256[](2);
        ids[0] = leaseIds[seed % leaseIds.length];
        ids[1] = (seed >> 8) % 2 == 0 ? ids[0] : leaseIds[(seed >> 16) % leaseIds.length];
        (address from, bool found) = _holderWithShares(ids[0], seed >> 24);
        if (!found) return;
        address to = _recipient(seed >> 32);
        uint256[] memory values = new uint256[](2);
        uint256 movable = _movable(ids[0], from);
        values[0] = bound(a, 0, movable);
        bool overReserve;
        if (ids[0] == ids[1]) {
            uint256 balance = ghostBalance[ids[0]][from];
            // Together the two entries would move offered shares away: must revert.
            overReserve = movable < balance && to != from && (seed >> 40) % 2 == 0;
            values[0] = overReserve ? movable : values[0];
            values[1] = overReserve ? bound(b, 1, balance - movable) : bound(b, 0, movable - values[0]);
        } else {
            values[1] = bound(b, 0, _movable(ids[1], from));
        }
        bytes memory data = abi.encodeCall(IERC1155.safeBatchTransferFrom, (from, to, ids, values, ""));
        if (overReserve) return _expectRevert(from, address(market), data, "batch moved offered shares");
        if (_rejects(to)) return _expectRevert(from, address(market), data, "receiver hook ignored");
        _call(from, address(market), data);
        count["batchTransfer"]++;
    }

    function offer(uint256 seed, uint256 amount, uint256 price) external observed {
        seed = _mix(seed);
        (uint256 id, bool found) = _pick(seed, LeaseStatus.Active);
        if (found) _offer(id, amount, price);
    }

    function _offer(uint256 id, uint256 amount, uint256 price) internal {
        address seller = clusterOwner[_lm[id].cluster];
        amount = bound(amount, 0, ghostBalance[id][seller]);
        _call(
            seller, address(market), abi.encodeCall(market.offerShares, (id, amount, bound(price, 0, 1000)))
        );
    }

    function buy(uint256 seed, uint256 amount) external observed {
        seed = _mix(seed);
        (uint256 id, bool found) = _pick(seed, LeaseStatus.Active);
        if (!found) return;
        if (_listed(id) == 0) _offer(id, seed >> 24, seed >> 32); // the owner lists some first
        (address seller, uint128 available, uint256 price) = market.offers(id);
        address buyer = _recipient(seed >> 8);
        uint256 most = _affordable(DevStablecoin(_lm[id].token), buyer, available, price);
        // An offer the seller can no longer back (see invariant_sharesAndOffers) is not bought.
        if (most == 0 || market.balanceOf(seller, id) < available) return;
        amount = bound(amount, 1, most);
        bytes memory data = abi.encodeCall(market.buyShares, (id, amount, price + (seed >> 16) % 3));
        if (_rejects(buyer)) return _expectRevert(buyer, address(market), data, "receiver hook ignored");
        DevStablecoin token = DevStablecoin(_lm[id].token);
        uint256 before = token.balanceOf(seller);
        _tokenCall(buyer, address(market), data, _frozen(token, buyer, seller), "buy");
        // The seller is paid the offer's price for every share (nothing when buying its own).
        uint256 paid = token.balanceOf(seller) - before;
        if (paid != (buyer == seller || _frozen(token, buyer, seller) ? 0 : amount * price)) {
            _fail("buy price");
        }
        count["buy"]++;
    }

    function _listed(uint256 id) internal view returns (uint256 amount) {
        (, amount,) = market.offers(id);
    }

    function _affordable(DevStablecoin token, address buyer, uint256 available, uint256 price)
        internal
        view
        returns (uint256)
    {
        if (price == 0) return available;
        uint256 most = token.balanceOf(buyer) / 10 / price; // keep most of it for challenge bonds
        return most < available ? most : available;
    }

    // ================================================================= bonds and clusters

    function depositBond(uint256 seed, uint256 amount) external observed {
        seed = _mix(seed);
        uint64 c = clusters[seed % 3];
        DevStablecoin token = tokens[(seed >> 8) % 2];
        (address owner,,, bool active) = registry.clusterInfo(c);
        if (!active || !market.stablecoinAllowed(address(token))) return;
        bytes memory data = abi.encodeCall(market.depositBond, (c, address(token), bound(amount, 1, 1e11)));
        _tokenCall(owner, address(market), data, _frozen(token, owner, address(market)), "bond deposit");
    }

    function withdrawBond(uint256 seed, uint256 amount) external observed {
        seed = _mix(seed);
        uint64 c = clusters[seed % 3];
        DevStablecoin token = tokens[(seed >> 8) % 2];
        LeaseMarket.Bond memory b = market.bondOf(c, address(token));
        uint256 free = b.total - b.locked;
        address owner = clusterOwner[c];
        if ((seed >> 16) % 4 == 0) {
            bytes memory tooMuch = abi.encodeCall(market.withdrawBond, (c, address(token), free + 1));
            return _expectRevert(owner, address(market), tooMuch, "withdrew locked bond");
        }
        if (free == 0) return;
        bytes memory data = abi.encodeCall(market.withdrawBond, (c, address(token), bound(amount, 1, free)));
        _tokenCall(owner, address(market), data, _frozen(token, owner, address(market)), "bond withdrawal");
    }

    /// Names a new 2-of-3 set from a future epoch; while leases are open the set in force signs.
    function rotate(uint256 seed) external observed {
        seed = _mix(seed);
        uint64 c = clusters[seed % 3];
        (address owner,,, bool active) = registry.clusterInfo(c);
        if (!active) return;
        uint64 current = registry.currentEpoch(c);
        address[] memory set = _pickSet(seed >> 8);
        uint64 fromEpoch = current + 1 + uint64((seed >> 16) % 3);
        bool needsConsent = market.activeLeases(c) != 0;
        bytes[] memory consent = !needsConsent && (seed >> 24) % 2 == 0
            ? new bytes[](0)
            : _sign(registry.rotationDigest(c, set, 2, fromEpoch), _consentKeys(c, current));
        bytes memory data = abi.encodeCall(registry.rotateAttestors, (c, set, 2, fromEpoch, consent));
        if (!needsConsent && fromEpoch != current + 1) {
            // Alone, only from the next epoch: a lease created later runs under the set it saw.
            return _expectRevert(owner, address(registry), data, "rotated alone beyond the next epoch");
        }
        if (_rotationPending(c, current, needsConsent)) {
            // The old set may still sign late reports for epochs before the pending set.
            return _expectRevert(owner, address(registry), data, "rotated over a pending set");
        }
        if (needsConsent && (seed >> 32) % 4 == 0) {
            assembly { mstore(consent, 1) } // one signature short of the threshold
            bytes memory bad = abi.encodeCall(registry.rotateAttestors, (c, set, 2, fromEpoch, consent));
            _expectRevert(owner, address(registry), bad, "rotated without the set's consent");
        }
        _call(owner, address(registry), data);
        count[needsConsent ? bytes32("rotateWithConsent") : bytes32("rotateOwnerOnly")]++;
    }

    /// A pending set has begun but epochs before it can still be reported; or, with a lease open,
    /// a pending set (the one its tenant funded under) has not finished taking over.
    function _rotationPending(uint64 c, uint64 current, bool leaseOpen) internal view returns (bool) {
        (,, address[] memory pending,, uint64 pendingFrom,) = registry.attestorState(c);
        if (pending.length == 0 || (pendingFrom > current && !leaseOpen)) return false;
        (, uint32 len, uint64 genesis,) = registry.clusterInfo(c);
        return block.timestamp <= uint256(genesis) + uint256(pendingFrom) * len + reportWindow;
    }

    /// Clusters with open leases stay; the third cluster is deregistered once it has none.
    function deregister(uint256 seed) external observed {
        seed = _mix(seed);
        uint64 c = clusters[seed % 3];
        (address owner,,, bool active) = registry.clusterInfo(c);
        if (!active) return;
        bytes memory data = abi.encodeCall(registry.deregisterCluster, (c));
        if (market.activeLeases(c) != 0) {
            return _expectRevert(owner, address(registry), data, "deregistered busy");
        }
        if (c != clusters[2]) return;
        _call(owner, address(registry), data);
        count["deregistered"]++;
    }

    // ================================================================= the stablecoin issuer

    function pause(uint256 seed) external observed {
        seed = _mix(seed);
        DevStablecoin token = tokens[seed % 2];
        bool paused = token.paused();
        if (!paused && (seed >> 8) % 3 != 0) return; // paused a third of the time at most
        vm.prank(governance);
        if (paused) token.unpause();
        else token.pause();
        count["pauseToggled"]++;
    }

    function blocklist(uint256 seed) external observed {
        seed = _mix(seed);
        DevStablecoin token = tokens[seed % 2];
        address who = freezable[(seed >> 8) % freezable.length];
        bool blocked = token.blocklisted(who);
        if (!blocked && (seed >> 16) % 2 == 0) return;
        vm.prank(governance);
        token.setBlocklisted(who, !blocked);
        count["blocklistToggled"]++;
    }

    function toggleReceiver() external observed {
        rejecter.setAccepting(!rejecter.accepting());
    }

    /// Governance may drop the second stablecoin from the allowlist; existing leases go on.
    function toggleAllowed(uint256 seed) external observed {
        seed = _mix(seed);
        address token = address(tokens[1]);
        bool allowed = market.stablecoinAllowed(token);
        if (allowed && seed % 3 != 0) return;
        vm.prank(governance);
        market.setStablecoinAllowed(token, !allowed);
    }

    // ================================================================= liveness (afterInvariant)

    /// Drives every lease to an end with permissionless calls only (the caller warped past every
    /// deadline first): expire open challenges, cancel unfundable offers, settle each epoch.
    function settleEverything() external observed {
        Key[] storage keys = _challengeKeys;
        for (uint256 i; i < keys.length; ++i) {
            if (challenges[keys[i].id][keys[i].epoch].status == DisputeStatus.Open) {
                _call(keeper, address(desk), abi.encodeCall(desk.expire, (keys[i].id, keys[i].epoch)));
            }
        }
        uint256 n = market.leaseCount();
        for (uint256 id = 1; id <= n; ++id) {
            Lease memory l = market.getLease(id);
            if (l.status == LeaseStatus.Offered) {
                _call(keeper, address(market), abi.encodeCall(market.cancelLease, (id)));
            }
            for (uint64 e = l.nextEpoch; l.status == LeaseStatus.Active && e < l.endEpoch; ++e) {
                if (!known[id]) _call(keeper, address(market), abi.encodeCall(market.settleMissed, (id, e)));
                else require(_settleNext(id, e, false), _at("lease cannot be settled", id, e));
            }
        }
    }

    /// Everyone takes out what it is owed: tenants, holders, challengers, owners (free bond).
    function withdrawEverything() external observed {
        for (uint256 i; i < leaseIds.length; ++i) {
            uint256 id = leaseIds[i];
            Lease memory l = market.getLease(id);
            if (l.credits != 0 || l.escrow != 0) {
                _call(l.tenant, address(market), abi.encodeCall(market.withdrawTenantFunds, (id)));
            }
            address[] storage hs = _holders[id];
            for (uint256 h; h < hs.length; ++h) {
                if (market.claimable(id, hs[h]) != 0) {
                    _call(hs[h], address(market), abi.encodeCall(market.claim, (id)));
                }
            }
        }
        for (uint256 t; t < 2; ++t) {
            address token = address(tokens[t]);
            for (uint256 i; i < holderPool.length + 4; ++i) {
                address who = _account(i);
                if (desk.payouts(token, who) != 0) {
                    _call(who, address(desk), abi.encodeCall(desk.withdrawPayout, (token)));
                }
            }
            for (uint256 c; c < 3; ++c) {
                LeaseMarket.Bond memory b = market.bondOf(clusters[c], token);
                bytes memory data =
                    abi.encodeCall(market.withdrawBond, (clusters[c], token, b.total - b.locked));
                if (b.total != b.locked) _call(clusterOwner[clusters[c]], address(market), data);
            }
        }
    }

    function unfreezeAll() external {
        vm.startPrank(governance);
        for (uint256 t; t < 2; ++t) {
            if (tokens[t].paused()) tokens[t].unpause();
            for (uint256 i; i < freezable.length; ++i) {
                if (tokens[t].blocklisted(freezable[i])) tokens[t].setBlocklisted(freezable[i], false);
            }
        }
        vm.stopPrank();
    }

    /// Holders, tenants and governance (which receives forfeited challenge bonds).
    function accounts() external view returns (address[] memory all) {
        all = new address[](holderPool.length + 4);
        for (uint256 i; i < all.length; ++i) {
            all[i] = _account(i);
        }
    }

    // ================================================================= settlement paths

    /// Settles the lease's next epoch by the path the model allows (warping to it when `mayWarp`);
    /// false when nothing is possible yet.
    function _settleNext(uint256 id, uint256 path, bool mayWarp) internal returns (bool) {
        Lease memory l = market.getLease(id);
        if (l.status != LeaseStatus.Active) return false;
        uint64 e = l.nextEpoch;
        LeaseModel storage m = _lm[id];
        if (!_reach(_epochEnd(m, e), mayWarp)) return false;
        ChallengeModel storage c = challenges[id][e];
        if (c.status == DisputeStatus.Upheld || c.status == DisputeStatus.Rejected) {
            return _settle(id, e, uint64(path), new bytes32[](0)); // the ruling is billed, any proof
        }
        if (c.status == DisputeStatus.Conflict) return _settleUnproven(id, e);
        // Attestors are mostly on time: report the epoch first while it still can be.
        if (mayWarp && path % 4 != 0) _reportNext(id, path >> 2, 0);
        ReportModel storage r = reports[m.cluster][e];
        if (!r.exists) {
            if (!_reach(_epochEnd(m, e) + reportWindow + 1, mayWarp)) return false;
            if (path % 2 == 0) return _settle(id, e, 0, new bytes32[](0));
            _call(keeper, address(market), abi.encodeCall(market.settleMissed, (id, e)));
            return true;
        }
        if (mayWarp && path % 2 == 0 && _ruleable(Key(id, e))) _rule(Key(id, e), path >> 1, path >> 8);
        if (c.status == DisputeStatus.Upheld || c.status == DisputeStatus.Rejected) {
            return _settle(id, e, uint64(path), new bytes32[](0));
        }
        if (c.status == DisputeStatus.Open && !_reach(uint256(c.openedAt) + resolutionWindow, mayWarp)) {
            return false;
        }
        // A proof kept ahead of order settles it (arguments ignored) once its window allows.
        if (provenAhead[id][e] != 0) return _settle(id, e, uint64(path), new bytes32[](0));
        uint256 deadline = designDeadline(id, e);
        // No leaf, or (sometimes) a proof nobody posted in time: the owner's failure.
        if (_leafValues[id][e].length == 0 || (block.timestamp > deadline && path % 4 == 0)) {
            if (!_reach(deadline + 1, mayWarp)) return false;
            return _settleUnproven(id, e);
        }
        if (!_reach(uint256(r.submittedAt) + challengeWindow, mayWarp)) return false;
        (, uint64 d, bytes32[] memory proof) = _proof(id, e, path);
        return _settle(id, e, d, proof);
    }

    function _settle(uint256 id, uint64 e, uint64 d, bytes32[] memory proof) internal returns (bool) {
        _call(keeper, address(market), abi.encodeCall(market.settle, (id, e, d, 0, proof)));
        return true;
    }

    function _settleUnproven(uint256 id, uint64 e) internal returns (bool) {
        _call(keeper, address(market), abi.encodeCall(market.settleUnproven, (id, e)));
        return true;
    }

    /// What `settleBatch` (any path but unproven) can settle right now, without warping.
    function _batchable(uint256 id, uint64 e) internal view returns (bool, uint64, bytes32[] memory proof) {
        LeaseModel storage m = _lm[id];
        ChallengeModel storage c = challenges[id][e];
        ReportModel storage r = reports[m.cluster][e];
        if (
            c.status == DisputeStatus.Upheld || c.status == DisputeStatus.Rejected
                || c.status == DisputeStatus.Conflict
        ) {
            return (true, 0, proof);
        }
        if (!r.exists) return (block.timestamp > _epochEnd(m, e) + reportWindow, 0, proof);
        if (c.status == DisputeStatus.Open && block.timestamp < uint256(c.openedAt) + resolutionWindow) {
            return (false, 0, proof);
        }
        if (block.timestamp < uint256(r.submittedAt) + challengeWindow) return (false, 0, proof);
        if (provenAhead[id][e] != 0) return (true, 0, proof);
        return _proof(id, e, e);
    }

    function _probeUnproven(uint256 id, uint64 e) internal {
        LeaseModel storage m = _lm[id];
        DisputeStatus s = challenges[id][e].status;
        if (!reports[m.cluster][e].exists || s == DisputeStatus.Conflict || s == DisputeStatus.Upheld) {
            return;
        }
        if (s == DisputeStatus.Rejected || block.timestamp > designDeadline(id, e)) return;
        bytes memory data = abi.encodeCall(market.settleUnproven, (id, e));
        _expectRevert(keeper, address(market), data, _at("settled unproven before the proof deadline", id, e));
        count["probedEarlyUnproven"]++;
    }

    /// Warps forward to `t` when allowed; whether `t` has been reached.
    function _reach(uint256 t, bool mayWarp) internal returns (bool) {
        if (block.timestamp >= t) return true;
        if (!mayWarp) return false;
        vm.warp(t);
        return true;
    }

    // ================================================================= reports: building and signing

    /// Reports the lease's next epoch if it can still be (waiting for it to end if it runs now).
    function _reportNext(uint256 id, uint256 seed, uint256 conflictFor) internal returns (bool) {
        Lease memory l = market.getLease(id);
        LeaseModel storage m = _lm[id];
        (,,, bool active) = registry.clusterInfo(m.cluster);
        uint64 e = l.nextEpoch;
        if (!active || l.status != LeaseStatus.Active || reports[m.cluster][e].exists) return false;
        if (_epochNow(m) < e) return false;
        _reach(_epochEnd(m, e), true);
        if (block.timestamp > _epochEnd(m, e) + reportWindow) return false;
        _submit(m.cluster, e, seed, conflictFor);
        return true;
    }

    /// Unreported epochs still inside their report window, newest first.
    function _reportable(uint64 c, uint32 len, uint64 genesis) internal view returns (uint64[] memory open) {
        open = new uint64[](8);
        uint256 n;
        for (uint64 e = uint64((block.timestamp - genesis) / len); e > 0; --e) {
            if (block.timestamp > uint256(genesis) + uint256(e) * len + reportWindow) break;
            if (!reports[c][e - 1].exists) open[n++] = e - 1;
        }
        assembly { mstore(open, n) }
    }

    function _warpToEpochEnd(uint32 len, uint64 genesis) internal {
        vm.warp(uint256(genesis) + ((block.timestamp - genesis) / len + 1) * len);
    }

    /// Builds the deliveries tree of an epoch from the model's leases on the cluster: each lease
    /// gets a leaf, except one in ten (omitted: it settles unproven) and one in nine (and
    /// `conflictFor`) gets two different ones.
    function _submit(uint64 c, uint64 epoch, uint256 seed, uint256 conflictFor) internal {
        bytes32[] storage tree = _leaves[c][epoch];
        for (uint256 i; i < leaseIds.length; ++i) {
            uint256 id = leaseIds[i];
            LeaseModel storage m = _lm[id];
            if (m.cluster != c || epoch < m.start || epoch >= m.end) continue;
            uint256 rnd = uint256(keccak256(abi.encode(seed, id)));
            if (rnd % 10 == 0 && id != conflictFor) {
                count["leafOmitted"]++;
                continue;
            }
            uint64 d = _delivery(m, rnd >> 8);
            _addLeaf(c, epoch, id, d);
            if (rnd % 9 == 1 || id == conflictFor) {
                _addLeaf(c, epoch, id, d + 1 + uint64((rnd >> 80) % _cap(m)));
                count["conflictingLeaves"]++;
            }
        }
        if (tree.length == 0) tree.push(keccak256(abi.encode("no deliveries", c, epoch)));
        (, uint32 len,,) = registry.clusterInfo(c);
        UsageReport memory r = _usage(c, epoch, MerkleBuilder.root(tree), len);
        (address[] memory members, uint8 threshold) = _members(c, epoch);
        uint256[] memory keys = new uint256[](members.length);
        uint256 n;
        uint256 skipAt =
            members.length > threshold && seed % 2 == 0 ? (seed >> 1) % members.length : type(uint256).max;
        for (uint256 i; i < members.length; ++i) {
            if (i != skipAt) keys[n++] = _keyOf(members[i]);
        }
        assembly { mstore(keys, n) }
        _call(
            keeper,
            address(registry),
            abi.encodeCall(registry.submitReport, (r, _sign(registry.reportDigest(r), keys)))
        );
        reports[c][epoch] = ReportModel(true, uint64(block.timestamp), r.deliveriesRoot);
        _reportKeys.push(Key(c, epoch));
        for (uint256 i; i < _reportKeys.length; ++i) {
            if (_reportKeys[i].id == c && _reportKeys[i].epoch > epoch) {
                count["reportedOutOfOrder"]++;
                break;
            }
        }
        count["report"]++;
    }

    function _addLeaf(uint64 c, uint64 epoch, uint256 id, uint64 d) internal {
        _leafIndex[id][epoch].push(_leaves[c][epoch].length);
        _leafValues[id][epoch].push(d);
        _leaves[c][epoch].push(ReportLib.deliveryLeaf(id, epoch, d, 0));
    }

    /// Full, none, at random up to 125% of capacity, or just under the SLA floor.
    function _delivery(LeaseModel storage m, uint256 r) internal view returns (uint64) {
        uint256 cap = _cap(m);
        uint256 mode = r % 4;
        if (mode == 0) return uint64(cap);
        if (mode == 1) return 0;
        if (mode == 2) return uint64((r >> 2) % (cap * 5 / 4 + 1));
        uint256 floor = cap * m.sla / BPS;
        return uint64(floor == 0 ? 0 : floor - 1);
    }

    function _usage(uint64 c, uint64 epoch, bytes32 root, uint32 len)
        internal
        pure
        returns (UsageReport memory)
    {
        return UsageReport({
            clusterId: c,
            epoch: epoch,
            gpusInstalled: 64,
            gpusHealthy: 60,
            gpuSecondsAvailable: uint40(60) * len,
            gpuSecondsBusy: uint40(40) * len,
            itEnergyWh: 40_000,
            facilityEnergyWh: 48_000,
            deliveriesRoot: root,
            telemetryRoot: keccak256(abi.encode("telemetry", c, epoch))
        });
    }

    /// The pool's attestors in the set verifying `epoch` (ascending), and its threshold.
    function _members(uint64 c, uint64 epoch)
        internal
        view
        returns (address[] memory members, uint8 threshold)
    {
        members = new address[](6);
        uint256 n;
        for (uint256 i; i < 6; ++i) {
            bool isMember;
            (isMember, threshold) = registry.isAttestor(c, epoch, attestors[i]);
            if (isMember) members[n++] = attestors[i];
        }
        assembly { mstore(members, n) }
    }

    function _consentKeys(uint64 c, uint64 current) internal view returns (uint256[] memory keys) {
        (address[] memory members, uint8 threshold) = _members(c, current);
        keys = new uint256[](threshold);
        for (uint256 i; i < threshold; ++i) {
            keys[i] = _keyOf(members[i]);
        }
    }

    /// Three distinct attestors of the pool of six.
    function _pickSet(uint256 seed) internal view returns (address[] memory set) {
        uint256 a = seed % 6;
        uint256 b = (a + 1 + (seed >> 8) % 5) % 6;
        uint256 c = (b + 1) % 6;
        if (c == a) c = (c + 1) % 6;
        set = new address[](3);
        (set[0], set[1], set[2]) = (attestors[a], attestors[b], attestors[c]);
    }

    function _keyOf(address a) internal view returns (uint256) {
        for (uint256 i; i < 6; ++i) {
            if (attestors[i] == a) return attestorKeys[i];
        }
        revert("unknown attestor");
    }

    function _sign(bytes32 digest, uint256[] memory keys) internal pure returns (bytes[] memory sigs) {
        sigs = new bytes[](keys.length);
        for (uint256 i; i < keys.length; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[i], digest);
            sigs[i] = abi.encodePacked(r, s, v);
        }
    }

    /// A Merkle proof of one of the lease's leaves (`which` picks among conflicting ones).
    function _proof(uint256 id, uint64 epoch, uint256 which)
        internal
        view
        returns (bool, uint64 d, bytes32[] memory proof)
    {
        uint64[] storage vals = _leafValues[id][epoch];
        if (vals.length == 0) return (false, 0, proof);
        uint256 k = which % vals.length;
        return (true, vals[k], MerkleBuilder.proof(_leaves[_lm[id].cluster][epoch], _leafIndex[id][epoch][k]));
    }

    // ================================================================= helpers

    function _register(uint256 id, LeaseTerms memory t, uint32 len, uint64 genesis) internal {
        LeaseModel storage m = _lm[id];
        (m.cluster, m.start, m.end, m.next) = (t.clusterId, t.startEpoch, t.endEpoch, t.startEpoch);
        (m.token, m.tenant, m.units, m.len, m.genesis) = (t.stablecoin, t.tenant, t.units, len, genesis);
        (m.price, m.shares, m.sla, m.creditBps, m.acc) =
        (t.pricePerUnitHour, t.totalShares, t.slaBps, t.creditBps, 1);
        known[id] = true;
        leaseIds.push(id);
    }

    /// Worst case of one epoch, from the spec: the full SLA credit plus the full rent.
    function _perEpoch(LeaseTerms memory t, uint32 len) internal pure returns (uint256) {
        uint256 cap = uint256(t.units) * len;
        uint256 floor = cap * t.slaBps / BPS;
        return floor * t.pricePerUnitHour * t.creditBps / (3600 * BPS) + cap * t.pricePerUnitHour / 3600;
    }

    /// A few shares (coarse rounding), a round million, up to 1e24, or just over 1e18.
    function _shares(uint128 raw, uint256 mode) internal pure returns (uint128) {
        mode %= 4;
        if (mode == 0) return uint128(bound(raw, 1, 10));
        if (mode == 1) return 1e6;
        if (mode == 2) return uint128(bound(raw, 1, 1e24));
        return uint128(1e18 + raw % 1000);
    }

    /// Selection seeds are hashed: the fuzzer favours small values, whose high bits are all zero.
    function _mix(uint256 seed) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed)));
    }

    function _pick(uint256 seed, LeaseStatus status) internal view returns (uint256 id, bool found) {
        uint256 n = leaseIds.length;
        for (uint256 i; i < n; ++i) {
            id = leaseIds[(seed % n + i) % n];
            if (market.getLease(id).status == status) return (id, true);
        }
    }

    /// An open challenge, preferring one the arbiter can still rule on.
    function _openChallenge(uint256 seed) internal view returns (Key memory k, bool found) {
        uint256 n = _challengeKeys.length;
        for (uint256 i; i < n; ++i) {
            Key memory key = _challengeKeys[(seed % n + i) % n];
            ChallengeModel storage c = challenges[key.id][key.epoch];
            if (c.status != DisputeStatus.Open) continue;
            (k, found) = (key, true);
            if (block.timestamp < uint256(c.openedAt) + resolutionWindow) return (k, true);
        }
    }

    function _ruleable(Key memory k) internal view returns (bool) {
        ChallengeModel storage c = challenges[k.id][k.epoch];
        return c.status == DisputeStatus.Open && block.timestamp < uint256(c.openedAt) + resolutionWindow;
    }

    function _holderWithShares(uint256 id, uint256 seed) internal view returns (address, bool) {
        address[] storage hs = _holders[id];
        for (uint256 i; i < hs.length; ++i) {
            address h = hs[(seed % hs.length + i) % hs.length];
            if (ghostBalance[id][h] != 0) return (h, true);
        }
        return (address(0), false);
    }

    /// The tenant, or a holder with shares.
    function _challenger(uint256 id, uint256 seed) internal view returns (address) {
        (address h, bool found) = _holderWithShares(id, seed >> 1);
        return seed % 2 == 0 || !found ? _lm[id].tenant : h;
    }

    /// Shares `from` may move: its balance less any open offer it made on an active lease.
    function _movable(uint256 id, address from) internal view returns (uint256) {
        uint256 balance = ghostBalance[id][from];
        (address seller, uint128 offered,) = market.offers(id);
        if (seller != from || offered == 0 || market.getLease(id).status != LeaseStatus.Active) {
            return balance;
        }
        return balance > offered ? balance - offered : 0;
    }

    /// Any holder, the re-entrant one a third of the time (its hook claims and passes shares on).
    function _recipient(uint256 seed) internal view returns (address) {
        return seed % 3 == 0 ? reenterer : holderPool[(seed >> 2) % holderPool.length];
    }

    function _rejects(address to) internal view returns (bool) {
        return to == address(rejecter) && !rejecter.accepting();
    }

    function _account(uint256 i) internal view returns (address) {
        if (i == holderPool.length + tenants.length) return governance;
        return i < holderPool.length ? holderPool[i] : tenants[i - holderPool.length];
    }

    function _frozen(DevStablecoin token, address a, address b) internal view returns (bool) {
        return token.paused() || token.blocklisted(a) || token.blocklisted(b);
    }

    function _permit(address owner, DevStablecoin token, uint256 value, uint256 deadline)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
                ),
                owner,
                address(market),
                value,
                token.nonces(owner),
                deadline
            )
        );
        uint256 key;
        for (uint256 i; i < 3; ++i) {
            if (tenants[i] == owner) key = tenantKeys[i];
        }
        return vm.sign(key, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }

    // ================================================================= calls

    /// A call that must succeed (a revert fails the run: fail_on_revert). Its logs are ingested at
    /// once, so the model checks them at the call's own time, before any later warp.
    function _call(address sender, address target, bytes memory data) internal {
        vm.prank(sender);
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly { revert(add(ret, 32), mload(ret)) }
        }
        _ingest(vm.getRecordedLogs());
    }

    /// A call that must revert and leave every balance as it was.
    function _expectRevert(address sender, address target, bytes memory data, string memory why) internal {
        _ingest(vm.getRecordedLogs()); // keep what succeeded so far; a revert's logs are dropped
        bytes32 before = _fingerprint();
        vm.prank(sender);
        (bool ok,) = target.call(data);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        if (ok) {
            _ingest(logs);
            return _fail(string.concat("should have reverted: ", why));
        }
        if (_fingerprint() != before) _fail(string.concat("a reverted call changed state: ", why));
        count["expectedRevert"]++;
    }

    /// A token-moving call: reverts while the stablecoin is paused or a party is blocklisted.
    function _tokenCall(address sender, address target, bytes memory data, bool frozen, string memory what)
        internal
    {
        if (!frozen) return _call(sender, target, data);
        _expectRevert(sender, target, data, string.concat(what, " while the stablecoin is frozen"));
        count["frozenRevert"]++;
    }

    function _fingerprint() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                tokens[0].balanceOf(address(market)),
                tokens[1].balanceOf(address(market)),
                tokens[0].balanceOf(address(desk)),
                tokens[1].balanceOf(address(desk)),
                market.leaseCount(),
                registry.clusterCount()
            )
        );
    }
}
