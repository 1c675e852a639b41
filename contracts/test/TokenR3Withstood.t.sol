// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseMarket} from "../src/LeaseMarket.sol";
import {LeaseShareToken} from "../src/LeaseShareToken.sol";
import {
    AlreadyChallenged,
    ChallengeBondNotReturned,
    NotTokenHolder,
    NothingToClaim,
    SettlementPending
} from "../src/libraries/Errors.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {DisputeStatus, ProvenLeaf} from "../src/libraries/Types.sol";
import {CollateralBase} from "./utils/CollateralBase.sol";
import {MorphoBase} from "./utils/MorphoBase.sol";
import {ShareReceiver} from "./utils/ShareReceiver.sol";

/// @notice Third review of LeaseShareToken: attacks the code withstood (challenges through the
/// token, books under random wraps, unwraps, challenges, rulings, freezes and claims).
contract TokenR3WithstoodTest is CollateralBase {
    uint256 internal constant PER_SHARE = 16_000;
    address internal carol = makeAddr("carol");

    /// Σ bonds the desk returned (or will) for challenges made through the token, not yet reclaimed.
    uint256 internal returnedBonds;

    function _books() internal view {
        assertEq(market.balanceOf(address(token), lease), token.totalSupply(), "one share per token");
        assertGe(
            usd.balanceOf(address(token)) + token.unclaimed() + desk.payouts(address(usd), address(token)),
            token.cash() + token.owedTotal() + token.exitReserve() + returnedBonds,
            "balance + unclaimed + desk payouts >= cash + owed + exits + unreclaimed bonds"
        );
        assertGe(market.claimable(lease, address(token)), token.unclaimed());
    }

    function _challengeVia(address who, uint64 epoch) internal returns (uint256 bond) {
        bond = desk.challengeBond(lease);
        vm.prank(who);
        token.challenge(epoch);
    }

    // ------------------------------------------------------------ challenges through the token

    /// Reclaim before the verdict, after a Rejected one, twice; nothing to reclaim when the token
    /// never challenged; someone else's returned bond is never paid through the token.
    function test_W3_reclaimGuards() public {
        _wrap(alice, 600);
        _wrap(owner, 400);
        _reportSingle(lease, 1, _full());
        uint256 bond = _challengeVia(alice, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ChallengeBondNotReturned.selector, lease, uint64(1), uint8(DisputeStatus.Open)
            )
        );
        token.reclaimChallengeBond(1);
        vm.prank(arbiter);
        desk.resolveChallenge(lease, 1, _full(), 0, false); // rejected: forfeited to governance
        vm.expectRevert(
            abi.encodeWithSelector(
                ChallengeBondNotReturned.selector, lease, uint64(1), uint8(DisputeStatus.Rejected)
            )
        );
        token.reclaimChallengeBond(1);
        assertEq(desk.payouts(address(usd), governance), bond);
        vm.expectRevert(NothingToClaim.selector);
        token.reclaimChallengeBond(2);
        _books();
    }

    /// Another holder (carol, raw shares) challenges epoch 2 and a conflict is proven: the desk
    /// credits carol, not the token; reclaiming epoch 2 through the token has nothing.
    function test_W3_conflictOfAnotherChallenger() public {
        _wrap(alice, 600);
        vm.prank(owner);
        market.safeTransferFrom(owner, carol, lease, 10, "");
        vm.prank(governance);
        usd.mint(carol, 100e6);
        vm.prank(carol);
        usd.approve(address(desk), type(uint256).max);
        _reportAndSettle(lease, 1, _full());
        (bytes32[] memory pa, bytes32[] memory pb) = _reportConflict(2, 1, 2);
        vm.prank(carol);
        desk.challenge(lease, 2);
        uint256 bal = usd.balanceOf(address(token));
        desk.proveConflict(lease, 2, ProvenLeaf(1, 0, pa), ProvenLeaf(2, 0, pb));
        vm.expectRevert(NothingToClaim.selector);
        token.reclaimChallengeBond(2);
        assertEq(desk.payouts(address(usd), carol), desk.challengeBond(lease));
        assertEq(desk.payouts(address(usd), address(token)), 0);
        assertEq(usd.balanceOf(address(token)), bal);
        _books();
    }

    /// Two challenges through the token (epochs 1 upheld, 2 conflict-released), reclaimed in
    /// reverse order; bob's challenger is frozen: its bond is owed, withdrawn after the unfreeze.
    /// Cash and owed of others are untouched, allowance to the desk is 0 after each challenge.
    function test_W3_twoChallengesFrozenChallenger() public {
        _wrap(alice, 600);
        vm.prank(owner);
        market.safeTransferFrom(owner, bob, lease, 100, "");
        _wrap(bob, 100);
        _reportSingle(lease, 1, 0);
        uint256 bond = _challengeVia(alice, 1);
        assertEq(usd.allowance(address(token), address(desk)), 0);
        vm.prank(arbiter);
        desk.resolveChallenge(lease, 1, _full(), 0, true);
        returnedBonds += bond;
        skip(CHALLENGE_WINDOW);
        market.settle(lease, 1, 0, 0, new bytes32[](0));
        token.harvest();
        uint256 cash = token.cash();
        (bytes32[] memory pa, bytes32[] memory pb) = _reportConflict(2, 3, 4);
        _challengeVia(bob, 2);
        vm.expectRevert(abi.encodeWithSelector(AlreadyChallenged.selector, lease, uint64(2)));
        vm.prank(alice);
        token.challenge(2);
        assertEq(token.challengerOf(2), bob, "a refused second challenge leaves no trace");
        desk.proveConflict(lease, 2, ProvenLeaf(3, 0, pa), ProvenLeaf(4, 0, pb));
        returnedBonds += bond;
        _books();
        vm.prank(governance);
        usd.setBlocklisted(bob, true);
        assertEq(token.reclaimChallengeBond(2), bond);
        returnedBonds -= bond;
        assertEq(token.owed(bob), bond);
        _books();
        uint256 aliceBefore = usd.balanceOf(alice);
        assertEq(token.reclaimChallengeBond(1), bond);
        returnedBonds -= bond;
        assertEq(usd.balanceOf(alice) - aliceBefore, bond);
        vm.expectRevert(NothingToClaim.selector);
        token.reclaimChallengeBond(1);
        vm.prank(governance);
        usd.setBlocklisted(bob, false);
        vm.prank(bob);
        assertEq(token.withdrawOwed(), bond);
        assertEq(token.cash(), cash, "cash untouched by the challenge path");
        _books();
    }

    /// The token challenges an epoch whose challenge is then left to expire (the arbiter idle):
    /// only once someone calls expire is the bond reclaimable; expired then conflict never pays twice.
    function test_W3_expiredThenConflict() public {
        _wrap(alice, 600);
        (bytes32[] memory pa, bytes32[] memory pb) = _reportConflict(1, 5, 6);
        uint256 bond = _challengeVia(alice, 1);
        skip(RESOLUTION_WINDOW);
        vm.expectRevert();
        token.reclaimChallengeBond(1); // still Open until expire is called
        desk.expire(lease, 1);
        desk.proveConflict(lease, 1, ProvenLeaf(5, 0, pa), ProvenLeaf(6, 0, pb)); // Expired -> Conflict, no second release
        uint256 before = usd.balanceOf(alice);
        assertEq(token.reclaimChallengeBond(1), bond);
        assertEq(usd.balanceOf(alice) - before, bond);
        assertEq(desk.payouts(address(usd), address(token)), 0);
        _books();
    }

    /// A non-holder cannot challenge through the token.
    function test_W3_nonHolderCannotChallenge() public {
        _wrap(alice, 600);
        _reportSingle(lease, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(NotTokenHolder.selector, carol));
        vm.prank(carol);
        token.challenge(1);
    }

    /// Random wraps / unwraps / challenges / rulings / reclaims / settlements / freezes: the books
    /// including unreclaimed returned bonds always balance.
    function testFuzz_W3_booksWithChallenges(uint256 seed) public {
        address[3] memory hs = [owner, alice, bob];
        vm.prank(owner);
        market.safeTransferFrom(owner, bob, lease, 150, "");
        vm.prank(bob);
        usd.approve(address(desk), type(uint256).max);
        uint64 next = 1;
        bool reported;
        uint256[9] memory state; // per epoch: 0 none, 1 open via token, 2 returned, 3 reclaimed/rejected
        for (uint256 step; step < 40; ++step) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            address who = hs[r % 3];
            uint256 op = (r >> 8) % 9;
            if (op == 0) {
                uint256 held = market.balanceOf(who, lease);
                if (held != 0) {
                    vm.prank(who);
                    try token.wrap(1 + (r >> 16) % held, who) returns (uint256) {} catch {}
                }
            } else if (op == 1) {
                uint256 held = token.balanceOf(who);
                if (held != 0) {
                    vm.prank(who);
                    token.unwrap(1 + (r >> 16) % held, who);
                }
            } else if (op == 2 && next < 9 && !reported) {
                _reportSingle(lease, next, uint64((r >> 16) % (_full() + 1)));
                reported = true;
            } else if (op == 3 && reported) {
                if (state[next] == 1) {
                    if (block.timestamp < desk.challengeOf(lease, next).openedAt + RESOLUTION_WINDOW) {
                        bool up = (r >> 20) % 2 == 0;
                        vm.prank(arbiter);
                        desk.resolveChallenge(lease, next, _full(), 0, up);
                        if (up) {
                            state[next] = 2;
                            returnedBonds += desk.challengeBond(lease);
                        } else {
                            state[next] = 3;
                        }
                    } else {
                        desk.expire(lease, next);
                        state[next] = 2;
                        returnedBonds += desk.challengeBond(lease);
                    }
                }
                skip(RESOLUTION_WINDOW + CHALLENGE_WINDOW);
                try market.settle(lease, next, 0, 0, new bytes32[](0)) {
                    ++next;
                    reported = false;
                } catch {
                    try market.settle(
                        lease, next, desk.challengeOf(lease, next).delivered, 0, new bytes32[](0)
                    ) {
                        ++next;
                        reported = false;
                    } catch {}
                }
            } else if (op == 4 && reported && state[next] == 0 && token.balanceOf(who) != 0) {
                vm.prank(who);
                try token.challenge(next) {
                    state[next] = 1;
                } catch {}
            } else if (op == 5) {
                for (uint64 e = 1; e < 9; ++e) {
                    if (state[e] == 2) {
                        try token.reclaimChallengeBond(e) returns (uint256 a) {
                            returnedBonds -= a;
                            state[e] = 3;
                        } catch {}
                    }
                }
            } else if (op == 6) {
                bool frozen = usd.blocklisted(who);
                vm.prank(governance);
                usd.setBlocklisted(who, !frozen);
            } else if (op == 7) {
                try token.harvest() {} catch {}
            } else if (op == 8) {
                vm.prank(who);
                try token.withdrawOwed() returns (uint256) {} catch {}
                try token.claimExits(who) returns (uint256) {} catch {}
            }
            _books();
        }
    }

    // ------------------------------------------------------------ helpers

    /// Reports `epoch` with two leaves for the lease that disagree; returns their proofs.
    function _reportConflict(uint64 epoch, uint64 a, uint64 b)
        internal
        returns (bytes32[] memory pa, bytes32[] memory pb)
    {
        uint256[] memory ids = new uint256[](2);
        (ids[0], ids[1]) = (lease, lease);
        uint64[] memory d = new uint64[](2);
        (d[0], d[1]) = (a, b);
        (bytes32 root, bytes32[][] memory proofs) = _deliveriesTree(ids, epoch, d);
        _warpToEpochEnd(epoch);
        _submit(_report(epoch, root));
        return (proofs[0], proofs[1]);
    }
}

