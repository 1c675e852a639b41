// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseNavOracle} from "../src/LeaseNavOracle.sol";
import {LeaseShareToken} from "../src/LeaseShareToken.sol";
import {LeaseTerms} from "../src/libraries/Types.sol";
import {CollateralBase} from "./utils/CollateralBase.sol";
import {ShareReceiver} from "./utils/ShareReceiver.sol";

contract Reenterer is ShareReceiver {
    LeaseShareToken internal t;
    bool public reentered;
    bool public reentryFailed;

    constructor(LeaseShareToken t_) {
        t = t_;
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        reentered = true;
        try t.harvest() {}
        catch {
            reentryFailed = true;
        }
        try t.unwrap(1, address(this)) {} catch {}
        return this.onERC1155Received.selector;
    }
}

/// @notice Attacks the code withstood (these pass).
contract CollateralWithstoodTest is CollateralBase {
    function test_W_reentryFromUnwrapCallbackIsBlocked() public {
        _wrap(alice, 600);
        _reportAndSettle(lease, 1, _full());
        Reenterer r = new Reenterer(token);
        vm.prank(alice);
        token.transfer(address(r), 1);
        vm.prank(alice);
        token.unwrap(10, address(r));
        assertTrue(r.reentered());
        assertTrue(r.reentryFailed());
        assertEq(token.balanceOf(address(r)), 1);
    }

    function test_W_longDarkLongLeasePriceNeverReverts() public {
        vm.prank(owner);
        LeaseTerms memory t = _terms(2, 1_900);
        uint256 l = market.createLease(t);
        vm.prank(tenant);
        market.fund(l);
        (LeaseShareToken tok, LeaseNavOracle feed) = factory.create(l);
        tok;
        feed.poke();
        vm.warp(_epochEnd(1_000));
        LeaseNavOracle.Breakdown memory b = feed.breakdown();
        assertEq(b.markedDownEpochs, 999);
        feed.poke();
        vm.warp(_epochEnd(100_000));
        feed.price();
        feed.latestRoundData();
    }

    function test_W_flashWrapUnwrapDoesNotMoveNav() public {
        _wrap(alice, 300);
        _reportAndSettle(lease, 1, _full() - 7);
        uint256 p = oracle.price();
        for (uint256 i; i < 5; ++i) {
            _wrap(owner, 1 + i);
            _unwrap(owner, 1 + i);
        }
        uint256 q = oracle.price();
        assertApproxEqAbs(q, p, 1e36); // only rounding dust (< 1 base unit per token)
        assertGe(q, p);
    }

    function test_W_backlogBeyondScanIsMarkedDown() public {
        _wrap(alice, 600);
        vm.warp(_epochEnd(8) + REPORT_WINDOW + 1);
        LeaseNavOracle.Breakdown memory b = oracle.breakdown();
        assertEq(b.markedDownEpochs, 8);
    }
}

