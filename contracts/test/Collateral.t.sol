// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

import {LeaseNavOracle} from "../src/LeaseNavOracle.sol";
import "../src/libraries/Errors.sol";
import {CollateralBase} from "./utils/CollateralBase.sol";

/// @notice The ERC-20 share token (rent accrues to the token's value, nobody is diluted) and the
/// NAV feed (attested settlement only: live epochs at the trailing delivery ratio, misses, dark
/// epochs and open challenges marked down at once, rises capped per epoch).
contract CollateralTest is CollateralBase {
    // ------------------------------------------------------------ share token

    function test_wrapMovesSharesIntoTokensAndBack() public {
        assertEq(token.decimals(), 0);
        assertEq(token.symbol(), string.concat("CLS-", vm.toString(lease)));
        assertEq(_wrap(alice, 600), 0, "the first entrant owes no accrued rent");
        assertEq(token.balanceOf(alice), 600);
        assertEq(market.balanceOf(address(token), lease), 600);
        assertEq(market.balanceOf(alice, lease), 0);

        assertEq(_unwrap(alice, 250), 0);
        assertEq(token.balanceOf(alice), 350);
        assertEq(market.balanceOf(alice, lease), 250);
        assertEq(market.balanceOf(address(token), lease), token.totalSupply());
    }

    function test_rentAccruesToTheTokenAndNoEntrantDilutesIt() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, _full()); // $16 for 1,000 shares: the wrapper's 600 earn $9.60
        uint256 perToken = 16_000_000 / LEASE_SHARES;
        assertEq(token.cashPerToken1e18(), perToken * 1e18, "claimable counts before any harvest");

        // The owner enters with 400 shares and pays the rent already accrued to as many tokens.
        uint256 ownerBefore = usd.balanceOf(owner);
        assertEq(_wrap(owner, 400), 400 * perToken);
        assertEq(ownerBefore - usd.balanceOf(owner), 400 * perToken);
        assertEq(token.cash(), 1_000 * perToken);

        // Alice leaves with exactly the rent her shares earned; the owner gets back what it paid.
        assertEq(_unwrap(alice, 600), 600 * perToken);
        assertEq(_unwrap(owner, 400), 400 * perToken);
        assertEq(token.cash(), 0);
        assertEq(usd.balanceOf(address(token)), 0, "every base unit left with a holder");
    }

    function test_roundingKeepsDustWithTheRemainingHolders() public {
        _wrap(alice, 3);
        _reportAndSettle(lease, 1, _full()); // 3 shares earn 48,000
        _wrap(owner, 7);
        // 7 x 48,000 / 3 is exact; now make cash not divide evenly.
        _reportAndSettle(lease, 2, _full() - 1);
        token.harvest();
        uint256 cash = token.cash();
        uint256 rent = _unwrap(alice, 3);
        assertEq(rent, cash * 3 / 10, "an exit rounds down");
        assertGe(token.cash() * 10, cash * 7, "what stays covers the remaining tokens in full");
    }

    function test_sharesSentAnyOtherWayAreRefused() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SharesNotWrapped.selector, address(market), lease));
        market.safeTransferFrom(alice, address(token), lease, 1, "");

        uint256[] memory ids = new uint256[](1);
        uint256[] memory amounts = new uint256[](1);
        (ids[0], amounts[0]) = (lease, 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SharesNotWrapped.selector, address(market), lease));
        market.safeBatchTransferFrom(alice, address(token), ids, amounts, "");
    }

    function test_badWrapsAreRefusedWithTheirReason() public {
        vm.prank(alice);
        vm.expectRevert(ZeroAmount.selector);
        token.wrap(0, alice);
        vm.prank(alice);
        vm.expectRevert(ZeroAddress.selector);
        token.wrap(1, address(0));
        vm.prank(bob); // holds no shares
        vm.expectRevert();
        token.wrap(1, bob);
        _wrap(alice, 10);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, bob, 0, 1));
        token.unwrap(1, bob);
        vm.expectRevert(abi.encodeWithSelector(UnknownLease.selector, 999));
        factory.create(999);
        vm.expectRevert(abi.encodeWithSelector(CollateralExists.selector, lease, address(token)));
        factory.create(lease);
    }

    function test_aDonationMovesNeitherCashNorNav() public {
        _wrap(alice, 600);
        uint256 priceBefore = oracle.price();
        vm.prank(bob);
        usd.transfer(address(token), 1_000e6);
        assertEq(token.cash(), 0);
        assertEq(oracle.price(), priceBefore);
    }

    function test_whilePausedAnUnwrapReturnsTheSharesAndOwesTheRent() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, _full());
        vm.prank(governance);
        usd.pause();
        vm.prank(owner);
        vm.expectRevert(); // a wrap needs the rent claimed first: the coin's EnforcedPause
        token.wrap(1, owner);
        uint256 rent = _unwrap(alice, 600);
        assertEq(rent, 600 * 16_000, "counted, though the market still holds it");
        assertEq(market.balanceOf(alice, lease), 600, "the shares came back");
        assertEq(token.owed(alice), rent);
        assertEq(token.unclaimed(), rent);
        vm.prank(alice);
        vm.expectRevert();
        token.withdrawOwed();
        vm.prank(governance);
        usd.unpause();
        uint256 before = usd.balanceOf(alice);
        vm.prank(alice);
        assertEq(token.withdrawOwed(), rent);
        assertEq(usd.balanceOf(alice) - before, rent);
        assertEq(token.cash() + token.owedTotal() + token.unclaimed(), 0);
        assertEq(usd.balanceOf(address(token)), 0);
    }

    function test_aFrozenTokenStillReturnsSharesAndNobodyTakesTheFrozenRent() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, _full());
        vm.prank(governance);
        usd.setBlocklisted(address(token), true);
        assertEq(_unwrap(alice, 600), 600 * 16_000);
        assertEq(market.balanceOf(alice, lease), 600, "the shares are never frozen with the rent");
        // Rent of epochs the shares earn from here on is alice's own.
        _reportAndSettle(lease, 2, _full());
        assertEq(market.claimable(lease, alice), 600 * 16_000);
        // A new entrant at zero supply pays for the rent still owed to alice: none is its windfall.
        vm.prank(governance);
        usd.setBlocklisted(address(token), false);
        assertEq(_wrap(owner, 400), 0, "cash is all owed to alice");
        vm.prank(alice);
        assertEq(token.withdrawOwed(), 600 * 16_000);
        assertEq(_unwrap(owner, 400), 0);
    }

    function test_aWrapWaitsForSettlementAndAnEarlyExitKeepsItsPendingRent() public {
        _wrap(alice, 600);
        _reportSingle(lease, 1, _full()); // epoch 1 ended, not yet settled
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(SettlementPending.selector, lease, 1));
        token.wrap(400, owner);
        // An exit never waits: its slice of epoch 1 is kept for it, the stayers keep theirs.
        assertEq(_unwrap(alice, 300), 0, "no rent held yet");
        skip(CHALLENGE_WINDOW);
        market.settle(lease, 1, _full(), 0, new bytes32[](0));
        assertEq(token.cashPerToken1e18(), 16_000e18, "each staying token: its own share's rent");
        assertEq(_wrap(owner, 400), 400 * 16_000, "the entrant pays for the rent it did not earn");
        assertEq(_unwrap(alice, 300), 300 * 16_000);
        assertEq(token.claimExits(alice), 300 * 16_000, "the leaver's slice, once epoch 1 settled");
    }

    function test_anExitDuringABacklogIsPaidItsSliceOnceTheEpochsSettle() public {
        _wrap(alice, 600);
        _reportSingle(lease, 1, _full());
        assertEq(_unwrap(alice, 600), 0, "no rent held yet");
        bytes32[] memory keys = token.exitsOf(alice);
        assertEq(keys.length, 1);
        vm.expectRevert(NothingToClaim.selector); // epoch 1 has not settled
        token.claimExits(alice);
        skip(CHALLENGE_WINDOW);
        market.settle(lease, 1, _full(), 0, new bytes32[](0));
        // An entrant after settlement pays nothing for it and gets none of it.
        assertEq(_wrap(owner, 400), 0);
        assertEq(token.cash(), 0);
        uint256 before = usd.balanceOf(alice);
        assertEq(token.claimExits(alice), 600 * 16_000, "alice's 600 shares' rent of epoch 1");
        assertEq(usd.balanceOf(alice) - before, 600 * 16_000);
        assertEq(token.exitsOf(alice).length, 0);
        assertEq(_unwrap(owner, 400), 0);
    }

    function test_navStartsAtFaceAndMovesIntoCashAsEpochsSettle() public {
        _wrap(alice, 600);
        assertEq(oracle.price(), _epochRent() * 8 * 1e36 / LEASE_SHARES, "face value: 8 epochs of full rent");
        _reportAndSettle(lease, 1, _full());
        // One epoch is now rent held for the wrapper (16,000 per token) and 7 remain live.
        assertEq(oracle.price(), _epochRent() * 7 * 1e36 / LEASE_SHARES + 16_000 * 1e36);
        LeaseNavOracle.Breakdown memory b = oracle.breakdown();
        assertEq(b.ratio1e18, 1e18);
        assertEq(b.liveEpochs, 7);
        assertEq(b.markedDownEpochs, 0);
    }

    function test_anOutageMarksTheRemainingEpochsDownByTheDeliveryRatio() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, _full());
        oracle.poke();
        _reportAndSettle(lease, 2, _full() / 4); // a quarter delivered
        LeaseNavOracle.Breakdown memory b = oracle.breakdown();
        assertEq(b.ratio1e18, 0.25e18, "the window since the last checkpoint saw one epoch at 25%");
        uint256 cashPerToken = (16_000_000 + 4_000_000) / LEASE_SHARES;
        assertEq(oracle.price(), _epochRent() * 6 * 1e36 / 4 / LEASE_SHARES + cashPerToken * 1e36);
    }

    function test_aDarkOracleMarksItsEpochsDownWithNoTransactionAndLooksStale() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, _full());
        (,,, uint256 lastReportAt,) = oracle.latestRoundData();
        uint256 before = oracle.price();

        // Epoch 2 ends with no report: still live while its report may come ...
        _warpToEpochEnd(2);
        assertEq(oracle.breakdown().markedDownEpochs, 0);
        // ... marked down the moment its reporting window closes.
        skip(REPORT_WINDOW + 1);
        LeaseNavOracle.Breakdown memory b = oracle.breakdown();
        assertEq(b.markedDownEpochs, 1);
        assertEq(before - oracle.price(), _epochRent() * 1e36 / LEASE_SHARES);
        (,,, uint256 updatedAt,) = oracle.latestRoundData();
        assertEq(updatedAt, lastReportAt, "updatedAt stays at the last report counted");
        assertLt(updatedAt, block.timestamp - EPOCH);

        // Settled missed, the bond's compensation is booked and counts again (a rise: capped).
        market.settleMissed(lease, 2);
        assertEq(oracle.breakdown().markedDownEpochs, 0);
    }

    function test_anOpenChallengeMarksItsEpochDownUntilTheRuling() public {
        _wrap(alice, 600);
        _reportSingle(lease, 1, _full());
        uint256 before = oracle.price();
        vm.prank(tenant);
        usd.approve(address(desk), type(uint256).max);
        vm.prank(tenant);
        desk.challenge(lease, 1);
        assertEq(before - oracle.price(), _epochRent() * 1e36 / LEASE_SHARES, "challenged: 0 until ruled");
        vm.prank(arbiter);
        desk.resolveChallenge(lease, 1, _full() / 2, 0, true);
        LeaseNavOracle.Breakdown memory b = oracle.breakdown();
        assertEq(b.arbitratedValue, _epochRent() / 2, "valued at the ruling");
        assertEq(b.markedDownEpochs, 0);
    }

    function test_aRiseIsCappedPerEpochAndAFallIsNot() public {
        _wrap(alice, 600);
        _reportSingle(lease, 1, _full());
        vm.prank(tenant);
        desk.challenge(lease, 1);
        uint256 low = oracle.poke(); // anchored while epoch 1 is marked down
        vm.prank(arbiter);
        desk.resolveChallenge(lease, 1, _full(), 0, false); // the report stands in full
        uint256 face = _epochRent() * 8 * 1e36 / LEASE_SHARES;
        LeaseNavOracle.Breakdown memory b = oracle.breakdown();
        assertEq(b.rawPrice - low, _epochRent() * 1e36 / LEASE_SHARES, "raw recovers the epoch at once");
        assertEq(b.price, low + face * RISE_BPS / 10_000, "the feed recovers 10% of face this epoch");
        // A fall shows at once, below the anchor: epochs 2 and 3 go dark.
        vm.warp(_epochEnd(3) + REPORT_WINDOW + 1);
        assertEq(oracle.breakdown().markedDownEpochs, 2);
        assertLt(oracle.price(), low);
    }

    function test_chainlinkViewAgreesWithMorphoView() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, _full());
        (uint80 round, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredIn) =
            oracle.latestRoundData();
        assertEq(oracle.decimals(), 18);
        assertEq(uint256(answer), oracle.price() / 1e24, "whole dollars per token with 18 decimals");
        assertEq(round, answeredIn);
        assertEq(startedAt, updatedAt);
        assertEq(uint256(round), registry.currentEpoch(clusterId) + 1);
        vm.expectRevert(abi.encodeWithSelector(RoundNotKept.selector, round - 1, round));
        oracle.getRoundData(round - 1);
        (uint80 again,,,,) = oracle.getRoundData(round);
        assertEq(again, round);
    }

    function test_anEndedLeaseIsWorthTheRentItsTokensHold() public {
        _wrap(alice, 600);
        for (uint64 e = 1; e < 9; ++e) {
            _reportAndSettle(lease, e, _full());
        }
        assertEq(oracle.price(), 8 * 16_000 * 1e36, "all 8 epochs' rent, held per token");
        assertEq(_unwrap(alice, 600), 600 * 8 * 16_000);
    }
}

