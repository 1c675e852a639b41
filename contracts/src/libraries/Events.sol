// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseTerms, Outcome, UsageReport} from "./Types.sol";

/// @title Events
/// @notice Every event of the compute-ledger contracts. Events carry every field an indexer
/// needs, so the node's index is built from logs alone, without calls.

// ---------------------------------------------------------------- governance

/// @notice Emitted once, when governance links the registry to its lease market.
event MarketSet(address indexed market);
/// @notice Emitted when governance adds or removes an accepted stablecoin.
event StablecoinAllowed(address indexed token, bool allowed);
/// @notice Emitted when governance names the arbiter that resolves challenges.
event ArbiterSet(address indexed arbiter);
/// @notice Emitted when governance changes the ERC-1155 metadata URI template.
event MetadataUriSet(string uri);

// ---------------------------------------------------------------- clusters

/// @notice Emitted when a cluster is registered; epoch e spans [genesis + e*len, genesis + (e+1)*len).
event ClusterRegistered(
    uint64 indexed clusterId,
    address indexed owner,
    uint32 epochLength,
    uint64 genesis,
    string metadataUri,
    bytes32 metadataHash
);
/// @notice Emitted when an attestor set is named; it verifies reports for epochs >= fromEpoch.
/// `consented` when the set in force signed the rotation (required while leases are open).
event AttestorsSet(
    uint64 indexed clusterId,
    uint32 indexed setId,
    uint64 fromEpoch,
    uint8 threshold,
    address[] attestors,
    bool consented
);
/// @notice Emitted when a cluster with no open lease is deregistered.
event ClusterDeregistered(uint64 indexed clusterId);
/// @notice Emitted when a signed usage report is accepted; carries every signed field.
event ReportAccepted(uint64 indexed clusterId, uint64 indexed epoch, UsageReport report, address relayer);

// ---------------------------------------------------------------- bonds and leases

/// @notice Emitted when stablecoin is added to a cluster's performance bond.
event BondDeposited(uint64 indexed clusterId, address indexed token, uint256 amount);
/// @notice Emitted when free bond is withdrawn by the cluster owner.
event BondWithdrawn(uint64 indexed clusterId, address indexed token, uint256 amount);
/// @notice Emitted when a lease is created and its shares minted to the owner; `bondLocked` is the
/// worst-case SLA credit reserved from the owner's bond.
event LeaseCreated(
    uint256 indexed leaseId,
    uint64 indexed clusterId,
    address indexed tenant,
    LeaseTerms terms,
    uint256 bondLocked
);
/// @notice Emitted when the tenant funds the escrow and the lease becomes active; `startEpoch` is
/// the first epoch billed (later than the terms' when funded late; skipped epochs' bond is released).
event LeaseFunded(uint256 indexed leaseId, address indexed tenant, uint256 escrow, uint64 startEpoch);
/// @notice Emitted when an unfunded lease is cancelled (by its owner, or by anyone once it can no
/// longer be funded).
event LeaseCancelled(uint256 indexed leaseId, address indexed by);
/// @notice Emitted when every epoch of a lease has settled.
event LeaseEnded(uint256 indexed leaseId, uint256 escrowRemainder);

// ---------------------------------------------------------------- shares

/// @notice Emitted when the owner offers (or re-prices) shares for primary sale.
event SharesOffered(uint256 indexed leaseId, address indexed seller, uint256 amount, uint256 pricePerShare);
/// @notice Emitted when shares move while ended epochs of the lease are still unsettled: `holder`
/// held `balance` shares when each epoch before `epoch` ended, and their rent, when it settles,
/// is paid on that balance (rent belongs to whoever held when the epoch ended).
event HolderBalanceRecorded(uint256 indexed leaseId, address indexed holder, uint64 epoch, uint256 balance);
/// @notice Emitted when an epoch's leaf is proven before the epoch's turn to settle; it settles
/// with that leaf when its turn comes, and can no longer be settled as unproven for
/// want of a proof (only conflicting leaves or an arbiter's ruling still change it).
event DeliveryProven(uint256 indexed leaseId, uint64 indexed epoch, uint64 delivered, uint64 energyWh);
/// @notice Emitted when shares are bought from the primary offer.
event SharesBought(
    uint256 indexed leaseId, address indexed buyer, address indexed seller, uint256 amount, uint256 cost
);

// ---------------------------------------------------------------- settlement

