// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/// @title MerkleBuilder
/// @notice Test helper: a commutative-keccak Merkle tree over given leaves (odd nodes move up),
/// the shape OpenZeppelin's MerkleProof verifies.
library MerkleBuilder {
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        bytes32[] memory layer = leaves;
        while (layer.length > 1) layer = _up(layer);
        return layer[0];
    }

    function proof(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory out) {
        bytes32[] memory tmp = new bytes32[](64);
        uint256 n;
        bytes32[] memory layer = leaves;
        while (layer.length > 1) {
            uint256 sibling = index ^ 1;
            if (sibling < layer.length) tmp[n++] = layer[sibling];
            layer = _up(layer);
            index /= 2;
        }
        out = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            out[i] = tmp[i];
        }
    }

    function _up(bytes32[] memory layer) private pure returns (bytes32[] memory next) {
        next = new bytes32[]((layer.length + 1) / 2);
        for (uint256 i; i < next.length; ++i) {
            uint256 l = 2 * i;
            next[i] = l + 1 < layer.length ? Hashes.commutativeKeccak256(layer[l], layer[l + 1]) : layer[l];
        }
    }
}
