// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {Blocklisted, FaucetCapExceeded} from "./libraries/Errors.sol";

/// @title DevStablecoin
/// @notice A devnet payment stablecoin that behaves like a GENIUS-Act style one: 6 decimals,
/// EIP-2612 permit, an issuer blocklist (any transfer from or to a blocked address reverts),
/// an issuer pause, owner mint and a capped public faucet.
contract DevStablecoin is ERC20, ERC20Permit, Pausable, Ownable {
    /// @notice Most the faucet mints in one call: 1,000,000.00 units.
    uint256 public constant FAUCET_CAP = 1_000_000e6;

    /// @notice Whether an address is frozen by the issuer.
    mapping(address => bool) public blocklisted;

    /// @notice Emitted when the issuer freezes or unfreezes an address.
    event BlocklistUpdated(address indexed account, bool blocked);

    /// @param issuer The owner: mints, blocklists and pauses.
    constructor(address issuer) ERC20("Dev USD", "dUSD") ERC20Permit("Dev USD") Ownable(issuer) {}

    /// @notice Six decimals, like USDC.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice The issuer mints `amount` to `to`.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Anyone mints up to `FAUCET_CAP` to themselves (devnet only).
    function faucet(uint256 amount) external {
        if (amount > FAUCET_CAP) revert FaucetCapExceeded(amount, FAUCET_CAP);
        _mint(msg.sender, amount);
    }

    /// @notice The issuer freezes (`blocked`) or unfreezes `account`.
    function setBlocklisted(address account, bool blocked) external onlyOwner {
        blocklisted[account] = blocked;
        emit BlocklistUpdated(account, blocked);
    }

    /// @notice The issuer stops every transfer, mint and burn.
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice The issuer resumes transfers.
    function unpause() external onlyOwner {
        _unpause();
    }

    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        if (blocklisted[from]) revert Blocklisted(from);
        if (blocklisted[to]) revert Blocklisted(to);
        super._update(from, to, value);
    }
}
