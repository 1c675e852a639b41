// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CapacityPricer} from "../src/CapacityPricer.sol";
import {ClusterRegistry} from "../src/ClusterRegistry.sol";
import {LeaseNavOracle} from "../src/LeaseNavOracle.sol";
import {LeaseShareToken} from "../src/LeaseShareToken.sol";
import {CollateralBase} from "./utils/CollateralBase.sol";
import {ShareReceiver} from "./utils/ShareReceiver.sol";

/// @notice Second-round attacks that the fixed code withstood (all pass).
contract Withstood2Test is CollateralBase {
    address[3] internal holders;

    function _books() internal view {
        assertEq(market.balanceOf(address(token), lease), token.totalSupply(), "one share per token");
        assertGe(
            usd.balanceOf(address(token)) + token.unclaimed(),
            token.cash() + token.owedTotal(),
            "balance + unclaimed >= cash + owedTotal"
        );
        assertGe(market.claimable(lease, address(token)), token.unclaimed(), "unclaimed is still claimable");
        token.rentHeld(); // never underflows
        oracle.price(); // never reverts
    }

    /// Random wraps, unwraps, harvests, owed withdrawals and settlements while the issuer pauses,
    /// unpauses, freezes and unfreezes the token and the holders: the books always balance, an
    /// unwrap always returns the shares, and once the issuer relents everyone is paid in full
    /// (the token keeps at most a base unit of dust per exit).
    function testFuzz_W2_booksBalanceUnderPauseAndFreezeSequences(uint256 seed) public {
        holders = [owner, alice, bob];
        vm.prank(owner);
        market.safeTransferFrom(owner, bob, lease, 150, "");
        uint64 nextEpoch = 1;
        uint256 paidIn;
        for (uint256 step; step < 40; ++step) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            address who = holders[r % 3];
            uint256 op = (r >> 8) % 8;
            if (op == 0) {
                uint256 held = market.balanceOf(who, lease);
                if (held != 0) {
                    vm.prank(who);
                    try token.wrap(1 + (r >> 16) % held, who) returns (uint256 p) {
                        paidIn += p;
                    } catch {}
                }
            } else if (op == 1) {
                uint256 held = token.balanceOf(who);
                if (held != 0) {
                    uint256 amount = 1 + (r >> 16) % held;
                    uint256 sharesBefore = market.balanceOf(who, lease);
                    vm.prank(who);
                    token.unwrap(amount, who); // must never revert between settlements
                    assertEq(market.balanceOf(who, lease), sharesBefore + amount, "shares returned");
                }
            } else if (op == 2) {
                bool paused = usd.paused();
                vm.prank(governance);
                if (paused) usd.unpause();
                else usd.pause();
            } else if (op == 3) {
                bool frozen = usd.blocklisted(address(token));
                vm.prank(governance);
                usd.setBlocklisted(address(token), !frozen);
            } else if (op == 4) {
                bool frozen = usd.blocklisted(who);
                vm.prank(governance);
                usd.setBlocklisted(who, !frozen);
            } else if (op == 5) {
                if (nextEpoch < 9) {
                    _reportAndSettle(lease, nextEpoch, uint64((r >> 16) % (_full() + 1)));
                    ++nextEpoch;
                }
            } else if (op == 6) {
                try token.harvest() {} catch {}
            } else {
                vm.prank(who);
                try token.withdrawOwed() returns (uint256) {} catch {}
            }
            _books();
        }
        // The issuer relents; everyone leaves and pulls what it is owed.
        bool stillPaused = usd.paused();
        vm.startPrank(governance);
        if (stillPaused) usd.unpause();
        usd.setBlocklisted(address(token), false);
        for (uint256 i; i < 3; ++i) {
            usd.setBlocklisted(holders[i], false);
        }
        vm.stopPrank();
        token.harvest();
        for (uint256 i; i < 3; ++i) {
            uint256 held = token.balanceOf(holders[i]);
            if (held != 0) _unwrap(holders[i], held);
        }
        for (uint256 i; i < 3; ++i) {
            if (token.owed(holders[i]) != 0) {
                vm.prank(holders[i]);
                token.withdrawOwed();
            }
        }
        _books();
        assertEq(token.totalSupply(), 0);
        assertEq(token.owedTotal(), 0);
        assertEq(token.unclaimed(), 0);
        assertLe(usd.balanceOf(address(token)), 3 + 40, "dust only");
        assertEq(usd.balanceOf(address(token)), token.cash(), "what is left is the books' dust");
        paidIn; // silence
    }

    /// Claimable grows between a failed claim and the successful one (an epoch settles while the
    /// coin is paused), an unwrapper is owed rent the market still held, and an entrant pays in
    /// after the unpause: each is charged or paid exactly its slice.
    function test_W2_claimableGrowsBetweenFailureAndSuccess() public {
        _wrap(alice, 600);
        _wrap(owner, 400);
        _reportAndSettle(lease, 1, _full()); // 16,000 per token, held by the market
        vm.prank(governance);
        usd.pause();
        assertEq(_unwrap(alice, 300), 300 * 16_000); // owed, the claim failed
        _reportAndSettle(lease, 2, _full()); // settles while paused: 16,000 more per token
        assertEq(_unwrap(alice, 300), 300 * 32_000, "second failure re-books claimable exactly");
        assertEq(token.owed(alice), 300 * 16_000 + 300 * 32_000);
        vm.prank(governance);
        usd.unpause();
        vm.prank(owner);
        market.safeTransferFrom(owner, bob, lease, 0, ""); // no-op
        vm.prank(alice);
        market.safeTransferFrom(alice, bob, lease, 100, "");
        uint256 bobPaid = _wrap(bob, 100);
        assertEq(bobPaid, 100 * 32_000, "entrant pays the accrued cash per token, no more");
        vm.prank(alice);
        assertEq(token.withdrawOwed(), 300 * 16_000 + 300 * 32_000);
        assertEq(_unwrap(owner, 400), 400 * 32_000);
        assertEq(_unwrap(bob, 100), 100 * 32_000);
        assertEq(usd.balanceOf(address(token)), 0);
    }

    /// A receiver re-entering from the unwrap's share callback reads a consistent NAV and cannot
    /// re-enter the token (poke/price/harvest/wrap tried from inside).
    function test_W2_unwrapCallbackSeesConsistentNav() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, _full());
        uint256 before = oracle.price();
        Peeker p = new Peeker(token, oracle);
        vm.prank(alice);
        token.unwrap(100, address(p));
        assertEq(p.seen(), before, "NAV inside the callback equals the NAV outside");
        assertFalse(p.reentered(), "harvest re-entry refused");
        assertEq(oracle.price(), before);
    }

    /// Pokes at every epoch boundary and at every minute never lift the price above a single
    /// poke per epoch would (no stacking across blocks either).
    function test_W2_pokeTimingCannotBeatTheCap() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, 0);
        oracle.poke();
        _reportAndSettle(lease, 2, _full());
        _reportAndSettle(lease, 3, _full());
        uint256 snap = vm.snapshotState();
        uint256 t0 = block.timestamp;
        for (uint256 t = t0; t < t0 + 2 hours; t += 1 minutes) {
            vm.warp(t);
            oracle.poke();
        }
        uint256 spammed = oracle.price();
        vm.revertToState(snap);
        vm.warp(t0 + 2 hours - 1 minutes);
        uint256 quiet = oracle.price();
        assertLe(spammed, quiet, "poking every minute gives no more than not poking");
    }

    /// Extreme registry parameters (7-day epochs, a report window near 2^32) cannot make
    /// `update` revert: it waits for the window and then goes on.
    function test_W2_pricerSurvivesExtremeRegistryParams() public {
        ClusterRegistry reg = new ClusterRegistry(governance, type(uint32).max - 2);
        address[] memory set = new address[](1);
        set[0] = alice;
        vm.prank(owner);
        uint64 c = reg.registerCluster("x", bytes32(0), 7 days, set, 1);
        CapacityPricer p = new CapacityPricer(reg, 0.5e18, 100e18, 1e18);
        vm.prank(owner);
        p.setCurve(c, type(uint128).max / 16, 0);
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(); // QuoteUpToDate: epoch 0's report may still come for ~136 years
        p.update(c);
        vm.warp(block.timestamp + uint256(type(uint32).max) + 1_000 days);
        p.update(c); // jumps to the last 64 ended epochs (older ones say nothing about demand now)
        (,, uint64 genesis,) = reg.clusterInfo(c);
        uint256 ended = (block.timestamp - genesis) / 7 days;
        assertEq(p.curveOf(c).nextEpoch, ended - 64);
        assertEq(p.quote(c), type(uint128).max / 16);
    }
}

contract Peeker is ShareReceiver {
    LeaseShareToken internal immutable tok;
    LeaseNavOracle internal immutable feed;
    uint256 public seen;
    bool public reentered;

    constructor(LeaseShareToken t, LeaseNavOracle f) {
        (tok, feed) = (t, f);
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        seen = feed.price();
        feed.poke();
        try tok.harvest() {
            reentered = true;
        } catch {}
        return this.onERC1155Received.selector;
    }
}
