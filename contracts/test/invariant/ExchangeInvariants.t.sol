// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {LeaseMarket} from "../../src/LeaseMarket.sol";
import {ShareExchange} from "../../src/ShareExchange.sol";
import {LeaseStatus} from "../../src/libraries/Types.sol";
import {BaseTest} from "../BaseTest.sol";

/// @notice Random traders place, fill and cancel asks and bids on two leases, move shares away
/// under their own asks, and let time pass orders' expiries. Every call that the exchange refuses
/// is caught (and must leave nothing changed); every call it accepts is checked against the order
/// it acted on.
contract ExchangeHandler is CommonBase, StdCheats, StdUtils {
    ShareExchange internal immutable exchange;
    LeaseMarket internal immutable market;
    address[] internal traders;
    uint256[] internal leases;

    /// Per order: what was placed, filled and cancelled.
    mapping(uint256 orderId => uint256) public placed;
    mapping(uint256 orderId => uint256) public filled;
    mapping(uint256 orderId => uint256) public cancelled;
    uint256 public fills;
    uint256 public refusals;

    constructor(ShareExchange exchange_, address[] memory traders_, uint256[] memory leases_) {
        exchange = exchange_;
        market = LeaseMarket(address(exchange_.market()));
        traders = traders_;
        leases = leases_;
    }

    function _trader(uint256 seed) internal view returns (address) {
        return traders[seed % traders.length];
    }

    function _order(uint256 seed) internal view returns (uint256) {
        uint256 count = exchange.orderCount();
        return count == 0 ? 0 : 1 + seed % count;
    }

    /// Orders on a lease live only while it is Active and inside its term.
    function _tradable(uint256 lease) internal view returns (bool) {
        (LeaseStatus status, uint256 termEnd,) = market.leaseStatus(lease);
        return status == LeaseStatus.Active && block.timestamp < termEnd;
    }

    function place(uint256 who, uint256 which, bool bid, uint256 amount, uint256 price, uint32 life)
        external
    {
        address maker = _trader(who);
        uint256 lease = leases[which % leases.length];
        amount = bound(amount, 0, 400_000);
        price = bound(price, 0, 20e6);
        uint64 expiry = uint64(block.timestamp + bound(life, 0, 3 days));
        vm.prank(maker);
        try (bid ? exchange.placeBid : exchange.placeAsk)(lease, amount, price, expiry) returns (uint256 id) {
            placed[id] = amount;
        } catch {
            ++refusals;
        }
    }

    function fill(uint256 who, uint256 orderSeed, uint256 amount) external {
        uint256 id = _order(orderSeed);
        if (id == 0) return;
        address taker = _trader(who);
        ShareExchange.Order memory o = exchange.getOrder(id);
        amount = bound(amount, 0, uint256(o.remaining) + 1);
        vm.prank(taker);
        try exchange.fill(id, amount) returns (uint256 cost) {
            require(block.timestamp < o.expiry, "filled after its expiry");
            require(_tradable(o.leaseId), "filled on a lease no longer tradable");
            require(taker != o.maker, "self-trade filled");
            require(amount > 0 && amount <= o.remaining, "filled beyond the order");
            require(cost == amount * o.pricePerShare, "not at the maker's price");
            filled[id] += amount;
            ++fills;
        } catch {
            require(exchange.getOrder(id).remaining == o.remaining, "a refused fill changed the order");
            ++refusals;
        }
    }

    function cancel(uint256 who, uint256 orderSeed) external {
        uint256 id = _order(orderSeed);
        if (id == 0) return;
        address caller = _trader(who);
        ShareExchange.Order memory o = exchange.getOrder(id);
        vm.prank(caller);
        try exchange.cancel(id) returns (uint256 refund) {
            require(
                caller == o.maker || block.timestamp >= o.expiry || !_tradable(o.leaseId),
                "a stranger cancelled a live order"
            );
            require(refund == (o.bid ? uint256(o.remaining) * o.pricePerShare : 0), "wrong refund");
            cancelled[id] += o.remaining;
        } catch {
            ++refusals;
        }
    }

    /// A maker moves shares away from under its asks (their fills must then fail whole).
    function moveShares(uint256 from, uint256 to, uint256 which, uint256 amount) external {
        (address a, address b) = (_trader(from), _trader(to));
        uint256 lease = leases[which % leases.length];
        amount = bound(amount, 0, market.balanceOf(a, lease));
        vm.prank(a);
        try market.safeTransferFrom(a, b, lease, amount, "") {}
        catch {
            ++refusals;
        }
    }

    function wait(uint32 secondsLater) external {
        skip(bound(secondsLater, 0, 1 days));
    }
}

