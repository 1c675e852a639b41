// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseMarket} from "./LeaseMarket.sol";
import {LeaseNavOracle} from "./LeaseNavOracle.sol";
import {LeaseShareToken} from "./LeaseShareToken.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";

/// @title NavOracleDeployer
/// @notice Deploys NAV feeds for the collateral factory: the token's and the feed's creation code
/// together exceed the 24,576-byte code limit (EIP-170) of one contract. Anyone may deploy a feed
/// here; only the factory's `oracleOf` names a lease's feed.
contract NavOracleDeployer {
    /// @notice A NAV feed for `token` with a rise cap of `maxRiseBps` per epoch.
    function deploy(LeaseShareToken token, uint16 maxRiseBps) external returns (LeaseNavOracle) {
        return new LeaseNavOracle(token, maxRiseBps);
    }
}

/// @title CollateralFactory
/// @notice Gives a lease its ERC-20 share token and NAV feed, once, for anyone who asks: the pair
/// a lending market (Morpho Blue) needs to take the lease's shares as collateral. One known
/// address per lease, so wallets and markets need not trust whoever deployed them.
contract CollateralFactory {
    /// @notice The market whose leases this serves.
    LeaseMarket public immutable market;
    /// @notice The rise cap every feed gets, in basis points of face value per epoch.
    uint16 public immutable maxRiseBps;
    /// @notice Where feeds are deployed from.
    NavOracleDeployer public immutable oracles;

    mapping(uint256 leaseId => LeaseShareToken) public tokenOf;
    mapping(uint256 leaseId => LeaseNavOracle) public oracleOf;

    constructor(LeaseMarket market_, uint16 maxRiseBps_, NavOracleDeployer oracles_) {
        if (address(market_) == address(0) || address(oracles_) == address(0)) revert ZeroAddress();
        if (maxRiseBps_ == 0 || maxRiseBps_ > 10_000) revert InvalidRiseCap(maxRiseBps_);
        market = market_;
        maxRiseBps = maxRiseBps_;
        oracles = oracles_;
    }

    /// @notice Deploys `leaseId`'s share token and NAV feed (reverts if it has them already).
    function create(uint256 leaseId) external returns (LeaseShareToken token, LeaseNavOracle oracle) {
        if (address(tokenOf[leaseId]) != address(0)) {
            revert CollateralExists(leaseId, address(tokenOf[leaseId]));
        }
        token = new LeaseShareToken(market, leaseId);
        oracle = oracles.deploy(token, maxRiseBps);
        (tokenOf[leaseId], oracleOf[leaseId]) = (token, oracle);
        emit CollateralCreated(leaseId, address(token), address(oracle));
    }
}