/// @notice Emitted when a (lease, epoch) settles. `rent` moves from escrow to holders;
/// `compensation` (missed or unproven epochs) from the owner's bond to holders; `slaCredit` from the
/// bond to the tenant. `rentPerShare` is the accumulator after both reached holders.
event EpochSettled(
    uint256 indexed leaseId,
    uint64 indexed epoch,
    uint64 delivered,
    uint256 rent,
    uint256 compensation,
    uint256 slaCredit,
    uint256 rentPerShare,
    Outcome outcome
);
/// @notice Emitted after `EpochSettled` of a powered shell's epoch: its racks' metered energy and
/// the pass-through charged for it (0 without a tariff, or for a missed or unproven epoch), moved
/// from escrow to the cluster's bond.
event EnergyBilled(uint256 indexed leaseId, uint64 indexed epoch, uint64 energyWh, uint256 charge);
/// @notice Emitted when the tenant or a holder disputes an epoch's report, posting `bond`.
event EpochChallengeOpened(
    uint256 indexed leaseId, uint64 indexed epoch, address indexed challenger, uint256 bond, uint64 resolveBy
);
/// @notice Emitted when the arbiter rules on a challenge: the delivery to bill, and whether the
/// challenger was right (bond returned) or not (bond to the cluster's bond).
event EpochChallengeResolved(
    uint256 indexed leaseId, uint64 indexed epoch, uint64 delivered, uint64 energyWh, bool upheld
);
/// @notice Emitted when an open challenge passes its resolution deadline unruled and its epoch
/// settles: the report stands and the challenger's bond is returned.
event EpochChallengeExpired(uint256 indexed leaseId, uint64 indexed epoch);
/// @notice Emitted when two different leaves for one (lease, epoch) are proven under its report's
/// root: the epoch settles as unproven.
event ConflictingLeavesProven(
    uint256 indexed leaseId,
    uint64 indexed epoch,
    uint64 deliveredA,
    uint64 energyWhA,
    uint64 deliveredB,
    uint64 energyWhB
);

// ---------------------------------------------------------------- payouts

/// @notice Emitted when a share holder claims settled rent.
event RentClaimed(uint256 indexed leaseId, address indexed account, uint256 amount);
/// @notice Emitted when the tenant withdraws SLA credits and, after the term, the escrow remainder.
event TenantWithdrawn(uint256 indexed leaseId, address indexed tenant, uint256 credits, uint256 remainder);
/// @notice Emitted when a challenge bond becomes withdrawable by `account` (upheld or expired).
event PayoutCredited(address indexed token, address indexed account, uint256 amount);
/// @notice Emitted when an account withdraws its returned challenge bonds.
event PayoutWithdrawn(address indexed token, address indexed account, uint256 amount);

// ---------------------------------------------------------------- share exchange

/// @notice Emitted when a limit order for a lease's shares is placed: an ask (`bid` false) offers
/// shares the maker keeps until filled; a bid escrows `amount * pricePerShare` of `stablecoin`.
event OrderPlaced(
    uint256 indexed orderId,
    uint256 indexed leaseId,
    address indexed maker,
    bool bid,
    address stablecoin,
    uint256 amount,
    uint256 pricePerShare,
    uint64 expiry
);
/// @notice Emitted for every fill: `amount` shares moved between the order's maker and `taker` at
/// the order's price, for `cost` of the lease's stablecoin. (Lease, maker, side, price and what is
/// left follow from the order as `OrderPlaced` gave it and its earlier fills: a fill's log stays
/// small, as every fill pays for it.)
event OrderFilled(uint256 indexed orderId, address indexed taker, uint256 amount, uint256 cost);
/// @notice Emitted when an order is cancelled by its maker, or by anyone once it can no longer be
/// filled; a bid's unfilled escrow (`refund`) goes back to its maker.
event OrderCancelled(uint256 indexed orderId, uint256 indexed leaseId, address indexed by, uint256 refund);

// ---------------------------------------------------------------- collateral (share token, NAV feed)

