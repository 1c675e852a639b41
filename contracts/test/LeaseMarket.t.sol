// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {LeaseMarket} from "../src/LeaseMarket.sol";
import "../src/libraries/Errors.sol";
import "../src/libraries/Events.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {DisputeStatus, Lease, LeaseStatus, LeaseTerms, Outcome, SettleItem} from "../src/libraries/Types.sol";
import {BaseTest} from "./BaseTest.sol";
import {ShareReceiver} from "./utils/ShareReceiver.sol";

contract LeaseMarketTest is BaseTest {
    // 8 GPUs x 3600 s x $2/h = $16.00 per epoch at full delivery.
    uint256 internal constant FULL_RENT = 16e6;
    // SLA floor 99% of capacity; credit 100% of the shortfall's value: $15.84 at zero delivery.
    uint256 internal constant MAX_CREDIT = 15_840_000;
    // Bond locked per epoch: the full credit to the tenant plus the full rent to holders.
    uint256 internal constant LOCK = MAX_CREDIT + FULL_RENT;

    // ------------------------------------------------------------ governance

    function test_governance_allowlistArbiterAndUri() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        market.setStablecoinAllowed(address(usd), false);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        desk.setArbiter(alice);
        vm.expectRevert(abi.encodeWithSelector(NotDisputeDesk.selector, address(this)));
        market.markDisputed(1, 1);

        vm.startPrank(governance);
        vm.expectRevert(ZeroAddress.selector);
        market.setStablecoinAllowed(address(0), true);
        vm.expectRevert(ZeroAddress.selector);
        desk.setArbiter(address(0));
        vm.expectEmit(true, false, false, true, address(market));
        emit StablecoinAllowed(address(usd), false);
        market.setStablecoinAllowed(address(usd), false);
        market.setMetadataUri("https://node/metadata/{id}.json");
        vm.stopPrank();
        assertFalse(market.stablecoinAllowed(address(usd)));
        assertEq(market.uri(1), "https://node/metadata/{id}.json");
    }

    // ------------------------------------------------------------ bonds

    function test_bond_depositAndWithdrawFree() public {
        LeaseMarket.Bond memory b = market.bondOf(clusterId, address(usd));
        assertEq(b.total, 100_000e6);
        uint256 before = usd.balanceOf(owner);
        vm.prank(owner);
        market.withdrawBond(clusterId, address(usd), 40_000e6);
        assertEq(usd.balanceOf(owner), before + 40_000e6);
        assertEq(market.bondOf(clusterId, address(usd)).total, 60_000e6);
    }

    function test_bond_depositRejections() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(NotClusterOwner.selector, clusterId, alice));
        market.depositBond(clusterId, address(usd), 1);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(UnknownCluster.selector, uint64(9)));
        market.depositBond(9, address(usd), 1);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(StablecoinNotAllowed.selector, alice));
        market.depositBond(clusterId, alice, 1);
        vm.prank(owner);
        vm.expectRevert(ZeroAmount.selector);
        market.depositBond(clusterId, address(usd), 0);
        vm.startPrank(owner);
        registry.deregisterCluster(clusterId);
        vm.expectRevert(abi.encodeWithSelector(ClusterInactive.selector, clusterId));
        market.depositBond(clusterId, address(usd), 1);
        // A deregistered cluster's owner still gets the whole bond back.
        market.withdrawBond(clusterId, address(usd), 100_000e6);
        vm.stopPrank();
    }

    function test_bond_lockedPartCannotBeWithdrawn() public {
        _activeLease(10);
        uint256 free = 100_000e6 - 10 * LOCK;
        assertEq(market.bondOf(clusterId, address(usd)).locked, 10 * LOCK);
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(BondLocked.selector, free + 1, free));
        market.withdrawBond(clusterId, address(usd), free + 1);
        vm.expectRevert(ZeroAmount.selector);
        market.withdrawBond(clusterId, address(usd), 0);
        market.withdrawBond(clusterId, address(usd), free);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ create

    function test_createLease_mintsSharesAndLocksBond() public {
        LeaseTerms memory t = _terms(1, 4);
        vm.expectEmit(true, true, true, true, address(market));
        emit LeaseCreated(1, clusterId, tenant, t, 3 * LOCK);
        vm.prank(owner);
        uint256 id = market.createLease(t);
        assertEq(id, 1);
        assertEq(market.balanceOf(owner, id), SHARES);
        assertEq(market.activeLeases(clusterId), 1);
        assertEq(market.escrowRequired(id), 3 * FULL_RENT);
        Lease memory l = market.getLease(id);
        assertEq(uint8(l.status), uint8(LeaseStatus.Offered));
        assertEq(l.nextEpoch, 1);
        assertEq(l.bondPerEpoch, LOCK);
    }

    function test_createLease_rejections() public {
        LeaseTerms memory t = _terms(1, 4);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(NotClusterOwner.selector, clusterId, alice));
        market.createLease(t);

        vm.startPrank(owner);
        t.clusterId = 7;
        vm.expectRevert(abi.encodeWithSelector(UnknownCluster.selector, uint64(7)));
        market.createLease(t);

        t = _terms(1, 4);
        t.stablecoin = alice;
        vm.expectRevert(abi.encodeWithSelector(StablecoinNotAllowed.selector, alice));
        market.createLease(t);

        t = _terms(1, 4);
        t.tenant = address(0);
        vm.expectRevert(ZeroAddress.selector);
        market.createLease(t);

        LeaseTerms[8] memory bad;
        for (uint256 i; i < bad.length; ++i) {
            bad[i] = _terms(1, 4);
        }
        bad[0].units = 0;
        bad[1].pricePerUnitHour = 0;
        bad[2].totalShares = 0;
        bad[3].startEpoch = 0; // current epoch: must start in the future
        bad[4].endEpoch = 1; // empty term
        bad[5].slaBps = 10_001;
        bad[6].creditBps = 10_001;
        bad[7].totalShares = 1e30 + 1;
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(InvalidLeaseTerms.selector);
            market.createLease(bad[i]);
        }

        t = _terms(1, 10_000);
        uint256 need = 9_999 * LOCK;
        vm.expectRevert(abi.encodeWithSelector(InsufficientBond.selector, need, 100_000e6));
        market.createLease(t);

        registry.deregisterCluster(clusterId);
        vm.expectRevert(abi.encodeWithSelector(ClusterInactive.selector, clusterId));
        market.createLease(_terms(1, 4));
        vm.stopPrank();
    }

    // ------------------------------------------------------------ fund

    function test_fund_pullsFullTermEscrow() public {
        vm.prank(owner);
        uint256 id = market.createLease(_terms(1, 4));
        uint256 before = usd.balanceOf(tenant);
        vm.expectEmit(true, true, false, true, address(market));
        emit LeaseFunded(id, tenant, 3 * FULL_RENT, 1);
        vm.prank(tenant);
        market.fund(id);
        assertEq(before - usd.balanceOf(tenant), 3 * FULL_RENT);
        assertEq(market.getLease(id).escrow, 3 * FULL_RENT);
        assertEq(uint8(market.getLease(id).status), uint8(LeaseStatus.Active));
    }

    function test_fund_rejections() public {
        vm.prank(owner);
        uint256 id = market.createLease(_terms(1, 4));

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(NotTenant.selector, id, alice));
        market.fund(id);

        vm.expectRevert(abi.encodeWithSelector(UnknownLease.selector, 77));
        market.fund(77);

        vm.prank(tenant);
        usd.approve(address(market), 1);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(InsufficientAllowance.selector, 1, 3 * FULL_RENT));
        market.fund(id);

        vm.prank(tenant);
        usd.approve(address(market), type(uint256).max);
        vm.warp(_epochEnd(2)); // epoch 3, the last, has begun: no whole epoch is left
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(FundingClosed.selector, id, uint64(4)));
        market.fund(id);
    }

    function test_fund_twiceRejected() public {
        uint256 id = _activeLease(3);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(WrongLeaseStatus.selector, id, uint8(LeaseStatus.Active)));
        market.fund(id);
    }

    function test_fundWithPermit_oneCall() public {
        uint256 id = _offeredLeaseWithoutAllowance();
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(3 * FULL_RENT, deadline);
        vm.prank(tenant);
        market.fundWithPermit(id, deadline, v, r, s);
        assertEq(market.getLease(id).escrow, 3 * FULL_RENT);
    }

    function test_fundWithPermit_frontRunPermitStillFunds() public {
        uint256 id = _offeredLeaseWithoutAllowance();
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(3 * FULL_RENT, deadline);
        usd.permit(tenant, address(market), 3 * FULL_RENT, deadline, v, r, s); // griefer uses it first
        vm.prank(tenant);
        market.fundWithPermit(id, deadline, v, r, s);
        assertEq(uint8(market.getLease(id).status), uint8(LeaseStatus.Active));
    }

    function test_fundWithPermit_expiredOrBad() public {
        uint256 id = _offeredLeaseWithoutAllowance();
        uint256 deadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = _permit(3 * FULL_RENT, deadline);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(PermitExpired.selector, deadline));
        market.fundWithPermit(id, deadline, v, r, s);

        // A permit signed for too little leaves no allowance: a clear error, nothing moved.
        deadline = block.timestamp + 1;
        (v, r, s) = _permit(1, deadline);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(InsufficientAllowance.selector, 0, 3 * FULL_RENT));
        market.fundWithPermit(id, deadline, v, r, s);
    }

    /// An unfunded lease whose tenant has approved nothing: only a permit can fund it.
    function _offeredLeaseWithoutAllowance() internal returns (uint256 id) {
        vm.prank(owner);
        id = market.createLease(_terms(1, 4));
        vm.prank(tenant);
        usd.approve(address(market), 0);
    }

    function _permit(uint256 value, uint256 deadline) internal view returns (uint8, bytes32, bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
                ),
                tenant,
                address(market),
                value,
                usd.nonces(tenant),
                deadline
            )
        );
        return vm.sign(tenantKey, keccak256(abi.encodePacked("\x19\x01", usd.DOMAIN_SEPARATOR(), structHash)));
    }

    // ------------------------------------------------------------ cancel

    function test_cancel_releasesBondOnlyBeforeFunding() public {
        vm.startPrank(owner);
        uint256 id = market.createLease(_terms(1, 4));
        vm.stopPrank();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(LeaseStillFundable.selector, id, uint64(4)));
        market.cancelLease(id);
        vm.prank(owner);
        market.cancelLease(id);
        assertEq(market.bondOf(clusterId, address(usd)).locked, 0);
        assertEq(market.activeLeases(clusterId), 0);

        uint256 funded = _activeLease(2);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(WrongLeaseStatus.selector, funded, uint8(LeaseStatus.Active)));
        market.cancelLease(funded);
    }

    // ------------------------------------------------------------ shares

    function test_shares_primarySalePartialFills() public {
        uint256 id = _activeLease(3);
        vm.prank(owner);
        market.offerShares(id, 600_000, 10); // 0.00001 USD per share
        uint256 ownerBefore = usd.balanceOf(owner);

        vm.prank(alice);
        market.buyShares(id, 250_000, 10);
        vm.prank(bob);
        market.buyShares(id, 350_000, 12);

        assertEq(market.balanceOf(alice, id), 250_000);
        assertEq(market.balanceOf(bob, id), 350_000);
        assertEq(market.balanceOf(owner, id), 400_000);
        assertEq(usd.balanceOf(owner) - ownerBefore, 600_000 * 10);
        (, uint128 left,) = market.offers(id);
        assertEq(left, 0);

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(OfferUnavailable.selector, id, 0, 10));
        market.buyShares(id, 1, 10);
    }

    function test_shares_buyRejections() public {
        uint256 id = _activeLease(3);
        vm.prank(owner);
        market.offerShares(id, 100, 50);
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(OfferUnavailable.selector, id, 100, 50));
        market.buyShares(id, 10, 49); // price above limit
        vm.expectRevert(abi.encodeWithSelector(OfferUnavailable.selector, id, 100, 50));
        market.buyShares(id, 101, 50);
        vm.expectRevert(ZeroAmount.selector);
        market.buyShares(id, 0, 50);
        vm.stopPrank();
    }

    function test_shares_offerRejections() public {
        vm.prank(owner);
        uint256 id = market.createLease(_terms(1, 4));
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(WrongLeaseStatus.selector, id, uint8(LeaseStatus.Offered)));
        market.offerShares(id, 1, 1); // unfunded: no investor buys a lease without escrow
        vm.prank(tenant);
        market.fund(id);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(NotClusterOwner.selector, clusterId, alice));
        market.offerShares(id, 1, 1);
    }

    // ------------------------------------------------------------ settle

    function test_settle_fullDeliveryPaysRentNoCredit() public {
        uint256 id = _activeLease(3);
        _reportSingle(id, 1, _full());
        skip(CHALLENGE_WINDOW);
        vm.expectEmit(true, true, false, true, address(market));
        emit EpochSettled(id, 1, _full(), FULL_RENT, 0, 0, 1 + FULL_RENT * 1e36 / SHARES, Outcome.Proven);
        vm.prank(keeper);
        market.settle(id, 1, _full(), 0, new bytes32[](0));
        Lease memory l = market.getLease(id);
        assertEq(l.escrow, 2 * FULL_RENT);
        assertEq(l.rentPool, FULL_RENT);
        assertEq(l.credits, 0);
        assertEq(l.nextEpoch, 2);
        assertEq(market.claimable(id, owner), FULL_RENT);
        assertEq(market.bondOf(clusterId, address(usd)).locked, 2 * LOCK);
    }

    function test_settle_overDeliveryIsCapped() public {
        uint256 id = _activeLease(3);
        _reportAndSettle(id, 1, _full() * 5);
        assertEq(market.getLease(id).rentPool, FULL_RENT);
    }

    function test_settle_shortfallPaysSlaCreditFromBond() public {
        uint256 id = _activeLease(3);
        uint64 delivered = _full() / 2; // 50% availability, SLA 99%
        _reportAndSettle(id, 1, delivered);
        uint256 rent = FULL_RENT / 2;
        uint256 credit = (uint256(_full()) * 9_900 / 10_000 - delivered) * PRICE / 3600;
        Lease memory l = market.getLease(id);
        assertEq(l.rentPool, rent);
        assertEq(l.credits, credit);
        assertEq(market.bondOf(clusterId, address(usd)).total, 100_000e6 - credit);

        uint256 before = usd.balanceOf(tenant);
        vm.prank(tenant);
        market.withdrawTenantFunds(id);
        assertEq(usd.balanceOf(tenant) - before, credit, "credits payable mid-lease");
    }

    function test_settle_manyLeasesOneTree() public {
        uint256[] memory ids = new uint256[](3);
        uint64[] memory delivered = new uint64[](3);
        for (uint256 i; i < 3; ++i) {
            ids[i] = _activeLease(2);
            delivered[i] = uint64(_full() - i * 1000);
        }
        (bytes32 root, bytes32[][] memory proofs) = _deliveriesTree(ids, 1, delivered);
        _warpToEpochEnd(1);
        _submit(_report(1, root));
        skip(CHALLENGE_WINDOW);
        // Lease 2 cannot claim lease 1's leaf.
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector, ids[1], uint64(1)));
        market.settle(ids[1], 1, delivered[0], 0, proofs[0]);
        for (uint256 i; i < 3; ++i) {
            market.settle(ids[i], 1, delivered[i], 0, proofs[i]);
            assertEq(market.getLease(ids[i]).rentPool, uint256(delivered[i]) * PRICE / 3600);
        }
    }

    function test_settle_rejections() public {
        uint256 id = _activeLease(3);
        bytes32[] memory none = new bytes32[](0);
        _reportSingle(id, 1, _full());

        vm.expectRevert(
            abi.encodeWithSelector(
                ChallengeWindowOpen.selector, id, uint64(1), block.timestamp + CHALLENGE_WINDOW
            )
        );
        market.settle(id, 1, _full(), 0, none);

        skip(CHALLENGE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector, id, uint64(1)));
        market.settle(id, 1, _full() + 1, 0, none); // over-claiming the leaf

        vm.expectRevert(abi.encodeWithSelector(EpochNotNext.selector, id, uint64(2), uint64(1)));
        market.settleMissed(id, 2);

        market.settle(id, 1, _full(), 0, none);
        vm.expectRevert(abi.encodeWithSelector(EpochAlreadySettled.selector, id, uint64(1)));
        market.settle(id, 1, _full(), 0, none);

        // Epoch 2 unreported and still within its deadline.
        _warpToEpochEnd(2);
        vm.expectRevert(
            abi.encodeWithSelector(ReportPending.selector, uint64(2), _epochEnd(2) + REPORT_WINDOW)
        );
        market.settle(id, 2, 0, 0, none);

        vm.expectRevert(abi.encodeWithSelector(UnknownLease.selector, 99));
        market.settle(99, 1, 0, 0, none);

        vm.prank(owner);
        uint256 unfunded = market.createLease(_terms(5, 6));
        vm.expectRevert(
            abi.encodeWithSelector(WrongLeaseStatus.selector, unfunded, uint8(LeaseStatus.Offered))
        );
        market.settle(unfunded, 5, 0, 0, none);
    }

    /// A dark oracle is the owner's failure: the tenant pays nothing and gets the full credit, and
    /// holders get the full rent, both from the bond.
    function test_settleMissed_zeroDeliveredFullCreditAndCompensation() public {
        uint256 id = _activeLease(2);
        vm.expectRevert(
            abi.encodeWithSelector(ReportPending.selector, uint64(1), _epochEnd(1) + REPORT_WINDOW)
        );
        market.settleMissed(id, 1);
        vm.warp(_epochEnd(1) + REPORT_WINDOW + 1);
        vm.expectEmit(true, true, false, true, address(market));
        emit EpochSettled(id, 1, 0, 0, FULL_RENT, MAX_CREDIT, 1 + FULL_RENT * 1e36 / SHARES, Outcome.Missed);
        vm.prank(keeper);
        market.settleMissed(id, 1);
        Lease memory l = market.getLease(id);
        assertEq(l.escrow, 2 * FULL_RENT, "tenant never charged for a dark epoch");
        assertEq(l.credits, MAX_CREDIT);
        assertEq(market.claimable(id, owner), FULL_RENT, "holders compensated");
        assertEq(market.bondOf(clusterId, address(usd)).total, 100_000e6 - MAX_CREDIT - FULL_RENT);
        assertEq(market.bondOf(clusterId, address(usd)).locked, LOCK);
    }

    function test_settleMissed_rejectsReportedEpoch() public {
        uint256 id = _activeLease(2);
        _reportSingle(id, 1, _full());
        vm.warp(_epochEnd(1) + REPORT_WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(EpochReported.selector, clusterId, uint64(1)));
        market.settleMissed(id, 1);
    }

    function test_settleBatch_manyEpochsEndsLease() public {
        uint256 id = _activeLease(3);
        SettleItem[] memory items = new SettleItem[](3);
        for (uint64 e = 1; e <= 3; ++e) {
            _reportSingle(id, e, _full());
            items[e - 1] =
                SettleItem({leaseId: id, epoch: e, delivered: _full(), energyWh: 0, proof: new bytes32[](0)});
        }
        skip(CHALLENGE_WINDOW);
        vm.expectEmit(true, false, false, true, address(market));
        emit LeaseEnded(id, 0);
        market.settleBatch(items);
        Lease memory l = market.getLease(id);
        assertEq(uint8(l.status), uint8(LeaseStatus.Ended));
        assertEq(l.rentPool, 3 * FULL_RENT);
        assertEq(market.activeLeases(clusterId), 0);
        assertEq(market.bondOf(clusterId, address(usd)).locked, 0);

        vm.expectRevert(abi.encodeWithSelector(EpochAlreadySettled.selector, id, uint64(1)));
        market.settleBatch(items); // replaying a whole batch settles nothing twice
        vm.expectRevert(abi.encodeWithSelector(WrongLeaseStatus.selector, id, uint8(LeaseStatus.Ended)));
        market.settle(id, 4, 0, 0, new bytes32[](0));
    }

    function test_settleBatch_interleavesLeases() public {
        uint256[] memory ids = new uint256[](2);
        (ids[0], ids[1]) = (_activeLease(2), _activeLease(2));
        uint64[] memory delivered = new uint64[](2);
        (delivered[0], delivered[1]) = (_full(), _full() / 2);
        SettleItem[] memory items = new SettleItem[](4);
        for (uint64 e = 1; e <= 2; ++e) {
            (bytes32 root, bytes32[][] memory proofs) = _deliveriesTree(ids, e, delivered);
            _warpToEpochEnd(e);
            _submit(_report(e, root));
            for (uint256 i; i < 2; ++i) {
                items[(e - 1) * 2 + i] = SettleItem({
                    leaseId: ids[i], epoch: e, delivered: delivered[i], energyWh: 0, proof: proofs[i]
                });
            }
        }
        skip(CHALLENGE_WINDOW);
        market.settleBatch(items);
        assertEq(market.getLease(ids[0]).rentPool, 2 * FULL_RENT);
        assertEq(market.getLease(ids[1]).rentPool, FULL_RENT);
        assertEq(market.activeLeases(clusterId), 0);
    }

    // ------------------------------------------------------------ challenge

    function test_challenge_blocksUntilArbiterResolves() public {
        uint256 id = _activeLease(2);
        _reportSingle(id, 1, _full());
        uint256 bond = FULL_RENT / 10;
        uint256 resolveBy = block.timestamp + RESOLUTION_WINDOW;
        vm.expectEmit(true, true, true, true, address(desk));
        emit EpochChallengeOpened(id, 1, tenant, bond, uint64(resolveBy));
        vm.prank(tenant);
        desk.challenge(id, 1);
        assertEq(usd.balanceOf(address(desk)), bond, "the desk holds the bond");
        skip(CHALLENGE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(EpochChallenged.selector, id, uint64(1), resolveBy));
        market.settle(id, 1, _full(), 0, new bytes32[](0));

        vm.prank(arbiter);
        desk.resolveChallenge(id, 1, _full() / 4, 0, true);
        market.settle(id, 1, 0, 0, new bytes32[](0)); // args ignored: the arbiter's figure counts
        assertEq(market.getLease(id).rentPool, FULL_RENT / 4);
        assertEq(desk.payouts(address(usd), tenant), bond, "upheld: the bond comes back");
        uint256 before = usd.balanceOf(tenant);
        vm.prank(tenant);
        desk.withdrawPayout(address(usd));
        assertEq(usd.balanceOf(tenant) - before, bond);
        assertEq(usd.balanceOf(address(desk)), 0);
    }

    function test_challenge_rejectedBondIsForfeited() public {
        uint256 id = _activeLease(2);
        _reportSingle(id, 1, _full());
        vm.prank(tenant);
        desk.challenge(id, 1);
        vm.prank(arbiter);
        desk.resolveChallenge(id, 1, _full(), 0, false);
        assertEq(desk.payouts(address(usd), governance), FULL_RENT / 10, "forfeited to governance");
        assertEq(desk.payouts(address(usd), owner), 0);
        assertEq(desk.payouts(address(usd), tenant), 0);
        skip(CHALLENGE_WINDOW);
        market.settle(id, 1, 0, 0, new bytes32[](0));
        assertEq(market.getLease(id).rentPool, FULL_RENT);
    }

    function test_challenge_rejections() public {
        uint256 id = _activeLease(2);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(NoReport.selector, clusterId, uint64(1)));
        desk.challenge(id, 1);

        _reportSingle(id, 1, _full());
        vm.prank(alice); // neither the tenant nor a holder
        vm.expectRevert(abi.encodeWithSelector(NotTenantOrHolder.selector, id, alice));
        desk.challenge(id, 1);

        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(ChallengeWindowClosed.selector, id, uint64(3)));
        desk.challenge(id, 3); // outside the term

        vm.prank(tenant);
        desk.challenge(id, 1);
        vm.prank(owner); // a holder, but one challenge per epoch
        vm.expectRevert(abi.encodeWithSelector(AlreadyChallenged.selector, id, uint64(1)));
        desk.challenge(id, 1);

        vm.expectRevert(abi.encodeWithSelector(NotArbiter.selector, address(this)));
        desk.resolveChallenge(id, 1, 0, 0, true);
        vm.prank(arbiter);
        vm.expectRevert(abi.encodeWithSelector(NoOpenChallenge.selector, id, uint64(2)));
        desk.resolveChallenge(id, 2, 0, 0, true);

        _reportSingle(id, 2, _full());
        skip(CHALLENGE_WINDOW);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(ChallengeWindowClosed.selector, id, uint64(2)));
        desk.challenge(id, 2);
    }

    // ------------------------------------------------------------ claims

    function test_claim_proRataAndTransferCheckpoints() public {
        uint256 id = _activeLease(3);
        vm.prank(owner);
        market.safeTransferFrom(owner, alice, id, SHARES / 4, "");
        _reportAndSettle(id, 1, _full()); // owner 3/4, alice 1/4

        vm.prank(alice);
        market.safeTransferFrom(alice, bob, id, SHARES / 4, ""); // alice keeps epoch 1's accrual
        _reportAndSettle(id, 2, _full()); // owner 3/4, bob 1/4

        assertEq(market.claimable(id, alice), FULL_RENT / 4);
        assertEq(market.claimable(id, bob), FULL_RENT / 4);
        assertEq(market.claimable(id, owner), 3 * FULL_RENT / 2);

        uint256 before = usd.balanceOf(alice);
        vm.expectEmit(true, true, false, true, address(market));
        emit RentClaimed(id, alice, FULL_RENT / 4);
        vm.prank(alice);
        market.claim(id);
        assertEq(usd.balanceOf(alice) - before, FULL_RENT / 4);
        vm.prank(alice);
        vm.expectRevert(NothingToClaim.selector);
        market.claim(id);
        vm.expectRevert(abi.encodeWithSelector(UnknownLease.selector, 5));
        market.claim(5);
    }

    function test_tenant_withdrawsRemainderAfterTerm() public {
        uint256 id = _activeLease(2);
        vm.prank(tenant);
        vm.expectRevert(NothingToClaim.selector);
        market.withdrawTenantFunds(id);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(NotTenant.selector, id, alice));
        market.withdrawTenantFunds(id);

        _reportAndSettle(id, 1, _full());
        _reportAndSettle(id, 2, _full() / 2);
        uint256 credit = (uint256(_full()) * 9_900 / 10_000 - _full() / 2) * PRICE / 3600;
        uint256 before = usd.balanceOf(tenant);
        vm.expectEmit(true, true, false, true, address(market));
        emit TenantWithdrawn(id, tenant, credit, FULL_RENT / 2);
        vm.prank(tenant);
        market.withdrawTenantFunds(id);
        assertEq(usd.balanceOf(tenant) - before, credit + FULL_RENT / 2);
    }

    function test_buyShares_reentrantReceiverCannotClaimMidTransfer() public {
        uint256 id = _activeLease(2);
        _reportAndSettle(id, 1, _full());
        vm.prank(owner);
        market.offerShares(id, 10, 1);
        Reenterer attacker = new Reenterer(market, id);
        vm.prank(governance);
        usd.mint(address(attacker), 100);
        vm.prank(address(attacker));
        usd.approve(address(market), 100);
        vm.prank(address(attacker));
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        market.buyShares(id, 10, 1);
    }

    // ------------------------------------------------------------ stablecoin failure modes

    function test_blocklistedHolder_othersStillClaim() public {
        uint256 id = _activeLease(2);
        vm.startPrank(owner);
        market.safeTransferFrom(owner, alice, id, SHARES / 2, "");
        market.safeTransferFrom(owner, bob, id, SHARES / 2, "");
        vm.stopPrank();
        _reportAndSettle(id, 1, _full());

        vm.prank(governance);
        usd.setBlocklisted(alice, true);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Blocklisted.selector, alice));
        market.claim(id);

        vm.prank(bob);
        market.claim(id);
        _reportAndSettle(id, 2, _full()); // settlement unaffected by the frozen holder

        vm.prank(governance);
        usd.setBlocklisted(alice, false);
        uint256 before = usd.balanceOf(alice);
        vm.prank(alice);
        market.claim(id);
        assertEq(usd.balanceOf(alice) - before, FULL_RENT, "nothing lost while frozen");
    }

    function test_pausedStablecoin_revertsCleanlyAndResumes() public {
        uint256 id = _activeLease(2);
        vm.prank(owner);
        uint256 unfunded = market.createLease(_terms(5, 6));
        uint256 held = usd.balanceOf(address(market));

        vm.prank(governance);
        usd.pause();
        vm.prank(tenant);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        market.fund(unfunded);
        // Settlement moves no tokens, so it goes on.
        _reportAndSettle(id, 1, _full());
        vm.prank(owner);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        market.claim(id);
        assertEq(usd.balanceOf(address(market)), held);
        assertEq(market.claimable(id, owner), FULL_RENT);

        vm.prank(governance);
        usd.unpause();
        vm.prank(owner);
        assertEq(market.claim(id), FULL_RENT);
        vm.prank(tenant);
        market.fund(unfunded);
    }
}

/// @notice A share buyer whose ERC-1155 receive hook tries to claim rent mid-purchase.
contract Reenterer is ShareReceiver {
    LeaseMarket internal immutable market;
    uint256 internal immutable leaseId;

    constructor(LeaseMarket market_, uint256 leaseId_) {
        (market, leaseId) = (market_, leaseId_);
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        market.claim(leaseId);
        return this.onERC1155Received.selector;
    }
}
