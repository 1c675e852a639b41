// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReportLib} from "../src/libraries/ReportLib.sol";
import {BaseTest} from "./BaseTest.sol";

/// @notice Differential test: a deliveries tree built by @openzeppelin/merkle-tree
/// (tools/merkle-fixture.mjs) is accepted on-chain, leaf by leaf, through real settlement.
contract MerkleDifferentialTest is BaseTest {
    string internal json;

    function setUp() public override {
        super.setUp();
        json = vm.readFile("test/fixtures/deliveries-tree.json");
    }

    function test_openZeppelinTreeSettlesOnChain() public {
        uint256 n = 7;
        for (uint256 i; i < n; ++i) {
            assertEq(_activeLease(1), i + 1);
        }
        bytes32 root = vm.parseJsonBytes32(json, ".root");
        _warpToEpochEnd(1);
        _submit(_report(1, root));
        skip(CHALLENGE_WINDOW);

        for (uint256 i; i < n; ++i) {
            string memory path = string.concat(".leaves[", vm.toString(i), "]");
            uint256 leaseId = vm.parseJsonUint(json, string.concat(path, ".leaseId"));
            uint64 epoch = uint64(vm.parseJsonUint(json, string.concat(path, ".epoch")));
            uint64 delivered = uint64(vm.parseJsonUint(json, string.concat(path, ".delivered")));
            uint64 energyWh = uint64(vm.parseJsonUint(json, string.concat(path, ".energyWh")));
            bytes32[] memory proof = vm.parseJsonBytes32Array(json, string.concat(path, ".proof"));

            // A proof for the wrong delivery or energy fails; the reference proof settles.
            vm.expectPartialRevert(bytes4(keccak256("InvalidProof(uint256,uint64)")));
            market.settle(leaseId, epoch, delivered + 1, energyWh, proof);
            vm.expectPartialRevert(bytes4(keccak256("InvalidProof(uint256,uint64)")));
            market.settle(leaseId, epoch, delivered, energyWh + 1, proof);
            market.settle(leaseId, epoch, delivered, energyWh, proof);
            assertEq(market.getLease(leaseId).rentPool, uint256(delivered) * PRICE / 3600);
        }
    }

    function test_leafEncodingMatchesReference() public view {
        // keccak256(bytes.concat(keccak256(abi.encode(uint256, uint64, uint64, uint64)))) as in the
        // JS tree: a single-leaf tree's root is its leaf.
        bytes32 leaf = ReportLib.deliveryLeaf(1, 1, 28_800, 5_600);
        assertEq(
            leaf,
            keccak256(
                bytes.concat(keccak256(abi.encode(uint256(1), uint64(1), uint64(28_800), uint64(5_600))))
            )
        );
    }
}
