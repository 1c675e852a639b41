// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseNavOracle} from "../src/LeaseNavOracle.sol";
import {LeaseShareToken} from "../src/LeaseShareToken.sol";
import {LeaseTerms} from "../src/libraries/Types.sol";
import {CollateralBase} from "./utils/CollateralBase.sol";
import {MorphoBase} from "./utils/MorphoBase.sol";

/// @notice Attacks on LeaseShareToken / LeaseNavOracle found by an independent review, one
/// regression test each: every test asserts the correct behaviour and failed on the first version
/// (F1 wrap during a settlement backlog, F2 stacked pokes, F3 rent stranded at zero supply, F4 a
/// frozen token locking shares, F5 an anchor set before funding, I1 cap overflow, I2 updatedAt
/// going back).
contract CollateralAttacksTest is CollateralBase {
    uint256 internal constant PER_SHARE = 16_000; // one full epoch's rent per share (16e6 / 1,000)

    // ---------------------------------------------------------------- F1: backlog wrap theft

    /// The owner wraps its 400 shares while epoch 1 is ended but unsettled, settles it and
    /// unwraps. A fix may refuse the wrap: the attack then simply fails.
    function _ownerWrapsAcrossEpoch1sSettlement() internal {
        vm.startPrank(owner);
        bool wrapped;
        try token.wrap(400, owner) returns (uint256) {
            wrapped = true;
        } catch {}
        market.settle(lease, 1, _full(), 0, new bytes32[](0));
        if (wrapped) token.unwrap(400, owner);
        vm.stopPrank();
    }

    /// The lease owner (400 shares, unwrapped) steals 40% of the epoch-1 rent that alice's 600
    /// wrapped shares earned: it wraps while epoch 1 has ended but is unsettled (its own shares
    /// keep a market boundary for epoch 1, so the market still pays it), settles, and unwraps,
    /// taking a pro-rata slice of the wrapper's epoch-1 rent too. Atomic; no price paid.
    function test_F1_wrapDuringBacklogStealsTokenHoldersRent() public {
        _wrap(alice, 600);
        _reportSingle(lease, 1, _full());
        skip(CHALLENGE_WINDOW); // epoch 1 ended, reported, settleable, not yet settled

        uint256 ownerBefore = usd.balanceOf(owner);
        _ownerWrapsAcrossEpoch1sSettlement();
        vm.prank(owner);
        market.claim(lease); // its own epoch-1 rent, via its boundary
        uint256 ownerGain = usd.balanceOf(owner) - ownerBefore;

        uint256 aliceRent = _unwrap(alice, 600);
        emit log_named_uint("owner gain (fair: 6,400,000)", ownerGain);
        emit log_named_uint("alice rent (fair: 9,600,000)", aliceRent);
        assertLe(ownerGain, 400 * PER_SHARE, "owner took more than its 400 shares earned");
        assertEq(aliceRent, 600 * PER_SHARE, "alice's wrapped shares earned epoch 1 in full");
    }

    /// Same mechanism, seen by a Morpho lender: the NAV of every token held as collateral drops
    /// (a lender holding shares can push borrowers under the liquidation line, and pockets it).
    function test_F1b_wrapDuringBacklogDeflatesTheNav() public {
        _wrap(alice, 600);
        _reportSingle(lease, 1, _full());
        skip(CHALLENGE_WINDOW);
        uint256 priceBefore = oracle.price();
        assertEq(priceBefore, _fullPrice(1, 0));

        _ownerWrapsAcrossEpoch1sSettlement();

        emit log_named_uint("price before", priceBefore);
        emit log_named_uint("price after ", oracle.price());
        assertEq(oracle.price(), _fullPrice(2, PER_SHARE), "epoch 1 delivered in full: NAV unchanged");
    }

    // ---------------------------------------------------------------- F2: rise-cap ratchet

    /// `poke()` re-anchors at the capped price and the cap always allows `(since + 1)` epochs of
    /// rise from the anchor, so N pokes in one transaction lift the cap by N x maxRiseBps x face.
    function test_F2_repeatedPokeBypassesTheRiseCap() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, 0); // epoch 1 proven at 0: ratio 0, NAV ~0
        oracle.poke(); // anchor ~0
        _reportAndSettle(lease, 2, _full()); // epoch 2 in full: raw NAV recovers to 7/8 of face
        LeaseNavOracle.Breakdown memory b = oracle.breakdown();
        uint256 capped = b.price;
        assertLt(capped, b.rawPrice, "the rise cap binds");

        for (uint256 i; i < 20; ++i) {
            oracle.poke(); // anyone, in one transaction, same block
        }
        emit log_named_uint("capped price  ", capped);
        emit log_named_uint("raw price     ", b.rawPrice);
        emit log_named_uint("after 20 pokes", oracle.price());
        assertLe(oracle.price(), capped, "pokes within one block cannot raise the cap");
    }

    // ---------------------------------------------------------------- F3: empty-wrapper windfall

    /// Everyone unwraps while an epoch is unsettled (docs: its rent "stays with the tokens that
    /// remain"), but none remain. The wrapper's boundary still earns that rent; the next entrant
    /// wraps 1 share at supply 0, pays nothing, and takes the whole epoch's rent of 600 shares.
    function test_F3_firstEntrantAfterEmptyWrapperTakesStrandedRent() public {
        _wrap(alice, 600);
        _reportSingle(lease, 1, _full());
        skip(CHALLENGE_WINDOW);
        vm.prank(alice);
        try token.unwrap(600, alice) returns (uint256) {} catch {} // supply 0 (unless a fix refuses)
        market.settle(lease, 1, _full(), 0, new bytes32[](0));

        vm.prank(owner);
        market.safeTransferFrom(owner, bob, lease, 1, ""); // bob enters after epoch 1, with 1 share
        vm.prank(bob);
        market.setApprovalForAll(address(token), true);
        vm.prank(bob);
        usd.approve(address(token), type(uint256).max);
        vm.prank(bob);
        uint256 paid;
        try token.wrap(1, bob) returns (uint256 p) { // refused: no windfall
            paid = p;
        } catch {
            return;
        }
        uint256 got = _unwrap(bob, 1);
        emit log_named_uint("bob paid", paid);
        emit log_named_uint("bob got ", got);
        assertLe(got, paid, "an entrant after epoch 1 takes none of epoch 1's rent");
    }

    // ---------------------------------------------------------------- F4: blocklisted wrapper

    /// If the stablecoin issuer blocklists the wrapper, `_harvest` -> `market.claim` reverts, so
    /// `unwrap` reverts forever: holders lose the SHARES too (future rent and bond compensation,
    /// which they could claim themselves), not just the rent held in the wrapper.
    function test_F4_blocklistedWrapperLocksTheSharesForever() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, _full());
        vm.prank(governance);
        usd.setBlocklisted(address(token), true);

        vm.prank(alice);
        (bool ok,) = address(token).call(abi.encodeCall(LeaseShareToken.unwrap, (600, alice)));
        assertTrue(ok, "holders can always get their shares back (forgoing frozen rent)");
    }

    // ---------------------------------------------------------------- F5: zero anchor before funding

    /// A feed created for an offered lease reads 0 (shares of an unfunded lease value nothing).
    /// One poke then anchors the rise cap at 0: once funded, the price is held to
    /// face x maxRiseBps x (epochs + 1) and reaches face only after ~1/maxRiseBps epochs, longer
    /// than this whole lease. (Today F2 lets anyone undo it; with F2 fixed it sticks.)
    function test_F5_pokeWhileOfferedHoldsTheFundedPriceDown() public {
        LeaseTerms memory t = _terms(2, 10);
        t.totalShares = LEASE_SHARES;
        vm.prank(owner);
        uint256 fresh = market.createLease(t);
        (LeaseShareToken tok, LeaseNavOracle feed) = factory.create(fresh);
        assertEq(feed.price(), 0);
        feed.poke(); // griefer
        vm.prank(tenant);
        market.fund(fresh);
        tok; // unused
        uint256 face = _epochRent() * 8 * 1e36 / LEASE_SHARES;
        emit log_named_uint("face ", face);
        emit log_named_uint("price", feed.price());
        assertEq(feed.price(), face, "a funded lease with nothing ended is worth its face");
    }

    /// Informational: Chainlink `updatedAt` is not monotonic. After an epoch settles as missed,
    /// the last settled epoch has no report, so updatedAt falls back to the lease's start,
    /// jumping backwards (conservative, but breaks consumers that assume monotonic rounds).
    function test_I2_updatedAtJumpsBackwardsAfterAMissedEpoch() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, _full());
        (,,, uint256 u1,) = oracle.latestRoundData();
        vm.warp(_epochEnd(2) + REPORT_WINDOW + 1);
        market.settleMissed(lease, 2);
        (,,, uint256 u2,) = oracle.latestRoundData();
        assertGe(u2, u1, "updatedAt never moves backwards");
    }
}

