// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ShareExchange} from "../../src/ShareExchange.sol";
import {LeaseTerms} from "../../src/libraries/Types.sol";
import {BaseTest} from "../BaseTest.sol";

/// @notice A share exchange over BaseTest's market, a funded four-epoch lease whose shares the
/// owner holds, and the owner, alice and bob approved to trade (stablecoin and shares).
abstract contract ExchangeBase is BaseTest {
    ShareExchange internal exchange;
    uint256 internal lease; // epochs [1, 5)
    uint64 internal expiry;

    function setUp() public virtual override {
        super.setUp();
        exchange = new ShareExchange(market);
        lease = _activeLease(4);
        expiry = uint64(block.timestamp + 30 days);
        address[3] memory traders = [owner, alice, bob];
        for (uint256 i; i < traders.length; ++i) {
            vm.startPrank(traders[i]);
            usd.approve(address(exchange), type(uint256).max);
            market.setApprovalForAll(address(exchange), true);
            vm.stopPrank();
        }
    }

    /// A funded four-epoch lease paid in `coin` (allowlisted here), which the owner, tenant,
    /// alice and bob must already hold: approvals to the market and the exchange, the owner's
    /// bond in it, the lease created and funded.
    function _leaseIn(IERC20 coin) internal returns (uint256 id) {
        vm.prank(governance);
        market.setStablecoinAllowed(address(coin), true);
        address[4] memory users = [owner, tenant, alice, bob];
        for (uint256 i; i < users.length; ++i) {
            vm.startPrank(users[i]);
            coin.approve(address(market), type(uint256).max);
            coin.approve(address(exchange), type(uint256).max);
            vm.stopPrank();
        }
        vm.prank(owner);
        market.depositBond(clusterId, address(coin), 100_000e6);
        LeaseTerms memory t = _terms(1, 5);
        t.stablecoin = address(coin);
        vm.prank(owner);
        id = market.createLease(t);
        vm.prank(tenant);
        market.fund(id);
    }
}
