// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {LeaseMarket} from "./LeaseMarket.sol";
import {IDisputeDesk} from "./interfaces/IDisputeDesk.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";
import {DisputeStatus, Lease, LeaseStatus} from "./libraries/Types.sol";

/// @title LeaseShareToken
/// @notice The ERC-20 form of one lease's shares, so that standard DeFi (a Morpho Blue market)
/// can hold them. One token is one ERC-1155 share held here plus an equal slice of the rent this
/// wrapper has received as their holder: rent accrues to the token's value, not to whoever holds
/// the token, because the holder of collateral is the lending market, which claims nothing.
///
/// One wrapper per lease, not a vault pooling many: each lease is its own credit (cluster, tenant,
/// term), and a lending market prices one collateral with one oracle.
///
/// `wrap` takes shares and the rent already accrued per token (so no holder is diluted);
/// `unwrap` gives both back. A wrap waits while any ended epoch of the lease is unsettled: the
/// market pays an epoch's rent to whoever held when it ended, so tokens minted before it settles
/// would take rent that belongs to the holders then. An unwrap never waits: the leaver takes its
/// slice of the rent held now, and its slice of the epochs still settling is recorded as an exit
/// and paid to it as they settle (`claimExits`), so neither leavers nor stayers take the other's.
/// Rent is harvested from the market before either, so it is always counted; the wrapper keeps
/// its cash in its own books (`cash`), never in `balanceOf`, so a donation cannot move the value
/// per token that the NAV feed reads. Rent an unwrap cannot pay at once is kept as `owed`. Any
/// token holder may challenge a report through the token (it holds the shares the desk asks for).
contract LeaseShareToken is ERC20, IERC1155Receiver, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The market whose shares (ERC-1155, id = lease id) this wraps.
    LeaseMarket public immutable market;
    /// @notice The lease whose shares this wraps.
    uint256 public immutable leaseId;
    /// @notice The lease's stablecoin, in which its rent is paid.
    IERC20 public immutable stablecoin;
    /// @notice Rent received for the wrapped shares plus what entrants paid in, owed to the tokens
    /// pro rata (stablecoin base units).
    uint256 public cash;
    /// @notice Rent an unwrap could not pay out at once (the stablecoin paused, or the receiver or
    /// this contract frozen), kept for its receiver to pull with `withdrawOwed`.
    mapping(address account => uint256) public owed;
    /// @notice Sum of `owed`.
    uint256 public owedTotal;

    /// @notice Tokens burned while ended epochs were unsettled, grouped by the first epoch not yet
    /// ended when they left (`boundary`) and the market's accumulator then (`accFrom`): they still
    /// earn the rent of the epochs in between, reserved as those settle (up to `accTo`) and paid
    /// by `claimExits` once all have (`resolved`).
    struct Exit {
        uint64 boundary;
        bool resolved;
        uint256 accFrom;
        uint256 accTo;
        uint256 tokens;
    }

    mapping(bytes32 key => Exit) public exits;
    /// @notice Each account's tokens in each exit.
    mapping(address account => mapping(bytes32 key => uint256)) public exitTokensOf;
    /// @notice Rent held for exits (in the token's balance, apart from `cash`).
    uint256 public exitReserve;
    bytes32[] internal _openExits;
    mapping(address account => bytes32[]) internal _exitKeysOf;
    /// @notice Who challenged an epoch's report through this token, and the bond it posted (0 once
    /// reclaimed).
    mapping(uint64 epoch => address) public challengerOf;
    mapping(uint64 epoch => uint256) public challengeBondOf;
    /// @notice Part of `cash` the market still holds for this token (a claim failed: paused or
    /// frozen stablecoin). The token's balance plus this covers `cash + owedTotal`.
    uint256 public unclaimed;

    uint256 internal constant ACC_SCALE = 1e36; // the market's accumulator scale (RentLib)

    /// @dev Set while this contract moves shares to itself, so only `wrap` can deliver them.
    bool internal transient _wrapping;

    /// @param market_ The lease market.
    /// @param leaseId_ The lease whose shares this wraps (it must exist).
    constructor(LeaseMarket market_, uint256 leaseId_)
        ERC20(
            string.concat("compute-ledger lease ", Strings.toString(leaseId_), " shares"),
            string.concat("CLS-", Strings.toString(leaseId_))
        )
    {
        market = market_;
        leaseId = leaseId_;
        (,, address coin) = market_.leaseStatus(leaseId_);
        if (coin == address(0)) revert UnknownLease(leaseId_);
        stablecoin = IERC20(coin);
    }

    /// @notice Tokens are whole shares.
    function decimals() public pure override returns (uint8) {
        return 0;
    }

    /// @notice Wraps `amount` shares held by the caller (who approved this contract on the
    /// market) into as many tokens for `receiver`, paying the rent already accrued per token in
    /// the stablecoin (approved to this contract). Returns what was paid.
    function wrap(uint256 amount, address receiver) external nonReentrant returns (uint256 paid) {
        if (amount == 0) revert ZeroAmount();
        if (receiver == address(0)) revert ZeroAddress();
        _requireSettled();
        _harvest(false);
        _reserveExits(); // every exit resolves here: no epoch is unsettled
        uint256 supply = totalSupply();
        // Rounded up: an entrant never takes a base unit of rent accrued before it came.
        paid = supply == 0 ? 0 : Math.mulDiv(amount, cash, supply, Math.Rounding.Ceil);
        cash += paid;
        _mint(receiver, amount);
        emit SharesWrapped(msg.sender, receiver, amount, paid);
        if (paid != 0) _pull(paid);
        _wrapping = true;
        market.safeTransferFrom(msg.sender, address(this), leaseId, amount, "");
        _wrapping = false;
    }

    /// @notice Burns `amount` of the caller's tokens for as many shares and their slice of the
    /// rent held here (rounded down), both sent to `receiver`. Never waits: the tokens' slice of
    /// ended epochs still settling is recorded as an exit for `receiver` and paid by `claimExits`
    /// once they settle. If the rent cannot be claimed from the market or paid out now (a paused
    /// or freezing stablecoin), the shares still go: unpaid rent is kept as `owed[receiver]`.
    function unwrap(uint256 amount, address receiver) external nonReentrant returns (uint256 rent) {
        if (amount == 0) revert ZeroAmount();
        if (receiver == address(0)) revert ZeroAddress();
        _harvest(true);
        _reserveExits();
        uint256 supply = totalSupply();
        _burn(msg.sender, amount); // reverts unless the caller holds `amount`, so supply >= amount
        rent = Math.mulDiv(amount, cash, supply);
        cash -= rent;
        _recordExit(receiver, amount);
        emit SharesUnwrapped(msg.sender, receiver, amount, rent);
        market.safeTransferFrom(address(this), receiver, leaseId, amount, "");
        if (rent != 0 && !stablecoin.trySafeTransfer(receiver, rent)) _owe(receiver, rent);
    }

    /// @notice Pays the caller what the token keeps for it: rent an unwrap or a claim of exits
    /// could not pay at once, and returned challenge bonds the same.
    function withdrawOwed() external nonReentrant returns (uint256 amount) {
        _harvest(true); // what the market holds for the token first (a failed claim defers it)
        _reserveExits();
        amount = owed[msg.sender];
        if (amount == 0) revert NothingToClaim();
        owed[msg.sender] = 0;
        owedTotal -= amount;
        stablecoin.safeTransfer(msg.sender, amount);
    }

    /// @notice Challenges the report of `epoch` for the tokens (any token holder may, within the
    /// desk's challenge window): the caller posts the desk's bond through this contract; if the
    /// desk returns it (upheld, expired or conflict), `reclaimChallengeBond` pays it back.
    function challenge(uint64 epoch) external nonReentrant {
        if (balanceOf(msg.sender) == 0) revert NotTokenHolder(msg.sender);
        IDisputeDesk desk = market.disputes();
        uint256 bond = desk.challengeBond(leaseId);
        (challengerOf[epoch], challengeBondOf[epoch]) = (msg.sender, bond);
        emit TokenChallenged(leaseId, epoch, msg.sender, bond);
        if (bond != 0) {
            _pull(bond);
            stablecoin.forceApprove(address(desk), bond);
        }
        desk.challenge(leaseId, epoch);
    }

    /// @notice Pays back the bond of a challenge made through this token once the desk returned
    /// it, to its challenger (kept as `owed` if it cannot be paid now). Anyone may call it.
    function reclaimChallengeBond(uint64 epoch) external nonReentrant returns (uint256 amount) {
        amount = challengeBondOf[epoch];
        if (amount == 0) revert NothingToClaim();
        IDisputeDesk desk = market.disputes();
        (DisputeStatus status,,,) = desk.verdict(leaseId, epoch);
        if (
            status != DisputeStatus.Upheld && status != DisputeStatus.Expired
                && status != DisputeStatus.Conflict
        ) {
            revert ChallengeBondNotReturned(leaseId, epoch, uint8(status));
        }
        challengeBondOf[epoch] = 0;
        if (desk.payouts(address(stablecoin), address(this)) != 0) desk.withdrawPayout(address(stablecoin));
        address to = challengerOf[epoch];
        if (!stablecoin.trySafeTransfer(to, amount)) _owe(to, amount);
    }

    /// @notice Claims the rent the market holds for the wrapped shares into `cash` (anyone may).
    function harvest() external nonReentrant {
        _harvest(false);
        _reserveExits();
    }

    /// @notice Pays `account` the rent of its exits whose epochs have all settled (kept as `owed`
    /// if it cannot be paid now). Anyone may call it.
    function claimExits(address account) external nonReentrant returns (uint256 paid) {
        _harvest(true);
        _reserveExits();
        bytes32[] storage keys = _exitKeysOf[account];
        for (uint256 i = keys.length; i > 0; --i) {
            bytes32 key = keys[i - 1];
            Exit storage e = exits[key];
            if (!e.resolved) continue;
            // Each member's floor: together never more than the exit's reserve.
            uint256 amount = Math.mulDiv(exitTokensOf[account][key], e.accTo - e.accFrom, ACC_SCALE);
            exitTokensOf[account][key] = 0;
            keys[i - 1] = keys[keys.length - 1];
            keys.pop();
            exitReserve -= amount;
            paid += amount;
        }
        if (paid == 0) revert NothingToClaim();
        emit ExitsClaimed(account, paid);
        if (!stablecoin.trySafeTransfer(account, paid)) _owe(account, paid);
    }

    /// @notice `account`'s exits not yet paid.
    function exitsOf(address account) external view returns (bytes32[] memory) {
        return _exitKeysOf[account];
    }

    /// @notice All rent owed to the tokens: held here, and held by the market for this token.
    function rentHeld() public view returns (uint256) {
        uint256 held = cash + market.claimable(leaseId, address(this)) - unclaimed;
        uint256 n = _openExits.length;
        if (n == 0) return held;
        // Rent settled since the last reservation that belongs to exits.
        Lease memory l = market.getLease(leaseId);
        for (uint256 i; i < n; ++i) {
            Exit storage e = exits[_openExits[i]];
            (uint256 due,) = _exitDue(e, l);
            held -= due;
        }
        return held;
    }

    /// @notice Stablecoin base units per token: rent held here and rent the market holds for the
    /// wrapped shares, scaled by 1e18. Zero while nothing is wrapped.
    function cashPerToken1e18() external view returns (uint256) {
        uint256 supply = totalSupply();
        if (supply == 0) return 0;
        return Math.mulDiv(rentHeld(), 1e18, supply);
    }

    /// @notice Accepts shares only from `wrap`: shares sent here any other way would back no token.
    function onERC1155Received(address operator, address, uint256 id, uint256, bytes calldata)
        external
        view
        returns (bytes4)
    {
        if (msg.sender != address(market) || id != leaseId || operator != address(this) || !_wrapping) {
            revert SharesNotWrapped(msg.sender, id);
        }
        return this.onERC1155Received.selector;
    }

    /// @notice Refuses batches: `wrap` moves one lease's shares at a time.
    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        view
        returns (bytes4)
    {
        revert SharesNotWrapped(msg.sender, leaseId);
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC1155Receiver).interfaceId || interfaceId == type(IERC165).interfaceId;
    }

    /// @dev A wrap waits while an ended epoch is unsettled (the keeper settles it once its
    /// challenge window closes; anyone may, once its deadlines pass).
    function _requireSettled() internal view {
        uint64 pending = market.unsettledEpochs(leaseId);
        if (pending != 0) revert SettlementPending(leaseId, pending);
    }

    /// @dev Books the rent the market holds for the token into `cash`. A claim that fails (paused
    /// or frozen stablecoin) reverts, or, when `mayDefer`, books the rent as `unclaimed` so an
    /// unwrap can still count it (and owe it) and return the shares.
    function _harvest(bool mayDefer) internal {
        uint256 pending = market.claimable(leaseId, address(this)); // >= unclaimed until claimed
        if (pending == 0) return;
        if (!mayDefer) return _booked(market.claim(leaseId));
        try market.claim(leaseId) returns (uint256 claimed) {
            _booked(claimed);
        } catch {
            uint256 fresh = pending - unclaimed;
            unclaimed = pending;
            _count(fresh);
        }
    }

    function _booked(uint256 claimed) internal {
        uint256 fresh = claimed - unclaimed;
        unclaimed = 0;
        emit RentHarvested(leaseId, claimed);
        _count(fresh);
    }

    /// @dev Rent newly counted for the tokens (exits' part of it is reserved by `_reserveExits`).
    function _count(uint256 fresh) internal {
        cash += fresh;
    }

    /// @dev Records `amount` tokens leaving for `receiver` while ended epochs are unsettled (the
    /// market's boundary, computed as it does): they keep their slice of those epochs' rent.
    function _recordExit(address receiver, uint256 amount) internal {
        Lease memory l = market.getLease(leaseId);
        if (l.status != LeaseStatus.Active) return;
        uint64 current = uint64((block.timestamp - l.genesis) / l.epochLength);
        uint64 boundary = current < l.endEpoch ? current : l.endEpoch;
        if (l.nextEpoch >= boundary) return;
        bytes32 key = keccak256(abi.encode(boundary, l.rentPerShare));
        Exit storage e = exits[key];
        if (e.tokens == 0) {
            (e.boundary, e.accFrom, e.accTo) = (boundary, l.rentPerShare, l.rentPerShare);
            _openExits.push(key);
        }
        e.tokens += amount;
        if (exitTokensOf[receiver][key] == 0) _exitKeysOf[receiver].push(key);
        exitTokensOf[receiver][key] += amount;
        emit ExitRecorded(receiver, key, boundary, amount);
    }

    /// @dev Moves the rent exits earned in epochs settled since the last call from `cash` to
    /// `exitReserve` (it arrived with the harvest before), and closes exits whose epochs all settled.
    function _reserveExits() internal {
        uint256 n = _openExits.length;
        if (n == 0) return;
        Lease memory l = market.getLease(leaseId);
        for (uint256 i = n; i > 0; --i) {
            Exit storage e = exits[_openExits[i - 1]];
            (uint256 due, uint256 accTo) = _exitDue(e, l);
            (cash, exitReserve, e.accTo) = (cash - due, exitReserve + due, accTo);
            if (l.nextEpoch >= e.boundary) {
                e.resolved = true;
                _openExits[i - 1] = _openExits[_openExits.length - 1];
                _openExits.pop();
            }
        }
    }

    /// @dev An open exit's rent settled since its last reservation, and the accumulator it reaches:
    /// the boundary's once every epoch before it settled, else the market's now.
    function _exitDue(Exit storage e, Lease memory l) internal view returns (uint256 due, uint256 accTo) {
        accTo = l.nextEpoch >= e.boundary ? market.accAt(leaseId, e.boundary) : l.rentPerShare;
        // Floors of the running total, so the reservations add up to floor(tokens x gain).
        due = Math.mulDiv(e.tokens, accTo - e.accFrom, ACC_SCALE)
            - Math.mulDiv(e.tokens, e.accTo - e.accFrom, ACC_SCALE);
    }

    function _owe(address to, uint256 amount) internal {
        owed[to] += amount;
        owedTotal += amount;
        emit RentOwed(to, amount);
    }

    /// @dev Pulls exactly `amount` of the stablecoin from the caller (a fee-charging token would
    /// leave the books short).
    function _pull(uint256 amount) internal {
        uint256 before = stablecoin.balanceOf(address(this));
        stablecoin.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = stablecoin.balanceOf(address(this)) - before;
        if (received != amount) revert EscrowShortfall(amount, received);
    }
}
