// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DisputeDesk} from "../src/DisputeDesk.sol";
import {LeaseShareToken} from "../src/LeaseShareToken.sol";
import {NotTokenHolder, NothingToClaim} from "../src/libraries/Errors.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {CollateralBase} from "./utils/CollateralBase.sol";

/// @notice Second-round review of the share token: consequences of "wrap and unwrap wait while an
/// ended epoch is unsettled" (the first round's fix). Both tests failed on that code: an unwrap
/// now never waits, and a token holder challenges through the token.
contract TokenLivenessTest is CollateralBase {
    /// R2-1. The wait is not bounded: an owner who reports every epoch on time but late in its
    /// reporting window (legal, costless, every report honest and in full) keeps an ended epoch
    /// unsettled at every instant of the lease, because reportWindow + challengeWindow (1h + 30m)
    /// exceeds the epoch (1h). Token holders cannot unwrap (exit, sell raw shares, challenge),
    /// borrowers cannot wrap more shares to top up Morpho collateral, for the whole term. A dark
    /// oracle does the same whenever reportWindow >= epochLength (missed epochs settle only after
    /// the window); the node's demo sets reportWindow > epoch length.
    function test_R2_1_lateButLegalReportsNeverLockAnExit() public {
        _wrap(alice, 600);
        uint256 openMinutes;
        uint256 triedUnwraps;
        uint256 okUnwraps;
        uint64 reported = 1; // next epoch to report
        uint64 settled = 1; // next epoch to settle
        // Walk the lease in 5-minute steps from epoch 1's end to epoch 8's end.
        for (uint256 t = _epochEnd(1); t < _epochEnd(8); t += 5 minutes) {
            vm.warp(t);
            // The owner: each report at the last second of its window (reports are still on time).
            if (reported < 9 && t == _epochEnd(reported) + REPORT_WINDOW) {
                _submit(_report(reported, ReportLib.deliveryLeaf(lease, reported, _full(), 0)));
                ++reported;
            }
            // The keeper: settles each epoch the moment its challenge window closes.
            if (settled < reported && t == _epochEnd(settled) + REPORT_WINDOW + CHALLENGE_WINDOW) {
                market.settle(lease, settled, _full(), 0, new bytes32[](0));
                ++settled;
            }
            if (market.unsettledEpochs(lease) == 0) openMinutes += 5;
            if ((t - _epochEnd(1)) % 1 hours == 20 minutes) {
                ++triedUnwraps;
                vm.prank(alice);
                try token.unwrap(1, alice) returns (uint256) {
                    ++okUnwraps;
                } catch {}
            }
        }
        assertEq(settled, 7, "epochs 1-6 reported on time and settled by the keeper");
        // Wraps still wait for a settled moment, which this owner never leaves (documented: a
        // borrower tops up by repaying); every exit goes through.
        assertEq(openMinutes, 0);
        assertEq(okUnwraps, triedUnwraps, "a token holder can exit at any time while the lease runs");
    }

    /// R2-2. Token holders lose the right to challenge. `DisputeDesk.challenge` needs the tenant or
    /// a holder of the ERC-1155 share; a report's challenge window lies entirely inside the time
    /// its epoch is ended-but-unsettled, exactly when `unwrap` is refused, and the token offers no
    /// way to challenge through it. With every share wrapped (the Morpho use case), a colluding
    /// owner + tenant files a proven delivery of 0 for a fully delivered epoch: holders get no rent
    /// and no compensation (only missed/unproven epochs are compensated), the tenant keeps the
    /// escrow and collects the SLA credit from the owner's bond, and no token holder can object.
    /// (Before the round-1 fix, a token holder could unwrap one share and challenge.)
    function test_R2_2_wrappedHoldersChallengeAFalseReportThroughTheToken() public {
        _wrap(alice, 600);
        _wrap(owner, 400); // every share is in the token
        _reportSingle(lease, 1, 0); // false: epoch 1 was delivered, the leaf says 0

        // Alice, inside the challenge window, challenges through the token, posting the bond.
        uint256 bond = desk.challengeBond(lease);
        uint256 before = usd.balanceOf(alice);
        vm.prank(alice);
        token.challenge(1);
        assertEq(before - usd.balanceOf(alice), bond);
        assertEq(token.challengerOf(1), alice);
        vm.prank(bob); // holds no token
        vm.expectRevert(abi.encodeWithSelector(NotTokenHolder.selector, bob));
        token.challenge(1);

        // The arbiter upholds it with the real delivery: the tokens get the epoch's full rent.
        vm.prank(arbiter);
        desk.resolveChallenge(lease, 1, _full(), 0, true);
        skip(CHALLENGE_WINDOW);
        market.settle(lease, 1, 0, 0, new bytes32[](0));
        assertEq(token.rentHeld(), _epochRent(), "the fair rent reached the tokens");
        // The bond comes back to alice through the token.
        assertEq(token.reclaimChallengeBond(1), bond);
        assertEq(usd.balanceOf(alice), before);
        vm.expectRevert(NothingToClaim.selector);
        token.reclaimChallengeBond(1);
    }
}
