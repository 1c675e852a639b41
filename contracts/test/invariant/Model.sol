// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";

import {ClusterRegistry} from "../../src/ClusterRegistry.sol";
import {DevStablecoin} from "../../src/DevStablecoin.sol";
import {DisputeDesk} from "../../src/DisputeDesk.sol";
import {LeaseMarket} from "../../src/LeaseMarket.sol";
import "../../src/libraries/Events.sol";
import {DisputeStatus, Lease, LeaseStatus, Outcome} from "../../src/libraries/Types.sol";

/// @notice The ghost model. Every action's logs (the handler's, the re-entrant holder's, the
/// adversary's) are ingested here; each settlement, funding and dispute step is checked against
/// amounts and admissibility computed independently from the model, and ghost totals are kept
/// for the invariants. The first mismatch is kept in `violation` (asserted empty by an invariant).
abstract contract Model is CommonBase, StdCheats, StdUtils {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant ACC_SCALE = 1e36;

    ClusterRegistry public registry;
    LeaseMarket public market;
    DisputeDesk public desk;
    DevStablecoin[2] public tokens;
    uint64 internal reportWindow;
    /// Governance: names the arbiter and receives forfeited (rejected) challenge bonds.
    address internal governance;
    /// Delivery + 1 of epochs whose leaf was proven ahead of settlement order (kept by the market).
    mapping(uint256 id => mapping(uint64 epoch => uint64)) public provenAhead;
    uint64 internal challengeWindow;
    uint64 internal resolutionWindow;
    uint64 internal proofGrace;
    uint16 internal challengeBondBps;

    struct LeaseModel {
        uint64 cluster;
        uint64 start;
        uint64 end;
        uint64 next;
        address token;
        address tenant;
        uint32 units;
        uint32 len;
        uint64 genesis;
        uint128 price;
        uint128 shares;
        uint16 sla;
        uint16 creditBps;
        bool funded;
        uint256 escrowFunded;
        uint256 rent;
        uint256 comp;
        uint256 credit;
        uint256 creditsOut;
        uint256 remainderOut;
        uint256 claimed;
        uint256 acc;
    }

    struct ReportModel {
        bool exists;
        uint64 submittedAt;
        bytes32 root;
    }

    struct ChallengeModel {
        DisputeStatus status;
        address challenger;
        address token;
        uint64 openedAt;
        uint128 bond;
        uint64 ruling;
    }

    struct Key {
        uint256 id; // lease id (challenges) or cluster id (reports)
        uint64 epoch;
    }

    /// Balance held from `fromEpoch` on (the last entry at or before an epoch is its end balance).
    struct Entry {
        uint64 fromEpoch;
        uint192 balance;
    }

    struct Seen {
        uint64 next;
        LeaseStatus status;
        uint256 acc;
    }

    uint256[] public leaseIds;
    mapping(uint256 => bool) public known;
    mapping(uint256 => LeaseModel) internal _lm;
    mapping(uint64 => address) public clusterOwner;

    mapping(uint64 => mapping(uint64 => ReportModel)) public reports;
    Key[] internal _reportKeys;
    mapping(uint64 => mapping(uint64 => bytes32[])) internal _leaves; // the whole tree, for proofs
    mapping(uint256 => mapping(uint64 => uint64[])) internal _leafValues; // a lease's leaves
    mapping(uint256 => mapping(uint64 => uint256[])) internal _leafIndex;

    mapping(uint256 => mapping(uint64 => ChallengeModel)) public challenges;
    Key[] internal _challengeKeys;
    mapping(address => mapping(address => uint256)) public expectedPayout;

    mapping(uint64 => mapping(address => uint256)) public bondIn;
    mapping(uint64 => mapping(address => uint256)) public bondOut;
    mapping(uint64 => mapping(address => uint256)) public bondPaid;

    mapping(uint256 => mapping(address => Entry[])) internal _hist;
    mapping(uint256 => address[]) internal _holders;
    mapping(uint256 => mapping(address => bool)) internal _isHolder;
    mapping(uint256 => mapping(address => uint256)) public ghostBalance;
    mapping(uint256 => mapping(address => uint256)) public expNum; // Σ balance-at-epoch-end × paid
    mapping(uint256 => mapping(address => uint256)) public claimedBy;
    mapping(uint256 => mapping(address => uint256)) public touches; // checkpoints: each may floor

    mapping(uint256 => mapping(uint64 => uint256)) public settledCount;
    mapping(uint256 => Seen) internal _seen;

    string public violation;
    mapping(bytes32 => uint256) public count; // coverage counters

    // ------------------------------------------------------------ views for the invariants

    function leaseCount() external view returns (uint256) {
        return leaseIds.length;
    }

    function leaseModel(uint256 id) external view returns (LeaseModel memory) {
        return _lm[id];
    }

    function holdersOf(uint256 id) external view returns (address[] memory) {
        return _holders[id];
    }

    function reportKeys() external view returns (Key[] memory) {
        return _reportKeys;
    }

    function challengeKeys() external view returns (Key[] memory) {
        return _challengeKeys;
    }

    /// The rent and compensation `holder` earned on lease `id` by its epoch-end balances (floored).
    function expectedEarned(uint256 id, address holder) external view returns (uint256) {
        return expNum[id][holder] / _lm[id].shares;
    }

    /// The proof deadline as the design states it: the challenge window, or a challenge's resolution
    /// deadline when one was opened and not ruled (whether or not it was expired), plus the grace.
    function designDeadline(uint256 id, uint64 epoch) public view returns (uint256 deadline) {
        LeaseModel storage m = _lm[id];
        deadline = uint256(reports[m.cluster][epoch].submittedAt) + challengeWindow;
        ChallengeModel storage c = challenges[id][epoch];
        // Expired counts too: the owner could not settle before the deadline either.
        if (c.status == DisputeStatus.Open || c.status == DisputeStatus.Expired) {
            uint256 resolveBy = uint256(c.openedAt) + resolutionWindow;
            if (resolveBy > deadline) deadline = resolveBy;
        }
        deadline += proofGrace;
    }

    // ------------------------------------------------------------ lease math, written from the spec

    function _cap(LeaseModel storage m) internal view returns (uint256) {
        return uint256(m.units) * m.len;
    }

    function _fullRent(LeaseModel storage m) internal view returns (uint256) {
        return _cap(m) * m.price / 3600;
    }

    function _slaCredit(LeaseModel storage m, uint256 delivered) internal view returns (uint256) {
        uint256 floor = _cap(m) * m.sla / BPS;
        return delivered >= floor ? 0 : (floor - delivered) * m.price * m.creditBps / (3600 * BPS);
    }

    function _epochEnd(LeaseModel storage m, uint64 epoch) internal view returns (uint256) {
        return uint256(m.genesis) + (uint256(epoch) + 1) * m.len;
    }

    function _epochNow(LeaseModel storage m) internal view returns (uint64) {
        return uint64((block.timestamp - m.genesis) / m.len);
    }

    function _balAt(uint256 id, address holder, uint64 epoch) internal view returns (uint256) {
        Entry[] storage h = _hist[id][holder];
        for (uint256 i = h.length; i > 0; --i) {
            if (h[i - 1].fromEpoch <= epoch) return h[i - 1].balance;
        }
        return 0;
    }

    function _fail(string memory why) internal {
        if (bytes(violation).length == 0) violation = why;
    }

    function _at(string memory why, uint256 id, uint64 epoch) internal pure returns (string memory) {
        return string.concat(why, " (lease ", vm.toString(id), ", epoch ", vm.toString(epoch), ")");
    }

    // ------------------------------------------------------------ ingestion

    function _ingest(Vm.Log[] memory logs) internal {
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory lg = logs[i];
            if (lg.topics.length == 0) continue;
            if (lg.emitter == address(market)) _ingestMarket(lg);
            else if (lg.emitter == address(desk)) _ingestDesk(lg);
        }
    }

    function _ingestMarket(Vm.Log memory lg) internal {
        bytes32 t = lg.topics[0];
        if (t == IERC1155.TransferSingle.selector) {
            (uint256 id, uint256 v) = abi.decode(lg.data, (uint256, uint256));
            _moved(id, _addr(lg.topics[2]), _addr(lg.topics[3]), v);
        } else if (t == IERC1155.TransferBatch.selector) {
            (uint256[] memory ids, uint256[] memory vs) = abi.decode(lg.data, (uint256[], uint256[]));
            for (uint256 i; i < ids.length; ++i) {
                _moved(ids[i], _addr(lg.topics[2]), _addr(lg.topics[3]), vs[i]);
            }
        } else if (t == EpochSettled.selector) {
            _settled(uint256(lg.topics[1]), uint64(uint256(lg.topics[2])), lg.data);
        } else if (t == DeliveryProven.selector) {
            (uint64 proven,) = abi.decode(lg.data, (uint64, uint64));
            _provenAhead(uint256(lg.topics[1]), uint64(uint256(lg.topics[2])), proven);
        } else if (t == RentClaimed.selector) {
            uint256 id = uint256(lg.topics[1]);
            if (!known[id]) return;
            address who = _addr(lg.topics[2]);
            uint256 amount = abi.decode(lg.data, (uint256));
            claimedBy[id][who] += amount;
            _lm[id].claimed += amount;
            touches[id][who] += 1;
        } else if (t == TenantWithdrawn.selector) {
            uint256 id = uint256(lg.topics[1]);
            if (!known[id]) return;
            (uint256 credits, uint256 remainder) = abi.decode(lg.data, (uint256, uint256));
            _lm[id].creditsOut += credits;
            _lm[id].remainderOut += remainder;
        } else if (t == LeaseFunded.selector) {
            (uint256 escrow, uint64 start) = abi.decode(lg.data, (uint256, uint64));
            _funded(uint256(lg.topics[1]), escrow, start);
        } else if (t == BondDeposited.selector) {
            bondIn[uint64(uint256(lg.topics[1]))][_addr(lg.topics[2])] += abi.decode(lg.data, (uint256));
        } else if (t == BondWithdrawn.selector) {
            bondOut[uint64(uint256(lg.topics[1]))][_addr(lg.topics[2])] += abi.decode(lg.data, (uint256));
        }
    }

    function _ingestDesk(Vm.Log memory lg) internal {
        bytes32 t = lg.topics[0];
        if (t == PayoutWithdrawn.selector) {
            address token = _addr(lg.topics[1]);
            address who = _addr(lg.topics[2]);
            uint256 amount = abi.decode(lg.data, (uint256));
            if (amount > expectedPayout[token][who]) _fail("desk paid out more than it owed");
            else expectedPayout[token][who] -= amount;
            return;
        }
        bool known_ = t == EpochChallengeOpened.selector || t == EpochChallengeResolved.selector
            || t == EpochChallengeExpired.selector || t == ConflictingLeavesProven.selector;
        if (!known_) return; // PayoutCredited is checked through the statuses and expectedPayout
        uint256 id = uint256(lg.topics[1]);
        uint64 epoch = uint64(uint256(lg.topics[2]));
        if (!known[id]) return _fail(_at("dispute on a lease the handler did not create", id, epoch));
        if (t == EpochChallengeOpened.selector) {
            (uint256 bond,) = abi.decode(lg.data, (uint256, uint64));
            _opened(id, epoch, _addr(lg.topics[3]), bond);
        } else if (t == EpochChallengeResolved.selector) {
            (uint64 delivered,, bool upheld) = abi.decode(lg.data, (uint64, uint64, bool));
            _resolved(id, epoch, delivered, upheld);
        } else if (t == EpochChallengeExpired.selector) {
            ChallengeModel storage c = challenges[id][epoch];
            if (c.status != DisputeStatus.Open || block.timestamp < uint256(c.openedAt) + resolutionWindow) {
                _fail(_at("challenge expired early or twice", id, epoch));
            }
            c.status = DisputeStatus.Expired;
            expectedPayout[c.token][c.challenger] += c.bond;
            count["expired"]++;
        } else {
            (uint64 a,, uint64 b,) = abi.decode(lg.data, (uint64, uint64, uint64, uint64));
            _conflict(id, epoch, a, b);
        }
    }

    function _addr(bytes32 topic) internal pure returns (address) {
        return address(uint160(uint256(topic)));
    }

    /// Shares moved: both sides' epoch-end balance histories, and a checkpoint each.
    function _moved(uint256 id, address from, address to, uint256 value) internal {
        if (!known[id]) return;
        uint64 epoch = _epochNow(_lm[id]);
        if (from != address(0)) {
            touches[id][from] += 1;
            if (ghostBalance[id][from] < value) return _fail(_at("moved shares the ghost never saw", id, 0));
            _record(id, from, epoch, ghostBalance[id][from] - value);
        }
        if (to != address(0)) {
            touches[id][to] += 1;
            if (!_isHolder[id][to]) {
                _isHolder[id][to] = true;
                _holders[id].push(to);
            }
            _record(id, to, epoch, ghostBalance[id][to] + value);
        }
    }

    function _record(uint256 id, address holder, uint64 epoch, uint256 balance) internal {
        ghostBalance[id][holder] = balance;
        Entry[] storage h = _hist[id][holder];
        if (h.length != 0 && h[h.length - 1].fromEpoch == epoch) h[h.length - 1].balance = uint192(balance);
        else h.push(Entry(epoch, uint192(balance)));
    }

    function _funded(uint256 id, uint256 escrow, uint64 start) internal {
        if (!known[id]) return;
        LeaseModel storage m = _lm[id];
        uint64 current = _epochNow(m);
        uint64 expected = current < m.start ? m.start : current + 1;
        if (m.funded || start != expected || start >= m.end) _fail(_at("funding start", id, start));
        if (escrow != _fullRent(m) * (m.end - start)) _fail(_at("escrow funded", id, start));
        if (start != m.start) count["fundedLate"]++;
        (m.funded, m.start, m.next, m.escrowFunded) = (true, start, start, escrow);
        count["funded"]++;
    }

    /// An EpochSettled event's data (all static, so it decodes as one tuple).
    struct Settled {
        uint64 delivered;
        uint256 rent;
        uint256 comp;
        uint256 credit;
        uint256 acc;
        Outcome outcome;
    }

    /// One epoch settled: admissible outcome, independently computed amounts, then the ghosts.
    function _settled(uint256 id, uint64 epoch, bytes memory data) internal {
        if (!known[id]) return;
        Settled memory s = abi.decode(data, (Settled));
        LeaseModel storage m = _lm[id];
        if (++settledCount[id][epoch] > 1) _fail(_at("epoch settled twice", id, epoch));
        if (epoch != m.next || epoch < m.start || epoch >= m.end || !m.funded) {
            _fail(_at("settled out of order or out of term", id, epoch));
        }
        if (block.timestamp < _epochEnd(m, epoch)) _fail(_at("settled before the epoch ended", id, epoch));
        _checkOutcome(id, epoch, s.delivered, s.outcome);

        bool failure = s.outcome == Outcome.Missed || s.outcome == Outcome.Unproven;
        uint256 rent = failure ? 0 : uint256(s.delivered) * m.price / 3600;
        uint256 comp = failure ? _fullRent(m) : 0;
        uint256 credit = _slaCredit(m, failure ? 0 : s.delivered);
        if (s.rent != rent || s.comp != comp || s.credit != credit) {
            _fail(_at("settlement amounts", id, epoch));
        }
        uint256 acc = m.acc + (rent + comp) * ACC_SCALE / m.shares;
        if (s.acc != acc) _fail(_at("rent-per-share accumulator", id, epoch));

        (m.next, m.acc) = (epoch + 1, acc);
        (m.rent, m.comp, m.credit) = (m.rent + rent, m.comp + comp, m.credit + credit);
        bondPaid[m.cluster][m.token] += credit + comp;
        _credit(id, epoch, rent + comp);
        count[[bytes32("proven"), "arbitrated", "missed", "unproven"][uint256(s.outcome)]]++;
    }

    /// Each holder earns its balance at the epoch's end times the epoch's pay (divided by the
    /// supply when compared).
    function _credit(uint256 id, uint64 epoch, uint256 paid) internal {
        if (paid == 0) return;
        address[] storage hs = _holders[id];
        for (uint256 i; i < hs.length; ++i) {
            expNum[id][hs[i]] += _balAt(id, hs[i], epoch) * paid;
        }
    }

    /// A proof kept ahead of order: only a valid leaf, once, for an unsettled later epoch whose
    /// report's challenge window closed and that is neither ruled, conflicting nor under a live
    /// challenge.
    function _provenAhead(uint256 id, uint64 epoch, uint64 delivered) internal {
        if (!known[id]) return _fail(_at("proof kept for an unknown lease", id, epoch));
        LeaseModel storage m = _lm[id];
        ChallengeModel storage c = challenges[id][epoch];
        ReportModel storage r = reports[m.cluster][epoch];
        bool ruled = c.status == DisputeStatus.Upheld || c.status == DisputeStatus.Rejected;
        bool live = c.status == DisputeStatus.Open && block.timestamp < uint256(c.openedAt) + resolutionWindow;
        if (
            epoch <= m.next || epoch >= m.end || provenAhead[id][epoch] != 0 || !r.exists || ruled || live
                || c.status == DisputeStatus.Conflict
                || block.timestamp < uint256(r.submittedAt) + challengeWindow
        ) return _fail(_at("proof kept although not admissible", id, epoch));
        if (!_hasLeaf(id, epoch, delivered, type(uint256).max)) {
            return _fail(_at("kept proof is no leaf", id, epoch));
        }
        provenAhead[id][epoch] = delivered + 1;
        count["provenAhead"]++;
    }

    /// The outcome must be one the model allows at this moment, billing the delivery it names.
    function _checkOutcome(uint256 id, uint64 epoch, uint64 delivered, Outcome outcome) internal {
        LeaseModel storage m = _lm[id];
        ChallengeModel storage c = challenges[id][epoch];
        ReportModel storage r = reports[m.cluster][epoch];
        bool ruled = c.status == DisputeStatus.Upheld || c.status == DisputeStatus.Rejected;
        uint256 cap = _cap(m);
        if (outcome == Outcome.Arbitrated) {
            if (!ruled || delivered != _min(c.ruling, cap)) {
                _fail(_at("arbitrated without a ruling", id, epoch));
            }
        } else if (outcome == Outcome.Proven) {
            bool open = c.status == DisputeStatus.Open;
            if (
                ruled || c.status == DisputeStatus.Conflict || !r.exists
                    || block.timestamp < uint256(r.submittedAt) + challengeWindow
                    || (open && block.timestamp < uint256(c.openedAt) + resolutionWindow)
            ) _fail(_at("proven settlement not admissible now", id, epoch));
            if (!_hasLeaf(id, epoch, delivered, cap)) _fail(_at("proven delivery is no leaf", id, epoch));
            uint64 kept = provenAhead[id][epoch];
            if (kept != 0 && delivered != _min(kept - 1, cap)) {
                _fail(_at("a later proof overrode the one kept ahead", id, epoch));
            }
        } else if (outcome == Outcome.Missed) {
            if (r.exists || block.timestamp <= _epochEnd(m, epoch) + reportWindow || delivered != 0) {
                _fail(_at("missed although reported or early", id, epoch));
            }
        } else {
            if (!r.exists || delivered != 0) _fail(_at("unproven without a report", id, epoch));
            if (provenAhead[id][epoch] != 0 && c.status != DisputeStatus.Conflict) {
                _fail(_at("unproven although its proof was kept", id, epoch));
            }
            if (c.status != DisputeStatus.Conflict && (ruled || block.timestamp <= designDeadline(id, epoch)))
            {
                _fail(_at("unproven before the proof deadline", id, epoch));
            }
        }
    }

    function _hasLeaf(uint256 id, uint64 epoch, uint64 delivered, uint256 cap) internal view returns (bool) {
        uint64[] storage vals = _leafValues[id][epoch];
        for (uint256 i; i < vals.length; ++i) {
            if (_min(vals[i], cap) == delivered) return true;
        }
        return false;
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint64) {
        return uint64(a < b ? a : b);
    }

    function _opened(uint256 id, uint64 epoch, address challenger, uint256 bond) internal {
        LeaseModel storage m = _lm[id];
        ChallengeModel storage c = challenges[id][epoch];
        ReportModel storage r = reports[m.cluster][epoch];
        if (c.status != DisputeStatus.None) _fail(_at("epoch challenged twice", id, epoch));
        if (bond != _fullRent(m) * challengeBondBps / BPS) _fail(_at("challenge bond", id, epoch));
        if (challenger != m.tenant && ghostBalance[id][challenger] == 0) {
            _fail(_at("outsider challenged", id, epoch));
        }
        if (!r.exists || block.timestamp >= uint256(r.submittedAt) + challengeWindow) {
            _fail(_at("challenge outside its window", id, epoch));
        }
        if (epoch < m.next || epoch >= m.end) _fail(_at("challenge of a settled epoch", id, epoch));
        challenges[id][epoch] = ChallengeModel({
            status: DisputeStatus.Open,
            challenger: challenger,
            token: m.token,
            openedAt: uint64(block.timestamp),
            bond: uint128(bond),
            ruling: 0
        });
        _challengeKeys.push(Key(id, epoch));
        count["challenged"]++;
    }

    function _resolved(uint256 id, uint64 epoch, uint64 delivered, bool upheld) internal {
        ChallengeModel storage c = challenges[id][epoch];
        if (c.status != DisputeStatus.Open || block.timestamp >= uint256(c.openedAt) + resolutionWindow) {
            _fail(_at("ruling on a closed challenge", id, epoch));
        }
        (c.status, c.ruling) = (upheld ? DisputeStatus.Upheld : DisputeStatus.Rejected, delivered);
        // Upheld: the challenger was right. Rejected: forfeited to governance (to no party).
        expectedPayout[c.token][upheld ? c.challenger : governance] += c.bond;
        count[upheld ? bytes32("upheld") : bytes32("rejected")]++;
    }

    function _conflict(uint256 id, uint64 epoch, uint64 a, uint64 b) internal {
        ChallengeModel storage c = challenges[id][epoch];
        uint256 cap = type(uint256).max;
        if (a == b || !_hasLeaf(id, epoch, a, cap) || !_hasLeaf(id, epoch, b, cap)) {
            _fail(_at("conflict of leaves the report does not hold", id, epoch));
        }
        if (c.status == DisputeStatus.Upheld || c.status == DisputeStatus.Rejected) {
            _fail(_at("conflict after a ruling", id, epoch));
        }
        if (c.status == DisputeStatus.Open) expectedPayout[c.token][c.challenger] += c.bond;
        c.status = DisputeStatus.Conflict;
        count["conflict"]++;
    }

    // ------------------------------------------------------------ monotonic state

    /// Lease progress only moves forward: nextEpoch, rentPerShare, and status along
    /// Offered -> Active -> Ended or Offered -> Cancelled.
    function _afterAction() internal {
        uint256 n = market.leaseCount();
        for (uint256 id = 1; id <= n; ++id) {
            Lease memory l = market.getLease(id);
            Seen storage s = _seen[id];
            if (l.nextEpoch < s.next || l.rentPerShare < s.acc) {
                _fail(_at("lease went backwards", id, l.nextEpoch));
            }
            if (!_forward(s.status, l.status)) _fail(_at("lease status went backwards", id, l.nextEpoch));
            (s.next, s.status, s.acc) = (l.nextEpoch, l.status, l.rentPerShare);
        }
    }

    function _forward(LeaseStatus a, LeaseStatus b) internal pure returns (bool) {
        if (a == b || a == LeaseStatus.None) return true;
        if (a == LeaseStatus.Offered) return b != LeaseStatus.None;
        return a == LeaseStatus.Active && b == LeaseStatus.Ended;
    }
}
