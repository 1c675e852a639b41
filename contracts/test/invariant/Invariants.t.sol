// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseMarket} from "../../src/LeaseMarket.sol";
import {LeaseStatus} from "../../src/libraries/Types.sol";
import {BaseTest} from "../BaseTest.sol";
import {Handler} from "./Handler.sol";

/// @notice Protocol invariants under random sequences of create, fund, cancel, report, settle,
/// settle-missed, challenge, resolve, claim, transfer and warp.
contract InvariantsTest is BaseTest {
    Handler internal handler;

    function setUp() public override {
        super.setUp();
        // A 1-of-1 cluster keeps each report to one signature.
        address[] memory one = new address[](1);
        one[0] = attestors[0];
        vm.prank(owner);
        clusterId = registry.registerCluster("ipfs://inv", 0, EPOCH, one, 1);
        vm.prank(owner);
        market.depositBond(clusterId, address(usd), 5_000_000e6);

        address[] memory holders = new address[](3);
        (holders[0], holders[1], holders[2]) = (owner, alice, bob);
        handler =
            new Handler(registry, market, usd, clusterId, attestorKeys[0], owner, tenant, arbiter, holders);

        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = Handler.createLease.selector;
        selectors[1] = Handler.fund.selector;
        selectors[2] = Handler.warp.selector;
        selectors[3] = Handler.report.selector;
        selectors[4] = Handler.settle.selector;
        selectors[5] = Handler.replaySettle.selector;
        selectors[6] = Handler.challenge.selector;
        selectors[7] = Handler.resolve.selector;
        selectors[8] = Handler.claim.selector;
        selectors[9] = Handler.withdrawTenant.selector;
        selectors[10] = Handler.transfer.selector;
        selectors[11] = Handler.report.selector; // reports twice as likely: more settled epochs
        selectors[12] = Handler.cancel.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// Stablecoin held == Σ escrow + Σ unclaimed rent (with dust) + Σ SLA credits owed + Σ bonds.
    function invariant_moneyIsConserved() public view {
        uint256 owed;
        for (uint256 i; i < handler.leaseCount(); ++i) {
            LeaseMarket.Lease memory l = market.getLease(handler.leaseIds(i));
            owed += uint256(l.escrow) + l.rentPool + l.credits;
        }
        owed += market.bondOf(1, address(usd)).total + market.bondOf(clusterId, address(usd)).total;
        assertEq(usd.balanceOf(address(market)), owed);
    }

    /// No (lease, epoch) ever settles twice.
    function invariant_nothingSettlesTwice() public view {
        assertLe(handler.maxSettledCount(), 1);
    }

    /// Claimed + claimable == rent settled, up to rounding dust kept in the pool (never above).
    function invariant_claimsMatchSettledRent() public view {
        for (uint256 i; i < handler.leaseCount(); ++i) {
            uint256 id = handler.leaseIds(i);
            uint256 owedToHolders = handler.claimed(id);
            for (uint256 h; h < handler.holderCount(); ++h) {
                owedToHolders += market.claimable(id, handler.holders(h));
            }
            uint256 settled = handler.rentSettled(id);
            assertLe(owedToHolders, settled, "claims never exceed rent");
            // Each settlement can strand < 1 unit per holder through flooring.
            assertLe(
                settled - owedToHolders, (handler.settlements() + 1) * handler.holderCount(), "dust bounded"
            );
            assertEq(
                market.getLease(id).rentPool, settled - handler.claimed(id), "pool tracks settled - claimed"
            );
        }
    }

    /// A lease's share supply never changes after minting.
    function invariant_shareSupplyConstant() public view {
        for (uint256 i; i < handler.leaseCount(); ++i) {
            uint256 id = handler.leaseIds(i);
            uint256 supply;
            for (uint256 h; h < handler.holderCount(); ++h) {
                supply += market.balanceOf(handler.holders(h), id);
            }
            assertEq(supply, market.getLease(id).totalShares);
        }
    }

    /// The bond lock equals the worst-case credit of every unsettled epoch of open leases, and
    /// the bond always covers it.
    function invariant_bondLockCoversOpenEpochs() public view {
        uint256 locked;
        for (uint256 i; i < handler.leaseCount(); ++i) {
            LeaseMarket.Lease memory l = market.getLease(handler.leaseIds(i));
            if (l.status == LeaseStatus.Offered || l.status == LeaseStatus.Active) {
                locked += uint256(l.maxCreditPerEpoch) * (l.endEpoch - l.nextEpoch);
            }
        }
        LeaseMarket.Bond memory b = market.bondOf(clusterId, address(usd));
        assertEq(b.locked, locked);
        assertLe(b.locked, b.total);
    }
}
