// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Market, Position} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";

import {MorphoBase} from "./utils/MorphoBase.sol";

/// @notice The real Morpho Blue (npm `@morpho-org/morpho-blue`, built by solc 0.8.19 into
/// out-morpho/) lends the stablecoin against a lease's share token, priced by its NAV feed. An
/// investor posts shares and borrows; rent accrues to the collateral; an outage and a dark oracle
/// mark the NAV down; the position turns unhealthy and a liquidator takes it; every base unit of
/// the stablecoin and every share is accounted for.
contract MorphoCollateralTest is MorphoBase {
    uint256 internal constant WAD = 1e18;

    address internal liquidator = makeAddr("liquidator");

    function setUp() public override {
        super.setUp();
        vm.prank(governance);
        usd.mint(liquidator, 1_000e6);
        vm.prank(liquidator);
        usd.approve(address(morpho), type(uint256).max);
    }

    /// Most alice may owe against `collateral` tokens at the feed's price now.
    function _maxBorrow(uint256 collateral) internal view returns (uint256) {
        return collateral * oracle.price() / 1e36 * LLTV / WAD;
    }

    function _healthy(address borrower) internal view returns (bool) {
        Position memory p = morpho.position(id, borrower);
        Market memory m = morpho.market(id);
        uint256 debt = m.totalBorrowShares == 0
            ? 0
            : uint256(p.borrowShares) * m.totalBorrowAssets / m.totalBorrowShares;
        return debt <= _maxBorrow(p.collateral);
    }

    function _stablecoinEverywhere() internal view returns (uint256 sum) {
        address[11] memory holders = [
            owner,
            tenant,
            alice,
            bob,
            lender,
            liquidator,
            address(market),
            address(desk),
            address(token),
            address(morpho),
            keeper
        ];
        for (uint256 i; i < holders.length; ++i) {
            sum += usd.balanceOf(holders[i]);
        }
    }

    function test_borrowAgainstSharesThenOutageAndDarkOracleLeadToLiquidation() public {
        uint256 supplyBefore = usd.totalSupply();

        // Alice wraps her 600 shares, posts them and borrows 95% of what the NAV allows.
        _wrap(alice, 600);
        vm.startPrank(alice);
        morpho.supplyCollateral(params, 600, alice, "");
        uint256 borrowed = _maxBorrow(600) * 95 / 100;
        morpho.borrow(params, borrowed, 0, alice, alice);
        vm.stopPrank();
        assertTrue(_healthy(alice));

        // Epoch 1 delivers in full: its rent accrues to the token, held by Morpho as collateral.
        _reportAndSettle(lease, 1, _full());
        oracle.poke();
        assertEq(token.cashPerToken1e18(), 16_000e18, "rent per token, though Morpho holds the tokens");
        assertTrue(_healthy(alice));

        // Epoch 2: an outage (a tenth delivered) marks every remaining epoch down ...
        _reportAndSettle(lease, 2, _full() / 10);
        oracle.poke();
        // ... and epoch 3's oracle goes dark: marked down once its reporting window closes.
        vm.warp(_epochEnd(3) + REPORT_WINDOW + 1);
        assertEq(oracle.breakdown().markedDownEpochs, 1);
        // docs/protocol.md's worked example: 5 live epochs x $16 x 10% / 1,000 shares + $0.0176.
        assertEq(oracle.price(), 25_600e36);
        (, int256 answer,,,) = oracle.latestRoundData();
        assertEq(answer, 0.0256e18);
        assertFalse(_healthy(alice), "the markdowns leave the loan above the liquidation line");

        // While the stablecoin is paused, liquidation cannot repay: Morpho says so, nothing moves.
        vm.prank(governance);
        usd.pause();
        vm.prank(liquidator);
        vm.expectRevert(bytes("transferFrom reverted"));
        morpho.liquidate(params, alice, 100, 0, "");
        vm.prank(governance);
        usd.unpause();

        // The liquidator seizes collateral, repays debt, and unwraps the tokens for shares + rent.
        Position memory p = morpho.position(id, alice);
        vm.prank(liquidator);
        (uint256 seized, uint256 repaid) = morpho.liquidate(params, alice, p.collateral, 0, "");
        assertEq(seized, 600);
        assertGt(repaid, 0);
        // It unwraps at once, during the backlog: the rent held now (epochs 1 and 2) comes with
        // the shares; its slice of epochs 3 and 4, which ended while the token held them, is kept
        // as an exit and paid once they settle.
        vm.prank(liquidator);
        uint256 rent = token.unwrap(seized, liquidator);
        assertEq(market.balanceOf(liquidator, lease), 600, "the shares, ready to earn or sell");
        assertEq(rent, 600 * (16_000 + 1_600), "per token: epoch 1 $0.016, epoch 2 $0.0016");
        market.settleMissed(lease, 3); // the bond compensates the dark epoch
        for (uint64 e = 4; e < 9; ++e) {
            _reportAndSettle(lease, e, _full());
        }
        rent += token.claimExits(liquidator);
        assertEq(token.exitReserve(), 0, "epochs 3 and 4, through the token, all paid");
        vm.prank(liquidator);
        rent += market.claim(lease); // epochs 5-8, as a holder of the shares themselves
        assertEq(rent, 600 * (16_000 + 1_600 + 16_000 + 5 * 16_000), "all the rent its tokens earned");

        // Every base unit: nothing minted or burned, all of it with someone known.
        assertEq(usd.totalSupply(), supplyBefore);
        assertEq(_stablecoinEverywhere(), usd.totalSupply());
        // Morpho: the lender's 100 is lent (what is left of alice's debt is bad debt, socialised
        // to the lender by Morpho) or back in Morpho's balance.
        Market memory m = morpho.market(id);
        assertEq(usd.balanceOf(address(morpho)), m.totalSupplyAssets - m.totalBorrowAssets);
        assertEq(usd.balanceOf(address(morpho)), 100e6 - borrowed + repaid);
        // Every share: owner 400, liquidator 600, none stranded in the token or Morpho.
        assertEq(market.balanceOf(owner, lease) + market.balanceOf(liquidator, lease), LEASE_SHARES);
        assertEq(token.totalSupply(), 0);
        assertEq(token.balanceOf(address(morpho)), 0);
    }
}