/// @notice A Morpho borrower at full LTV holds no token (Morpho does) and cannot withdraw one,
/// yet can still challenge through the token: a Morpho flash loan of the collateral tokens.
/// (So the NotTokenHolder gate keeps nobody out: anyone can flash-borrow the tokens Morpho holds.)
contract TokenR3MorphoWithstoodTest is MorphoBase {
    function test_W3_fullLtvBorrowerChallengesViaMorphoFlashLoan() public {
        _wrap(alice, 600);
        _wrap(owner, 400);
        vm.startPrank(alice);
        morpho.supplyCollateral(params, 600, alice, "");
        uint256 maxB = 600 * oracle.price() / 1e36 * LLTV / 1e18;
        morpho.borrow(params, maxB, 0, alice, alice);
        vm.expectRevert();
        morpho.withdrawCollateral(params, 1, alice, alice); // would be unhealthy
        vm.stopPrank();
        _reportSingle(lease, 1, 0); // false report
        FlashChallenger fc = new FlashChallenger(address(morpho), token, address(usd));
        uint256 bond = desk.challengeBond(lease);
        vm.prank(alice);
        usd.transfer(address(fc), bond);
        fc.go(1);
        assertEq(token.challengerOf(1), address(fc));
        vm.prank(arbiter);
        desk.resolveChallenge(lease, 1, _full(), 0, true);
        token.reclaimChallengeBond(1);
        assertEq(usd.balanceOf(address(fc)), bond);
    }
}

