// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Errors
/// @notice Every custom error of the compute-ledger contracts, in one place so that off-chain
/// decoders (the SDK) see a single list.

// ---------------------------------------------------------------- governance

/// @notice Thrown when a zero address is given where a real account is required.
error ZeroAddress();
/// @notice Thrown when the registry's market has already been set.
error MarketAlreadySet();
/// @notice Thrown when a deployment parameter is out of range (a window of zero or above 2^32 - 2
/// seconds, a challenge bond above 100%).
error InvalidParameter();

// ---------------------------------------------------------------- clusters

/// @notice Thrown when a cluster id does not exist.
error UnknownCluster(uint64 clusterId);
/// @notice Thrown when a deregistered cluster is asked to report or lease.
error ClusterInactive(uint64 clusterId);
/// @notice Thrown when the caller is not the cluster's owner.
error NotClusterOwner(uint64 clusterId, address caller);
/// @notice Thrown when an epoch length is outside the accepted range.
error InvalidEpochLength(uint32 epochLength);
/// @notice Thrown when an attestor set is empty, too large, holds zero or duplicate addresses,
/// or its threshold is zero or above its size.
error InvalidAttestorSet();
/// @notice Thrown when a rotation's first epoch is not in the future.
error RotationNotInFuture(uint64 fromEpoch, uint64 currentEpoch);
/// @notice Thrown when a rotation without the current set's consent (no lease open) would start
/// later than the next epoch: a lease created meanwhile would change attestors mid-term.
error UnconsentedRotationLater(uint64 fromEpoch, uint64 nextEpoch);
/// @notice Thrown when a rotation is asked while an earlier one may still verify late reports.
error RotationPending(uint64 pendingFrom, uint256 retryAfter);
/// @notice Thrown when a cluster still has leases that are offered or active.
error ClusterHasActiveLeases(uint64 clusterId, uint256 activeLeases);

// ---------------------------------------------------------------- reports

/// @notice Thrown when a report is for an epoch that has not ended yet.
error EpochNotEnded(uint64 epoch, uint256 endsAt);
/// @notice Thrown when a report arrives after its epoch's reporting deadline.
error ReportDeadlinePassed(uint64 epoch, uint256 deadline);
/// @notice Thrown when an epoch already has an accepted report (replay or rewrite).
error EpochAlreadyReported(uint64 clusterId, uint64 epoch);
/// @notice Thrown when a report's metrics break a bound (busy <= available <= installed x epoch
/// length, healthy <= installed, facility energy >= IT energy).
error InvalidMetrics();
/// @notice Thrown when fewer signatures than the attestor threshold are supplied.
error InsufficientSignatures(uint256 given, uint256 threshold);
/// @notice Thrown when a recovered signer is not in the cluster's attestor set for the epoch.
error NotAttestor(address signer);
/// @notice Thrown when signers are not in strictly ascending address order (catches duplicates).
error SignersNotAscending(address signer, address previous);

// ---------------------------------------------------------------- leases

/// @notice Thrown when a lease id does not exist.
error UnknownLease(uint256 leaseId);
/// @notice Thrown when a stablecoin is not on the governance allowlist.
error StablecoinNotAllowed(address token);
/// @notice Thrown when lease terms are invalid (zero GPUs, price or shares, shares above 1e30,
/// empty or past term, SLA or credit above 100%).
error InvalidLeaseTerms();
/// @notice Thrown when the free bond cannot cover the worst-case SLA credits of a new lease.
error InsufficientBond(uint256 required, uint256 available);
/// @notice Thrown when a lease is not in the state the call needs.
error WrongLeaseStatus(uint256 leaseId, uint8 status);
/// @notice Thrown when the caller is not the lease's tenant.
error NotTenant(uint256 leaseId, address caller);
/// @notice Thrown when a lease is funded once its last epoch has begun (no whole epoch is left).
error FundingClosed(uint256 leaseId, uint64 endEpoch);
/// @notice Thrown when someone other than the owner cancels a lease that can still be funded.
error LeaseStillFundable(uint256 leaseId, uint64 endEpoch);
/// @notice Thrown when an EIP-2612 permit's deadline has passed.
error PermitExpired(uint256 deadline);
/// @notice Thrown when the allowance (after any permit) does not cover the escrow.
error InsufficientAllowance(uint256 allowance, uint256 required);
/// @notice Thrown when a share purchase exceeds the offer or its price limit.
error OfferUnavailable(uint256 leaseId, uint256 available, uint256 price);
/// @notice Thrown when a zero amount is given.
error ZeroAmount();
/// @notice Thrown when a transfer would move shares the owner has set aside for its open offer.
error SharesReserved(uint256 leaseId, uint256 reserved);

// ---------------------------------------------------------------- settlement

