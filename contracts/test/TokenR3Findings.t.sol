// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReportLib} from "../src/libraries/ReportLib.sol";
import {CollateralBase} from "./utils/CollateralBase.sol";

/// @notice Third review of LeaseShareToken: findings, one regression test each (each failed on
/// the code the review read: a leaver's slice of unsettled epochs went to the stayers; withdrawOwed
/// waited on the market's claim). Fixed: exits keep their slice (`claimExits`), withdrawOwed defers.
contract TokenR3FindingsTest is CollateralBase {
    uint256 internal constant PER_SHARE = 16_000; // one full epoch's rent per share

    function _lateReport(uint64 epoch) internal {
        vm.warp(_epochEnd(epoch) + REPORT_WINDOW); // last second of its (legal) reporting window
        _submit(_report(epoch, ReportLib.deliveryLeaf(lease, epoch, _full(), 0)));
    }

    function _keeperSettle(uint64 epoch) internal {
        vm.warp(_epochEnd(epoch) + REPORT_WINDOW + CHALLENGE_WINDOW); // the moment it can settle
        market.settle(lease, epoch, _full(), 0, new bytes32[](0));
    }

    /// R3-F1 (medium, economic). "Unwrap after settlement to keep it" is not an option while the
    /// owner files every report late but on time (R2-1: some ended epoch is unsettled at every
    /// instant because reportWindow + challengeWindow > epochLength). So EVERY mid-lease unwrap
    /// forfeits the leaver's slice of 1-2 delivered epochs, and whoever stays collects it. The
    /// owner keeps ONE token, reports late (costless, every report honest and in full) and takes
    /// 2 epochs x 600 shares of alice's rent ($19.20) with a single token; as the last burner it
    /// also takes the residual of every later backlog.
    function test_R3_F1_aLateReportingOwnerWithOneTokenCannotTakeLeaversRent() public {
        _wrap(alice, 600);
        _wrap(owner, 1); // the owner keeps 399 shares outside, one token inside
        _lateReport(1);
        _keeperSettle(1);
        _lateReport(2);
        // Alice exits at 20 minutes into epoch 4: epochs 1, 2, 3 ended while she held 600 tokens.
        vm.warp(_epochEnd(3) + 20 minutes);
        assertEq(market.unsettledEpochs(lease), 2, "epochs 2 and 3 ended, not yet settled");
        uint256 aliceBefore = usd.balanceOf(alice);
        _unwrap(alice, 600);
        // (Nothing better is possible for her at any other instant of the lease: R2-1's walk shows
        // a wrap-able, i.e. fully settled, moment never occurs.)
        _keeperSettle(2);
        _lateReport(3);
        _keeperSettle(3);
        token.harvest();
        assertEq(token.cash(), 1 * PER_SHARE * 3, "the owner's 1 token: its own share's rent, no more");
        token.claimExits(alice);
        uint256 aliceGot = usd.balanceOf(alice) - aliceBefore;
        // Correct: alice earned epochs 1-3 on 600 shares.
        assertEq(aliceGot, 600 * PER_SHARE * 3, "a leaver keeps the rent of epochs that ended while it held");
    }

    /// R3-F2 (low, liveness). `withdrawOwed` harvests with `mayDefer = false`, so whenever the
    /// market cannot pay the token (here: the issuer froze the market contract) nobody can pull
    /// what the token ALREADY holds for them: rent an earlier unwrap owed, returned challenge
    /// bonds. Unwrap was made never to wait on the market's claim; withdrawOwed waits on it.
    function test_R3_F2_withdrawOwedIsNotBlockedByAClaimThatCannotPay() public {
        _wrap(alice, 600);
        _wrap(owner, 400);
        _reportAndSettle(lease, 1, _full());
        vm.prank(governance);
        usd.setBlocklisted(alice, true);
        _unwrap(alice, 600); // rent claimed into the token, alice frozen: owed
        assertEq(token.owed(alice), 600 * PER_SHARE);
        _reportAndSettle(lease, 2, _full()); // the owner's 400 tokens earn at the market
        vm.startPrank(governance);
        usd.setBlocklisted(alice, false);
        usd.setBlocklisted(address(market), true); // the market cannot pay out
        vm.stopPrank();
        assertEq(usd.balanceOf(address(token)), 600 * PER_SHARE + 400 * PER_SHARE, "token holds alice's rent");
        vm.prank(alice);
        try token.withdrawOwed() returns (uint256 paid) {
            assertEq(paid, 600 * PER_SHARE);
        } catch {
            fail("withdrawOwed reverted although the token holds what it owes alice");
        }
    }
}
