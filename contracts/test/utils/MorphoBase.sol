// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMorpho, Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

import {CollateralBase} from "./CollateralBase.sol";

/// @notice CollateralBase with the real Morpho Blue (npm `@morpho-org/morpho-blue`, built by solc
/// 0.8.19 into out-morpho/): a market lending the stablecoin against the lease's share token at an
/// 80% LLTV, priced by its NAV feed, no interest (every base unit stays countable); a lender has
/// supplied $100, and alice approved Morpho for her tokens.
abstract contract MorphoBase is CollateralBase {
    using MarketParamsLib for MarketParams;

    uint256 internal constant LLTV = 0.8e18;

    IMorpho internal morpho;
    MarketParams internal params;
    Id internal id;
    address internal lender = makeAddr("lender");

    function setUp() public virtual override {
        super.setUp();
        morpho = IMorpho(deployCode("out-morpho/Morpho.sol/Morpho.json", abi.encode(governance)));
        vm.startPrank(governance);
        morpho.enableIrm(address(0));
        morpho.enableLltv(LLTV);
        usd.mint(lender, 1_000e6);
        vm.stopPrank();
        params = MarketParams({
            loanToken: address(usd),
            collateralToken: address(token),
            oracle: address(oracle),
            irm: address(0),
            lltv: LLTV
        });
        morpho.createMarket(params);
        id = params.id();
        vm.startPrank(lender);
        usd.approve(address(morpho), type(uint256).max);
        morpho.supply(params, 100e6, 0, lender, "");
        vm.stopPrank();
        vm.prank(alice);
        token.approve(address(morpho), type(uint256).max);
    }
}