/// @notice Money and shares are conserved by trading; the exchange holds exactly the open bids'
/// escrow; each order's shares are placed = filled + cancelled + remaining.
contract ExchangeInvariantsTest is BaseTest {
    ExchangeHandler internal handler;
    ShareExchange internal exchange;
    address[] internal traders;
    uint256[] internal leases;
    uint256 internal totalUsd;

    function setUp() public override {
        super.setUp();
        exchange = new ShareExchange(market);
        leases.push(_activeLease(200));
        leases.push(_activeLease(200));
        traders.push(owner);
        traders.push(alice);
        traders.push(bob);
        // The owner spreads shares so every trader can ask.
        for (uint256 i; i < leases.length; ++i) {
            vm.startPrank(owner);
            market.safeTransferFrom(owner, alice, leases[i], SHARES / 3, "");
            market.safeTransferFrom(owner, bob, leases[i], SHARES / 3, "");
            vm.stopPrank();
        }
        for (uint256 i; i < traders.length; ++i) {
            vm.startPrank(traders[i]);
            usd.approve(address(exchange), type(uint256).max);
            market.setApprovalForAll(address(exchange), true);
            vm.stopPrank();
            totalUsd += usd.balanceOf(traders[i]);
        }
        handler = new ExchangeHandler(exchange, traders, leases);
        // A book to trade against from the first call: each trader asks and bids on each lease.
        for (uint256 i; i < traders.length; ++i) {
            for (uint256 l; l < leases.length; ++l) {
                handler.place(i, l, false, 50_000, 1e6 + i, type(uint32).max);
                handler.place(i, l, true, 50_000, 1e6 - i, type(uint32).max);
            }
        }
        assertEq(exchange.orderCount(), 12);
        targetContract(address(handler));
    }

    function invariant_exchangeHoldsExactlyTheOpenBidsEscrow() public view {
        uint256 escrow;
        for (uint256 id = 1; id <= exchange.orderCount(); ++id) {
            ShareExchange.Order memory o = exchange.getOrder(id);
            if (o.bid) escrow += uint256(o.remaining) * o.pricePerShare;
        }
        assertEq(usd.balanceOf(address(exchange)), escrow);
    }

    function invariant_moneyAndSharesAreConserved() public view {
        uint256 usdNow = usd.balanceOf(address(exchange));
        for (uint256 i; i < traders.length; ++i) {
            usdNow += usd.balanceOf(traders[i]);
        }
        assertEq(usdNow, totalUsd);
        for (uint256 l; l < leases.length; ++l) {
            uint256 shares;
            for (uint256 i; i < traders.length; ++i) {
                shares += market.balanceOf(traders[i], leases[l]);
            }
            assertEq(shares, SHARES, "shares left the traders");
            assertEq(market.balanceOf(address(exchange), leases[l]), 0, "the exchange never holds shares");
        }
    }

    function invariant_everyOrderAccountsForItsShares() public view {
        for (uint256 id = 1; id <= exchange.orderCount(); ++id) {
            assertEq(
                handler.placed(id),
                handler.filled(id) + handler.cancelled(id) + exchange.getOrder(id).remaining,
                "placed = filled + cancelled + remaining"
            );
        }
    }

    /// The handler's calls trade: a fill against the seeded book goes through and is counted (so
    /// the invariants above see fills, not only refusals).
    function test_handlerFillsAgainstTheSeededBook() public {
        handler.fill(1, 0, 10_000); // alice takes part of the owner's ask (order 1)
        handler.fill(0, 5, 10_000); // the owner hits part of alice's bid (order 6)
        assertEq(handler.fills(), 2);
        assertEq(exchange.getOrder(1).remaining, 40_000);
        assertEq(exchange.getOrder(6).remaining, 40_000);
        invariant_exchangeHoldsExactlyTheOpenBidsEscrow();
        invariant_moneyAndSharesAreConserved();
        invariant_everyOrderAccountsForItsShares();
    }
}