/// @notice Random wraps, unwraps and settlements by three holders: the token always holds exactly
/// one share per token and at least the stablecoin it books, and when all leave, they take all
/// the rent the token received but at most one base unit of rounding per exit.
contract CollateralFuzzTest is CollateralBase {
    function testFuzz_tokensStayBackedAndExitsPayTheirRent(uint256 seed) public {
        address[3] memory holders = [owner, alice, bob];
        vm.prank(owner);
        market.safeTransferFrom(owner, bob, lease, 150, "");
        uint64 nextEpoch = 1;
        for (uint256 step; step < 24; ++step) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            address who = holders[r % 3];
            uint256 op = (r >> 8) % 3;
            if (op == 0) {
                uint256 held = market.balanceOf(who, lease);
                if (held != 0) _wrap(who, 1 + (r >> 16) % held);
            } else if (op == 1) {
                uint256 held = token.balanceOf(who);
                if (held != 0) _unwrap(who, 1 + (r >> 16) % held);
            } else if (nextEpoch < 9) {
                _reportAndSettle(lease, nextEpoch, uint64((r >> 16) % (_full() + 1)));
                ++nextEpoch;
            }
            assertEq(market.balanceOf(address(token), lease), token.totalSupply(), "one share per token");
            assertGe(
                usd.balanceOf(address(token)) + token.unclaimed(),
                token.cash() + token.owedTotal(),
                "the books never exceed what the token holds or is owed"
            );
        }
        // Everyone leaves: the token keeps at most one base unit of dust per exit.
        token.harvest();
        uint256 cash = token.cash();
        uint256 paidOut;
        for (uint256 i; i < holders.length; ++i) {
            uint256 held = token.balanceOf(holders[i]);
            if (held != 0) paidOut += _unwrap(holders[i], held);
        }
        assertEq(token.totalSupply(), 0);
        assertLe(cash - paidOut, holders.length, "dust only");
        assertEq(token.cash(), cash - paidOut);
    }
}
