// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CapacityPricer} from "../src/CapacityPricer.sol";
import {CollateralFactory, NavOracleDeployer} from "../src/CollateralFactory.sol";
import {LeaseNavOracle} from "../src/LeaseNavOracle.sol";
import {LeaseShareToken} from "../src/LeaseShareToken.sol";
import {ShareExchange} from "../src/ShareExchange.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {LeaseTerms, SettleItem, Unit, UsageReport} from "../src/libraries/Types.sol";
import {BaseTest} from "./BaseTest.sol";

/// @notice Gas benchmarks recorded with vm.snapshotGasLastCall into snapshots/ComputeLedger.json.
/// `FORGE_SNAPSHOT_CHECK=true forge test` fails when a number changes without the snapshot.
/// Figures are the execution gas of the measured call with every contract's storage made cold
/// first (`vm.cool`), as in a fresh transaction; a transaction adds 21,000 plus calldata on top.
/// Steady state: the cluster has reported before and the lease has settled an epoch before.
contract GasTest is BaseTest {
    string internal constant GROUP = "ComputeLedger";

    /// Forget which accounts and slots earlier set-up calls touched.
    function _coolAll() internal {
        vm.cool(address(registry));
        vm.cool(address(market));
        vm.cool(address(desk));
        vm.cool(address(usd));
    }

    function _oneOfOneCluster() internal returns (uint64 id, uint256[] memory keys) {
        address[] memory one = new address[](1);
        one[0] = attestors[0];
        vm.prank(owner);
        id = registry.registerCluster("ipfs://gas", 0, EPOCH, one, 1);
        keys = new uint256[](1);
        keys[0] = attestorKeys[0];
    }

    function test_gas_submitReport_1attestor() public {
        (uint64 id, uint256[] memory keys) = _oneOfOneCluster();
        clusterId = id;
        _warpToEpochEnd(1);
        UsageReport memory r = _report(0, keccak256("a"));
        registry.submitReport(r, _sign(r, keys));
        r = _report(1, keccak256("b"));
        bytes[] memory sigs = _sign(r, keys);
        _coolAll();
        registry.submitReport(r, sigs);
        vm.snapshotGasLastCall(GROUP, "submitReport_1attestor");
    }

    function test_gas_submitReport_3attestors() public {
        vm.prank(owner);
        clusterId = registry.registerCluster("ipfs://gas", 0, EPOCH, attestors, 3);
        _warpToEpochEnd(1);
        UsageReport memory r = _report(0, keccak256("a"));
        registry.submitReport(r, _sign(r, _keys(3)));
        r = _report(1, keccak256("b"));
        bytes[] memory sigs = _sign(r, _keys(3));
        _coolAll();
        registry.submitReport(r, sigs);
        vm.snapshotGasLastCall(GROUP, "submitReport_3attestors");
    }

    function _settleSecondEpoch(uint256 id) internal {
        _reportAndSettle(id, 1, _full());
        _reportSingle(id, 2, _full());
        skip(CHALLENGE_WINDOW);
        bytes32[] memory proof = new bytes32[](0);
        uint64 delivered = _full();
        _coolAll();
        vm.prank(keeper);
        market.settle(id, 2, delivered, 0, proof);
    }

    function test_gas_settle_1holder() public {
        uint256 id = _activeLease(4);
        _settleSecondEpoch(id);
        vm.snapshotGasLastCall(GROUP, "settle_1holder");
    }

    /// A powered shell's epoch: rent to holders and its racks' energy, at the tariff, to the bond.
    function test_gas_settle_poweredShell() public {
        LeaseTerms memory t = _terms(1, 5);
        (t.unit, t.units, t.pricePerUnitHour, t.energyPricePerKwh) = (Unit.Kw, 1_500, 200_000, 50_000);
        vm.prank(owner);
        uint256 id = market.createLease(t);
        vm.prank(tenant);
        market.fund(id);
        for (uint64 e = 1; e <= 2; ++e) {
            _warpToEpochEnd(e);
            _submit(_report(e, ReportLib.deliveryLeaf(id, e, 1_500 * EPOCH, 1_200_000)));
            skip(CHALLENGE_WINDOW);
            if (e == 2) _coolAll();
            market.settle(id, e, 1_500 * EPOCH, 1_200_000, new bytes32[](0));
        }
        vm.snapshotGasLastCall(GROUP, "settle_poweredShell");
    }

    function test_gas_settle_1000holders() public {
        uint256 id = _activeLease(4);
        vm.startPrank(owner);
        for (uint256 i; i < 1000; ++i) {
            market.safeTransferFrom(owner, address(uint160(0x10000 + i)), id, 1000, "");
        }
        vm.stopPrank();
        _settleSecondEpoch(id);
        vm.snapshotGasLastCall(GROUP, "settle_1000holders");
    }

    function test_gas_settle_firstEpoch() public {
        uint256 id = _activeLease(4);
        _reportSingle(id, 1, _full());
        skip(CHALLENGE_WINDOW);
        bytes32[] memory proof = new bytes32[](0);
        uint64 delivered = _full();
        _coolAll();
        market.settle(id, 1, delivered, 0, proof);
        vm.snapshotGasLastCall(GROUP, "settle_firstEpoch");
    }

    function test_gas_settleBatch_24epochs() public {
        uint256 id = _activeLease(24);
        SettleItem[] memory items = new SettleItem[](24);
        for (uint64 e = 1; e <= 24; ++e) {
            _reportSingle(id, e, _full());
            items[e - 1] =
                SettleItem({leaseId: id, epoch: e, delivered: _full(), energyWh: 0, proof: new bytes32[](0)});
        }
        skip(CHALLENGE_WINDOW);
        _coolAll();
        market.settleBatch(items);
        vm.snapshotGasLastCall(GROUP, "settleBatch_24epochs");
    }

    function test_gas_claim() public {
        uint256 id = _activeLease(4);
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, SHARES / 2, "");
        _settleSecondEpoch(id);
        _coolAll();
        vm.prank(alice);
        market.claim(id);
        vm.snapshotGasLastCall(GROUP, "claim");
    }

    /// An exchange where the owner asks and alice bids, both traders approved both ways, on a lease
    /// that has settled epochs and where alice already holds shares.
    function _exchangeWithOrders(uint256 id)
        internal
        returns (ShareExchange exchange, uint256 ask, uint256 bid)
    {
        exchange = new ShareExchange(market);
        address[2] memory traders = [owner, alice];
        for (uint256 i; i < traders.length; ++i) {
            vm.startPrank(traders[i]);
            usd.approve(address(exchange), type(uint256).max);
            market.setApprovalForAll(address(exchange), true);
            vm.stopPrank();
        }
        uint64 expiry = uint64(block.timestamp + 30 days);
        vm.prank(owner);
        ask = exchange.placeAsk(id, SHARES / 4, 1e6, expiry);
        vm.prank(alice);
        bid = exchange.placeBid(id, SHARES / 4, 1e6, expiry);
    }

    /// A lease where alice holds half the shares and two epochs settled; with `traded`, both the
    /// owner and alice moved shares after that (their checkpoints recorded rent) and a third
    /// epoch settled since: the state of holders who trade more than once.
    function _leaseWithHolders(bool traded) internal returns (uint256 id) {
        id = _activeLease(4);
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, SHARES / 2, "");
        _settleSecondEpoch(id);
        if (traded) {
            vm.prank(alice);
            market.safeTransferFrom(alice, owner, id, 1, "");
            _reportAndSettle(id, 3, _full());
        }
    }

    /// One fill of an eighth of the shares: of the owner's ask by alice, or of alice's bid by the
    /// owner.
    function _gasOfFill(bool traded, bool ofBid, string memory name) internal {
        uint256 id = _leaseWithHolders(traded);
        (ShareExchange exchange, uint256 ask, uint256 bid) = _exchangeWithOrders(id);
        _coolAll();
        vm.cool(address(exchange));
        vm.prank(ofBid ? owner : alice);
        exchange.fill(ofBid ? bid : ask, SHARES / 8);
        vm.snapshotGasLastCall(GROUP, name);
    }

    /// A buyer takes part of an ask: pays the maker, receives the shares (both sides checkpointed),
    /// between holders who have traded before.
    function test_gas_fillAsk() public {
        _gasOfFill(true, false, "fillAsk");
    }

    /// A seller hits part of a bid: its shares go to the bidder, the escrow pays it.
    function test_gas_fillBid() public {
        _gasOfFill(true, true, "fillBid");
    }

    /// The first trade of both sides since they began to earn: each records its accrued rent in a
    /// slot that was still zero (20,000 gas a side, once per holder and lease).
    function test_gas_fillAsk_firstTrade() public {
        _gasOfFill(false, false, "fillAsk_firstTrade");
    }

    /// The first share movement of both sides since they began to earn.
    function test_gas_transferShares() public {
        uint256 id = _leaseWithHolders(false);
        _coolAll();
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, SHARES / 4, "");
        vm.snapshotGasLastCall(GROUP, "transferShares");
    }

    /// A later movement between the same holders, after another epoch settled.
    function test_gas_transferShares_again() public {
        uint256 id = _leaseWithHolders(true);
        _coolAll();
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, SHARES / 4, "");
        vm.snapshotGasLastCall(GROUP, "transferShares_again");
    }

    // ------------------------------------------------------------ collateral and pricing

    /// A lease with one settled epoch, its share token (alice wrapped 100 shares) and NAV feed.
    function _wrappedLease() internal returns (uint256 id, LeaseShareToken token, LeaseNavOracle oracle) {
        id = _activeLease(4);
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, SHARES / 2, "");
        (token, oracle) = new CollateralFactory(market, 1_000, new NavOracleDeployer()).create(id);
        vm.startPrank(alice);
        market.setApprovalForAll(address(token), true);
        usd.approve(address(token), type(uint256).max);
        token.wrap(100, alice);
        vm.stopPrank();
        _reportAndSettle(id, 1, _full());
        oracle.poke();
    }

    /// A second wrap: claims the epoch's rent for the token, charges the entrant, mints.
    function test_gas_wrap() public {
        (uint256 id, LeaseShareToken token,) = _wrappedLease();
        _coolAll();
        vm.cool(address(token));
        vm.prank(alice);
        token.wrap(100, alice);
        vm.snapshotGasLastCall(GROUP, "wrap");
        assertEq(market.balanceOf(address(token), id), 200);
    }

    /// What Morpho pays for a price: the lease, the token's rent, one pending epoch's report.
    function test_gas_navPrice() public {
        (uint256 id, LeaseShareToken token, LeaseNavOracle oracle) = _wrappedLease();
        _reportSingle(id, 2, _full());
        _coolAll();
        vm.cool(address(token));
        vm.cool(address(oracle));
        oracle.price();
        vm.snapshotGasLastCall(GROUP, "navPrice_onePendingEpoch");
    }

    /// The relayer's update after a report: one reported epoch applied.
    function test_gas_pricerUpdate() public {
        CapacityPricer pricer = new CapacityPricer(registry, 0.8e18, 4e18, 0.05e18);
        vm.warp(_epochEnd(0));
        vm.prank(owner);
        pricer.setCurve(clusterId, 2_000_000, 1_000_000);
        _warpToEpochEnd(1);
        _submit(_report(1, keccak256("deliveries")));
        pricer.update(clusterId);
        _warpToEpochEnd(2);
        _submit(_report(2, keccak256("deliveries")));
        _coolAll();
        vm.cool(address(pricer));
        pricer.update(clusterId);
        vm.snapshotGasLastCall(GROUP, "pricerUpdate_oneEpoch");
    }

    // ------------------------------------------------------------ disputes and owner failures

    /// Epoch 1 settled, epoch 2 reported with the lease's leaf, inside its challenge window.
    function _reportedSecondEpoch() internal returns (uint256 id) {
        id = _activeLease(4);
        _reportAndSettle(id, 1, _full());
        _reportSingle(id, 2, _full());
    }

    function test_gas_challenge() public {
        uint256 id = _reportedSecondEpoch();
        _coolAll();
        vm.prank(tenant);
        desk.challenge(id, 2);
        vm.snapshotGasLastCall(GROUP, "challenge");
    }

    function test_gas_resolveChallenge() public {
        uint256 id = _reportedSecondEpoch();
        vm.prank(tenant);
        desk.challenge(id, 2);
        _coolAll();
        vm.prank(arbiter);
        desk.resolveChallenge(id, 2, _full() / 2, 0, true);
        vm.snapshotGasLastCall(GROUP, "resolveChallenge");
    }

    /// The arbiter stayed silent: after the deadline the report stands and settles with its proof.
    function test_gas_settle_afterChallengeTimeout() public {
        uint256 id = _reportedSecondEpoch();
        vm.prank(tenant);
        desk.challenge(id, 2);
        skip(RESOLUTION_WINDOW);
        bytes32[] memory proof = new bytes32[](0);
        uint64 delivered = _full();
        _coolAll();
        market.settle(id, 2, delivered, 0, proof);
        vm.snapshotGasLastCall(GROUP, "settle_afterChallengeTimeout");
        desk.expire(id, 2);
        vm.snapshotGasLastCall(GROUP, "expireChallenge");
    }

    /// The report left the lease's leaf out: after the proof deadline anyone settles it unproven.
    function test_gas_settleUnproven() public {
        uint256 id = _activeLease(4);
        _reportAndSettle(id, 1, _full());
        _warpToEpochEnd(2);
        _submit(_report(2, keccak256("a tree without lease 1")));
        skip(CHALLENGE_WINDOW + PROOF_GRACE + 1);
        _coolAll();
        market.settleUnproven(id, 2);
        vm.snapshotGasLastCall(GROUP, "settleUnproven");
    }

    function test_gas_settleMissed() public {
        uint256 id = _activeLease(4);
        _reportAndSettle(id, 1, _full());
        vm.warp(_epochEnd(2) + REPORT_WINDOW + 1);
        _coolAll();
        market.settleMissed(id, 2);
        vm.snapshotGasLastCall(GROUP, "settleMissed");
    }

    /// A transfer while an ended epoch is unsettled also records both sides' balance boundary.
    function test_gas_transferShares_duringBacklog() public {
        uint256 id = _activeLease(4);
        _reportAndSettle(id, 1, _full());
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, SHARES / 2, ""); // no backlog yet
        _reportSingle(id, 2, _full()); // epoch 2 ended, unsettled
        _coolAll();
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, SHARES / 4, "");
        vm.snapshotGasLastCall(GROUP, "transferShares_duringBacklog");
    }
}
