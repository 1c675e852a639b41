// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IClusterRegistry} from "./interfaces/IClusterRegistry.sol";
import {IDisputeDesk} from "./interfaces/IDisputeDesk.sol";
import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";
import {RentLib} from "./libraries/RentLib.sol";
import {ReportLib} from "./libraries/ReportLib.sol";
import {Challenge, DisputeStatus, Lease, LeaseStatus, ProvenLeaf} from "./libraries/Types.sol";

/// @title DisputeDesk
/// @notice Where a lease's tenant or holders dispute reported epochs. Deployed by the LeaseMarket
/// it serves. Keeps `balance == Σ open challenge bonds + Σ payouts` for each stablecoin. Every
/// dispute ends: the arbiter rules before `resolutionWindow` runs out, or the report stands.
contract DisputeDesk is IDisputeDesk, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The market whose leases are disputed here.
    ILeaseMarket public immutable market;
    /// @notice The registry holding the disputed reports.
    IClusterRegistry public immutable registry;
    /// @notice Seconds after a report's acceptance during which it may be challenged.
    uint64 public immutable challengeWindow;
    /// @notice Seconds after a challenge during which the arbiter may rule.
    uint64 public immutable resolutionWindow;
    /// @notice Challenge bond as basis points of the lease's full-epoch rent.
    uint16 public immutable challengeBondBps;

    /// @notice The account that rules on challenges.
    address public arbiter;
    /// @inheritdoc IDisputeDesk
    mapping(address token => mapping(address account => uint256)) public payouts;

    mapping(uint256 leaseId => mapping(uint64 epoch => Challenge)) internal _challenges;

    /// @param governance Names the arbiter (two-step ownership).
    constructor(
        address governance,
        ILeaseMarket market_,
        IClusterRegistry registry_,
        uint64 challengeWindow_,
        uint64 resolutionWindow_,
        uint16 challengeBondBps_
    ) Ownable(governance) {
        market = market_;
        registry = registry_;
        challengeWindow = challengeWindow_;
        resolutionWindow = resolutionWindow_;
        challengeBondBps = challengeBondBps_;
    }

    /// @inheritdoc IDisputeDesk
    function setArbiter(address arbiter_) external onlyOwner {
        if (arbiter_ == address(0)) revert ZeroAddress();
        arbiter = arbiter_;
        emit ArbiterSet(arbiter_);
    }

    // ------------------------------------------------------------ disputes

    /// @inheritdoc IDisputeDesk
    function challenge(uint256 leaseId, uint64 epoch) external nonReentrant {
        Lease memory l = market.getLease(leaseId);
        if (arbiter == address(0)) revert NoArbiter();
        if (msg.sender != l.tenant && IERC1155(address(market)).balanceOf(msg.sender, leaseId) == 0) {
            revert NotTenantOrHolder(leaseId, msg.sender);
        }
        if (l.status != LeaseStatus.Active) revert WrongLeaseStatus(leaseId, uint8(l.status));
        if (epoch < l.nextEpoch || epoch >= l.endEpoch) revert ChallengeWindowClosed(leaseId, epoch);
        (, uint64 submittedAt) = registry.reportOf(l.clusterId, epoch);
        if (submittedAt == 0) revert NoReport(l.clusterId, epoch);
        if (block.timestamp >= uint256(submittedAt) + challengeWindow) {
            revert ChallengeWindowClosed(leaseId, epoch);
        }
        Challenge storage c = _challenges[leaseId][epoch];
        if (c.status != DisputeStatus.None) revert AlreadyChallenged(leaseId, epoch);
        uint256 bond = _bond(l);
        c.challenger = msg.sender;
        c.openedAt = uint64(block.timestamp);
        c.status = DisputeStatus.Open;
        c.bond = uint128(bond);
        emit EpochChallengeOpened(
            leaseId, epoch, msg.sender, bond, uint64(block.timestamp + resolutionWindow)
        );
        market.markDisputed(leaseId, epoch);
        if (bond != 0) IERC20(l.stablecoin).safeTransferFrom(msg.sender, address(this), bond);
    }

    /// @inheritdoc IDisputeDesk
    function resolveChallenge(
        uint256 leaseId,
        uint64 epoch,
        uint64 correctedDelivered,
        uint64 correctedEnergyWh,
        bool upheld
    ) external {
        if (msg.sender != arbiter) revert NotArbiter(msg.sender);
        Challenge storage c = _challenges[leaseId][epoch];
        if (c.status != DisputeStatus.Open) revert NoOpenChallenge(leaseId, epoch);
        uint256 resolveBy = uint256(c.openedAt) + resolutionWindow;
        if (block.timestamp >= resolveBy) revert ResolutionWindowClosed(leaseId, epoch, resolveBy);
        c.status = upheld ? DisputeStatus.Upheld : DisputeStatus.Rejected;
        c.delivered = correctedDelivered;
        c.energyWh = correctedEnergyWh;
        Lease memory l = market.getLease(leaseId);
        if (upheld) {
            _release(l.stablecoin, c, c.challenger);
        } else {
            // Forfeited to governance, not to a party: an owner squatting the epoch's one
            // challenge with its own shares would otherwise get its bond back either way.
            _release(l.stablecoin, c, owner());
        }
        emit EpochChallengeResolved(leaseId, epoch, correctedDelivered, correctedEnergyWh, upheld);
    }

    /// @inheritdoc IDisputeDesk
    function expire(uint256 leaseId, uint64 epoch) external {
        Challenge storage c = _challenges[leaseId][epoch];
        if (c.status != DisputeStatus.Open) revert NoOpenChallenge(leaseId, epoch);
        uint256 resolveBy = uint256(c.openedAt) + resolutionWindow;
        if (block.timestamp < resolveBy) revert ResolutionPending(leaseId, epoch, resolveBy);
        c.status = DisputeStatus.Expired;
        _release(market.getLease(leaseId).stablecoin, c, c.challenger);
        emit EpochChallengeExpired(leaseId, epoch);
    }

    /// @inheritdoc IDisputeDesk
    function proveConflict(uint256 leaseId, uint64 epoch, ProvenLeaf calldata a, ProvenLeaf calldata b)
        external
    {
        Lease memory l = market.getLease(leaseId);
        if (l.status != LeaseStatus.Active) revert WrongLeaseStatus(leaseId, uint8(l.status));
        if (epoch < l.nextEpoch || epoch >= l.endEpoch) revert EpochAlreadySettled(leaseId, epoch);
        Challenge storage c = _challenges[leaseId][epoch];
        DisputeStatus status = c.status;
        if (status == DisputeStatus.Upheld || status == DisputeStatus.Rejected) {
            revert EpochArbitrated(leaseId, epoch);
        }
        if (status == DisputeStatus.Conflict) revert AlreadyChallenged(leaseId, epoch);
        if (a.delivered == b.delivered && a.energyWh == b.energyWh) revert LeavesAgree(leaseId, epoch);
        (bytes32 root, uint64 submittedAt) = registry.reportOf(l.clusterId, epoch);
        if (submittedAt == 0) revert NoReport(l.clusterId, epoch);
        ReportLib.requireLeaf(root, leaseId, epoch, a.delivered, a.energyWh, a.proof);
        ReportLib.requireLeaf(root, leaseId, epoch, b.delivered, b.energyWh, b.proof);
        // A challenger who spotted a bad report is not at fault: its bond comes back.
        if (status == DisputeStatus.Open) _release(l.stablecoin, c, c.challenger);
        c.status = DisputeStatus.Conflict;
        emit ConflictingLeavesProven(leaseId, epoch, a.delivered, a.energyWh, b.delivered, b.energyWh);
        market.markDisputed(leaseId, epoch);
    }

    /// @inheritdoc IDisputeDesk
    function withdrawPayout(address token) external nonReentrant returns (uint256 amount) {
        amount = payouts[token][msg.sender];
        if (amount == 0) revert NothingToClaim();
        payouts[token][msg.sender] = 0;
        emit PayoutWithdrawn(token, msg.sender, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------ views

    /// @inheritdoc IDisputeDesk
    function verdict(uint256 leaseId, uint64 epoch)
        external
        view
        returns (DisputeStatus status, uint64 ruled, uint64 ruledEnergyWh, uint64 resolveBy)
    {
        Challenge storage c = _challenges[leaseId][epoch];
        status = c.status;
        if (status == DisputeStatus.None) return (status, 0, 0, 0);
        return (status, c.delivered, c.energyWh, c.openedAt + resolutionWindow);
    }

    /// @notice Every field of one (lease, epoch)'s dispute.
    function challengeOf(uint256 leaseId, uint64 epoch) external view returns (Challenge memory) {
        return _challenges[leaseId][epoch];
    }

    /// @inheritdoc IDisputeDesk
    function challengeBond(uint256 leaseId) external view returns (uint256) {
        return _bond(market.getLease(leaseId));
    }

    // ------------------------------------------------------------ internal

    function _bond(Lease memory l) internal view returns (uint256) {
        return RentLib.fullRent(RentLib.capacity(l.units, l.epochLength), l.pricePerUnitHour)
            * challengeBondBps / RentLib.BPS;
    }

    /// @dev Makes a challenge's bond withdrawable by `to` (pull payment: a frozen account blocks nobody).
    function _release(address token, Challenge storage c, address to) internal {
        uint256 bond = c.bond;
        if (bond == 0) return;
        c.bond = 0;
        payouts[token][to] += bond;
        emit PayoutCredited(token, to, bond);
    }
}