/// @notice Thrown when an epoch is not the lease's next unsettled epoch (settlement is in order).
error EpochNotNext(uint256 leaseId, uint64 epoch, uint64 nextEpoch);
/// @notice Thrown when an epoch has already been settled.
error EpochAlreadySettled(uint256 leaseId, uint64 epoch);
/// @notice Thrown when an epoch is settled before its report's challenge window closed.
error ChallengeWindowOpen(uint256 leaseId, uint64 epoch, uint256 closesAt);
/// @notice Thrown when an epoch without a report is settled before its reporting deadline.
error ReportPending(uint64 epoch, uint256 deadline);
/// @notice Thrown when a settlement's Merkle proof does not match the report's deliveries root.
error InvalidProof(uint256 leaseId, uint64 epoch);
/// @notice Thrown when a challenged epoch is settled before the arbiter ruled or its resolution
/// deadline passed.
error EpochChallenged(uint256 leaseId, uint64 epoch, uint256 resolveBy);
/// @notice Thrown when an epoch settled as missed did receive a report (settle it with a proof).
error EpochReported(uint64 clusterId, uint64 epoch);
/// @notice Thrown when an epoch has no accepted report (nothing to challenge or to prove).
error NoReport(uint64 clusterId, uint64 epoch);
/// @notice Thrown when a reported epoch is settled as unproven before its proof deadline.
error ProofWindowOpen(uint256 leaseId, uint64 epoch, uint256 deadline);
/// @notice Thrown when an epoch whose leaf was already proven is settled as unproven or proven again.
error EpochProven(uint256 leaseId, uint64 epoch);
/// @notice Thrown when an epoch the arbiter ruled on is settled as unproven (its ruling is billed).
error EpochArbitrated(uint256 leaseId, uint64 epoch);
/// @notice Thrown when two leaves shown as conflicting carry the same delivery.
error LeavesAgree(uint256 leaseId, uint64 epoch);
/// @notice Thrown when a challenge comes after the window or the epoch is already settled.
error ChallengeWindowClosed(uint256 leaseId, uint64 epoch);
/// @notice Thrown when an epoch is challenged twice.
error AlreadyChallenged(uint256 leaseId, uint64 epoch);
/// @notice Thrown when a challenge is resolved that is not open.
error NoOpenChallenge(uint256 leaseId, uint64 epoch);
/// @notice Thrown when a caller other than the arbiter resolves a challenge.
error NotArbiter(address caller);
/// @notice Thrown when a caller other than the market's DisputeDesk flags a dispute.
error NotDisputeDesk(address caller);
/// @notice Thrown when a challenge is expired before its resolution deadline passed.
error ResolutionPending(uint256 leaseId, uint64 epoch, uint256 resolveBy);
/// @notice Thrown when a challenge is opened while no arbiter is named (nobody could resolve it).
error NoArbiter();
/// @notice Thrown when the caller is neither the lease's tenant nor a holder of its shares.
error NotTenantOrHolder(uint256 leaseId, address caller);
/// @notice Thrown when the arbiter rules after the challenge's resolution deadline.
error ResolutionWindowClosed(uint256 leaseId, uint64 epoch, uint256 resolveBy);

// ---------------------------------------------------------------- payouts

/// @notice Thrown when a claim or withdrawal finds nothing due.
error NothingToClaim();
/// @notice Thrown when more bond is withdrawn than is free of SLA locks.
error BondLocked(uint256 requested, uint256 free);

// ---------------------------------------------------------------- share exchange

/// @notice Thrown when an order id does not exist or the order was filled or cancelled.
error UnknownOrder(uint256 orderId);
/// @notice Thrown when an order's price or amount is zero, or their product (its cost) does not
/// fit in 128 bits.
error InvalidOrder(uint256 amount, uint256 pricePerShare);
/// @notice Thrown when an order's expiry is not in the future.
error OrderExpiryPassed(uint64 expiry);
/// @notice Thrown when an order is filled after its expiry.
error OrderExpired(uint256 orderId, uint64 expiry);
/// @notice Thrown when an order's lease is not active (not yet funded, ended or cancelled).
error LeaseNotTradable(uint256 leaseId, uint8 status);
/// @notice Thrown when an order is placed or filled after its lease's term is over (its shares
/// earn no more rent, though the last epochs may still be settling).
error LeaseTermOver(uint256 leaseId, uint256 termEnd);
/// @notice Thrown when a bid's escrow arrives short (a stablecoin that charges a fee on transfer).
error EscrowShortfall(uint256 expected, uint256 received);
/// @notice Thrown when a fill asks for more shares than the order has left.
error FillTooLarge(uint256 orderId, uint256 requested, uint256 remaining);
/// @notice Thrown when the taker of an order is its maker.
error SelfTrade(uint256 orderId);
/// @notice Thrown when an ask is placed by an account that has not approved the exchange to move
/// its shares.
error ExchangeNotApproved(address account);
/// @notice Thrown when an ask offers more shares than its maker holds.
error InsufficientShares(uint256 leaseId, uint256 held, uint256 offered);
/// @notice Thrown when someone other than the maker cancels an order that can still be filled.
error OrderStillLive(uint256 orderId);

