// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseMarket} from "../src/LeaseMarket.sol";
import {RentLib} from "../src/libraries/RentLib.sol";
import {Lease, LeaseTerms} from "../src/libraries/Types.sol";
import {BaseTest} from "./BaseTest.sol";

/// @notice Settlement math under bounded random inputs: never charge above capacity, never
/// create money through rounding.
contract FuzzTest is BaseTest {
    function testFuzz_rentNeverExceedsCapacityPrice(
        uint64 delivered,
        uint32 gpus,
        uint32 epochLength,
        uint128 price
    ) public pure {
        gpus = uint32(bound(gpus, 1, 1_000_000));
        epochLength = uint32(bound(epochLength, 10, 7 days));
        price = uint128(bound(price, 1, 1_000_000e6));
        uint256 cap = RentLib.capacity(gpus, epochLength);
        uint256 rent = RentLib.rent(delivered, cap, price);
        assertLe(rent, uint256(gpus) * epochLength * price / 3600);
        assertLe(rent * 3600, uint256(delivered) * price, "rounds down, never up");
    }

    function testFuzz_slaCreditBoundedByWorstCase(
        uint64 delivered,
        uint32 gpus,
        uint128 price,
        uint16 slaBps,
        uint16 creditBps
    ) public pure {
        gpus = uint32(bound(gpus, 1, 100_000));
        price = uint128(bound(price, 1, 1_000_000e6));
        slaBps = uint16(bound(slaBps, 0, 10_000));
        creditBps = uint16(bound(creditBps, 0, 10_000));
        uint256 cap = RentLib.capacity(gpus, 3600);
        uint256 credit = RentLib.slaCredit(delivered, cap, price, slaBps, creditBps);
        assertLe(credit, RentLib.slaCredit(0, cap, price, slaBps, creditBps), "locked bond always covers it");
        if (uint256(delivered) * 10_000 >= cap * slaBps) assertEq(credit, 0);
    }

    /// One settled epoch with shares split three ways: the market's balance moves only between
    /// its own buckets, the tenant pays at most price x GPUs x epoch length, and holders can never
    /// claim more than the rent settled.
    function testFuzz_settleConservesMoney(
        uint64 delivered,
        uint32 gpus,
        uint128 price,
        uint128 shares,
        uint128 aliceShares,
        uint128 bobShares
    ) public {
        gpus = uint32(bound(gpus, 1, 4096));
        price = uint128(bound(price, 1, 50e6));
        shares = uint128(bound(shares, 1, 1e24));
        aliceShares = uint128(bound(aliceShares, 0, shares));
        bobShares = uint128(bound(bobShares, 0, shares - aliceShares));
        delivered = uint64(bound(delivered, 0, uint256(gpus) * EPOCH * 2));

        vm.prank(governance);
        usd.mint(owner, 1e15);
        vm.prank(owner);
        market.depositBond(clusterId, address(usd), 1e15);
        LeaseTerms memory t = _terms(1, 2);
        (t.units, t.pricePerUnitHour, t.totalShares) = (gpus, price, shares);
        vm.prank(owner);
        uint256 id = market.createLease(t);
        uint256 escrow = market.escrowRequired(id);
        vm.prank(governance);
        usd.mint(tenant, escrow);
        vm.prank(tenant);
        market.fund(id);
        vm.startPrank(owner);
        market.safeTransferFrom(owner, alice, id, aliceShares, "");
        market.safeTransferFrom(owner, bob, id, bobShares, "");
        vm.stopPrank();

        uint256 held = usd.balanceOf(address(market));
        uint256 tenantBefore = usd.balanceOf(tenant);
        _reportAndSettle(id, 1, delivered);

        Lease memory l = market.getLease(id);
        uint256 maxRent = uint256(gpus) * EPOCH * price / 3600;
        assertLe(l.rentPool, maxRent);
        assertEq(l.escrow + l.rentPool, market.escrowRequired(id), "rent moved, not made");
        uint256 claimableSum =
            market.claimable(id, owner) + market.claimable(id, alice) + market.claimable(id, bob);
        assertLe(claimableSum, l.rentPool, "rounding never creates money");
        assertLe(l.rentPool - claimableSum, 3, "dust at most one unit per holder");

        // The one-epoch lease has ended: the tenant gets credits plus the unspent escrow.
        uint256 refund = uint256(l.credits) + l.escrow;
        vm.prank(tenant);
        if (refund > 0) market.withdrawTenantFunds(id);
        assertEq(usd.balanceOf(tenant) - tenantBefore, refund);
        assertEq(usd.balanceOf(address(market)), held - refund);
    }
}
