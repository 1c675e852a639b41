// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseStatus} from "../src/libraries/Types.sol";
import {BaseTest} from "./BaseTest.sol";
import {MarketHistory} from "./fixtures/MarketHistory.sol";

/// @notice The history fixture builds what the scale benchmark and the SDK's `History` count on:
/// its clusters, funded leases, holders' balances and due leases.
contract MarketHistoryTest is BaseTest {
    MarketHistory internal history;

    function setUp() public override {
        super.setUp();
        history = new MarketHistory(registry, market, usd, 25);
    }

    function test_BuildsClustersLeasesAndPositions() public {
        history.addClusters(3);
        assertEq(history.clusterCount(), 3);
        uint256 firstLease = market.leaseCount() + 1;
        history.addLeases(12, 9, 4);
        history.addLeases(8, 9, 4);

        assertEq(history.leasesCreated(), 20);
        assertEq(history.transfersMade(), 180);
        assertEq(history.dueLeases(), 5);
        assertEq(market.leaseCount(), firstLease + 19);
        for (uint256 id = firstLease; id < firstLease + 20; ++id) {
            assertEq(uint8(market.getLease(id).status), uint8(LeaseStatus.Active));
            assertEq(market.getLease(id).clusterId, history.clusters((id - firstLease) % 3));
            assertEq(market.balanceOf(address(history), id), history.SHARES_PER_HOLDER());
        }
        // Holders are used round-robin over the pool of 25: holder 0 got transfers 0, 25, 50, …
        // (180 transfers: 8 of them), each 100 shares of a different lease.
        uint256 held;
        for (uint256 id = firstLease; id < firstLease + 20; ++id) {
            held += market.balanceOf(history.holder(0), id);
        }
        assertEq(held, 8 * history.SHARES_PER_HOLDER());
        assertEq(history.holder(0).code.length, 0);
    }

    function test_DueLeasesFallDueAndOthersDoNot() public {
        history.addClusters(1);
        uint256 firstLease = market.leaseCount() + 1;
        history.addLeases(4, 2, 2);
        uint64 current = registry.currentEpoch(history.clusters(0));
        // Leases 0 and 2 of the batch are due next epoch; 1 and 3 start FAR_EPOCHS later.
        assertEq(market.getLease(firstLease).startEpoch, current + 1);
        assertEq(market.getLease(firstLease + 1).startEpoch, current + 1 + history.FAR_EPOCHS());

        vm.warp(block.timestamp + 2 * EPOCH + REPORT_WINDOW + 1);
        assertEq(market.unsettledEpochs(firstLease), 1);
        assertEq(market.unsettledEpochs(firstLease + 1), 0);
        market.settleMissed(firstLease, current + 1);
        assertEq(uint8(market.getLease(firstLease).status), uint8(LeaseStatus.Ended));
    }

    function test_RejectsMoreHoldersPerLeaseThanThePool() public {
        history.addClusters(1);
        vm.expectRevert("MarketHistory: holders per lease exceed the pool");
        history.addLeases(1, 26, 0);
    }

    /// Gas per lease with nine holders: what the SDK's `History` sizes its transactions by.
    function test_GasPerLease() public {
        history.addClusters(1);
        uint256 gasBefore = gasleft();
        history.addLeases(10, 9, 0);
        uint256 perLease = (gasBefore - gasleft()) / 10;
        emit log_named_uint("gas per lease with 9 holders", perLease);
        assertLt(perLease, 1_000_000);
    }
}
