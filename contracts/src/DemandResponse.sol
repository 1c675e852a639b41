// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IClusterRegistry} from "./interfaces/IClusterRegistry.sol";
import "./libraries/Errors.sol";
import "./libraries/Events.sol";

/// @title DemandResponse
/// @notice Demand-response programs paid on attested curtailment. A sponsor (utility or
/// aggregator) funds a program at a price per curtailed kWh and a penalty per kWh short of a
/// commitment; a site (a cluster) enrolls a committed kW of flexible load, a payee and a bond.
/// The sponsor dispatches an event (its OpenADR VTN sends the same event to the site's VEN); the
/// site's oracle measures the curtailment on the facility meter (baseline − actual) and attests it
/// as a leaf of the deliveries tree of the epoch in which the event ends. Payouts go only for
/// attested curtailment; a site that acknowledged an event and curtailed less than committed
/// pays the shortfall's penalty from its bond; a site that never received the event (no
/// acknowledgement, no leaf) neither earns nor pays.
///
/// Money never waits on a party: a dispatch reserves the most it can pay from the program's
/// funds and locks the most it can cost from the site's bond, so a sponsor that stops funding
/// cannot leave a dispatched event unpaid and a site that walks away cannot leave a penalty
/// unpaid. Payouts and penalties are pull payments (`withdraw`). Keeps
/// `balance == Σ program funds + Σ reserved + Σ site bonds + Σ owed` per token.
contract DemandResponse is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice Where an event stands.
    enum EventStatus {
        None,
        /// Dispatched: payout reserved, penalty locked; settles once attested (or past its deadline).
        Dispatched,
        /// The sponsor contested the attested curtailment; the program's arbiter may rule.
        Contested,
        /// The arbiter ruled the curtailed Wh.
        Ruled,
        /// Paid (or penalized) and closed.
        Settled
    }

    /// @notice A program: who funds it, in what, at what price and penalty, and who arbitrates.
    struct Program {
        address sponsor;
        address token;
        address arbiter;
        uint128 pricePerKwh; // paid per attested curtailed kWh, up to the commitment
        uint128 penaltyPerKwh; // charged per kWh short of the commitment of an acknowledged event
        uint128 funds; // not reserved for any event
    }

    /// @notice A site's enrollment in a program.
    struct Enrollment {
        uint256 programId;
        uint64 clusterId;
        uint32 committedKw;
        bool active;
        address payee; // who the payouts go to (the owner, or a contract paying its holders)
        uint128 bond; // free bond
        uint128 locked; // bond locked for dispatched events' worst-case penalties
    }

    /// @notice A dispatched curtailment event.
    struct CurtailmentEvent {
        uint256 enrollmentId;
        uint64 start;
        uint64 end;
        uint64 reportEpoch; // the cluster's epoch in which the event ends: its report attests it
        EventStatus status;
        bool acknowledged; // the site's attestor signed its receipt
        bool attested; // a curtailment leaf was proven: the site received the event
        uint64 resolveBy; // while contested: until when the arbiter may rule
        uint64 ruledWh; // the arbiter's ruling of the curtailed Wh
        uint32 dispatchSet; // the cluster's attestor set in force at dispatch (never changes)
        uint64 busyBefore; // the cluster's calendar before this event (restored if it is declined)
        uint128 reserved; // payout reserved from the program
        uint128 penaltyLocked; // penalty locked from the enrollment's bond
    }

    /// @notice Tag of curtailment leaves, so no lease leaf can ever be read as one.
    bytes32 public constant CURTAILMENT_LEAF_TAG = keccak256("compute-ledger.curtailment.v1");
    /// @notice EIP-712 type hash of the site's acknowledgement of an event.
    bytes32 public constant ACK_TYPEHASH = keccak256("CurtailmentAck(uint256 eventId,uint64 clusterId)");
    /// @notice Watt-hours per kWh.
    uint256 internal constant WH_PER_KWH = 1000;
    /// @notice Furthest ahead an event may start: day-ahead programs with room, and no far-future
    /// event that locks a site's bond for years.
    uint64 public constant MAX_NOTICE = 7 days;
    /// @notice Longest event.
    uint64 public constant MAX_DURATION = 1 days;

    /// @notice The registry holding clusters, attestor sets and reports.
    IClusterRegistry public immutable registry;
    /// @notice Seconds after a report's acceptance during which the sponsor may contest.
    uint64 public immutable reviewWindow;
    /// @notice Seconds a contested event waits for the arbiter; then the attestation stands.
    uint64 public immutable resolutionWindow;

    /// @notice Programs (ids from 1).
    mapping(uint256 programId => Program) public programs;
    /// @notice Enrollments (ids from 1).
    mapping(uint256 enrollmentId => Enrollment) public enrollments;
    /// @dev Events (ids from 1); `eventOf` reads one.
    mapping(uint256 eventId => CurtailmentEvent) internal _events;
    /// @notice Payouts and penalties each account may withdraw, by token.
    mapping(address token => mapping(address account => uint256)) public owed;
    /// @notice Programs, enrollments and events created so far.
    uint256 public programCount;
    /// @notice Enrollments created so far.
    uint256 public enrollmentCount;
    /// @notice Events dispatched so far.
    uint256 public eventCount;
    /// @notice End of the latest event dispatched to each cluster, across every program: a
    /// cluster's events never overlap, so one shed is never paid twice.
    mapping(uint64 clusterId => uint64) public busyUntil;

    /// @param registry_ The cluster registry whose reports attest curtailment.
    /// @param reviewWindow_ Seconds after a report's acceptance for the sponsor to contest.
    /// @param resolutionWindow_ Seconds a contest waits for the arbiter.
    constructor(IClusterRegistry registry_, uint64 reviewWindow_, uint64 resolutionWindow_)
        EIP712("ComputeLedgerDemandResponse", "1")
    {
        if (reviewWindow_ == 0 || resolutionWindow_ == 0) revert InvalidParameter();
        (registry, reviewWindow, resolutionWindow) = (registry_, reviewWindow_, resolutionWindow_);
    }

    // ------------------------------------------------------------ programs (sponsor)

    /// @notice Opens a program paid in `token`; the caller is its sponsor.
    function createProgram(address token, uint128 pricePerKwh, uint128 penaltyPerKwh, address arbiter)
        external
        returns (uint256 programId)
    {
        if (token == address(0) || arbiter == address(0)) revert ZeroAddress();
        if (pricePerKwh == 0) revert InvalidParameter();
        programId = ++programCount;
        programs[programId] = Program({
            sponsor: msg.sender,
            token: token,
            arbiter: arbiter,
            pricePerKwh: pricePerKwh,
            penaltyPerKwh: penaltyPerKwh,
            funds: 0
        });
        emit ProgramCreated(programId, msg.sender, token, pricePerKwh, penaltyPerKwh, arbiter);
    }

    /// @notice Adds funds to a program (anyone may).
    function fundProgram(uint256 programId, uint256 amount) external nonReentrant {
        Program storage p = _program(programId);
        if (amount == 0) revert ZeroAmount();
        p.funds = (p.funds + amount).toUint128();
        emit ProgramFunded(programId, msg.sender, amount);
        IERC20(p.token).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice The sponsor takes back funds no event has reserved.
    function withdrawProgramFunds(uint256 programId, uint256 amount) external nonReentrant {
        Program storage p = _program(programId);
        if (msg.sender != p.sponsor) revert NotSponsor(programId, msg.sender);
        if (amount == 0) revert ZeroAmount();
        if (amount > p.funds) revert InsufficientProgramFunds(amount, p.funds);
        p.funds -= uint128(amount);
        emit ProgramFundsWithdrawn(programId, amount);
        IERC20(p.token).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------ enrollment (site)

    /// @notice Enrolls the caller's cluster with `committedKw` of flexible load; payouts go to `payee`.
    function enroll(uint256 programId, uint64 clusterId, uint32 committedKw, address payee)
        external
        returns (uint256 enrollmentId)
    {
        _program(programId);
        _requireClusterOwner(clusterId);
        if (payee == address(0)) revert ZeroAddress();
        if (committedKw == 0) revert InvalidParameter();
        enrollmentId = ++enrollmentCount;
        enrollments[enrollmentId] = Enrollment({
            programId: programId,
            clusterId: clusterId,
            committedKw: committedKw,
            active: true,
            payee: payee,
            bond: 0,
            locked: 0
        });
        emit SiteEnrolled(enrollmentId, programId, clusterId, committedKw, payee);
    }

    /// @notice Adds to a site's performance bond (anyone may).
    function depositSiteBond(uint256 enrollmentId, uint256 amount) external nonReentrant {
        Enrollment storage en = _enrollment(enrollmentId);
        if (amount == 0) revert ZeroAmount();
        en.bond = (en.bond + amount).toUint128();
        emit SiteBondDeposited(enrollmentId, amount);
        IERC20(programs[en.programId].token).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice The cluster owner takes back bond no dispatched event has locked.
    function withdrawSiteBond(uint256 enrollmentId, uint256 amount) external nonReentrant {
        Enrollment storage en = _enrollment(enrollmentId);
        _requireClusterOwner(en.clusterId);
        if (amount == 0) revert ZeroAmount();
        if (amount > en.bond) revert BondLocked(amount, en.bond);
        en.bond -= uint128(amount);
        emit SiteBondWithdrawn(enrollmentId, amount);
        IERC20(programs[en.programId].token).safeTransfer(msg.sender, amount);
    }

    /// @notice The site (cluster owner) or the sponsor ends an enrollment: no new events; events
    /// already dispatched still settle.
    function unenroll(uint256 enrollmentId) external {
        Enrollment storage en = _enrollment(enrollmentId);
        (address clusterOwner,,,) = registry.clusterInfo(en.clusterId);
        if (msg.sender != clusterOwner && msg.sender != programs[en.programId].sponsor) {
            revert NotClusterOwner(en.clusterId, msg.sender);
        }
        en.active = false;
        emit SiteLeft(enrollmentId, msg.sender);
    }

    // ------------------------------------------------------------ events

    /// @notice The sponsor dispatches a curtailment event for [start, end): the site must shed its
    /// committed kW throughout. Reserves the most it can pay and locks the most it can cost.
    function dispatch(uint256 enrollmentId, uint64 start, uint64 end) external returns (uint256 eventId) {
        Enrollment storage en = _enrollment(enrollmentId);
        Program storage p = programs[en.programId];
        if (msg.sender != p.sponsor) revert NotSponsor(en.programId, msg.sender);
        if (!en.active) revert EnrollmentInactive(enrollmentId);
        if (
            start <= block.timestamp || end <= start || start > block.timestamp + MAX_NOTICE
                || end - start > MAX_DURATION
        ) revert InvalidEventWindow(start, end);
        uint64 busyBefore = busyUntil[en.clusterId];
        if (start < busyBefore) revert ClusterBusy(en.clusterId, busyBefore);
        busyUntil[en.clusterId] = end;
        (, uint32 epochLength, uint64 genesis, bool active) = registry.clusterInfo(en.clusterId);
        if (!active) revert ClusterInactive(en.clusterId);
        uint256 wh = _committedWh(en.committedKw, start, end);
        uint256 reserve = wh * p.pricePerKwh / WH_PER_KWH;
        uint256 penalty = wh * p.penaltyPerKwh / WH_PER_KWH;
        if (reserve > p.funds) revert InsufficientProgramFunds(reserve, p.funds);
        if (penalty > en.bond) revert InsufficientBond(penalty, en.bond);
        p.funds -= uint128(reserve);
        en.bond -= uint128(penalty);
        en.locked += uint128(penalty);
        eventId = ++eventCount;
        uint64 reportEpoch = uint64((uint256(end) - 1 - genesis) / epochLength);
        _events[eventId] = CurtailmentEvent({
            enrollmentId: enrollmentId,
            start: start,
            end: end,
            reportEpoch: reportEpoch,
            status: EventStatus.Dispatched,
            acknowledged: false,
            attested: false,
            resolveBy: 0,
            ruledWh: 0,
            dispatchSet: registry.attestorSetOf(
                en.clusterId, uint64((block.timestamp - genesis) / epochLength)
            ),
            busyBefore: busyBefore,
            reserved: uint128(reserve),
            penaltyLocked: uint128(penalty)
        });
        emit CurtailmentDispatched(eventId, enrollmentId, start, end, reportEpoch, wh);
    }

    /// @notice Records the site's signed receipt of an event before it starts (relayed by anyone, typically the
    /// sponsor from its VTN): from then on a site that does not attest its curtailment is penalized
    /// as if it curtailed nothing. The signer must belong to the cluster's attestor set in force
    /// at dispatch (recorded then: no rotation can void a receipt signed with it), or to a set
    /// that verifies the current or the report epoch (an acknowledgement only ever costs the
    /// site, so any of its keys may give it).
    function acknowledge(uint256 eventId, bytes calldata signature) external {
        CurtailmentEvent storage ev = _event(eventId);
        if (ev.status == EventStatus.Settled) revert WrongEventStatus(eventId, uint8(ev.status));
        if (block.timestamp >= ev.start) revert AcknowledgementTooLate(eventId, ev.start);
        uint64 clusterId = enrollments[ev.enrollmentId].clusterId;
        address signer = ECDSA.recover(ackDigest(eventId), signature);
        if (!registry.isSetMember(ev.dispatchSet, signer)) {
            (bool current,) = registry.isAttestor(clusterId, registry.currentEpoch(clusterId), signer);
            (bool atReport,) = registry.isAttestor(clusterId, ev.reportEpoch, signer);
            if (!current && !atReport) revert NotAttestor(signer);
        }
        if (!ev.acknowledged) {
            ev.acknowledged = true;
            emit CurtailmentAcknowledged(eventId, signer);
        }
    }

    /// @notice The sponsor contests an event's attestation within the review window after its
    /// report (it need not hold the site's tree): the program's arbiter may rule until `resolveBy`;
    /// unruled, a leaf shown still settles it. Anyone may show the leaf at any time before
    /// settlement (`proveReceipt`), which is what lets a ruling penalize a shortfall.
    function contest(uint256 eventId) external {
        CurtailmentEvent storage ev = _event(eventId);
        Enrollment storage en = enrollments[ev.enrollmentId];
        if (msg.sender != programs[en.programId].sponsor) revert NotSponsor(en.programId, msg.sender);
        if (ev.status != EventStatus.Dispatched) revert WrongEventStatus(eventId, uint8(ev.status));
        (, uint64 submittedAt) = registry.reportOf(en.clusterId, ev.reportEpoch);
        if (submittedAt == 0 || block.timestamp >= uint256(submittedAt) + reviewWindow) {
            revert ReviewWindowClosed(eventId);
        }
        ev.status = EventStatus.Contested;
        ev.resolveBy = uint64(block.timestamp + resolutionWindow);
        emit CurtailmentContested(eventId, ev.resolveBy);
    }

    /// @notice Shows an event's curtailment leaf before it settles: proof that the site received
    /// the event (a ruling then penalizes a shortfall, and the event can no longer close as
    /// unattested). Anyone may call it, typically the sponsor once the site publishes its tree.
    function proveReceipt(uint256 eventId, uint64 baselineWh, uint64 actualWh, bytes32[] calldata proof)
        external
    {
        CurtailmentEvent storage ev = _event(eventId);
        if (ev.status == EventStatus.Settled) revert WrongEventStatus(eventId, uint8(ev.status));
        uint64 clusterId = enrollments[ev.enrollmentId].clusterId;
        (bytes32 root, uint64 submittedAt) = registry.reportOf(clusterId, ev.reportEpoch);
        if (submittedAt == 0) revert NoReport(clusterId, ev.reportEpoch);
        _requireLeaf(eventId, root, clusterId, baselineWh, actualWh, proof);
        if (!ev.attested) {
            ev.attested = true;
            emit CurtailmentReceiptProven(eventId);
        }
    }

    /// @notice The site (cluster owner) declines an event that has not started and that it has
    /// not acknowledged: nothing is paid or penalized, the reserve and the lock go back, and the
    /// cluster's calendar is freed if this was its latest event (so no program can hold a site's
    /// calendar with an event the site refuses).
    function decline(uint256 eventId) external {
        CurtailmentEvent storage ev = _event(eventId);
        Enrollment storage en = enrollments[ev.enrollmentId];
        _requireClusterOwner(en.clusterId);
        if (ev.status != EventStatus.Dispatched || ev.acknowledged || block.timestamp >= ev.start) {
            revert WrongEventStatus(eventId, uint8(ev.status));
        }
        if (busyUntil[en.clusterId] == ev.end) busyUntil[en.clusterId] = ev.busyBefore;
        _close(ev, en, 0, 0);
        emit CurtailmentDeclined(eventId);
    }

    /// @notice The program's arbiter rules a contested event's curtailed Wh before `resolveBy`
    /// (from the site's telemetry archive, which reproduces the attested figure).
    function rule(uint256 eventId, uint64 curtailedWh) external {
        CurtailmentEvent storage ev = _event(eventId);
        if (msg.sender != programs[enrollments[ev.enrollmentId].programId].arbiter) {
            revert NotArbiter(msg.sender);
        }
        if (ev.status != EventStatus.Contested || block.timestamp >= ev.resolveBy) {
            revert WrongEventStatus(eventId, uint8(ev.status));
        }
        (ev.status, ev.ruledWh) = (EventStatus.Ruled, curtailedWh);
        emit CurtailmentRuled(eventId, curtailedWh);
    }

    /// @notice Settles an event with its attested curtailment: the leaf (eventId, clusterId,
    /// baselineWh, actualWh) under the deliveries root of the cluster's report of the event's
    /// report epoch, after the review window (and any contest's deadline); or with the arbiter's
    /// ruling (arguments ignored).
    function settle(uint256 eventId, uint64 baselineWh, uint64 actualWh, bytes32[] calldata proof) external {
        CurtailmentEvent storage ev = _event(eventId);
        Enrollment storage en = enrollments[ev.enrollmentId];
        // A ruling penalizes a shortfall only if the site received the event: it acknowledged it,
        // or its leaf was shown.
        if (ev.status == EventStatus.Ruled) {
            return _settle(eventId, ev, en, ev.ruledWh, ev.acknowledged || ev.attested);
        }
        if (ev.status == EventStatus.Contested && block.timestamp < ev.resolveBy) {
            revert CurtailmentContestOpen(eventId, ev.resolveBy);
        }
        if (ev.status == EventStatus.Settled) revert WrongEventStatus(eventId, uint8(ev.status));
        (bytes32 root, uint64 submittedAt) = registry.reportOf(en.clusterId, ev.reportEpoch);
        if (submittedAt == 0) revert NoReport(en.clusterId, ev.reportEpoch);
        uint256 reviewEnds = uint256(submittedAt) + reviewWindow;
        if (block.timestamp < reviewEnds) revert ReviewWindowOpen(eventId, reviewEnds);
        _requireLeaf(eventId, root, en.clusterId, baselineWh, actualWh, proof);
        // The leaf proves the site received the event: a shortfall is penalized.
        _settle(eventId, ev, en, baselineWh > actualWh ? baselineWh - actualWh : 0, true);
    }

    /// @notice Closes an event nobody attested by its deadline (`attestationDeadline`): an
    /// acknowledged event is penalized as curtailing nothing; an unacknowledged one (the site
    /// never got it, say the VTN was down) neither pays nor costs anything. Anyone may call it.
    /// An event whose leaf was shown settles with its leaf or the ruling, never here.
    function settleUnattested(uint256 eventId) external {
        CurtailmentEvent storage ev = _event(eventId);
        Enrollment storage en = enrollments[ev.enrollmentId];
        if (ev.attested || (ev.status != EventStatus.Dispatched && ev.status != EventStatus.Contested)) {
            revert WrongEventStatus(eventId, uint8(ev.status));
        }
        uint256 deadline = attestationDeadline(eventId);
        if (block.timestamp <= deadline) revert AttestationWindowOpen(eventId, deadline);
        if (ev.acknowledged) return _settle(eventId, ev, en, 0, true);
        _close(ev, en, 0, 0);
        emit CurtailmentSettled(eventId, 0, 0, 0, false);
    }

    /// @notice Pays the caller its payouts (site payee) or penalties (sponsor) in `token`.
    function withdraw(address token) external nonReentrant returns (uint256 amount) {
        amount = owed[token][msg.sender];
        if (amount == 0) revert NothingToClaim();
        owed[token][msg.sender] = 0;
        emit DemandResponsePaid(token, msg.sender, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------ views

    /// @notice The curtailment leaf of an event in the OpenZeppelin StandardMerkleTree convention:
    /// `keccak256(bytes.concat(keccak256(abi.encode(TAG, this contract, eventId, clusterId,
    /// baselineWh, actualWh))))`. Six words, tagged and bound to this deployment: never equal to a
    /// lease's four-word leaf, nor to another deployment's event of the same id.
    function curtailmentLeaf(uint256 eventId, uint64 clusterId, uint64 baselineWh, uint64 actualWh)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(CURTAILMENT_LEAF_TAG, address(this), eventId, clusterId, baselineWh, actualWh)
                )
            )
        );
    }

    /// @notice A dispatched event (reverts `UnknownEvent` for none).
    function eventOf(uint256 eventId) external view returns (CurtailmentEvent memory) {
        return _event(eventId);
    }

    /// @notice The EIP-712 digest a site's attestor signs to acknowledge receipt of an event.
    function ackDigest(uint256 eventId) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ACK_TYPEHASH, eventId, enrollments[_event(eventId).enrollmentId].clusterId))
        );
    }

    /// @notice After this time an event whose leaf nobody showed may be closed with
    /// `settleUnattested`: the report epoch's end + the registry's report window + the review and
    /// resolution windows (so a report filed at the last second still leaves the site a
    /// resolution window), and for a contested event at least a review window after `resolveBy`
    /// (so a last-second contest cannot race the site's settlement).
    function attestationDeadline(uint256 eventId) public view returns (uint256) {
        CurtailmentEvent storage ev = _event(eventId);
        (, uint32 epochLength, uint64 genesis,) = registry.clusterInfo(enrollments[ev.enrollmentId].clusterId);
        uint256 epochEnd = uint256(genesis) + (uint256(ev.reportEpoch) + 1) * epochLength;
        uint256 deadline = epochEnd + registry.reportWindow() + reviewWindow + resolutionWindow;
        uint256 afterContest = ev.resolveBy == 0 ? 0 : uint256(ev.resolveBy) + reviewWindow;
        return afterContest > deadline ? afterContest : deadline;
    }

    /// @notice The Wh an enrollment commits to shed over [start, end).
    function committedWh(uint256 enrollmentId, uint64 start, uint64 end) external view returns (uint256) {
        return _committedWh(_enrollment(enrollmentId).committedKw, start, end);
    }

    // ------------------------------------------------------------ internal

    /// @dev Pays `min(curtailed, committed) · price`, penalizes `(committed − curtailed) · penalty`
    /// when `penalize` (the site received the event: it acknowledged it or attested a leaf; an
    /// event it never received costs it nothing), and frees the rest of the reserve and the lock.
    function _settle(
        uint256 eventId,
        CurtailmentEvent storage ev,
        Enrollment storage en,
        uint256 curtailedWh,
        bool penalize
    ) internal {
        Program storage p = programs[en.programId];
        uint256 committed = _committedWh(en.committedKw, ev.start, ev.end);
        uint256 paidWh = curtailedWh < committed ? curtailedWh : committed;
        uint256 payout = paidWh * p.pricePerKwh / WH_PER_KWH;
        uint256 penalty = penalize ? (committed - paidWh) * p.penaltyPerKwh / WH_PER_KWH : 0;
        // Rounding can only make the reserve and lock cover more, never less.
        if (payout > ev.reserved) payout = ev.reserved;
        if (penalty > ev.penaltyLocked) penalty = ev.penaltyLocked;
        _close(ev, en, payout, penalty);
        owed[p.token][en.payee] += payout;
        owed[p.token][p.sponsor] += penalty;
        emit CurtailmentSettled(eventId, curtailedWh, payout, penalty, true);
    }

    function _requireLeaf(
        uint256 eventId,
        bytes32 root,
        uint64 clusterId,
        uint64 baselineWh,
        uint64 actualWh,
        bytes32[] calldata proof
    ) internal view {
        if (!MerkleProof.verify(proof, root, curtailmentLeaf(eventId, clusterId, baselineWh, actualWh))) {
            revert InvalidCurtailmentProof(eventId);
        }
    }

    /// @dev Closes an event that pays `payout` of its reserve and charges `penalty` of its lock:
    /// the rest of the reserve goes back to the program, the rest of the lock to the site's bond.
    function _close(CurtailmentEvent storage ev, Enrollment storage en, uint256 payout, uint256 penalty)
        internal
    {
        ev.status = EventStatus.Settled;
        programs[en.programId].funds += ev.reserved - uint128(payout);
        en.locked -= ev.penaltyLocked;
        en.bond += ev.penaltyLocked - uint128(penalty);
    }

    function _committedWh(uint32 committedKw, uint64 start, uint64 end) internal pure returns (uint256) {
        return uint256(committedKw) * (end - start) * WH_PER_KWH / 3600;
    }

    function _program(uint256 programId) internal view returns (Program storage p) {
        p = programs[programId];
        if (p.sponsor == address(0)) revert UnknownProgram(programId);
    }

    function _enrollment(uint256 enrollmentId) internal view returns (Enrollment storage en) {
        en = enrollments[enrollmentId];
        if (en.programId == 0) revert UnknownEnrollment(enrollmentId);
    }

    function _event(uint256 eventId) internal view returns (CurtailmentEvent storage ev) {
        ev = _events[eventId];
        if (ev.status == EventStatus.None) revert UnknownEvent(eventId);
    }

    function _requireClusterOwner(uint64 clusterId) internal view {
        (address clusterOwner,,,) = registry.clusterInfo(clusterId);
        if (clusterOwner == address(0)) revert UnknownCluster(clusterId);
        if (clusterOwner != msg.sender) revert NotClusterOwner(clusterId, msg.sender);
    }
}