/// @notice Informational: the rise-cap term `face * maxRiseBps * (since + 1)` is not overflow-safe.
/// With (absurd, but accepted) terms, price() reverts a few epochs after a poke, freezing Morpho.
contract CollateralAttacksOverflowTest is CollateralBase {
    function test_I1_capTermOverflowRevertsPrice() public {
        vm.prank(governance);
        usd.mint(owner, 3e37);
        vm.prank(owner);
        market.depositBond(clusterId, address(usd), 3e37);
        LeaseTerms memory t = _terms(2, 10);
        t.totalShares = 1;
        t.pricePerUnitHour = 2e35;
        vm.prank(owner);
        uint256 big = market.createLease(t);
        vm.prank(governance);
        usd.mint(tenant, 2e37);
        vm.prank(tenant);
        market.fund(big);
        (, LeaseNavOracle feed) = factory.create(big);
        feed.poke();
        vm.warp(_epochEnd(12));
        (bool ok,) = address(feed).staticcall(abi.encodeCall(LeaseNavOracle.price, ()));
        assertTrue(ok, "price() never reverts");
    }
}

/// @notice F2 end to end with the real Morpho Blue: a borrower pokes 20 times in its borrow
/// transaction and borrows against the raw NAV that the rise cap was meant to hold back.
contract CollateralAttacksMorphoTest is MorphoBase {
    function test_F2_morpho_borrowerOverBorrowsByPoking() public {
        _wrap(alice, 600);
        vm.prank(alice);
        morpho.supplyCollateral(params, 600, alice, "");
        _reportAndSettle(lease, 1, 0);
        oracle.poke();
        _reportAndSettle(lease, 2, _full());

        uint256 capped = oracle.price();
        uint256 allowed = 600 * capped / 1e36 * LLTV / 1e18;
        for (uint256 i; i < 20; ++i) {
            oracle.poke();
        }
        uint256 borrowNow = 600 * oracle.price() / 1e36 * LLTV / 1e18;
        emit log_named_uint("allowed by the capped feed", allowed);
        emit log_named_uint("borrowable after pokes    ", borrowNow);
        vm.prank(alice);
        vm.expectRevert(bytes("insufficient collateral"));
        morpho.borrow(params, allowed * 2, 0, alice, alice);
    }
}
