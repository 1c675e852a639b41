// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CollateralFactory, NavOracleDeployer} from "../../src/CollateralFactory.sol";
import {LeaseNavOracle} from "../../src/LeaseNavOracle.sol";
import {LeaseShareToken} from "../../src/LeaseShareToken.sol";
import {LeaseTerms} from "../../src/libraries/Types.sol";
import {BaseTest} from "../BaseTest.sol";

/// @notice BaseTest's market with a collateral factory (rise cap 10% of face per epoch) and a
/// funded eight-epoch lease [1, 9) of 1,000 shares: the owner holds 400, alice 600 (both approved
/// the share token for shares and stablecoin), and the lease has its token and NAV feed.
abstract contract CollateralBase is BaseTest {
    uint128 internal constant LEASE_SHARES = 1_000;
    uint16 internal constant RISE_BPS = 1_000;

    CollateralFactory internal factory;
    LeaseShareToken internal token;
    LeaseNavOracle internal oracle;
    uint256 internal lease;

    function setUp() public virtual override {
        super.setUp();
        factory = new CollateralFactory(market, RISE_BPS, new NavOracleDeployer());
        LeaseTerms memory t = _terms(1, 9);
        t.totalShares = LEASE_SHARES;
        vm.prank(owner);
        lease = market.createLease(t);
        vm.prank(tenant);
        market.fund(lease);
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, lease, 600, "");
        (token, oracle) = factory.create(lease);
        address[3] memory holders = [owner, alice, bob];
        for (uint256 i; i < holders.length; ++i) {
            vm.startPrank(holders[i]);
            market.setApprovalForAll(address(token), true);
            usd.approve(address(token), type(uint256).max);
            vm.stopPrank();
        }
    }

    function _wrap(address who, uint256 amount) internal returns (uint256 paid) {
        vm.prank(who);
        paid = token.wrap(amount, who);
    }

    function _unwrap(address who, uint256 amount) internal returns (uint256 rent) {
        vm.prank(who);
        rent = token.unwrap(amount, who);
    }

    /// The feed's price for a lease whose every remaining epoch in [from, 9) is valued in full,
    /// plus `cashPerToken` base units.
    function _fullPrice(uint64 from, uint256 cashPerToken) internal pure returns (uint256) {
        return (_epochRent() * (9 - from) * 1e36) / LEASE_SHARES + cashPerToken * 1e36;
    }
}