interface IFlash {
    function flashLoan(address token, uint256 assets, bytes calldata data) external;
}

contract FlashChallenger {
    address internal immutable morpho;
    LeaseShareToken internal immutable tok;
    uint64 internal epoch;

    constructor(address m, LeaseShareToken t, address usd) {
        (morpho, tok) = (m, t);
        IERC20Like(usd).approve(address(t), type(uint256).max);
        t.approve(m, type(uint256).max);
    }

    function go(uint64 e) external {
        epoch = e;
        IFlash(morpho).flashLoan(address(tok), 1, "");
    }

    function onMorphoFlashLoan(uint256, bytes calldata) external {
        tok.challenge(epoch);
    }
}

interface IERC20Like {
    function approve(address, uint256) external returns (bool);
}

contract Reenterer is ShareReceiver {
    LeaseShareToken internal immutable tok;
    LeaseMarket internal immutable mkt;
    uint256 internal immutable lease;
    uint256 public reentered;
    bool public settled;

    constructor(LeaseShareToken t, LeaseMarket m, uint256 l) {
        (tok, mkt, lease) = (t, m, l);
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        if (msg.sender == address(mkt) && !settled) {
            uint64 nextE = 1;
            try mkt.settle(lease, nextE, 8 * 3600, 0, new bytes32[](0)) {
                settled = true;
            } catch {}
            try tok.challenge(2) {
                ++reentered;
            } catch {}
            try tok.withdrawOwed() {
                ++reentered;
            } catch {}
            try tok.reclaimChallengeBond(1) {
                ++reentered;
            } catch {}
            try tok.harvest() {
                ++reentered;
            } catch {}
            try tok.wrap(1, address(this)) {
                ++reentered;
            } catch {}
        }
        return this.onERC1155Received.selector;
    }
}
