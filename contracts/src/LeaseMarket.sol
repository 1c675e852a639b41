// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IClusterRegistry} from "./interfaces/IClusterRegistry.sol";
import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";
import {RentLib} from "./libraries/RentLib.sol";
import {ReportLib} from "./libraries/ReportLib.sol";
import {Billing, LeaseStatus, LeaseTerms, SettleItem} from "./libraries/Types.sol";

/// @title LeaseMarket
/// @notice Leases of attested GPU capacity. Holds every stablecoin the protocol touches, and keeps
/// `balance == Σ escrow + Σ unclaimed rent + Σ SLA credits owed + Σ bonds` for each stablecoin.
/// Lease shares are ERC-1155 tokens (id = lease id); rent reaches holders through a
/// rent-per-share accumulator, so settling and claiming cost the same for 1 or 10,000 holders.
contract LeaseMarket is ILeaseMarket, ERC1155, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    // ------------------------------------------------------------ storage

    /// @dev Packed to seven slots; settlement reads each once.
    struct Lease {
        // slot 0
        uint64 clusterId;
        uint64 startEpoch;
        uint64 endEpoch; // exclusive
        uint64 nextEpoch; // next epoch to settle; == endEpoch once ended
        // slot 1
        address tenant;
        uint32 gpus;
        uint32 epochLength; // copied from the cluster (immutable there)
        LeaseStatus status;
        Billing billing;
        uint16 slaBps;
        // slot 2
        address stablecoin;
        uint16 creditBps;
        uint64 genesis; // copied from the cluster (immutable there)
        // slot 3
        uint128 pricePerGpuHour;
        uint128 totalShares;
        // slot 4
        uint128 escrow; // prepaid rent not yet settled (or, once ended, the remainder)
        uint128 rentPool; // settled rent not yet claimed, including rounding dust
        // slot 5
        uint128 credits; // SLA credits owed to the tenant
        uint128 maxCreditPerEpoch; // bond locked for each unsettled epoch
        // slot 6
        uint256 rentPerShare; // accumulator, scaled by RentLib.ACC_SCALE
    }

    /// @dev A holder's checkpoint of the accumulator and the rent accrued up to it.
    struct Holder {
        uint256 rentPerSharePaid;
        uint256 accrued;
    }

    /// @notice A cluster's bond in one stablecoin; `locked` covers open leases' worst-case credits.
    struct Bond {
        uint128 total;
        uint128 locked;
    }

    /// @notice A primary-sale offer of lease shares.
    struct Offer {
        address seller;
        uint128 amount;
        uint256 pricePerShare;
    }

    /// @notice State of a tenant's dispute of one (lease, epoch).
    enum ChallengeStatus {
        None,
        Open,
        Resolved
    }

    /// @notice A dispute and, once resolved, the corrected delivery.
    struct Challenge {
        ChallengeStatus status;
        uint64 delivered;
    }

    /// @notice The registry holding clusters and reports.
    IClusterRegistry public immutable registry;
    /// @notice Seconds after a report's acceptance during which the tenant may challenge it.
    uint64 public immutable challengeWindow;
    /// @dev The registry's reporting window, cached (immutable there).
    uint64 internal immutable _reportWindow;

    /// @notice The account that resolves challenges.
    address public arbiter;
    /// @notice Number of leases ever created (ids are 1..leaseCount).
    uint256 public leaseCount;
    /// @notice Whether a stablecoin is accepted for bonds and leases.
    mapping(address token => bool) public stablecoinAllowed;
    /// @inheritdoc ILeaseMarket
    mapping(uint64 clusterId => uint256) public activeLeases;
    /// @notice Primary-sale offer of each lease.
    mapping(uint256 leaseId => Offer) public offers;

    mapping(uint256 leaseId => Lease) internal _leases;
    mapping(uint256 leaseId => mapping(address => Holder)) internal _holders;
    mapping(uint64 clusterId => mapping(address token => Bond)) internal _bonds;
    mapping(uint256 leaseId => mapping(uint64 epoch => Challenge)) internal _challenges;

    /// @param governance Owner of governance functions (two-step transfer).
    /// @param registry_ The cluster registry.
    /// @param challengeWindow_ Seconds after a report during which the tenant may challenge it.
    /// @param metadataUri ERC-1155 URI template (`{id}` is replaced by wallets).
    constructor(
        address governance,
        IClusterRegistry registry_,
        uint64 challengeWindow_,
        string memory metadataUri
    ) ERC1155(metadataUri) Ownable(governance) {
        registry = registry_;
        challengeWindow = challengeWindow_;
        _reportWindow = registry_.reportWindow();
    }

    // ------------------------------------------------------------ governance

    /// @inheritdoc ILeaseMarket
    function setStablecoinAllowed(address token, bool allowed) external onlyOwner {
        if (token == address(0)) revert ZeroAddress();
        stablecoinAllowed[token] = allowed;
        emit StablecoinAllowed(token, allowed);
    }

    /// @inheritdoc ILeaseMarket
    function setArbiter(address arbiter_) external onlyOwner {
        if (arbiter_ == address(0)) revert ZeroAddress();
        arbiter = arbiter_;
        emit ArbiterSet(arbiter_);
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
        if (!stablecoinAllowed[t.stablecoin]) revert StablecoinNotAllowed(t.stablecoin);
        if (t.tenant == address(0)) revert ZeroAddress();
        uint64 current = uint64((block.timestamp - genesis) / epochLength);
        if (
            t.gpus == 0 || t.pricePerGpuHour == 0 || t.totalShares == 0 || t.totalShares > RentLib.MAX_SHARES
                || t.startEpoch <= current || t.endEpoch <= t.startEpoch || t.slaBps > RentLib.BPS
                || t.creditBps > RentLib.BPS
        ) revert InvalidLeaseTerms();

        uint256 maxCredit = RentLib.slaCredit(
            0, RentLib.capacity(t.gpus, epochLength), t.pricePerGpuHour, t.slaBps, t.creditBps
        );
        uint256 lock = maxCredit * (t.endEpoch - t.startEpoch);
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
        l.gpus = t.gpus;
        l.epochLength = epochLength;
        l.status = LeaseStatus.Offered;
        l.billing = t.billing;
        l.slaBps = t.slaBps;
        l.stablecoin = t.stablecoin;
        l.creditBps = t.creditBps;
        l.genesis = genesis;
        l.pricePerGpuHour = t.pricePerGpuHour;
        l.totalShares = t.totalShares;
        l.maxCreditPerEpoch = maxCredit.toUint128();
        // The accumulator starts at 1, not 0: holders' checkpoints and the first settlement then
        // update non-zero slots (2,900 gas) instead of creating them (20,000). Only deltas count.
        l.rentPerShare = 1;
        activeLeases[t.clusterId] += 1;
        emit LeaseCreated(leaseId, t.clusterId, t.tenant, t, lock);
        _mint(msg.sender, leaseId, t.totalShares, "");
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
        _requireClusterOwner(l.clusterId);
        if (l.status != LeaseStatus.Offered) revert WrongLeaseStatus(leaseId, uint8(l.status));
        l.status = LeaseStatus.Cancelled;
        _bonds[l.clusterId][l.stablecoin].locked -= uint128(
            uint256(l.maxCreditPerEpoch) * (l.endEpoch - l.startEpoch)
        );
        activeLeases[l.clusterId] -= 1;
        emit LeaseCancelled(leaseId);
    }

    /// @inheritdoc ILeaseMarket
    function offerShares(uint256 leaseId, uint256 amount, uint256 pricePerShare) external {
        Lease storage l = _lease(leaseId);
        _requireClusterOwner(l.clusterId);
        if (l.status != LeaseStatus.Active) revert WrongLeaseStatus(leaseId, uint8(l.status));
        offers[leaseId] =
            Offer({seller: msg.sender, amount: amount.toUint128(), pricePerShare: pricePerShare});
        emit SharesOffered(leaseId, msg.sender, amount, pricePerShare);
    }

    /// @inheritdoc ILeaseMarket
    function buyShares(uint256 leaseId, uint256 amount, uint256 maxPricePerShare) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Offer storage o = offers[leaseId];
        (address seller, uint256 available, uint256 price) = (o.seller, o.amount, o.pricePerShare);
        if (amount > available || price > maxPricePerShare) {
            revert OfferUnavailable(leaseId, available, price);
        }
        o.amount = uint128(available - amount);
        uint256 cost = amount * price;
        emit SharesBought(leaseId, msg.sender, seller, amount, cost);
        IERC20(_leases[leaseId].stablecoin).safeTransferFrom(msg.sender, seller, cost);
        _safeTransferFrom(seller, msg.sender, leaseId, amount, "");
    }

    // ------------------------------------------------------------ settlement

    /// @inheritdoc ILeaseMarket
    function settle(uint256 leaseId, uint64 epoch, uint64 delivered, bytes32[] calldata proof) external {
        _settle(leaseId, epoch, delivered, proof, false);
    }

    /// @inheritdoc ILeaseMarket
    function settleMissed(uint256 leaseId, uint64 epoch) external {
        _settle(leaseId, epoch, 0, new bytes32[](0), true);
    }

    /// @inheritdoc ILeaseMarket
    function settleBatch(SettleItem[] calldata items) external {
        for (uint256 i; i < items.length; ++i) {
            SettleItem calldata item = items[i];
            _settle(item.leaseId, item.epoch, item.delivered, item.proof, false);
        }
    }

    /// @inheritdoc ILeaseMarket
    function challenge(uint256 leaseId, uint64 epoch) external {
        Lease storage l = _lease(leaseId);
        if (msg.sender != l.tenant) revert NotTenant(leaseId, msg.sender);
        if (l.status != LeaseStatus.Active) revert WrongLeaseStatus(leaseId, uint8(l.status));
        if (epoch < l.nextEpoch || epoch >= l.endEpoch) revert ChallengeWindowClosed(leaseId, epoch);
        (, uint32 submittedAt) = registry.reportOf(l.clusterId, epoch);
        if (submittedAt == 0) revert NoReport(l.clusterId, epoch);
        if (block.timestamp >= uint256(submittedAt) + challengeWindow) {
            revert ChallengeWindowClosed(leaseId, epoch);
        }
        Challenge storage c = _challenges[leaseId][epoch];
        if (c.status != ChallengeStatus.None) revert AlreadyChallenged(leaseId, epoch);
        c.status = ChallengeStatus.Open;
        emit EpochChallengeOpened(leaseId, epoch);
    }

    /// @inheritdoc ILeaseMarket
    function resolveChallenge(uint256 leaseId, uint64 epoch, uint64 correctedDelivered) external {
        if (msg.sender != arbiter) revert NotArbiter(msg.sender);
        Challenge storage c = _challenges[leaseId][epoch];
        if (c.status != ChallengeStatus.Open) revert NoOpenChallenge(leaseId, epoch);
        c.status = ChallengeStatus.Resolved;
        c.delivered = correctedDelivered;
        emit EpochChallengeResolved(leaseId, epoch, correctedDelivered);
    }

    // ------------------------------------------------------------ payouts

    /// @inheritdoc ILeaseMarket
    function claim(uint256 leaseId) external nonReentrant returns (uint256 amount) {
        Lease storage l = _lease(leaseId);
        Holder storage h = _holders[leaseId][msg.sender];
        uint256 acc = l.rentPerShare;
        amount = _owed(h, acc, balanceOf(msg.sender, leaseId));
        if (amount == 0) revert NothingToClaim();
        h.rentPerSharePaid = acc;
        if (h.accrued != 0) h.accrued = 0;
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
    function claimable(uint256 leaseId, address account) external view returns (uint256) {
        return _owed(_holders[leaseId][account], _leases[leaseId].rentPerShare, balanceOf(account, leaseId));
    }

    /// @inheritdoc ILeaseMarket
    function escrowRequired(uint256 leaseId) public view returns (uint256) {
        Lease storage l = _lease(leaseId);
        uint256 cap = RentLib.capacity(l.gpus, l.epochLength);
        return RentLib.rent(cap, cap, l.pricePerGpuHour) * (l.endEpoch - l.startEpoch);
    }

    /// @notice Every stored field of a lease.
    function getLease(uint256 leaseId) external view returns (Lease memory) {
        return _lease(leaseId);
    }

    /// @notice A cluster's bond in `token`: total deposited (less credits paid) and locked part.
    function bondOf(uint64 clusterId, address token) external view returns (Bond memory) {
        return _bonds[clusterId][token];
    }

    /// @notice The challenge state of one (lease, epoch).
    function challengeOf(uint256 leaseId, uint64 epoch) external view returns (Challenge memory) {
        return _challenges[leaseId][epoch];
    }

    /// @notice The lease's cluster's current epoch.
    function currentEpoch(uint256 leaseId) public view returns (uint64) {
        Lease storage l = _lease(leaseId);
        return uint64((block.timestamp - l.genesis) / l.epochLength);
    }

    // ------------------------------------------------------------ internal

    function _lease(uint256 leaseId) internal view returns (Lease storage l) {
        l = _leases[leaseId];
        if (l.status == LeaseStatus.None) revert UnknownLease(leaseId);
    }

    /// @dev Reverts unless the caller owns the cluster; returns the cluster's timing and status.
    function _requireClusterOwner(uint64 clusterId)
        internal
        view
        returns (uint32 epochLength, uint64 genesis, bool active)
    {
        address owner;
        (owner, epochLength, genesis, active) = registry.clusterInfo(clusterId);
        if (owner == address(0)) revert UnknownCluster(clusterId);
        if (owner != msg.sender) revert NotClusterOwner(clusterId, msg.sender);
    }

    function _fund(uint256 leaseId) internal {
        Lease storage l = _lease(leaseId);
        if (l.status != LeaseStatus.Offered) revert WrongLeaseStatus(leaseId, uint8(l.status));
        if (msg.sender != l.tenant) revert NotTenant(leaseId, msg.sender);
        if (currentEpoch(leaseId) >= l.startEpoch) revert FundingClosed(leaseId, l.startEpoch);
        uint256 amount = escrowRequired(leaseId);
        IERC20 token = IERC20(l.stablecoin);
        uint256 allowance = token.allowance(msg.sender, address(this));
        if (allowance < amount) revert InsufficientAllowance(allowance, amount);
        l.status = LeaseStatus.Active;
        l.escrow = amount.toUint128();
        emit LeaseFunded(leaseId, msg.sender, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Settlement is strictly in epoch order per lease, so no epoch can settle twice.
    function _settle(
        uint256 leaseId,
        uint64 epoch,
        uint64 delivered,
        bytes32[] memory proof,
        bool expectMissed
    ) internal {
        Lease storage l = _lease(leaseId);
        LeaseStatus status = l.status;
        uint64 next = l.nextEpoch;
        if (status != LeaseStatus.Active && status != LeaseStatus.Ended) {
            revert WrongLeaseStatus(leaseId, uint8(status));
        }
        if (epoch < next) revert EpochAlreadySettled(leaseId, epoch);
        if (status == LeaseStatus.Ended) revert WrongLeaseStatus(leaseId, uint8(status));
        if (epoch != next) revert EpochNotNext(leaseId, epoch, next);

        bool missed;
        (delivered, missed) = _attestedDelivery(l, leaseId, epoch, delivered, proof, expectMissed);
        _book(l, leaseId, epoch, delivered, missed);
    }

    /// @dev The delivery to bill: the arbiter's correction, zero for a missed epoch, or the proven leaf.
    function _attestedDelivery(
        Lease storage l,
        uint256 leaseId,
        uint64 epoch,
        uint64 delivered,
        bytes32[] memory proof,
        bool expectMissed
    ) internal view returns (uint64, bool missed) {
        Challenge storage c = _challenges[leaseId][epoch];
        if (c.status == ChallengeStatus.Open) revert EpochChallenged(leaseId, epoch);
        if (c.status == ChallengeStatus.Resolved) return (c.delivered, false);

        (bytes32 root, uint32 submittedAt) = registry.reportOf(l.clusterId, epoch);
        if (submittedAt == 0) {
            uint256 deadline = uint256(l.genesis) + (uint256(epoch) + 1) * l.epochLength + _reportWindow;
            if (block.timestamp <= deadline) revert ReportPending(epoch, deadline);
            return (0, true);
        }
        if (expectMissed) revert EpochReported(l.clusterId, epoch);
        uint256 closesAt = uint256(submittedAt) + challengeWindow;
        if (block.timestamp < closesAt) revert ChallengeWindowOpen(leaseId, epoch, closesAt);
        if (!MerkleProof.verify(proof, root, ReportLib.deliveryLeaf(leaseId, epoch, delivered))) {
            revert InvalidProof(leaseId, epoch);
        }
        return (delivered, false);
    }

    /// @dev Moves one epoch's rent from escrow to the rent pool, pays the SLA credit from the
    /// bond and releases the epoch's bond lock. No tokens move here, so a paused stablecoin
    /// cannot stop or corrupt settlement.
    function _book(Lease storage l, uint256 leaseId, uint64 epoch, uint64 delivered, bool missed) internal {
        uint256 cap = RentLib.capacity(l.gpus, l.epochLength);
        uint256 price = l.pricePerGpuHour;
        uint256 rent = RentLib.rent(delivered, cap, price);
        uint256 credit = RentLib.slaCredit(delivered, cap, price, l.slaBps, l.creditBps);
        uint256 acc = l.rentPerShare + rent * RentLib.ACC_SCALE / l.totalShares;

        l.nextEpoch = epoch + 1;
        l.escrow -= uint128(rent);
        l.rentPool += uint128(rent);
        l.rentPerShare = acc;
        if (credit != 0) l.credits += uint128(credit);
        Bond storage b = _bonds[l.clusterId][l.stablecoin];
        b.locked -= l.maxCreditPerEpoch;
        if (credit != 0) b.total -= uint128(credit);
        emit EpochSettled(
            leaseId, epoch, delivered < cap ? delivered : uint64(cap), rent, credit, acc, missed
        );

        if (epoch + 1 == l.endEpoch) {
            l.status = LeaseStatus.Ended;
            activeLeases[l.clusterId] -= 1;
            emit LeaseEnded(leaseId, l.escrow);
        }
    }

    /// @dev Checkpoints both sides of every share movement before balances change, so a seller
    /// keeps what accrued and a buyer earns only from now on.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values)
        internal
        override
    {
        for (uint256 i; i < ids.length; ++i) {
            uint256 acc = _leases[ids[i]].rentPerShare;
            if (from != address(0)) _checkpoint(ids[i], from, acc);
            if (to != address(0)) _checkpoint(ids[i], to, acc);
        }
        super._update(from, to, ids, values);
    }

    function _checkpoint(uint256 leaseId, address account, uint256 acc) internal {
        Holder storage h = _holders[leaseId][account];
        uint256 paid = h.rentPerSharePaid;
        if (paid != acc) {
            uint256 earned = balanceOf(account, leaseId) * (acc - paid) / RentLib.ACC_SCALE;
            if (earned != 0) h.accrued += earned;
            h.rentPerSharePaid = acc;
        }
    }

    /// @dev Rent owed to a holder: accrued at its last checkpoint plus what its balance earned since.
    function _owed(Holder storage h, uint256 acc, uint256 balance) internal view returns (uint256) {
        return h.accrued + balance * (acc - h.rentPerSharePaid) / RentLib.ACC_SCALE;
    }
}
