// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DemandResponse} from "../../src/DemandResponse.sol";
import {BaseTest} from "../BaseTest.sol";

/// @notice A demand-response program on the shared cluster: $0.20 per curtailed kWh, $0.10 per kWh
/// short, $1,000 funded; the site enrolled with 5,000 kW of miners and a $1,000 bond.
abstract contract DemandResponseBase is BaseTest {
    uint128 internal constant KWH_PRICE = 200_000; // $0.20 per curtailed kWh
    uint128 internal constant PENALTY = 100_000; // $0.10 per kWh short
    uint32 internal constant COMMITTED_KW = 5_000;
    uint256 internal constant COMMITTED_WH = 2_500_000; // 5,000 kW for 30 minutes
    uint256 internal constant RESERVE = 500e6; // 2,500 kWh at $0.20
    uint256 internal constant MAX_PENALTY = 250e6; // 2,500 kWh at $0.10

    DemandResponse internal dr;
    address internal sponsor = makeAddr("sponsor");
    address internal payee = makeAddr("payee");
    address internal drArbiter = makeAddr("drArbiter");
    uint256 internal program;
    uint256 internal enrollment;

    function setUp() public virtual override {
        super.setUp();
        dr = new DemandResponse(registry, 30 minutes, 2 hours);
        vm.prank(governance);
        usd.mint(sponsor, 10_000e6);
        vm.startPrank(sponsor);
        program = dr.createProgram(address(usd), KWH_PRICE, PENALTY, drArbiter);
        usd.approve(address(dr), type(uint256).max);
        dr.fundProgram(program, 1_000e6);
        vm.stopPrank();
        vm.startPrank(owner);
        enrollment = dr.enroll(program, clusterId, COMMITTED_KW, payee);
        usd.approve(address(dr), type(uint256).max);
        dr.depositSiteBond(enrollment, 1_000e6);
        vm.stopPrank();
    }

    /// An event over minutes 10-40 of epoch 2 (reported in epoch 2's report).
    function _dispatch() internal returns (uint256 eventId) {
        uint64 start = uint64(_epochEnd(1) + 10 minutes);
        vm.warp(_epochEnd(1)); // epoch 2 begins
        vm.prank(sponsor);
        eventId = dr.dispatch(enrollment, start, start + 30 minutes);
    }

    /// The acknowledgement of `eventId` signed with `key`.
    function _ackSig(uint256 eventId, uint256 key) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, dr.ackDigest(eventId));
        return abi.encodePacked(r, s, v);
    }
}