/// @notice Emitted when `amount` shares are wrapped into as many tokens for `receiver`, the
/// caller paying `paid` of rent already accrued to the tokens.
event SharesWrapped(address indexed account, address indexed receiver, uint256 amount, uint256 paid);
/// @notice Emitted when `amount` tokens are burned for as many shares and `rent` of the stablecoin,
/// sent to `receiver`.
event SharesUnwrapped(address indexed account, address indexed receiver, uint256 amount, uint256 rent);
/// @notice Emitted when an unwrap could not pay `amount` of rent at once; `account` pulls it later.
event RentOwed(address indexed account, uint256 amount);
/// @notice Emitted when a token holder challenges an epoch's report through its share token.
event TokenChallenged(
    uint256 indexed leaseId, uint64 indexed epoch, address indexed challenger, uint256 bond
);
/// @notice Emitted when tokens leave a share token while ended epochs are unsettled: `receiver`
/// keeps their slice of those epochs' rent (exit `key`, epochs before `boundary`).
event ExitRecorded(address indexed receiver, bytes32 indexed key, uint64 boundary, uint256 tokens);
/// @notice Emitted when an account is paid the rent of its settled exits.
event ExitsClaimed(address indexed account, uint256 amount);
/// @notice Emitted when a share token claims the rent its shares earned.
event RentHarvested(uint256 indexed leaseId, uint256 amount);
/// @notice Emitted when a NAV feed publishes its price (Morpho scale) as its rise cap's anchor.
event NavPublished(uint256 indexed leaseId, uint256 price, uint256 ratio1e18, uint256 updatedAt);
/// @notice Emitted when a lease gets its share token and NAV feed.
event CollateralCreated(uint256 indexed leaseId, address token, address oracle);

// ---------------------------------------------------------------- capacity pricing

/// @notice Emitted when a cluster's owner sets its reference price and floor (per GPU-hour), with
/// the deployment's target utilization, steepness and speed per epoch (WAD), so the event alone
/// describes the curve.
event PriceCurveSet(
    uint64 indexed clusterId,
    uint128 referencePrice,
    uint128 floorPrice,
    uint256 targetUtilization,
    uint256 steepness,
    uint256 speedPerEpoch
);
/// @notice Emitted when a cluster's quote moves: the last reported epoch applied, its utilization
/// (basis points), the adapted price at target and the quote (both per GPU-hour).
event QuoteUpdated(
    uint64 indexed clusterId, uint64 epoch, uint64 utilizationBps, uint256 priceAtTarget, uint256 quote
);

// ---------------------------------------------------------------- demand response

/// @notice Emitted when a sponsor opens a demand-response program.
event ProgramCreated(
    uint256 indexed programId,
    address indexed sponsor,
    address token,
    uint256 pricePerKwh,
    uint256 penaltyPerKwh,
    address arbiter
);
/// @notice Emitted when a program is funded.
event ProgramFunded(uint256 indexed programId, address indexed from, uint256 amount);
/// @notice Emitted when the sponsor takes back unreserved funds.
event ProgramFundsWithdrawn(uint256 indexed programId, uint256 amount);
/// @notice Emitted when a site enrolls committed flexible load in a program.
event SiteEnrolled(
    uint256 indexed enrollmentId,
    uint256 indexed programId,
    uint64 indexed clusterId,
    uint32 committedKw,
    address payee
);
/// @notice Emitted when a site's performance bond grows.
event SiteBondDeposited(uint256 indexed enrollmentId, uint256 amount);
/// @notice Emitted when a site takes back free bond.
event SiteBondWithdrawn(uint256 indexed enrollmentId, uint256 amount);
/// @notice Emitted when an enrollment ends (no new events).
event SiteLeft(uint256 indexed enrollmentId, address by);
/// @notice Emitted when a sponsor dispatches a curtailment event; its report epoch's report attests it.
event CurtailmentDispatched(
    uint256 indexed eventId,
    uint256 indexed enrollmentId,
    uint64 start,
    uint64 end,
    uint64 reportEpoch,
    uint256 committedWh
);
/// @notice Emitted when the site's signed receipt of an event is recorded.
event CurtailmentAcknowledged(uint256 indexed eventId, address signer);
/// @notice Emitted when the sponsor contests an event's attested curtailment.
event CurtailmentContested(uint256 indexed eventId, uint64 resolveBy);
/// @notice Emitted when an event's curtailment leaf is first shown: the site received the event.
event CurtailmentReceiptProven(uint256 indexed eventId);
/// @notice Emitted when a site declines an event before it starts (nothing paid or penalized).
event CurtailmentDeclined(uint256 indexed eventId);
/// @notice Emitted when the program's arbiter rules an event's curtailed Wh.
event CurtailmentRuled(uint256 indexed eventId, uint64 curtailedWh);
/// @notice Emitted when an event settles: `attested` false means nobody attested it and the site
/// never acknowledged it (nothing paid, nothing penalized).
event CurtailmentSettled(
    uint256 indexed eventId, uint256 curtailedWh, uint256 payout, uint256 penalty, bool attested
);
/// @notice Emitted when a payee or sponsor withdraws demand-response payouts or penalties.
event DemandResponsePaid(address indexed token, address indexed account, uint256 amount);
