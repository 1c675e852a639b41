// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReportLib} from "../src/libraries/ReportLib.sol";
import {Lease, LeaseStatus, LeaseTerms} from "../src/libraries/Types.sol";
import {BaseTest} from "./BaseTest.sol";

/// @notice A model check of the holders' rent accounting (kept apart from the attack files so
/// each test contract compiles without running out of stack under via-IR).
contract HolderModelTest is BaseTest {
    address internal carol = makeAddr("carol");

    /// Model check of the holder "boundary" accounting. Random single, batch (repeated id), self,
    /// zero-value and buyShares movements among four holders, in the epoch before the start, in
    /// every epoch (before and after partial settlements in that epoch), and after the term;
    /// random partial settlement (proven, shortfall, missed), random claims, odd share counts and
    /// prices, and funding on time or late (moving startEpoch). Each holder must get exactly the
    /// rent of the epochs whose end it held for, within rounding, and never more; claims never
    /// exceed the pool.
    function testFuzz_withstands_holderAccountingMatchesModel(uint256 seed) public {
        Model memory m = _setUpModel(seed);
        for (uint64 c = 1; c <= m.endEpoch + 1; ++c) {
            vm.warp(_epochEnd(c - 1) + 1); // epoch c begins
            if (c == m.fundAt) _fundModel(m);
            // The holdings of epoch c-1's end are the balances now, before any move in epoch c.
            if (c - 1 >= m.start && c - 1 < m.endEpoch) {
                for (uint256 h; h < 4; ++h) {
                    m.held[c - 1][h] = m.bal[h];
                }
                _reportModel(m, c - 1);
            }
            _moves(m, id_(m));
            skip(CHALLENGE_WINDOW + 1);
            _settleSome(m, _rnd(m) % 4);
            _moves(m, id_(m));
            _claims(m);
        }
        // After the term: everything settles, everyone claims.
        vm.warp(_epochEnd(m.endEpoch) + REPORT_WINDOW + CHALLENGE_WINDOW + 1);
        _moves(m, id_(m));
        _settleSome(m, 100);
        assertEq(uint8(market.getLease(m.id).status), uint8(LeaseStatus.Ended));
        for (uint256 h; h < 4; ++h) {
            uint256 due = market.claimable(m.id, m.holders[h]);
            if (due != 0) {
                vm.prank(m.holders[h]);
                m.claimed[h] += market.claim(m.id);
            }
        }
        uint256 paid;
        for (uint256 h; h < 4; ++h) {
            uint256 exactNumer;
            for (uint64 e = m.start; e < m.endEpoch; ++e) {
                exactNumer += m.held[e][h] * m.amount[e];
            }
            assertLe(m.claimed[h] * m.shares, exactNumer, "a holder got more than its epochs' rent");
            assertGe(m.claimed[h] + 2 * (m.endEpoch + 2), exactNumer / m.shares, "a holder lost rent");
            paid += m.claimed[h];
        }
        uint256 pool;
        for (uint64 e = m.start; e < m.endEpoch; ++e) {
            pool += m.amount[e];
        }
        assertLe(paid, pool, "claims exceed the rent pool");
        assertEq(market.getLease(m.id).rentPool, pool - paid, "pool books the rest (dust)");
    }

    // ================================================================ model helpers

    struct Model {
        uint256 seed;
        uint256 nonce;
        uint256 id;
        uint64 start;
        uint64 endEpoch;
        uint64 fundAt;
        uint256 shares;
        uint64 full;
        bool funded;
        address[4] holders;
        uint256[4] bal;
        uint256[4] claimed;
        uint256[4][8] held; // held[epoch][holder]
        uint256[8] amount; // rent or compensation booked for each epoch
        bool[8] reported;
        uint64[8] delivered;
    }

    function id_(Model memory m) internal pure returns (uint256) {
        return m.id;
    }

    function _rnd(Model memory m) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(m.seed, m.nonce++)));
    }

    function _setUpModel(uint256 seed) internal returns (Model memory m) {
        m.seed = seed;
        m.holders = [owner, alice, bob, carol];
        uint256[4] memory shareChoices = [uint256(SHARES), 7, 999_983, 3];
        m.shares = shareChoices[_rnd(m) % 4];
        m.endEpoch = 6; // epochs 1..5
        m.fundAt = uint64(_rnd(m) % 3); // 0: on time; 1 or 2: late (start moves to 2 or 3)
        m.start = m.fundAt == 0 ? 1 : m.fundAt + 1;
        LeaseTerms memory t = _terms(1, m.endEpoch);
        t.totalShares = uint128(m.shares);
        t.pricePerUnitHour = _rnd(m) % 2 == 0 ? PRICE : 1_234_567;
        m.full = uint64(GPUS) * EPOCH;
        vm.prank(owner);
        m.id = market.createLease(t);
        m.bal[0] = m.shares;
        vm.prank(carol);
        usd.approve(address(market), type(uint256).max);
        if (m.fundAt == 0) _fundModel(m);
        _moves(m, m.id); // moves before the start
    }

    function _fundModel(Model memory m) internal {
        vm.prank(tenant);
        market.fund(m.id);
        m.funded = true;
        assertEq(market.getLease(m.id).startEpoch, m.start);
    }

    function _reportModel(Model memory m, uint64 e) internal {
        uint256 r = _rnd(m) % 5;
        if (r == 0) return; // the oracle misses this epoch
        uint64 d = r == 1 ? m.full / 3 : (r == 2 ? 0 : m.full);
        m.reported[e] = true;
        m.delivered[e] = d;
        _submit(_report(e, ReportLib.deliveryLeaf(m.id, e, d, 0)));
    }

    function _settleSome(Model memory m, uint256 k) internal {
        if (!m.funded) return;
        Lease memory l = market.getLease(m.id);
        uint256 cap = uint256(GPUS) * EPOCH;
        for (uint256 i; i < k && l.status == LeaseStatus.Active; ++i) {
            uint64 e = l.nextEpoch;
            if (_epochEnd(e) > block.timestamp) return;
            if (m.reported[e]) {
                market.settle(m.id, e, m.delivered[e], 0, new bytes32[](0));
                m.amount[e] = uint256(m.delivered[e]) * l.pricePerUnitHour / 3600;
            } else {
                if (block.timestamp <= _epochEnd(e) + REPORT_WINDOW) return;
                market.settleMissed(m.id, e);
                m.amount[e] = cap * l.pricePerUnitHour / 3600;
            }
            l = market.getLease(m.id);
        }
    }

    function _moves(Model memory m, uint256 id) internal {
        uint256 n = _rnd(m) % 4;
        for (uint256 i; i < n; ++i) {
            uint256 f = _rnd(m) % 4;
            uint256 to = _rnd(m) % 4;
            uint256 amt = m.bal[f] == 0 ? 0 : _rnd(m) % (m.bal[f] + 1);
            uint256 kind = _rnd(m) % 4;
            address from = m.holders[f];
            if (kind == 0) {
                vm.prank(from);
                market.safeTransferFrom(from, m.holders[to], id, amt, "");
            } else if (kind == 1) {
                uint256[] memory ids = new uint256[](2);
                (ids[0], ids[1]) = (id, id);
                uint256[] memory vals = new uint256[](2);
                vals[0] = amt / 2;
                vals[1] = amt - amt / 2;
                vm.prank(from);
                market.safeBatchTransferFrom(from, m.holders[to], ids, vals, "");
            } else if (kind == 2 && f == 0 && amt != 0 && market.getLease(id).status == LeaseStatus.Active) {
                vm.prank(owner);
                market.offerShares(id, amt, 0);
                vm.prank(m.holders[to]);
                market.buyShares(id, amt, 0);
            } else {
                vm.prank(from); // self-transfer
                market.safeTransferFrom(from, from, id, amt, "");
                continue;
            }
            m.bal[f] -= amt;
            m.bal[to] += amt;
        }
    }

    function _claims(Model memory m) internal {
        uint256 h = _rnd(m) % 5;
        if (h == 4) return;
        if (market.claimable(m.id, m.holders[h]) == 0) return;
        vm.prank(m.holders[h]);
        m.claimed[h] += market.claim(m.id);
    }
}
