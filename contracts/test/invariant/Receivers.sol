// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {DevStablecoin} from "../../src/DevStablecoin.sol";
import {LeaseMarket} from "../../src/LeaseMarket.sol";

/// @notice Base for contract holders: approves the market and the desk for both stablecoins so the
/// handler can use it as a buyer or challenger.
abstract contract HolderBase is IERC1155Receiver {
    LeaseMarket internal immutable market;

    constructor(LeaseMarket market_, address desk, DevStablecoin[2] memory tokens) {
        market = market_;
        for (uint256 i; i < 2; ++i) {
            tokens[i].approve(address(market_), type(uint256).max);
            tokens[i].approve(desk, type(uint256).max);
        }
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC1155Receiver).interfaceId;
    }
}

/// @notice A holder whose receive hook re-enters the market: it claims the lease's rent and passes
/// one share on to `sink` (an EOA, so the chain stops there).
contract ReentrantHolder is HolderBase {
    address internal immutable sink;
    bool internal entered;
    uint256 public claims; // successful re-entrant claims
    uint256 public transfers; // successful re-entrant transfers

    constructor(LeaseMarket market_, address desk, DevStablecoin[2] memory tokens, address sink_)
        HolderBase(market_, desk, tokens)
    {
        sink = sink_;
    }

    function onERC1155Received(address, address, uint256 id, uint256, bytes calldata)
        external
        returns (bytes4)
    {
        _reenter(id);
        return this.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(
        address,
        address,
        uint256[] calldata ids,
        uint256[] calldata,
        bytes calldata
    ) external returns (bytes4) {
        _reenter(ids[0]);
        return this.onERC1155BatchReceived.selector;
    }

    function _reenter(uint256 id) internal {
        if (entered || msg.sender != address(market)) return;
        entered = true;
        uint256 leases = market.leaseCount();
        for (uint256 lease = 1; lease <= leases; ++lease) {
            if (market.claimable(lease, address(this)) != 0 && _canMove(market.getLease(lease).stablecoin)) {
                try market.claim(lease) {
                    claims++;
                } catch {} // reverts inside nonReentrant callers (buyShares)
            }
        }
        if (market.balanceOf(address(this), id) > 1) {
            try market.safeTransferFrom(address(this), sink, id, 1, "") {
                transfers++;
            } catch {}
        }
        entered = false;
    }

    /// A claim whose token transfer reverts would still leave its event in the recorded logs, so
    /// only claim when the stablecoin can move (the handler ingests those logs as facts).
    function _canMove(address stablecoin) internal view returns (bool) {
        DevStablecoin token = DevStablecoin(stablecoin);
        return !token.paused() && !token.blocklisted(address(this)) && !token.blocklisted(address(market));
    }
}

/// @notice A holder that refuses shares while `accepting` is off: every transfer or purchase to it
/// must revert and change nothing.
contract RejectingHolder is HolderBase {
    bool public accepting;

    constructor(LeaseMarket market_, address desk, DevStablecoin[2] memory tokens)
        HolderBase(market_, desk, tokens)
    {}

    function setAccepting(bool on) external {
        accepting = on;
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata)
        external
        view
        returns (bytes4)
    {
        require(accepting, "rejected");
        return this.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        view
        returns (bytes4)
    {
        require(accepting, "rejected");
        return this.onERC1155BatchReceived.selector;
    }
}
