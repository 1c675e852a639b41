// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";
import {LeaseStatus} from "./libraries/Types.sol";

/// @title ShareExchange
/// @notice Limit orders for lease shares, priced and paid in each lease's own stablecoin.
///
/// An ask leaves its shares with the maker until a fill moves them (through the maker's ERC-1155
/// approval of this exchange): shares escrowed here would make the exchange their holder at every
/// epoch's end, and protocol v2 pays an epoch's rent to whoever held when it ended. A bid escrows
/// its whole cost here, so a bid on the book is always good for its money. Orders fill in part or
/// in whole at the maker's price, expire, and stop filling once their lease is no longer active
/// or its term is over; then anyone may cancel them, and a bid's unfilled escrow goes back to its maker. No AMM: shares
/// are thin and lose value as their epochs settle.
///
/// Holds nothing but open bids' escrow: `balanceOf(this)` in each stablecoin is at least the sum
/// of `remaining * pricePerShare` over its open bids.
contract ShareExchange is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice One limit order, packed to two slots (a fill writes only the second). Its
    /// stablecoin is its lease's, read from the market when needed.
    struct Order {
        // slot 0
        address maker;
        uint40 expiry; // unix seconds; the order fills strictly before it
        bool bid; // true: the maker buys (its cost is escrowed here); false: the maker sells
        uint48 leaseId;
        // slot 1
        uint128 remaining; // shares left; 0 once filled or cancelled
        uint128 pricePerShare; // stablecoin base units per share
    }

    /// @notice The lease market whose shares (ERC-1155, id = lease id) trade here.
    ILeaseMarket public immutable market;
    /// @notice Orders ever placed (ids are 1..orderCount).
    uint256 public orderCount;

    mapping(uint256 orderId => Order) internal _orders;

    /// @param market_ The lease market whose shares trade here.
    constructor(ILeaseMarket market_) {
        if (address(market_) == address(0)) revert ZeroAddress();
        market = market_;
    }

    // ------------------------------------------------------------ orders

    /// @notice Offers `amount` shares of `leaseId` at `pricePerShare` until `expiry`. The shares
    /// stay in the caller's wallet (earning rent) until filled; the caller must have approved this
    /// exchange on the market (`setApprovalForAll`) and hold them now.
    function placeAsk(uint256 leaseId, uint256 amount, uint256 pricePerShare, uint64 expiry)
        external
        nonReentrant
        returns (uint256 orderId)
    {
        address stablecoin = _checkNewOrder(leaseId, amount, pricePerShare, expiry);
        IERC1155 shares = IERC1155(address(market));
        if (!shares.isApprovedForAll(msg.sender, address(this))) revert ExchangeNotApproved(msg.sender);
        uint256 held = shares.balanceOf(msg.sender, leaseId);
        if (held < amount) revert InsufficientShares(leaseId, held, amount);
        orderId = _place(leaseId, stablecoin, false, amount, pricePerShare, expiry);
    }

    /// @notice Bids for `amount` shares of `leaseId` at `pricePerShare` until `expiry`, escrowing
    /// `amount * pricePerShare` of the lease's stablecoin from the caller (approve it first).
    function placeBid(uint256 leaseId, uint256 amount, uint256 pricePerShare, uint64 expiry)
        external
        nonReentrant
        returns (uint256 orderId)
    {
        address stablecoin = _checkNewOrder(leaseId, amount, pricePerShare, expiry);
        orderId = _place(leaseId, stablecoin, true, amount, pricePerShare, expiry);
        // The book owes the maker exactly this much: a coin that takes a fee on transfer would
        // leave the escrow short and pay one bid out of another's.
        uint256 cost = amount * pricePerShare;
        IERC20 coin = IERC20(stablecoin);
        uint256 before = coin.balanceOf(address(this));
        coin.safeTransferFrom(msg.sender, address(this), cost);
        uint256 received = coin.balanceOf(address(this)) - before;
        if (received != cost) revert EscrowShortfall(cost, received);
    }

    /// @notice Takes `amount` shares of order `orderId` at its price. Against an ask the caller
    /// pays the maker (approve the stablecoin to this exchange) and receives the shares; against a
    /// bid the caller's shares go to the maker (approve this exchange on the market) and the
    /// escrow pays the caller. Rent of epochs that ended before the fill stays with the seller.
    /// @return cost What the buyer paid, in stablecoin base units.
    function fill(uint256 orderId, uint256 amount) external nonReentrant returns (uint256 cost) {
        Order memory o = _orders[orderId];
        if (o.remaining == 0) revert UnknownOrder(orderId);
        if (amount == 0 || amount > o.remaining) revert FillTooLarge(orderId, amount, o.remaining);
        if (msg.sender == o.maker) revert SelfTrade(orderId);
        if (block.timestamp >= o.expiry) revert OrderExpired(orderId, o.expiry);
        IERC20 coin = IERC20(_requireTradable(o.leaseId));

        cost = amount * o.pricePerShare; // below 2^128: remaining * price was checked when placed
        uint128 remaining = o.remaining - uint128(amount);
        _orders[orderId].remaining = remaining;
        emit OrderFilled(orderId, msg.sender, amount, cost);

        IERC1155 shares = IERC1155(address(market));
        if (o.bid) {
            shares.safeTransferFrom(msg.sender, o.maker, o.leaseId, amount, "");
            coin.safeTransfer(msg.sender, cost);
        } else {
            coin.safeTransferFrom(msg.sender, o.maker, cost);
            shares.safeTransferFrom(o.maker, msg.sender, o.leaseId, amount, "");
        }
    }

    /// @notice Cancels what is left of order `orderId`: its maker may at any time, anyone once
    /// the order can no longer fill (expired, or its lease no longer active or past its term). A
    /// bid's unfilled escrow goes back to its maker.
    /// @return refund The escrow returned (0 for an ask).
    function cancel(uint256 orderId) external nonReentrant returns (uint256 refund) {
        Order storage o = _orders[orderId];
        uint256 remaining = o.remaining;
        if (remaining == 0) revert UnknownOrder(orderId);
        (address maker, uint256 leaseId) = (o.maker, o.leaseId);
        (bool tradable, address stablecoin) = _tradable(leaseId);
        if (msg.sender != maker && block.timestamp < o.expiry && tradable) revert OrderStillLive(orderId);
        o.remaining = 0;
        if (o.bid) refund = remaining * o.pricePerShare;
        emit OrderCancelled(orderId, leaseId, msg.sender, refund);
        if (refund != 0) IERC20(stablecoin).safeTransfer(maker, refund);
    }

    // ------------------------------------------------------------ views

    /// @notice Order `orderId` as stored (`remaining == 0`: filled, cancelled or never placed).
    function getOrder(uint256 orderId) external view returns (Order memory) {
        return _orders[orderId];
    }

    /// @notice Whether order `orderId` can be filled now as far as the exchange can tell: open, not
    /// expired, its lease active and within its term. (An ask also needs its maker to still hold
    /// the shares.)
    function fillable(uint256 orderId) external view returns (bool) {
        Order storage o = _orders[orderId];
        if (o.remaining == 0 || block.timestamp >= o.expiry) return false;
        (bool tradable,) = _tradable(o.leaseId);
        return tradable;
    }

    // ------------------------------------------------------------ internal

    /// @dev Checks a new order's terms and its lease; returns the lease's stablecoin.
    function _checkNewOrder(uint256 leaseId, uint256 amount, uint256 pricePerShare, uint64 expiry)
        internal
        view
        returns (address stablecoin)
    {
        // The cost of the whole order must fit in 128 bits, so no fill can overflow.
        if (
            amount == 0 || pricePerShare == 0 || pricePerShare > type(uint128).max
                || amount > type(uint128).max / pricePerShare
        ) revert InvalidOrder(amount, pricePerShare);
        if (expiry <= block.timestamp) revert OrderExpiryPassed(expiry);
        stablecoin = _requireTradable(leaseId);
    }

    /// @dev Shares trade while their lease is funded and its term runs. After the term they earn
    /// nothing more (the rent of its epochs belongs to who held at each epoch's end), although
    /// the lease stays `Active` until its last epoch settles. Returns the lease's stablecoin.
    function _requireTradable(uint256 leaseId) internal view returns (address stablecoin) {
        (LeaseStatus status, uint256 termEnd, address coin) = market.leaseStatus(leaseId);
        if (status != LeaseStatus.Active) revert LeaseNotTradable(leaseId, uint8(status));
        if (block.timestamp >= termEnd) revert LeaseTermOver(leaseId, termEnd);
        return coin;
    }

    /// @dev Whether the lease's shares trade now, and its stablecoin.
    function _tradable(uint256 leaseId) internal view returns (bool, address) {
        (LeaseStatus status, uint256 termEnd, address coin) = market.leaseStatus(leaseId);
        return (status == LeaseStatus.Active && block.timestamp < termEnd, coin);
    }

    function _place(
        uint256 leaseId,
        address stablecoin,
        bool bid,
        uint256 amount,
        uint256 pricePerShare,
        uint64 expiry
    ) internal returns (uint256 orderId) {
        orderId = ++orderCount;
        // Past 2^40 (the year 36812) is as good as never: stored (and announced) as the latest.
        uint40 until = expiry > type(uint40).max ? type(uint40).max : uint40(expiry);
        _orders[orderId] = Order({
            maker: msg.sender,
            expiry: until,
            bid: bid,
            leaseId: leaseId.toUint48(),
            remaining: uint128(amount),
            pricePerShare: uint128(pricePerShare)
        });
        emit OrderPlaced(orderId, leaseId, msg.sender, bid, stablecoin, amount, pricePerShare, until);
    }
}
