// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {DevStablecoin} from "../src/DevStablecoin.sol";
import {ShareExchange} from "../src/ShareExchange.sol";
import "../src/libraries/Errors.sol";
import "../src/libraries/Events.sol";
import {LeaseStatus, LeaseTerms} from "../src/libraries/Types.sol";
import {ExchangeBase} from "./utils/ExchangeBase.sol";
import {ShareReceiver} from "./utils/ShareReceiver.sol";

/// @notice Independent review of ShareExchange. `test_attack_*` failed on the reviewed code (each
/// demonstrated a finding, now fixed); `test_withstands_*` are attempts the exchange withstood.
contract ExchangeAttacksTest is ExchangeBase {
    // ------------------------------------------------------------ findings

    /// FINDING (fixed): once a lease's term is over but its last epoch is not settled yet, its
    /// status is still `Active`, and bids filled. The rest of the rent belongs to whoever held at
    /// each epoch's end, so the shares earn nothing more: a holder could dump them into any
    /// standing bid and keep all the rent, and nobody but the maker could return the escrow.
    function test_attack_bidFilledWithWorthlessSharesAfterTermEnded() public {
        for (uint64 e = 1; e <= 3; ++e) {
            _reportAndSettle(lease, e, _full());
        }
        vm.prank(alice);
        uint256 bid = exchange.placeBid(lease, 100_000, 1e6, expiry); // $100,000 escrowed
        _warpToEpochEnd(4); // the term is over; epoch 4 waits for its report and challenge window
        (LeaseStatus status, uint256 termEnd,) = market.leaseStatus(lease);
        assertEq(uint8(status), uint8(LeaseStatus.Active));
        assertEq(termEnd, block.timestamp);

        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(LeaseTermOver.selector, lease, termEnd));
        exchange.fill(bid, 100_000);
        assertFalse(exchange.fillable(bid));
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(LeaseTermOver.selector, lease, termEnd));
        exchange.placeBid(lease, 1, 1e6, expiry);
        uint256 aliceUsd = usd.balanceOf(alice);
        vm.prank(keeper);
        assertEq(exchange.cancel(bid), 100_000e6, "anyone returns the escrow of a lease past its term");
        assertEq(usd.balanceOf(alice), aliceUsd + 100_000e6);
    }

    /// FINDING (fixed; matters only if governance allowlists such a token, the market accepts any):
    /// `placeBid` credited `amount * price` without checking what arrived, so with a fee-on-transfer
    /// coin one maker's fill was paid out of another maker's escrow and the last refund reverted.
    function test_attack_feeOnTransferCoin_bidEscrowIsShort_lastMakerLocked() public {
        FeeCoin fee = new FeeCoin();
        address[4] memory users = [owner, tenant, alice, bob];
        for (uint256 i; i < users.length; ++i) {
            fee.mint(users[i], 10_000_000e6);
        }
        uint256 feeLease = _leaseIn(IERC20(address(fee)));

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EscrowShortfall.selector, 100e6, 99e6));
        exchange.placeBid(feeLease, 100, 1e6, expiry);
        assertEq(fee.balanceOf(address(exchange)), 0);
    }

    /// FINDING (fixed; review of the fill-gas change): storing a holder's accrued rent plus one
    /// overflowed 128 bits for a holder owed the whole of a full rent pool (2^128 - 1), and every
    /// share movement of that holder reverted until it claimed. The slot is now kept non-zero
    /// by the boundary queue's origin instead, and `accrued` holds the rent itself.
    function test_attack_holderOwedAFullPoolCanStillMoveShares() public {
        DevStablecoin big = new DevStablecoin(governance);
        uint256 max = type(uint128).max;
        vm.startPrank(governance);
        big.mint(owner, max);
        big.mint(tenant, max);
        vm.stopPrank();
        vm.prank(owner);
        big.approve(address(market), type(uint256).max);
        vm.prank(tenant);
        big.approve(address(market), type(uint256).max);
        vm.prank(governance);
        market.setStablecoinAllowed(address(big), true);
        vm.prank(owner);
        market.depositBond(clusterId, address(big), max);
        LeaseTerms memory t = _terms(1, 2);
        (t.stablecoin, t.units, t.pricePerUnitHour, t.slaBps, t.creditBps, t.totalShares) =
        (address(big), 1, uint128(max), 0, 0, 1);
        vm.prank(owner);
        uint256 id = market.createLease(t);
        vm.prank(tenant);
        market.fund(id);
        // A missed epoch: the bond pays holders its full rent, and the pool reaches 2^128 - 1.
        skip(3 * EPOCH + REPORT_WINDOW + 1);
        market.settleMissed(id, 1);
        assertEq(market.claimable(id, owner), max);
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, 1, "");
        assertEq(market.claimable(id, owner), max, "the rent stays the seller's");
        vm.prank(owner);
        assertEq(market.claim(id), max);
    }

    /// FINDING (fixed; same review): orders were stored with a 40-bit expiry and refused a later
    /// one (such as `type(uint64).max` for "never") with a bare SafeCast error. Past 2^40 (the
    /// year 36812) now stores as the latest expiry.
    function test_attack_aNeverExpiringOrderIsAccepted() public {
        vm.prank(alice);
        vm.expectEmit(address(exchange));
        emit OrderPlaced(1, lease, alice, true, address(usd), 10, 1e6, type(uint40).max);
        uint256 id = exchange.placeBid(lease, 10, 1e6, type(uint64).max);
        assertEq(exchange.getOrder(id).expiry, type(uint40).max);
        vm.prank(owner);
        exchange.fill(id, 10);
    }

    // ------------------------------------------------------------ withstood

    /// A bid's maker re-entering `cancel` from its share receipt (to get both shares and refund).
    function test_withstands_bidMakerReentersCancelFromShareReceipt() public {
        MakerReenterer m = new MakerReenterer(exchange);
        vm.prank(governance);
        usd.mint(address(m), 100e6);
        uint256 id = m.bid(lease, 100, 1e6, expiry);
        vm.prank(owner);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        exchange.fill(id, 50);
        assertEq(usd.balanceOf(address(exchange)), 100e6);
    }

    /// An ask cannot sell shares the cluster owner set aside for a primary-sale offer.
    function test_withstands_askCannotSellReservedShares() public {
        vm.prank(owner);
        market.offerShares(lease, SHARES - 10, 1e6);
        vm.prank(owner);
        uint256 id = exchange.placeAsk(lease, 100, 1e6, expiry); // held >= 100, but 90 are reserved
        uint256 aliceUsd = usd.balanceOf(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SharesReserved.selector, lease, SHARES - 10));
        exchange.fill(id, 100);
        assertEq(usd.balanceOf(alice), aliceUsd);
        vm.prank(alice);
        exchange.fill(id, 10); // the unreserved part sells
        assertEq(market.balanceOf(alice, lease), 10);
    }

    /// Buying during a two-epoch settlement backlog and claiming as each epoch settles yields
    /// nothing of those epochs' rent.
    function test_withstands_buyDuringBacklogThenClaimEachSettlement() public {
        _warpToEpochEnd(2); // epochs 1 and 2 ended, none settled
        vm.prank(owner);
        uint256 id = exchange.placeAsk(lease, SHARES / 2, 1, expiry);
        vm.prank(alice);
        exchange.fill(id, SHARES / 2);
        _reportAndSettle(lease, 1, _full());
        assertEq(market.claimable(lease, alice), 0);
        vm.prank(alice);
        vm.expectRevert(NothingToClaim.selector);
        market.claim(lease);
        _reportAndSettle(lease, 2, _full());
        assertEq(market.claimable(lease, alice), 0);
        assertEq(market.claimable(lease, owner), 2 * _epochRent());
        _reportAndSettle(lease, 3, _full());
        assertEq(market.claimable(lease, alice), _epochRent() / 2);
    }

    /// Two leases in two stablecoins: each bid's escrow and payout stay in its own coin.
    function test_withstands_twoStablecoinsKeepSeparateEscrow() public {
        FeeCoin other = new FeeCoin();
        other.setFee(0);
        address[4] memory users = [owner, tenant, alice, bob];
        for (uint256 i; i < users.length; ++i) {
            other.mint(users[i], 1_000_000e6);
        }
        uint256 lease2 = _leaseIn(IERC20(address(other)));

        vm.startPrank(alice);
        uint256 b1 = exchange.placeBid(lease, 10, 5e6, expiry);
        uint256 b2 = exchange.placeBid(lease2, 10, 7e6, expiry);
        vm.stopPrank();
        assertEq(usd.balanceOf(address(exchange)), 50e6);
        assertEq(other.balanceOf(address(exchange)), 70e6);
        vm.prank(owner);
        exchange.fill(b2, 10);
        assertEq(other.balanceOf(address(exchange)), 0);
        assertEq(usd.balanceOf(address(exchange)), 50e6);
        vm.prank(alice);
        assertEq(exchange.cancel(b1), 50e6);
    }

    /// A third party cannot cancel a live order, nor redirect a bid's refund.
    function test_withstands_strangerCancelAndRefundRedirect() public {
        vm.prank(alice);
        uint256 id = exchange.placeBid(lease, 10, 1e6, expiry);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(OrderStillLive.selector, id));
        exchange.cancel(id);
        vm.warp(expiry);
        uint256 bobUsd = usd.balanceOf(bob);
        vm.prank(bob);
        exchange.cancel(id);
        assertEq(usd.balanceOf(bob), bobUsd);
    }
}

/// 1% fee on every transfer (setFee(0) turns it off).
contract FeeCoin is ERC20 {
    uint256 public feeBps = 100;

    constructor() ERC20("Fee USD", "fUSD") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFee(uint256 bps) external {
        feeBps = bps;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0) || feeBps == 0) return super._update(from, to, value);
        uint256 f = value * feeBps / 10_000;
        super._update(from, address(0xFEE), f);
        super._update(from, to, value - f);
    }
}

/// A bid maker whose share receipt tries to cancel its own (now partly filled) bid.
contract MakerReenterer is ShareReceiver {
    ShareExchange internal immutable exchange;
    uint256 internal orderId;

    constructor(ShareExchange exchange_) {
        exchange = exchange_;
    }

    function bid(uint256 leaseId, uint256 amount, uint256 price, uint64 expiry) external returns (uint256) {
        address coin = exchange.market().getLease(leaseId).stablecoin;
        ERC20(coin).approve(address(exchange), type(uint256).max);
        orderId = exchange.placeBid(leaseId, amount, price, expiry);
        return orderId;
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        exchange.cancel(orderId);
        return this.onERC1155Received.selector;
    }
}
