// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {IOracle} from "@morpho-org/morpho-blue/src/interfaces/IOracle.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {LeaseMarket} from "./LeaseMarket.sol";
import {LeaseShareToken} from "./LeaseShareToken.sol";
import {IClusterRegistry} from "./interfaces/IClusterRegistry.sol";
import {IDisputeDesk} from "./interfaces/IDisputeDesk.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";
import {RentLib} from "./libraries/RentLib.sol";
import {DisputeStatus, Lease, LeaseStatus} from "./libraries/Types.sol";

/// @title LeaseNavOracle
/// @notice The net asset value of one token of a lease's `LeaseShareToken`, from attested
/// settlement only: the rent its share can still earn, at the lease's trailing delivery ratio,
/// plus the rent the wrapper already holds per token. Never from balances or trade prices that
/// one party can move. Speaks Morpho Blue's `IOracle` and Chainlink's `AggregatorV3Interface`.
///
/// Formula (docs/protocol.md, "NAV feed", has a worked example), per lease with full epoch rent F:
///   ratio    = delivered rent / (F x settled epochs) over the last checkpoints (else the whole
///              lease so far; 1 before any epoch settled), at most 1
///   live     = F x ratio for each epoch not yet ended, and for each ended, unsettled epoch whose
///              report stands unchallenged within its deadlines (or whose report may still come)
///   marked   = 0 for each ended, unsettled epoch that missed its report, passed its proof
///              deadline unsettled, or has an open challenge (the arbiter's ruling, once given,
///              values it exactly); compensation from the bond counts once it is booked
///   share    = (sum of live) / totalShares
///   price    = (rent the wrapper holds or is owed) / its supply
///              + min(share, anchor + face x maxRiseBps x (epochs since anchor + 1)): a fall shows
///              at once, the share's estimate rises at most `maxRiseBps` of the face value per
///              epoch (booked rent is exact and never capped); `poke` moves the anchor to the
///              share's part, but up only by the allowance the epochs since earned
/// A dark oracle therefore marks its epochs down as their report deadlines pass, with no
/// transaction needed, while `updatedAt` stays at the last report it counted.
contract LeaseNavOracle is IOracle, AggregatorV3Interface {
    /// @notice One trailing-ratio checkpoint: epochs settled and delivered rent paid by then.
    struct Checkpoint {
        uint64 settled;
        uint192 rentPaid;
    }

    /// @notice What the NAV is made of (stablecoin base units unless named otherwise).
    struct Breakdown {
        uint256 ratio1e18; // trailing delivery ratio, 1e18 = full
        uint256 fullEpochRent; // F
        uint64 liveEpochs; // epochs valued at F x ratio
        uint64 markedDownEpochs; // ended, unsettled epochs valued at 0
        uint256 arbitratedValue; // ended, unsettled epochs valued at the arbiter's ruling
        uint256 shareValue; // what every share of the lease can still earn, in total
        uint256 cashPerToken1e18; // rent held for the wrapper per token, scaled by 1e18
        uint256 rawPrice; // per token, Morpho scale (1e36 per base unit)
        uint256 sharePrice; // the share's part of it (without the rent held), under the rise cap
        uint256 price; // rent held per token + sharePrice
        uint256 updatedAt; // the newest attested input counted
        uint256 lastReportAt; // submission time of the newest report counted (0: none)
    }

    /// @notice Ended, unsettled epochs looked at; older ones beyond count as marked down.
    uint64 public constant MAX_PENDING_SCAN = 16;
    /// @notice Trailing-ratio checkpoints kept (one per settlement round that `poke` saw).
    uint256 public constant WINDOW = 4;
    uint256 internal constant PRICE_SCALE = 1e36;
    uint256 internal constant RATIO_SCALE = 1e18;

    LeaseMarket public immutable market;
    LeaseShareToken public immutable token;
    uint256 public immutable leaseId;
    /// @notice Most the price may rise per epoch, in basis points of the lease's face value.
    uint16 public immutable maxRiseBps;
    IClusterRegistry internal immutable _registry;
    IDisputeDesk internal immutable _disputes;
    uint64 internal immutable _challengeWindow;
    uint64 internal immutable _proofGrace;
    uint64 internal immutable _reportWindow;
    uint8 internal immutable _coinDecimals;

    /// @notice The share's part of the price `poke` last published (the rise cap's anchor), and the
    /// epoch it was published in (+1; 0 = never).
    uint256 public anchorPrice;
    uint64 public anchorEpochPlusOne;
    /// @notice Checkpoints written (the ring holds the last `WINDOW`).
    uint64 public checkpoints;
    /// @notice The newest report time a `poke` saw counted, so `updatedAt` never goes back when
    /// a later epoch settles without a report.
    uint64 public lastReportSeen;
    Checkpoint[WINDOW] internal _ring;

    /// @param token_ The lease's share token (its market and lease are this feed's).
    /// @param maxRiseBps_ Most the price may rise per epoch, in basis points of face value (1..10,000).
    constructor(LeaseShareToken token_, uint16 maxRiseBps_) {
        if (maxRiseBps_ == 0 || maxRiseBps_ > RentLib.BPS) revert InvalidRiseCap(maxRiseBps_);
        token = token_;
        market = token_.market();
        leaseId = token_.leaseId();
        maxRiseBps = maxRiseBps_;
        _registry = market.registry();
        _disputes = market.disputes();
        _challengeWindow = market.challengeWindow();
        _proofGrace = market.proofGrace();
        _reportWindow = _registry.reportWindow();
        _coinDecimals = IERC20Metadata(address(token_.stablecoin())).decimals();
    }

    // ------------------------------------------------------------ Morpho

    /// @inheritdoc IOracle
    /// @dev The token has 0 decimals, so this is stablecoin base units per token x 1e36.
    function price() external view returns (uint256) {
        return breakdown().price;
    }

    // ------------------------------------------------------------ Chainlink

    /// @notice The answer is stablecoin whole units per token with 18 decimals.
    function decimals() external pure returns (uint8) {
        return 18;
    }

    function description() external view returns (string memory) {
        return string.concat("compute-ledger lease ", Strings.toString(leaseId), " NAV per share");
    }

    function version() external pure returns (uint256) {
        return 1;
    }

    /// @notice Only the latest round is kept: its id is the current epoch + 1.
    function getRoundData(uint80 roundId) external view returns (uint80, int256, uint256, uint256, uint80) {
        (uint80 latest, int256 answer, uint256 startedAt, uint256 updatedAt,) = latestRoundData();
        if (roundId != latest) revert RoundNotKept(roundId, latest);
        return (latest, answer, startedAt, updatedAt, latest);
    }

    /// @notice The NAV now; `updatedAt` is when the newest attested input it counts was submitted
    /// (a dark oracle leaves it behind, so a consumer can check its age).
    function latestRoundData()
        public
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        Breakdown memory b = breakdown();
        roundId = uint80(_epochNow(market.getLease(leaseId)) + 1);
        answer = int256(b.price / 10 ** (18 + uint256(_coinDecimals)));
        return (roundId, answer, b.updatedAt, b.updatedAt, roundId);
    }

    // ------------------------------------------------------------ state

    /// @notice Publishes the price and, while the lease is active, makes its share part the rise
    /// cap's new anchor (up by no more than the epochs since the last anchor allow, so repeated
    /// pokes cannot stack allowances) and records a trailing-ratio checkpoint once more epochs settled. Anyone
    /// may call it (the keeper does, each round).
    function poke() external returns (uint256 published) {
        Lease memory l = market.getLease(leaseId);
        Breakdown memory b = breakdown();
        published = b.price;
        if (l.status == LeaseStatus.Active) {
            // The anchor may rise only by the allowance the epochs since the last one earned, so
            // poking again and again cannot stack allowances.
            uint64 anchored = anchorEpochPlusOne;
            uint64 now_ = _epochNow(l);
            uint256 anchor = b.sharePrice;
            if (anchored != 0) {
                uint256 earned = _allowance(l, b.fullEpochRent, now_ - (anchored - 1));
                uint256 ceiling = Math.saturatingAdd(anchorPrice, earned);
                if (ceiling < anchor) anchor = ceiling;
            }
            (anchorPrice, anchorEpochPlusOne) = (anchor, now_ + 1);
            if (b.lastReportAt > lastReportSeen) lastReportSeen = uint64(b.lastReportAt);
            uint64 settled = l.nextEpoch - l.startEpoch;
            uint64 n = checkpoints;
            if (settled != 0 && (n == 0 || _ring[(n - 1) % WINDOW].settled < settled)) {
                _ring[n % WINDOW] = Checkpoint(settled, uint192(_rentPaid(l, b.fullEpochRent)));
                checkpoints = n + 1;
            }
        }
        emit NavPublished(leaseId, published, b.ratio1e18, b.updatedAt);
    }

    // ------------------------------------------------------------ views

    /// @notice Every input and step of the NAV, for wallets and for anyone checking the price.
    function breakdown() public view returns (Breakdown memory b) {
        Lease memory l = market.getLease(leaseId);
        b.fullEpochRent = RentLib.fullRent(RentLib.capacity(l.units, l.epochLength), l.pricePerUnitHour);
        b.updatedAt = block.timestamp;
        if (l.status == LeaseStatus.Active) _valueShares(l, b);
        uint256 supply = token.totalSupply();
        uint256 cashPrice;
        if (supply != 0) {
            uint256 held = token.rentHeld();
            b.cashPerToken1e18 = Math.mulDiv(held, RATIO_SCALE, supply);
            cashPrice = Math.mulDiv(held, PRICE_SCALE, supply);
        }
        // Rent the token holds is booked and exact: only the share's estimate is capped.
        uint256 sharePrice = Math.mulDiv(b.shareValue, PRICE_SCALE, l.totalShares);
        b.rawPrice = cashPrice + sharePrice;
        b.sharePrice = sharePrice;
        uint64 anchored = anchorEpochPlusOne;
        if (anchored != 0 && l.status == LeaseStatus.Active) {
            // The anchor's epoch is never in the future; one epoch's allowance is there at once.
            uint64 since = _epochNow(l) + 1 - anchored;
            uint256 cap = Math.saturatingAdd(anchorPrice, _allowance(l, b.fullEpochRent, uint256(since) + 1));
            if (b.sharePrice > cap) b.sharePrice = cap;
        }
        b.price = cashPrice + b.sharePrice;
    }

    /// @dev Values the shares of an active lease: live epochs at F x ratio, ended ones by what
    /// attests them; sets `updatedAt` to the newest report counted.
    function _valueShares(Lease memory l, Breakdown memory b) internal view {
        b.ratio1e18 = _ratio(l, b.fullEpochRent);
        uint64 current = _epochNow(l);
        uint64 ended = current < l.endEpoch ? current : l.endEpoch;
        uint64 firstLive = current > l.nextEpoch ? current : l.nextEpoch;
        if (l.endEpoch > firstLive) b.liveEpochs = l.endEpoch - firstLive;

        // The newest report among the last settled epochs (a missed one has none).
        uint256 newestReport;
        for (
            uint64 e = l.nextEpoch;
            e > l.startEpoch && e + MAX_PENDING_SCAN > l.nextEpoch && newestReport == 0;
            --e
        ) {
            (, newestReport) = _registry.reportOf(l.clusterId, e - 1);
        }
        uint64 scanEnd = ended;
        if (scanEnd > l.nextEpoch + MAX_PENDING_SCAN) scanEnd = l.nextEpoch + MAX_PENDING_SCAN;
        for (uint64 e = l.nextEpoch; e < scanEnd; ++e) {
            (bool live, uint256 ruledValue, uint64 submittedAt) = _pending(l, e);
            if (live) ++b.liveEpochs;
            else if (ruledValue != 0) b.arbitratedValue += ruledValue;
            else ++b.markedDownEpochs;
            if (submittedAt > newestReport) newestReport = submittedAt;
        }
        if (ended > scanEnd) b.markedDownEpochs += ended - scanEnd;
        if (lastReportSeen > newestReport) newestReport = lastReportSeen;
        b.lastReportAt = newestReport;

        b.shareValue =
            Math.mulDiv(b.fullEpochRent * b.liveEpochs, b.ratio1e18, RATIO_SCALE) + b.arbitratedValue;
        // Nothing has ended yet: the terms are all there is, and they are current.
        if (ended > l.startEpoch) {
            b.updatedAt =
                newestReport != 0 ? newestReport : uint256(l.genesis) + uint256(l.startEpoch) * l.epochLength;
        }
    }

    /// @dev How an ended, unsettled epoch counts: live (its report stands unchallenged within its
    /// deadlines, or may still come), at the arbiter's ruling, or marked down (0, 0).
    function _pending(Lease memory l, uint64 epoch)
        internal
        view
        returns (bool live, uint256 ruledValue, uint64 submittedAt)
    {
        (DisputeStatus status, uint64 ruled,, uint64 resolveBy) = _disputes.verdict(leaseId, epoch);
        (, submittedAt) = _registry.reportOf(l.clusterId, epoch);
        if (status == DisputeStatus.Upheld || status == DisputeStatus.Rejected) {
            uint256 cap = RentLib.capacity(l.units, l.epochLength);
            return (false, RentLib.rent(ruled, cap, l.pricePerUnitHour), submittedAt);
        }
        if (status == DisputeStatus.Conflict) return (false, 0, submittedAt);
        if (status == DisputeStatus.Open && block.timestamp < resolveBy) return (false, 0, submittedAt);
        if (submittedAt == 0) {
            uint256 reportDeadline = uint256(l.genesis) + (uint256(epoch) + 1) * l.epochLength + _reportWindow;
            return (block.timestamp <= reportDeadline, 0, 0);
        }
        uint256 proofDeadline = uint256(submittedAt) + _challengeWindow;
        if (resolveBy > proofDeadline) proofDeadline = resolveBy;
        return (block.timestamp <= proofDeadline + _proofGrace, 0, submittedAt);
    }

    /// @dev Delivered rent over settled rent capacity, across the oldest checkpoint still kept (or
    /// the whole lease); full before any epoch settled.
    function _ratio(Lease memory l, uint256 fullEpochRent) internal view returns (uint256) {
        uint256 settled = l.nextEpoch - l.startEpoch;
        if (settled == 0 || fullEpochRent == 0) return RATIO_SCALE;
        uint256 paid = _rentPaid(l, fullEpochRent);
        uint64 n = checkpoints;
        if (n != 0) {
            Checkpoint memory oldest = _ring[n >= WINDOW ? n % WINDOW : 0];
            if (oldest.settled < settled) {
                (settled, paid) = (settled - oldest.settled, paid - oldest.rentPaid);
            }
        }
        uint256 ratio = Math.mulDiv(paid, RATIO_SCALE, fullEpochRent * settled);
        return ratio > RATIO_SCALE ? RATIO_SCALE : ratio;
    }

    /// @dev How far the price may rise over `epochs` epochs: `maxRiseBps` of the face value each
    /// (saturating, so absurd terms cannot make `price()` revert).
    function _allowance(Lease memory l, uint256 fullEpochRent, uint256 epochs)
        internal
        view
        returns (uint256)
    {
        uint256 face = Math.mulDiv(fullEpochRent * (l.endEpoch - l.startEpoch), PRICE_SCALE, l.totalShares);
        (bool ok, uint256 steps) = Math.tryMul(face, uint256(maxRiseBps) * epochs);
        return ok ? steps / RentLib.BPS : type(uint256).max;
    }

    /// @dev Delivered rent paid out of escrow so far (compensation from the bond is not delivery).
    /// @dev Rent paid from escrow so far: what was escrowed less what is left, less a powered
    /// shell's energy (escrowed at its most per epoch, billed to the site, never rent).
    function _rentPaid(Lease memory l, uint256 fullEpochRent) internal pure returns (uint256) {
        uint256 maxEnergy =
            RentLib.maxEnergyCharge(RentLib.capacity(l.units, l.epochLength), l.energyPricePerKwh);
        return (fullEpochRent + maxEnergy) * (l.endEpoch - l.startEpoch) - l.escrow - l.energyBilled;
    }

    function _epochNow(Lease memory l) internal view returns (uint64) {
        if (block.timestamp < l.genesis) return 0;
        return uint64((block.timestamp - l.genesis) / l.epochLength);
    }
}
