// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {DisputeDesk} from "./DisputeDesk.sol";
import {IClusterRegistry} from "./interfaces/IClusterRegistry.sol";
import {IDisputeDesk} from "./interfaces/IDisputeDesk.sol";
import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";
import {RentLib} from "./libraries/RentLib.sol";
import {ReportLib} from "./libraries/ReportLib.sol";
import {
    Billing,
    DisputeStatus,
    Lease,
    LeaseStatus,
    LeaseTerms,
    Outcome,
    SettleItem,
    Unit
} from "./libraries/Types.sol";

/// @title LeaseMarket
/// @notice Leases of attested capacity: GPUs, or the kW of a powered shell (the tenant's own
/// machines on the site's critical-IT power, energy passed through). Holds escrow, rent and bonds,
/// and keeps
/// `balance == Σ escrow + Σ rent pools + Σ SLA credits owed + Σ bonds` for each stablecoin
/// (challenge bonds live in its DisputeDesk, which it deploys). Lease shares are ERC-1155 tokens
/// (id = lease id); rent reaches holders through a rent-per-share accumulator, so settling and
/// claiming cost the same for 1 or 10,000 holders. Every funded lease can be driven to `Ended` by anyone within
/// `reportWindow + challengeWindow + resolutionWindow + proofGrace` after its last epoch.
contract LeaseMarket is ILeaseMarket, ERC1155, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    // ------------------------------------------------------------ storage

    /// @dev A holder's checkpoint: the accumulator it was paid up to, rent accrued until then, and
    /// a queue [head, tail) of balance boundaries still waiting for their epochs to settle. The
    /// first write of `accrued` moves the empty queue's origin from 0 to 1, so the slot never
    /// returns to zero: a holder's later checkpoints and claims rewrite a non-zero slot (2,900
    /// gas) instead of setting a zero one (20,000).
    struct Holder {
        uint256 rentPerSharePaid;
        uint128 accrued;
        uint64 head;
        uint64 tail;
    }

    /// @dev The balance a holder had for every epoch before `epoch` (recorded at its first share
    /// movement in `epoch` while earlier, delivered epochs were still unsettled).
    struct Boundary {
        uint64 epoch;
        uint192 balance;
    }

    /// @notice A cluster's bond in one stablecoin; `locked` covers open leases' worst case.
    struct Bond {
        uint128 total;
        uint128 locked;
    }

    /// @notice A primary-sale offer of lease shares; the seller's offered shares are set aside.
    struct Offer {
        address seller;
        uint128 amount;
        uint256 pricePerShare;
    }

    /// @notice The registry holding clusters and reports.
    IClusterRegistry public immutable registry;
    /// @notice The desk where tenants and holders challenge reports and the arbiter rules.
    IDisputeDesk public immutable disputes;
    /// @inheritdoc ILeaseMarket
    uint64 public immutable challengeWindow;
    /// @inheritdoc ILeaseMarket
    uint64 public immutable resolutionWindow;
    /// @inheritdoc ILeaseMarket
    uint64 public immutable proofGrace;
    /// @dev The registry's reporting window, cached (immutable there).
    uint64 internal immutable _reportWindow;
    /// @notice Number of leases ever created (ids are 1..leaseCount).
    uint256 public leaseCount;
    /// @notice Whether a stablecoin is accepted for bonds and leases.
    mapping(address token => bool) public stablecoinAllowed;
    /// @inheritdoc ILeaseMarket
    mapping(uint64 clusterId => uint256) public activeLeases;
    /// @notice Primary-sale offer of each lease (only fillable while the lease is active).
    mapping(uint256 leaseId => Offer) public offers;

    mapping(uint256 leaseId => Lease) internal _leases;
    mapping(uint256 leaseId => mapping(address => Holder)) internal _holders;
    mapping(uint256 leaseId => mapping(address => mapping(uint256 index => Boundary))) internal _boundaries;
    /// @dev The accumulator once every epoch before `epoch` settled, kept only where a boundary needs it.
    mapping(uint256 leaseId => mapping(uint64 epoch => uint256)) internal _accAt;
    mapping(uint64 clusterId => mapping(address token => Bond)) internal _bonds;
    /// @dev The leaf (see `_leaf`) + 1 of epochs proven before their turn to settle.
    mapping(uint256 leaseId => mapping(uint64 epoch => uint256)) internal _proven;
    /// @dev Epochs the desk has a dispute for (settlement asks the desk only for these).
    mapping(uint256 leaseId => mapping(uint64 epoch => bool)) internal _disputed;

    /// @dev How `_settle` was asked to settle.
    enum Mode {
        Any,
        Missed,
        Unproven
    }

    /// @param governance Owner of governance functions (two-step transfer).
    /// @param registry_ The cluster registry.
    /// @param challengeWindow_ Seconds after a report during which the tenant or a holder may challenge.
    /// @param resolutionWindow_ Seconds after a challenge during which the arbiter may rule.
    /// @param proofGrace_ Seconds after those windows for a leaf's proof before the epoch may settle
    /// as unproven.
    /// @param challengeBondBps_ Challenge bond in basis points of the lease's full-epoch rent.
    /// @param metadataUri ERC-1155 URI template (`{id}` is replaced by wallets).
    /// @dev Deploys the DisputeDesk (governed by `governance`), so the two are bound to each other.
    constructor(
        address governance,
        IClusterRegistry registry_,
        uint64 challengeWindow_,
        uint64 resolutionWindow_,
        uint64 proofGrace_,
        uint16 challengeBondBps_,
        string memory metadataUri
    ) ERC1155(metadataUri) {
        if (challengeWindow_ == 0 || resolutionWindow_ == 0 || proofGrace_ == 0) {
            revert InvalidParameter();
        }
        if (challengeBondBps_ > RentLib.BPS) revert InvalidParameter();
        registry = registry_;
        challengeWindow = challengeWindow_;
        resolutionWindow = resolutionWindow_;
        proofGrace = proofGrace_;
        _reportWindow = registry_.reportWindow();
        disputes = new DisputeDesk(
            governance, this, registry_, challengeWindow_, resolutionWindow_, challengeBondBps_
        );
    }

    // ------------------------------------------------------------ governance

    /// @dev The market and its desk share one governance, kept (two-step) by the desk.
    modifier onlyOwner() {
        if (msg.sender != owner()) revert Ownable.OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    /// @notice Governance: the owner of the market's DisputeDesk (`Ownable2Step` there).
    function owner() public view returns (address) {
        return Ownable(address(disputes)).owner();
    }

    /// @inheritdoc ILeaseMarket
    function setStablecoinAllowed(address token, bool allowed) external onlyOwner {
        if (token == address(0)) revert ZeroAddress();
        stablecoinAllowed[token] = allowed;
        emit StablecoinAllowed(token, allowed);
    }

    /// @notice Sets the ERC-1155 metadata URI template.
    function setMetadataUri(string calldata newUri) external onlyOwner {
        _setURI(newUri);
        emit MetadataUriSet(newUri);
    }

    // ------------------------------------------------------------ bonds

    /// @inheritdoc ILeaseMarket
    function depositBond(uint64 clusterId, address token, uint256 amount) external nonReentrant {
        (,, bool active) = _requireClusterOwner(clusterId);
        if (!active) revert ClusterInactive(clusterId);
        if (!stablecoinAllowed[token]) revert StablecoinNotAllowed(token);
        if (amount == 0) revert ZeroAmount();
        Bond storage b = _bonds[clusterId][token];
        b.total = (b.total + amount).toUint128();
        emit BondDeposited(clusterId, token, amount);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ILeaseMarket
    function withdrawBond(uint64 clusterId, address token, uint256 amount) external nonReentrant {
        _requireClusterOwner(clusterId);
        if (amount == 0) revert ZeroAmount();
        Bond storage b = _bonds[clusterId][token];
        uint256 free = b.total - b.locked;
        if (amount > free) revert BondLocked(amount, free);
        b.total -= uint128(amount);
        emit BondWithdrawn(clusterId, token, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------ leases

    /// @inheritdoc ILeaseMarket
    function createLease(LeaseTerms calldata t) external returns (uint256 leaseId) {
        (uint32 epochLength, uint64 genesis, bool active) = _requireClusterOwner(t.clusterId);
        if (!active) revert ClusterInactive(t.clusterId);
        _requireValidTerms(t, uint64((block.timestamp - genesis) / epochLength));

        uint256 cap = RentLib.capacity(t.units, epochLength);
        uint256 perEpoch = RentLib.slaCredit(0, cap, t.pricePerUnitHour, t.slaBps, t.creditBps)
            + RentLib.fullRent(cap, t.pricePerUnitHour);
        uint256 lock = perEpoch * (t.endEpoch - t.startEpoch);
        Bond storage b = _bonds[t.clusterId][t.stablecoin];
        uint256 free = b.total - b.locked;
        if (lock > free) revert InsufficientBond(lock, free);
        b.locked += uint128(lock);

        leaseId = ++leaseCount;
        Lease storage l = _leases[leaseId];
        l.clusterId = t.clusterId;
        l.startEpoch = t.startEpoch;
        l.endEpoch = t.endEpoch;
        l.nextEpoch = t.startEpoch;
        l.tenant = t.tenant;
        l.units = t.units;
        l.epochLength = epochLength;
        l.status = LeaseStatus.Offered;
        l.billing = t.billing;
        l.slaBps = t.slaBps;
        l.stablecoin = t.stablecoin;
        l.creditBps = t.creditBps;
        l.genesis = genesis;
        l.unit = t.unit;
        l.pricePerUnitHour = t.pricePerUnitHour;
        l.totalShares = t.totalShares;
        l.bondPerEpoch = perEpoch.toUint128();
        if (t.energyPricePerKwh != 0) l.energyPricePerKwh = t.energyPricePerKwh;
        // The accumulator starts at 1, not 0: holders' checkpoints and the first settlement then
        // update non-zero slots (2,900 gas) instead of creating them (20,000). Only deltas count.
        l.rentPerShare = 1;
        activeLeases[t.clusterId] += 1;
        emit LeaseCreated(leaseId, t.clusterId, t.tenant, t, lock);
        _mint(msg.sender, leaseId, t.totalShares, "");
    }

    /// @dev Reverts unless the terms are whole: a future start, a term, non-zero size, price and
    /// shares, shares and basis points in range. A powered shell bills the power available to the
    /// tenant's racks (`Reserved`); only it passes energy through.
    function _requireValidTerms(LeaseTerms calldata t, uint64 current) internal view {
        if (!stablecoinAllowed[t.stablecoin]) revert StablecoinNotAllowed(t.stablecoin);
        if (t.tenant == address(0)) revert ZeroAddress();
        bool kw = t.unit == Unit.Kw;
        if (
            t.units == 0 || t.pricePerUnitHour == 0 || t.totalShares == 0
                || t.totalShares > RentLib.MAX_SHARES || t.startEpoch <= current || t.endEpoch <= t.startEpoch
                || t.slaBps > RentLib.BPS || t.creditBps > RentLib.BPS
                || (kw && t.billing != Billing.Reserved) || (!kw && t.energyPricePerKwh != 0)
        ) revert InvalidLeaseTerms();
    }

    /// @inheritdoc ILeaseMarket
    function fund(uint256 leaseId) external nonReentrant {
        _fund(leaseId);
    }

    /// @inheritdoc ILeaseMarket
    function fundWithPermit(uint256 leaseId, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        if (block.timestamp > deadline) revert PermitExpired(deadline);
        Lease storage l = _lease(leaseId);
        // A front-run permit reverts here but leaves the allowance in place; _fund checks it.
        try IERC20Permit(l.stablecoin)
            .permit(msg.sender, address(this), escrowRequired(leaseId), deadline, v, r, s) {}
            catch {}
        _fund(leaseId);
    }

    /// @inheritdoc ILeaseMarket
    function cancelLease(uint256 leaseId) external {
        Lease storage l = _lease(leaseId);
        if (l.status != LeaseStatus.Offered) revert WrongLeaseStatus(leaseId, uint8(l.status));
        (address clusterOwner,,,) = _cluster(l.clusterId);
        // Anyone may clear a lease nobody can fund any more, so an absent owner strands no bond.
        if (msg.sender != clusterOwner && _currentEpoch(l) + 1 < l.endEpoch) {
            revert LeaseStillFundable(leaseId, l.endEpoch);
        }
        l.status = LeaseStatus.Cancelled;
        _bonds[l.clusterId][l.stablecoin].locked -= uint128(
            uint256(l.bondPerEpoch) * (l.endEpoch - l.startEpoch)
        );
        activeLeases[l.clusterId] -= 1;
        emit LeaseCancelled(leaseId, msg.sender);
    }

    /// @inheritdoc ILeaseMarket
    function offerShares(uint256 leaseId, uint256 amount, uint256 pricePerShare) external {
        Lease storage l = _lease(leaseId);
        _requireClusterOwner(l.clusterId);
        if (l.status != LeaseStatus.Active) revert WrongLeaseStatus(leaseId, uint8(l.status));
        uint256 balance = balanceOf(msg.sender, leaseId);
        if (amount > balance) revert ERC1155InsufficientBalance(msg.sender, balance, amount, leaseId);
        offers[leaseId] =
            Offer({seller: msg.sender, amount: amount.toUint128(), pricePerShare: pricePerShare});
        emit SharesOffered(leaseId, msg.sender, amount, pricePerShare);
    }

    /// @inheritdoc ILeaseMarket
    function buyShares(uint256 leaseId, uint256 amount, uint256 maxPricePerShare) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Lease storage l = _lease(leaseId);
        if (l.status != LeaseStatus.Active) revert WrongLeaseStatus(leaseId, uint8(l.status));
        Offer storage o = offers[leaseId];
        (address seller, uint256 available, uint256 price) = (o.seller, o.amount, o.pricePerShare);
        if (amount > available || price > maxPricePerShare) {
            revert OfferUnavailable(leaseId, available, price);
        }
        o.amount = uint128(available - amount);
        uint256 cost = amount * price;
        emit SharesBought(leaseId, msg.sender, seller, amount, cost);
        IERC20(l.stablecoin).safeTransferFrom(msg.sender, seller, cost);
        _safeTransferFrom(seller, msg.sender, leaseId, amount, "");
    }

    // ------------------------------------------------------------ settlement

    /// @inheritdoc ILeaseMarket
    function settle(
        uint256 leaseId,
        uint64 epoch,
        uint64 delivered,
        uint64 energyWh,
        bytes32[] calldata proof
    ) external {
        _settle(leaseId, epoch, _leaf(delivered, energyWh), proof, Mode.Any);
    }

    /// @inheritdoc ILeaseMarket
    function settleMissed(uint256 leaseId, uint64 epoch) external {
        _settle(leaseId, epoch, 0, new bytes32[](0), Mode.Missed);
    }

    /// @inheritdoc ILeaseMarket
    function settleUnproven(uint256 leaseId, uint64 epoch) external {
        _settle(leaseId, epoch, 0, new bytes32[](0), Mode.Unproven);
    }

    /// @inheritdoc ILeaseMarket
    function settleBatch(SettleItem[] calldata items) external {
        for (uint256 i; i < items.length; ++i) {
            SettleItem calldata item = items[i];
            _settle(item.leaseId, item.epoch, _leaf(item.delivered, item.energyWh), item.proof, Mode.Any);
        }
    }

    /// @inheritdoc ILeaseMarket
    function markDisputed(uint256 leaseId, uint64 epoch) external {
        if (msg.sender != address(disputes)) revert NotDisputeDesk(msg.sender);
        _disputed[leaseId][epoch] = true;
    }

    // ------------------------------------------------------------ payouts

    /// @inheritdoc ILeaseMarket
    function claim(uint256 leaseId) external nonReentrant returns (uint256 amount) {
        Lease storage l = _lease(leaseId);
        Holder storage h = _holders[leaseId][msg.sender];
        uint256 paid;
        uint64 head;
        (amount, paid, head) = _accrue(leaseId, msg.sender, h, l.rentPerShare);
        if (amount == 0) revert NothingToClaim();
        h.rentPerSharePaid = paid;
        if (h.accrued != 0 || h.head != head) (h.accrued, h.head) = (0, head);
        l.rentPool -= uint128(amount);
        emit RentClaimed(leaseId, msg.sender, amount);
        IERC20(l.stablecoin).safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ILeaseMarket
    function withdrawTenantFunds(uint256 leaseId) external nonReentrant returns (uint256 amount) {
        Lease storage l = _lease(leaseId);
        if (msg.sender != l.tenant) revert NotTenant(leaseId, msg.sender);
        uint256 credits = l.credits;
        uint256 remainder = l.status == LeaseStatus.Ended ? l.escrow : 0;
        amount = credits + remainder;
        if (amount == 0) revert NothingToClaim();
        l.credits = 0;
        if (remainder != 0) l.escrow = 0;
        emit TenantWithdrawn(leaseId, msg.sender, credits, remainder);
        IERC20(l.stablecoin).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------ views

    /// @inheritdoc ILeaseMarket
    function claimable(uint256 leaseId, address account) external view returns (uint256 amount) {
        (amount,,) = _accrue(leaseId, account, _holders[leaseId][account], _leases[leaseId].rentPerShare);
    }

    /// @inheritdoc ILeaseMarket
    function escrowRequired(uint256 leaseId) public view returns (uint256) {
        Lease storage l = _lease(leaseId);
        uint64 start = l.status == LeaseStatus.Offered ? _fundingStart(l, leaseId) : l.startEpoch;
        uint256 cap = RentLib.capacity(l.units, l.epochLength);
        return (RentLib.fullRent(cap, l.pricePerUnitHour) + RentLib.maxEnergyCharge(cap, l.energyPricePerKwh))
            * (l.endEpoch - start);
    }

    /// @inheritdoc ILeaseMarket
    function proofDeadline(uint256 leaseId, uint64 epoch) external view returns (uint256) {
        Lease storage l = _lease(leaseId);
        (, uint64 submittedAt) = registry.reportOf(l.clusterId, epoch);
        if (submittedAt == 0) return 0;
        (, uint64 resolveBy) = _verdict(leaseId, epoch);
        return _proofDeadline(submittedAt, resolveBy);
    }

    /// @inheritdoc ILeaseMarket
    function unsettledEpochs(uint256 leaseId) external view returns (uint64) {
        Lease storage l = _lease(leaseId);
        if (l.status != LeaseStatus.Active) return 0;
        uint64 current = _currentEpoch(l);
        uint64 ended = current < l.endEpoch ? current : l.endEpoch;
        return ended > l.nextEpoch ? ended - l.nextEpoch : 0;
    }

    /// @notice The rent-per-share accumulator once every epoch before `epoch` settled, where a
    /// share movement during a settlement backlog asked for it (0 elsewhere, 1 until it settles).
    function accAt(uint256 leaseId, uint64 epoch) external view returns (uint256) {
        return _accAt[leaseId][epoch];
    }

    /// @inheritdoc ILeaseMarket
    function getLease(uint256 leaseId) external view returns (Lease memory) {
        return _lease(leaseId);
    }

    /// @inheritdoc ILeaseMarket
    function leaseStatus(uint256 leaseId)
        external
        view
        returns (LeaseStatus status, uint256 termEnd, address stablecoin)
    {
        Lease storage l = _leases[leaseId];
        return (l.status, uint256(l.genesis) + uint256(l.endEpoch) * l.epochLength, l.stablecoin);
    }

    /// @notice A cluster's bond in `token`: total deposited (less credits and compensation paid,
    /// plus forfeited challenge bonds and powered shells' energy billed) and the part locked for open leases.
    function bondOf(uint64 clusterId, address token) external view returns (Bond memory) {
        return _bonds[clusterId][token];
    }

    // ------------------------------------------------------------ internal: leases

    function _lease(uint256 leaseId) internal view returns (Lease storage l) {
        l = _leases[leaseId];
        if (l.status == LeaseStatus.None) revert UnknownLease(leaseId);
    }

    function _currentEpoch(Lease storage l) internal view returns (uint64) {
        return uint64((block.timestamp - l.genesis) / l.epochLength);
    }

    /// @dev Reverts unless the caller owns the cluster; returns the cluster's timing and status.
    function _requireClusterOwner(uint64 clusterId)
        internal
        view
        returns (uint32 epochLength, uint64 genesis, bool active)
    {
        address clusterOwner;
        (clusterOwner, epochLength, genesis, active) = _cluster(clusterId);
        if (clusterOwner == address(0)) revert UnknownCluster(clusterId);
        if (clusterOwner != msg.sender) revert NotClusterOwner(clusterId, msg.sender);
    }

    function _cluster(uint64 clusterId) internal view returns (address, uint32, uint64, bool) {
        return registry.clusterInfo(clusterId);
    }

    /// @dev The first epoch a lease funded now bills: its start, or the next epoch once the start
    /// has begun (a stablecoin paused through the start delays the lease instead of killing it).
    function _fundingStart(Lease storage l, uint256 leaseId) internal view returns (uint64 start) {
        uint64 current = _currentEpoch(l);
        start = current < l.startEpoch ? l.startEpoch : current + 1;
        if (start >= l.endEpoch) revert FundingClosed(leaseId, l.endEpoch);
    }

    function _fund(uint256 leaseId) internal {
        Lease storage l = _lease(leaseId);
        if (l.status != LeaseStatus.Offered) revert WrongLeaseStatus(leaseId, uint8(l.status));
        if (msg.sender != l.tenant) revert NotTenant(leaseId, msg.sender);
        uint64 start = _fundingStart(l, leaseId);
        uint256 amount = escrowRequired(leaseId);
        IERC20 token = IERC20(l.stablecoin);
        uint256 allowance = token.allowance(msg.sender, address(this));
        if (allowance < amount) revert InsufficientAllowance(allowance, amount);
        uint64 skipped = start - l.startEpoch;
        if (skipped != 0) {
            _bonds[l.clusterId][l.stablecoin].locked -= uint128(uint256(l.bondPerEpoch) * skipped);
            (l.startEpoch, l.nextEpoch) = (start, start);
        }
        l.status = LeaseStatus.Active;
        l.escrow = amount.toUint128();
        emit LeaseFunded(leaseId, msg.sender, amount, start);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    // ------------------------------------------------------------ internal: settlement

    /// @dev A deliveries leaf's values in one word (fewer stack slots through settlement): the
    /// delivered unit-seconds in the low 64 bits, the metered energy (Wh) in the next 64.
    function _leaf(uint64 delivered, uint64 energyWh) internal pure returns (uint128) {
        return (uint128(energyWh) << 64) | delivered;
    }

    /// @dev Settlement is strictly in epoch order per lease, so no epoch can settle twice.
    function _settle(uint256 leaseId, uint64 epoch, uint128 leaf, bytes32[] memory proof, Mode mode)
        internal
    {
        Lease storage l = _lease(leaseId);
        LeaseStatus status = l.status;
        uint64 next = l.nextEpoch;
        if (status != LeaseStatus.Active && status != LeaseStatus.Ended) {
            revert WrongLeaseStatus(leaseId, uint8(status));
        }
        if (epoch < next) revert EpochAlreadySettled(leaseId, epoch);
        if (status == LeaseStatus.Ended) revert WrongLeaseStatus(leaseId, uint8(status));
        if (epoch != next && (mode != Mode.Any || epoch >= l.endEpoch)) {
            revert EpochNotNext(leaseId, epoch, next);
        }

        Outcome outcome;
        (leaf, outcome) = _delivery(l, leaseId, epoch, leaf, proof, mode);
        if (epoch == next) return _book(l, leaseId, epoch, leaf, outcome);
        // A later epoch's proof is kept for its turn (an earlier epoch may be under challenge):
        // proofs never wait for order, so a blocked epoch cannot push a later one into unproven.
        if (outcome != Outcome.Proven) revert EpochNotNext(leaseId, epoch, next);
        if (_proven[leaseId][epoch] != 0) revert EpochProven(leaseId, epoch);
        _proven[leaseId][epoch] = uint256(leaf) + 1;
        emit DeliveryProven(leaseId, epoch, uint64(leaf), uint64(leaf >> 64));
    }

    /// @dev The delivery and energy to bill and why: the arbiter's ruling; zero for a missed,
    /// unproven or conflicting epoch; or the proven leaf. A challenge past its deadline unruled
    /// leaves the report standing.
    function _delivery(
        Lease storage l,
        uint256 leaseId,
        uint64 epoch,
        uint128 leaf,
        bytes32[] memory proof,
        Mode mode
    ) internal view returns (uint128, Outcome) {
        (DisputeStatus status, uint64 resolveBy) = _verdict(leaseId, epoch);
        if (status == DisputeStatus.Upheld || status == DisputeStatus.Rejected) {
            if (mode == Mode.Missed) revert EpochReported(l.clusterId, epoch);
            if (mode == Mode.Unproven) revert EpochArbitrated(leaseId, epoch);
            (, uint64 ruled, uint64 ruledWh,) = disputes.verdict(leaseId, epoch);
            return (_leaf(ruled, ruledWh), Outcome.Arbitrated);
        }
        if (status == DisputeStatus.Conflict) {
            if (mode == Mode.Missed) revert EpochReported(l.clusterId, epoch);
            return (0, Outcome.Unproven);
        }
        if (status == DisputeStatus.Open && block.timestamp < resolveBy) {
            revert EpochChallenged(leaseId, epoch, resolveBy);
        }

        (bytes32 root, uint64 submittedAt) = registry.reportOf(l.clusterId, epoch);
        if (submittedAt == 0) {
            uint256 deadline = uint256(l.genesis) + (uint256(epoch) + 1) * l.epochLength + _reportWindow;
            if (block.timestamp <= deadline) revert ReportPending(epoch, deadline);
            if (mode == Mode.Unproven) revert NoReport(l.clusterId, epoch);
            return (0, Outcome.Missed);
        }
        if (mode == Mode.Missed) revert EpochReported(l.clusterId, epoch);
        // The first valid proof fixes the delivery, whenever it came (proofs never wait for order).
        uint256 proven = _proven[leaseId][epoch];
        if (mode == Mode.Unproven) {
            if (proven != 0) revert EpochProven(leaseId, epoch);
            uint256 deadline = _proofDeadline(submittedAt, resolveBy);
            if (block.timestamp <= deadline) revert ProofWindowOpen(leaseId, epoch, deadline);
            return (0, Outcome.Unproven);
        }
        if (proven != 0) return (uint128(proven - 1), Outcome.Proven);
        {
            uint256 closesAt = uint256(submittedAt) + challengeWindow;
            if (block.timestamp < closesAt) revert ChallengeWindowOpen(leaseId, epoch, closesAt);
        }
        _requireLeaf(root, leaseId, epoch, leaf, proof);
        return (leaf, Outcome.Proven);
    }

    function _requireLeaf(bytes32 root, uint256 leaseId, uint64 epoch, uint128 leaf, bytes32[] memory proof)
        internal
        pure
    {
        ReportLib.requireLeaf(root, leaseId, epoch, uint64(leaf), uint64(leaf >> 64), proof);
    }

    /// @dev Where the desk's dispute of an epoch stands, asked only when the desk flagged one.
    function _verdict(uint256 leaseId, uint64 epoch)
        internal
        view
        returns (DisputeStatus status, uint64 resolveBy)
    {
        if (!_disputed[leaseId][epoch]) return (DisputeStatus.None, 0);
        (status,,, resolveBy) = disputes.verdict(leaseId, epoch);
    }

    /// @dev After the challenge window and any challenge's resolution deadline (open or expired:
    /// the owner could not settle before it), plus the grace.
    function _proofDeadline(uint64 submittedAt, uint64 resolveBy) internal view returns (uint256 deadline) {
        deadline = uint256(submittedAt) + challengeWindow;
        if (resolveBy > deadline) deadline = resolveBy;
        deadline += proofGrace;
    }

    /// @dev Books one epoch. Delivered epochs move rent from escrow to holders and pay the SLA
    /// credit from the bond; missed or unproven ones (the owner's failure) pay holders the full
    /// rent and the tenant the full credit, both from the bond, and bill no energy. A powered
    /// shell's metered energy moves from escrow to the cluster's bond (the site pays the utility).
    /// Releases the epoch's bond lock. No tokens move here, so a paused stablecoin cannot stop or
    /// corrupt settlement.
    function _book(Lease storage l, uint256 leaseId, uint64 epoch, uint128 leaf, Outcome outcome) internal {
        (uint256 rent, uint256 compensation, uint256 credit, uint64 billed) =
            _amounts(l, uint64(leaf), outcome);
        uint256 acc = _pay(l, leaseId, epoch, rent, compensation, credit);
        emit EpochSettled(leaseId, epoch, billed, rent, compensation, credit, acc, outcome);
        // Only a powered shell reads its tariff's slot.
        if (l.unit == Unit.Kw) _billEnergy(l, leaseId, epoch, leaf, billed, outcome);

        if (epoch + 1 == l.endEpoch) {
            l.status = LeaseStatus.Ended;
            activeLeases[l.clusterId] -= 1;
            emit LeaseEnded(leaseId, l.escrow);
        }
    }

    /// @dev What an epoch books: rent (escrow to holders), compensation (bond to holders), the SLA
    /// credit (bond to tenant), and the delivery billed (capped at capacity).
    function _amounts(Lease storage l, uint64 delivered, Outcome outcome)
        internal
        view
        returns (uint256 rent, uint256 compensation, uint256 credit, uint64 billed)
    {
        uint256 cap = RentLib.capacity(l.units, l.epochLength);
        uint256 price = l.pricePerUnitHour;
        billed = delivered < cap ? delivered : uint64(cap);
        if (outcome == Outcome.Missed || outcome == Outcome.Unproven) {
            compensation = RentLib.fullRent(cap, price);
        } else {
            rent = RentLib.rent(billed, cap, price);
        }
        credit = RentLib.slaCredit(billed, cap, price, l.slaBps, l.creditBps);
    }

    /// @dev A powered shell's energy pass-through: the metered energy at the lease's tariff, from
    /// escrow to the cluster's bond (the site pays the utility), capped at what the power billed
    /// as available could draw (`billed` kW-seconds). None for the owner's failure.
    function _billEnergy(
        Lease storage l,
        uint256 leaseId,
        uint64 epoch,
        uint128 leaf,
        uint64 billed,
        Outcome outcome
    ) internal {
        uint256 charge;
        if (outcome != Outcome.Missed && outcome != Outcome.Unproven) {
            charge = RentLib.energyCharge(uint64(leaf >> 64), billed, l.energyPricePerKwh);
        }
        if (charge != 0) {
            l.escrow -= uint128(charge);
            l.energyBilled += uint128(charge);
            _bonds[l.clusterId][l.stablecoin].total += uint128(charge);
        }
        emit EnergyBilled(leaseId, epoch, uint64(leaf >> 64), charge);
    }

    /// @dev Moves the amounts and advances the accumulator; returns it.
    function _pay(
        Lease storage l,
        uint256 leaseId,
        uint64 epoch,
        uint256 rent,
        uint256 compensation,
        uint256 credit
    ) internal returns (uint256 acc) {
        acc = l.rentPerShare + (rent + compensation) * RentLib.ACC_SCALE / l.totalShares;
        l.nextEpoch = epoch + 1;
        l.escrow -= uint128(rent);
        l.rentPool += uint128(rent + compensation);
        l.rentPerShare = acc;
        if (credit != 0) l.credits += uint128(credit);
        Bond storage b = _bonds[l.clusterId][l.stablecoin];
        b.locked -= l.bondPerEpoch;
        if (credit + compensation != 0) b.total -= uint128(credit + compensation);
        // A share movement during a settlement backlog asked for the accumulator at this boundary.
        if (_accAt[leaseId][epoch + 1] != 0) _accAt[leaseId][epoch + 1] = acc;
    }

    // ------------------------------------------------------------ internal: holders

    /// @dev Rent of an epoch belongs to whoever held the shares when it ended. Every share movement
    /// checkpoints both sides first; while ended epochs are still unsettled it also records each
    /// side's balance for them (a boundary), so their rent, when it settles, reaches the holders
    /// who held through the delivery and not whoever holds at settlement.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values)
        internal
        override
    {
        for (uint256 i; i < ids.length; ++i) {
            uint256 id = ids[i];
            Lease storage l = _leases[id];
            uint256 acc = l.rentPerShare;
            // A zero-value movement changes no balance: it records nothing (no boundary spam).
            uint64 boundary = values[i] == 0 ? 0 : _backlogBoundary(l);
            if (from != address(0)) _checkpoint(id, from, acc, boundary);
            if (to != address(0)) _checkpoint(id, to, acc, boundary);
            if (boundary != 0 && _accAt[id][boundary] == 0) _accAt[id][boundary] = 1;
        }
        super._update(from, to, ids, values);
        // Checked after the move, so a batch repeating an id cannot slip reserved shares out.
        if (from != address(0)) {
            for (uint256 i; i < ids.length; ++i) {
                _requireUnreserved(ids[i], from);
            }
        }
    }

    /// @dev The current epoch (capped at the term's end) when delivered epochs before it are still
    /// unsettled on an active lease; 0 when nothing is owed to past holders.
    function _backlogBoundary(Lease storage l) internal view returns (uint64) {
        if (l.status != LeaseStatus.Active) return 0;
        uint64 current = _currentEpoch(l);
        uint64 boundary = current < l.endEpoch ? current : l.endEpoch;
        return l.nextEpoch < boundary ? boundary : 0;
    }

    function _checkpoint(uint256 leaseId, address account, uint256 acc, uint64 boundary) internal {
        Holder storage h = _holders[leaseId][account];
        (uint256 owed, uint256 paid, uint64 head) = _accrue(leaseId, account, h, acc);
        if (paid != h.rentPerSharePaid) h.rentPerSharePaid = paid;
        uint64 tail = h.tail;
        if (owed != h.accrued || head != h.head) {
            // An empty queue (head == tail) may start anywhere: at 1, the slot stays non-zero.
            if (tail == 0) (head, tail) = (1, 1);
            (h.accrued, h.head, h.tail) = (owed.toUint128(), head, tail);
        }
        if (boundary == 0) return;
        // Only the balance before the first movement in an epoch covers the epochs before it.
        if (tail != head && _boundaries[leaseId][account][tail - 1].epoch == boundary) return;
        uint256 balance = balanceOf(account, leaseId);
        _boundaries[leaseId][account][tail] = Boundary({epoch: boundary, balance: uint192(balance)});
        h.tail = tail + 1;
        emit HolderBalanceRecorded(leaseId, account, boundary, balance);
    }

    /// @dev What `account` is owed at accumulator `acc`, and the checkpoint (accumulator paid up
    /// to, first unresolved boundary) that pays it. Settled epochs before a boundary earn at the
    /// boundary's balance, later ones at the current balance.
    function _accrue(uint256 leaseId, address account, Holder storage h, uint256 acc)
        internal
        view
        returns (uint256 owed, uint256 paid, uint64 head)
    {
        (owed, paid, head) = (h.accrued, h.rentPerSharePaid, h.head);
        uint64 tail = h.tail;
        if (head != tail) {
            uint64 settledUpTo = _leases[leaseId].nextEpoch;
            for (; head != tail; ++head) {
                Boundary storage bd = _boundaries[leaseId][account][head];
                if (bd.epoch > settledUpTo) {
                    // Every settled epoch lies before this boundary: its balance earned them all.
                    return (owed + uint256(bd.balance) * (acc - paid) / RentLib.ACC_SCALE, acc, head);
                }
                uint256 accAtBoundary = _accAt[leaseId][bd.epoch];
                owed += uint256(bd.balance) * (accAtBoundary - paid) / RentLib.ACC_SCALE;
                paid = accAtBoundary;
            }
        }
        owed += balanceOf(account, leaseId) * (acc - paid) / RentLib.ACC_SCALE;
        paid = acc;
    }

    /// @dev Shares offered for sale are set aside: the seller cannot move them while the offer stands.
    function _requireUnreserved(uint256 leaseId, address from) internal view {
        Offer storage o = offers[leaseId];
        if (o.seller != from || o.amount == 0 || _leases[leaseId].status != LeaseStatus.Active) return;
        if (balanceOf(from, leaseId) < o.amount) revert SharesReserved(leaseId, o.amount);
    }
}