// ---------------------------------------------------------------- collateral (share token, NAV feed)

/// @notice Thrown when shares reach a share token other than through its `wrap` (they would back
/// no token), or shares of another lease, or a batch.
error SharesNotWrapped(address from, uint256 id);
/// @notice Thrown when shares are wrapped while ended epochs of their lease are unsettled (their
/// rent goes to whoever held when they ended: wait for settlement).
error SettlementPending(uint256 leaseId, uint64 unsettledEpochs);
/// @notice Thrown when someone holding no share token challenges through the token.
error NotTokenHolder(address account);
/// @notice Thrown when a challenge bond is reclaimed from a share token before the desk returned it
/// (the challenge is open, or was rejected and its bond forfeited).
error ChallengeBondNotReturned(uint256 leaseId, uint64 epoch, uint8 status);
/// @notice Thrown when a NAV feed's rise cap is 0 or above 10,000 basis points.
error InvalidRiseCap(uint16 maxRiseBps);
/// @notice Thrown when a NAV feed is asked for a round it does not keep (only the latest).
error RoundNotKept(uint80 requested, uint80 latest);
/// @notice Thrown when a lease already has its share token and NAV feed.
error CollateralExists(uint256 leaseId, address token);

// ---------------------------------------------------------------- capacity pricing

/// @notice Thrown when a price curve's reference price is zero or its floor is above it.
error InvalidPriceCurve(uint128 referencePrice, uint128 floorPrice);
/// @notice Thrown when a cluster's quote is updated before its owner set a price curve.
error NoPriceCurve(uint64 clusterId);
/// @notice Thrown when a cluster's quote is updated while no ended epoch awaits it (the next one
/// has not ended, or its report may still come).
error QuoteUpToDate(uint64 clusterId, uint64 nextEpoch);

// ---------------------------------------------------------------- stablecoin

/// @notice Thrown when a blocklisted address sends or receives the stablecoin.
error Blocklisted(address account);
/// @notice Thrown when a faucet request exceeds the per-call cap.
error FaucetCapExceeded(uint256 requested, uint256 cap);

// ---------------------------------------------------------------- demand response

/// @notice Thrown when a demand-response program id does not exist.
error UnknownProgram(uint256 programId);
/// @notice Thrown when an enrollment id does not exist.
error UnknownEnrollment(uint256 enrollmentId);
/// @notice Thrown when a curtailment event id does not exist.
error UnknownEvent(uint256 eventId);
/// @notice Thrown when the caller is not the program's sponsor.
error NotSponsor(uint256 programId, address caller);
/// @notice Thrown when a dispatch or withdrawal needs more unreserved program funds than there are.
error InsufficientProgramFunds(uint256 needed, uint256 available);
/// @notice Thrown when an event is dispatched to a site that left its program.
error EnrollmentInactive(uint256 enrollmentId);
/// @notice Thrown when an event does not start in the future (within `MAX_NOTICE`), ends before it
/// starts, or lasts longer than `MAX_DURATION`.
error InvalidEventWindow(uint64 start, uint64 end);
/// @notice Thrown when an event would overlap one already dispatched to the cluster (by any
/// program): one shed is never paid twice.
error ClusterBusy(uint64 clusterId, uint64 busyUntil);
/// @notice Thrown when an event is not in the status the call needs.
error WrongEventStatus(uint256 eventId, uint8 status);
/// @notice Thrown when a site acknowledges an event that has already begun: a receipt after the
/// start would let it choose, having seen its meter, between being paid and escaping the penalty.
error AcknowledgementTooLate(uint256 eventId, uint64 start);
/// @notice Thrown when the sponsor contests after the review window (or before any report).
error ReviewWindowClosed(uint256 eventId);
/// @notice Thrown when an event is settled before its report's review window closed.
error ReviewWindowOpen(uint256 eventId, uint256 closesAt);
/// @notice Thrown when a contested event is settled before the arbiter's deadline.
error CurtailmentContestOpen(uint256 eventId, uint256 resolveBy);
/// @notice Thrown when a curtailment leaf's proof does not match the report's deliveries root.
error InvalidCurtailmentProof(uint256 eventId);
/// @notice Thrown when an unattested event is closed before its attestation deadline.
error AttestationWindowOpen(uint256 eventId, uint256 deadline);
