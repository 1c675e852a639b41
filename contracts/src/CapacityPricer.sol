// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ClusterRegistry} from "./ClusterRegistry.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";

/// @title CapacityPricer
/// @notice A quote per cluster for new leases (stablecoin base units per GPU-hour), moved by the
/// cluster's attested utilization on an adaptive curve after Morpho's AdaptiveCurveIrm: busy GPU
/// time over available GPU time, from each accepted report, is compared with a target.
///
///   err            = (u - target) / target            when u <= target
///                    (u - target) / (1 - target)      when u >  target         (in [-1, 1])
///   priceAtTarget *= 1 + speed x err   (err >= 0),  / (1 + speed x |err|)  (err < 0)
///                    per reported epoch, kept within [floor, reference x MAX_MULTIPLE]
///   quote          = priceAtTarget x (1 + (steepness - 1) x err)            (err >= 0)
///                    priceAtTarget x (1 + (1 - 1 / steepness) x err)        (err <  0)
///                    and never below the floor
///
/// So a cluster busier than its target quotes up to `steepness` x its price at target at once, and
/// its price at target keeps climbing while it stays busy; an idle one quotes down to 1/steepness
/// and drifts toward its floor. An up-step and an equal down-step cancel exactly (the adaptation
/// multiplies and divides by the same factor). The owner sets the reference price (where the
/// price at target starts, and restarts on a new reference) and the floor; target, steepness and
/// speed are the deployment's. Anyone calls `update`: it applies every reported epoch since the
/// last one applied, in epoch order, so no caller can reorder or skip them (after a quiet spell
/// longer than `MAX_EPOCHS_PER_UPDATE` epochs, only the last that many are looked at).
contract CapacityPricer {
    /// @notice One cluster's curve state.
    struct Curve {
        // slot 0
        uint128 referencePrice; // owner-set; 0 = no curve
        uint128 floorPrice; // owner-set
        // slot 1
        uint128 priceAtTarget; // adapts with every reported epoch
        uint64 nextEpoch; // first epoch not yet looked at
        int64 lastErrBps; // err of the last reported epoch applied, in basis points
        // slot 2
        uint64 lastUtilizationBps; // u of the last reported epoch applied, in basis points
        uint64 lastReportedEpoch; // that epoch
    }

    uint256 internal constant WAD = 1e18;
    uint256 internal constant BPS = 10_000;
    /// @notice Most ended epochs one `update` looks at: the last ones (older ones are skipped).
    uint64 public constant MAX_EPOCHS_PER_UPDATE = 64;
    /// @notice The price at target never climbs above this multiple of the reference.
    uint256 public constant MAX_MULTIPLE = 16;

    ClusterRegistry public immutable registry;
    /// @notice Utilization the curve steers to (WAD).
    uint256 public immutable targetUtilization;
    /// @notice Quote at full utilization over the price at target (WAD, > 1).
    uint256 public immutable steepness;
    /// @notice Most the price at target moves per reported epoch, at |err| = 1 (WAD).
    uint256 public immutable speedPerEpoch;

    mapping(uint64 clusterId => Curve) internal _curves;

    /// @param registry_ Where clusters and their accepted reports are.
    /// @param targetUtilization_ In (0, 1) (WAD), e.g. 0.8e18.
    /// @param steepness_ Above 1 (WAD), at most 100, e.g. 4e18.
    /// @param speedPerEpoch_ In (0, 1] (WAD), e.g. 0.05e18.
    constructor(
        ClusterRegistry registry_,
        uint256 targetUtilization_,
        uint256 steepness_,
        uint256 speedPerEpoch_
    ) {
        if (address(registry_) == address(0)) revert ZeroAddress();
        if (targetUtilization_ == 0 || targetUtilization_ >= WAD) revert InvalidParameter();
        if (steepness_ <= WAD || steepness_ > 100 * WAD) revert InvalidParameter();
        if (speedPerEpoch_ == 0 || speedPerEpoch_ > WAD) revert InvalidParameter();
        registry = registry_;
        targetUtilization = targetUtilization_;
        steepness = steepness_;
        speedPerEpoch = speedPerEpoch_;
    }

    /// @notice Sets `clusterId`'s reference price and floor (its owner only). The price at target
    /// restarts at the reference; epochs already applied stay applied.
    function setCurve(uint64 clusterId, uint128 referencePrice, uint128 floorPrice) external {
        (address clusterOwner,,,) = registry.clusterInfo(clusterId);
        if (clusterOwner == address(0)) revert UnknownCluster(clusterId);
        if (clusterOwner != msg.sender) revert NotClusterOwner(clusterId, msg.sender);
        // The price at target may climb to MAX_MULTIPLE x the reference and is stored in 128 bits.
        if (
            referencePrice == 0 || floorPrice > referencePrice
                || referencePrice > type(uint128).max / MAX_MULTIPLE
        ) {
            revert InvalidPriceCurve(referencePrice, floorPrice);
        }
        Curve storage c = _curves[clusterId];
        // The first curve starts with the current epoch; a new reference keeps the epochs applied.
        if (c.referencePrice == 0) c.nextEpoch = registry.currentEpoch(clusterId);
        (c.referencePrice, c.floorPrice, c.priceAtTarget) = (referencePrice, floorPrice, referencePrice);
        emit PriceCurveSet(clusterId, referencePrice, floorPrice, targetUtilization, steepness, speedPerEpoch);
        emit QuoteUpdated(clusterId, c.lastReportedEpoch, c.lastUtilizationBps, referencePrice, _quote(c));
    }

    /// @notice Applies every reported epoch of `clusterId` since the last one applied (at most
    /// `MAX_EPOCHS_PER_UPDATE`), stopping at an epoch whose report may still come; reverts
    /// `QuoteUpToDate` when there is none to look at. Returns the quote. Anyone may call it (the
    /// keeper does, each round, for clusters with a new report).
    function update(uint64 clusterId) external returns (uint256 quote) {
        Curve storage c = _curves[clusterId];
        if (c.referencePrice == 0) revert NoPriceCurve(clusterId);
        uint64 from = c.nextEpoch;
        if (_applyReported(clusterId, c) == from) revert QuoteUpToDate(clusterId, from);
        quote = _quote(c);
        emit QuoteUpdated(clusterId, c.lastReportedEpoch, c.lastUtilizationBps, c.priceAtTarget, quote);
    }

    /// @notice The price per GPU-hour `clusterId` quotes for a new lease now (0 without a curve).
    function quote(uint64 clusterId) external view returns (uint256) {
        Curve storage c = _curves[clusterId];
        return c.referencePrice == 0 ? 0 : _quote(c);
    }

    /// @notice Every field of `clusterId`'s curve.
    function curveOf(uint64 clusterId) external view returns (Curve memory) {
        return _curves[clusterId];
    }

    /// @dev Walks the ended epochs from `nextEpoch`: learns from each reported one, skips each
    /// whose reporting window closed without a report, stops at one whose report may still come.
    function _applyReported(uint64 clusterId, Curve storage c) internal returns (uint64 epoch) {
        (, uint32 epochLength, uint64 genesis,) = registry.clusterInfo(clusterId);
        uint256 reportWindow = registry.reportWindow();
        epoch = c.nextEpoch;
        // After a long quiet spell only the last MAX_EPOCHS_PER_UPDATE ended epochs are looked
        // at: older reports say little about demand now, and one call then always catches up.
        uint256 ended = block.timestamp > genesis ? (block.timestamp - genesis) / epochLength : 0;
        if (ended > uint256(epoch) + MAX_EPOCHS_PER_UPDATE) epoch = uint64(ended - MAX_EPOCHS_PER_UPDATE);
        uint64 last = epoch + MAX_EPOCHS_PER_UPDATE;
        for (; epoch < last; ++epoch) {
            uint256 endsAt = uint256(genesis) + (uint256(epoch) + 1) * epochLength;
            if (block.timestamp < endsAt) break; // not over yet
            ClusterRegistry.StoredReport memory r = registry.reportMetrics(clusterId, epoch);
            if (r.acceptedDelay == 0) {
                if (block.timestamp <= endsAt + reportWindow) break; // its report may still come
                continue; // missed: no utilization to learn from
            }
            _learn(c, epoch, r.gpuSecondsBusy, r.gpuSecondsAvailable);
        }
        c.nextEpoch = epoch;
    }

    function _learn(Curve storage c, uint64 epoch, uint256 busy, uint256 available) internal {
        (uint256 utilizationBps, int256 errBps) = _err(busy, available);
        c.priceAtTarget = uint128(_adapt(c.priceAtTarget, errBps, c.referencePrice, c.floorPrice));
        (c.lastUtilizationBps, c.lastErrBps, c.lastReportedEpoch) =
        (uint64(utilizationBps), int64(errBps), epoch);
    }

    /// @dev Utilization and its error against the target, both in basis points. No available
    /// GPU time says nothing about demand: err 0.
    function _err(uint256 busy, uint256 available) internal view returns (uint256 uBps, int256 errBps) {
        if (available == 0) return (0, 0);
        uint256 u = busy >= available ? WAD : busy * WAD / available;
        uBps = u * BPS / WAD;
        uint256 target = targetUtilization;
        if (u <= target) errBps = -int256((target - u) * BPS / target);
        else errBps = int256((u - target) * BPS / (WAD - target));
    }

    function _adapt(uint256 price, int256 errBps, uint256 referencePrice, uint256 floor)
        internal
        view
        returns (uint256)
    {
        uint256 step = WAD + speedPerEpoch * _abs(errBps) / BPS;
        price = errBps >= 0 ? price * step / WAD : price * WAD / step;
        uint256 ceiling = referencePrice * MAX_MULTIPLE;
        if (price > ceiling) price = ceiling;
        if (price < floor) price = floor;
        return price == 0 ? 1 : price;
    }

    function _quote(Curve storage c) internal view returns (uint256 price) {
        int256 errBps = c.lastErrBps;
        uint256 coeff = errBps >= 0 ? steepness - WAD : WAD - WAD * WAD / steepness;
        uint256 move = uint256(c.priceAtTarget) * coeff / WAD * _abs(errBps) / BPS;
        price = errBps >= 0 ? c.priceAtTarget + move : c.priceAtTarget - move;
        if (price < c.floorPrice) price = c.floorPrice;
    }

    function _abs(int256 x) internal pure returns (uint256) {
        return uint256(x >= 0 ? x : -x);
    }
}
