// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseMarket} from "./LeaseMarket.sol";
import {LeaseNavOracle} from "./LeaseNavOracle.sol";
import {LeaseShareToken} from "./LeaseShareToken.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";

/// @title CollateralFactory
/// @notice Gives a lease its ERC-20 share token and NAV feed, once, for anyone who asks: the pair
/// a lending market (Morpho Blue) needs to take the lease's shares as collateral. One known
/// address per lease, so wallets and markets need not trust whoever deployed them.
contract CollateralFactory {
    /// @notice The market whose leases this serves.
    LeaseMarket public immutable market;
    /// @notice The rise cap every feed gets, in basis points of face value per epoch.
    uint16 public immutable maxRiseBps;

    mapping(uint256 leaseId => LeaseShareToken) public tokenOf;
    mapping(uint256 leaseId => LeaseNavOracle) public oracleOf;

    constructor(LeaseMarket market_, uint16 maxRiseBps_) {
        if (address(market_) == address(0)) revert ZeroAddress();
        if (maxRiseBps_ == 0 || maxRiseBps_ > 10_000) revert InvalidRiseCap(maxRiseBps_);
        market = market_;
        maxRiseBps = maxRiseBps_;
    }

    /// @notice Deploys `leaseId`'s share token and NAV feed (reverts if it has them already).
    function create(uint256 leaseId) external returns (LeaseShareToken token, LeaseNavOracle oracle) {
        if (address(tokenOf[leaseId]) != address(0)) {
            revert CollateralExists(leaseId, address(tokenOf[leaseId]));
        }
        token = new LeaseShareToken(market, leaseId);
        oracle = new LeaseNavOracle(token, maxRiseBps);
        (tokenOf[leaseId], oracleOf[leaseId]) = (token, oracle);
        emit CollateralCreated(leaseId, address(token), address(oracle));
    }
}
