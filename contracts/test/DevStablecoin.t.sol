// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Test} from "forge-std/Test.sol";

import {DevStablecoin} from "../src/DevStablecoin.sol";
import {Blocklisted, FaucetCapExceeded} from "../src/libraries/Errors.sol";

contract DevStablecoinTest is Test {
    DevStablecoin internal usd;
    address internal issuer = makeAddr("issuer");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    function setUp() public {
        usd = new DevStablecoin(issuer);
    }

    function test_metadata() public view {
        assertEq(usd.decimals(), 6);
        assertEq(usd.symbol(), "dUSD");
    }

    function test_mint_onlyIssuer() public {
        vm.prank(issuer);
        usd.mint(alice, 5e6);
        assertEq(usd.balanceOf(alice), 5e6);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        usd.mint(alice, 1);
    }

    function test_faucet_capped() public {
        vm.startPrank(alice);
        usd.faucet(usd.FAUCET_CAP());
        assertEq(usd.balanceOf(alice), 1_000_000e6);
        vm.expectRevert(abi.encodeWithSelector(FaucetCapExceeded.selector, 1_000_000e6 + 1, 1_000_000e6));
        usd.faucet(1_000_000e6 + 1);
        vm.stopPrank();
    }

    function test_blocklist_freezesBothDirections() public {
        vm.prank(alice);
        usd.faucet(10e6);
        vm.prank(issuer);
        usd.setBlocklisted(bob, true);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Blocklisted.selector, bob));
        usd.transfer(bob, 1);

        vm.prank(issuer);
        usd.setBlocklisted(alice, true);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Blocklisted.selector, alice));
        usd.transfer(makeAddr("carol"), 1);

        vm.prank(issuer);
        usd.setBlocklisted(alice, false);
        vm.prank(alice);
        usd.transfer(makeAddr("carol"), 1);

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        usd.setBlocklisted(bob, false);
    }

    function test_pause_stopsTransfersUntilUnpaused() public {
        vm.prank(alice);
        usd.faucet(10e6);
        vm.prank(issuer);
        usd.pause();
        vm.prank(alice);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        usd.transfer(bob, 1);
        vm.prank(issuer);
        usd.unpause();
        vm.prank(alice);
        usd.transfer(bob, 1);
        assertEq(usd.balanceOf(bob), 1);
    }

    function test_permit_setsAllowance() public {
        (address holder, uint256 key) = makeAddrAndKey("holder");
        uint256 deadline = block.timestamp + 1;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
                ),
                holder,
                bob,
                7e6,
                0,
                deadline
            )
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(key, keccak256(abi.encodePacked("\x19\x01", usd.DOMAIN_SEPARATOR(), structHash)));
        usd.permit(holder, bob, 7e6, deadline, v, r, s);
        assertEq(usd.allowance(holder, bob), 7e6);
    }
}
