// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {CommonBase} from "forge-std/Base.sol";
import {Vm} from "forge-std/Vm.sol";

import {ClusterRegistry} from "../../src/ClusterRegistry.sol";
import {DevStablecoin} from "../../src/DevStablecoin.sol";
import {DisputeDesk} from "../../src/DisputeDesk.sol";
import {LeaseMarket} from "../../src/LeaseMarket.sol";
import {ProvenLeaf, SettleItem, UsageReport} from "../../src/libraries/Types.sol";
import {Handler} from "./Handler.sol";

interface IOwnable2Step {
    function transferOwnership(address newOwner) external;
    function acceptOwnership() external;
    function renounceOwnership() external;
}

/// @notice Calls every external function of the market, the desk and the registry with unfiltered
/// arguments from outsiders (a small pool, so they can build on their own earlier calls, or any
/// address). Ids are sometimes folded onto existing leases and clusters so the calls reach real
/// state. Nothing here may break an invariant: successful calls are fed to the model like any other.
contract AdversarialHandler is CommonBase {
    Handler internal immutable handler;
    LeaseMarket internal immutable market;
    DisputeDesk internal immutable desk;
    ClusterRegistry internal immutable registry;
    DevStablecoin internal immutable usdA;
    DevStablecoin internal immutable usdB;

    address internal sender;
    mapping(bytes4 => uint256) public succeeded;

    constructor(Handler handler_) {
        handler = handler_;
        (market, desk, registry) = (handler_.market(), handler_.desk(), handler_.registry());
        (usdA, usdB) = (handler_.tokens(0), handler_.tokens(1));
    }

    /// An outsider: one of four regulars, or anyone (never a party the handler drives).
    modifier as_(uint256 who) {
        sender = address(uint160(uint256(keccak256(abi.encode("outsider", who % 8 < 6 ? who % 4 : who)))));
        _;
    }

    // ------------------------------------------------------------ market

    function setStablecoinAllowed(uint256 who, address token, bool allowed) external as_(who) {
        _run(address(market), abi.encodeCall(market.setStablecoinAllowed, (_token(token), allowed)));
    }

    function setMetadataUri(uint256 who, string calldata uri) external as_(who) {
        _run(address(market), abi.encodeCall(market.setMetadataUri, (uri)));
    }

    function depositBond(uint256 who, uint64 c, address token, uint256 amount) external as_(who) {
        _run(address(market), abi.encodeCall(market.depositBond, (_cluster(c), _token(token), amount)));
    }

    function withdrawBond(uint256 who, uint64 c, address token, uint256 amount) external as_(who) {
        _run(address(market), abi.encodeCall(market.withdrawBond, (_cluster(c), _token(token), amount)));
    }

    /// LeaseTerms with the enum as a raw byte (out-of-range enums would revert in the decoder).
    struct RawTerms {
        uint64 clusterId;
        address tenant;
        address stablecoin;
        uint32 units;
        uint64 startEpoch;
        uint64 endEpoch;
        uint128 pricePerUnitHour;
        uint8 billing;
        uint16 slaBps;
        uint16 creditBps;
        uint128 totalShares;
    }

    function createLease(uint256 who, RawTerms memory r) external as_(who) {
        // Half the time a lease on the newest cluster (maybe the outsider's) small enough to need no
        // bond, with a term that starts next epoch.
        if (who % 2 == 0) {
            (r.clusterId, r.units, r.pricePerUnitHour, r.slaBps) = (registry.clusterCount(), 1, 1, 0);
            (r.totalShares, r.creditBps, r.billing) =
            (1 + r.totalShares % 1e30, r.creditBps % 10_001, r.billing % 2);
            (address owner, uint32 len, uint64 genesis,) = registry.clusterInfo(r.clusterId);
            if (handler.clusterOwner(r.clusterId) == address(0)) sender = owner; // an outsider's cluster
            r.startEpoch = uint64((block.timestamp - genesis) / len) + 1;
            r.endEpoch = r.startEpoch + 1 + r.endEpoch % 3;
        }
        bytes memory call = abi.encodeWithSelector(
            market.createLease.selector,
            _cluster(r.clusterId),
            r.tenant == address(0) || who % 4 == 0 ? sender : r.tenant,
            _token(r.stablecoin),
            r.units,
            r.startEpoch,
            r.endEpoch,
            r.pricePerUnitHour,
            r.billing % 4, // 2 and 3 are out of range: the market must reject them
            r.slaBps,
            r.creditBps,
            r.totalShares
        );
        _run(address(market), call);
    }

    function fund(uint256 who, uint256 id) external as_(who) {
        _run(address(market), abi.encodeCall(market.fund, (_lease(id))));
    }

    function fundWithPermit(uint256 who, uint256 id, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        as_(who)
    {
        _run(address(market), abi.encodeCall(market.fundWithPermit, (_lease(id), deadline, v, r, s)));
    }

    function cancelLease(uint256 who, uint256 id) external as_(who) {
        _run(address(market), abi.encodeCall(market.cancelLease, (_lease(id))));
    }

    function offerShares(uint256 who, uint256 id, uint256 amount, uint256 price) external as_(who) {
        _run(address(market), abi.encodeCall(market.offerShares, (_lease(id), amount, price)));
    }

    function buyShares(uint256 who, uint256 id, uint256 amount, uint256 maxPrice) external as_(who) {
        _run(address(market), abi.encodeCall(market.buyShares, (_lease(id), amount, maxPrice)));
    }

    function settle(uint256 who, uint256 id, uint64 epoch, uint64 delivered, bytes32[] calldata proof)
        external
        as_(who)
    {
        _run(address(market), abi.encodeCall(market.settle, (_lease(id), _epoch(epoch), delivered, 0, proof)));
    }

    function settleMissed(uint256 who, uint256 id, uint64 epoch) external as_(who) {
        _run(address(market), abi.encodeCall(market.settleMissed, (_lease(id), _epoch(epoch))));
    }

    function settleUnproven(uint256 who, uint256 id, uint64 epoch) external as_(who) {
        _run(address(market), abi.encodeCall(market.settleUnproven, (_lease(id), _epoch(epoch))));
    }

    function settleBatch(uint256 who, SettleItem[] memory items) external as_(who) {
        for (uint256 i; i < items.length; ++i) {
            (items[i].leaseId, items[i].epoch) = (_lease(items[i].leaseId), _epoch(items[i].epoch));
        }
        _run(address(market), abi.encodeCall(market.settleBatch, (items)));
    }

    function markDisputed(uint256 who, uint256 id, uint64 epoch) external as_(who) {
        _run(address(market), abi.encodeCall(market.markDisputed, (_lease(id), _epoch(epoch))));
    }

    function claim(uint256 who, uint256 id) external as_(who) {
        _run(address(market), abi.encodeCall(market.claim, (_lease(id))));
    }

    function withdrawTenantFunds(uint256 who, uint256 id) external as_(who) {
        _run(address(market), abi.encodeCall(market.withdrawTenantFunds, (_lease(id))));
    }

    function safeTransferFrom(
        uint256 who,
        address from,
        address to,
        uint256 id,
        uint256 value,
        bytes calldata data
    ) external as_(who) {
        if (who % 3 != 0) from = sender;
        if (value % 3 == 0) value = 0; // a zero-value transfer still checkpoints both sides
        _run(address(market), abi.encodeCall(IERC1155.safeTransferFrom, (from, to, _lease(id), value, data)));
    }

    function safeBatchTransferFrom(
        uint256 who,
        address to,
        uint256[] memory ids,
        uint256[] calldata values,
        bytes calldata data
    ) external as_(who) {
        for (uint256 i; i < ids.length; ++i) {
            ids[i] = _lease(ids[i]);
        }
        bytes memory call = abi.encodeCall(IERC1155.safeBatchTransferFrom, (sender, to, ids, values, data));
        _run(address(market), call);
    }

    function setApprovalForAll(uint256 who, address operator, bool approved) external as_(who) {
        _run(address(market), abi.encodeCall(IERC1155.setApprovalForAll, (operator, approved)));
    }

    // ------------------------------------------------------------ desk

    function setArbiter(uint256 who, address arbiter) external as_(who) {
        _run(address(desk), abi.encodeCall(desk.setArbiter, (arbiter)));
    }

    function challenge(uint256 who, uint256 id, uint64 epoch) external as_(who) {
        _run(address(desk), abi.encodeCall(desk.challenge, (_lease(id), _epoch(epoch))));
    }

    function resolveChallenge(uint256 who, uint256 id, uint64 epoch, uint64 delivered, bool upheld)
        external
        as_(who)
    {
        bytes memory call =
            abi.encodeCall(desk.resolveChallenge, (_lease(id), _epoch(epoch), delivered, 0, upheld));
        _run(address(desk), call);
    }

    function expire(uint256 who, uint256 id, uint64 epoch) external as_(who) {
        _run(address(desk), abi.encodeCall(desk.expire, (_lease(id), _epoch(epoch))));
    }

    function proveConflict(
        uint256 who,
        uint256 id,
        uint64 epoch,
        uint64 a,
        bytes32[] calldata proofA,
        uint64 b,
        bytes32[] calldata proofB
    ) external as_(who) {
        bytes memory call = abi.encodeCall(
            desk.proveConflict,
            (_lease(id), _epoch(epoch), ProvenLeaf(a, 0, proofA), ProvenLeaf(b, 0, proofB))
        );
        _run(address(desk), call);
    }

    function withdrawPayout(uint256 who, address token) external as_(who) {
        _run(address(desk), abi.encodeCall(desk.withdrawPayout, (_token(token))));
    }

    // ------------------------------------------------------------ registry

    function setMarket(uint256 who, address market_) external as_(who) {
        _run(address(registry), abi.encodeWithSelector(registry.setMarket.selector, market_));
    }

    function registerCluster(
        uint256 who,
        string calldata uri,
        bytes32 hash,
        uint32 epochLength,
        address[] memory attestors,
        uint8 threshold
    ) external as_(who) {
        if (who % 2 == 0) {
            // A valid cluster of its own, so later calls can build on it.
            (epochLength, threshold) = (uint32(10 + epochLength % 1 hours), 1); // under an hour
            attestors = new address[](1);
            attestors[0] = sender;
        }
        bytes memory call =
            abi.encodeCall(registry.registerCluster, (uri, hash, epochLength, attestors, threshold));
        _run(address(registry), call);
    }

    function rotateAttestors(
        uint256 who,
        uint64 c,
        address[] calldata attestors,
        uint8 threshold,
        uint64 fromEpoch,
        bytes[] calldata consent
    ) external as_(who) {
        bytes memory call = abi.encodeCall(
            registry.rotateAttestors, (_cluster(c), attestors, threshold, fromEpoch, consent)
        );
        _run(address(registry), call);
    }

    function deregisterCluster(uint256 who, uint64 c) external as_(who) {
        _run(address(registry), abi.encodeCall(registry.deregisterCluster, (_cluster(c))));
    }

    function submitReport(uint256 who, UsageReport memory report, bytes[] calldata signatures)
        external
        as_(who)
    {
        (report.clusterId, report.epoch) = (_cluster(report.clusterId), _epoch(report.epoch));
        _run(address(registry), abi.encodeCall(registry.submitReport, (report, signatures)));
    }

    // ------------------------------------------------------------ governance of all three

    function transferOwnership(uint256 who, uint8 target, address newOwner) external as_(who) {
        _run(_ownable(target), abi.encodeCall(IOwnable2Step.transferOwnership, (newOwner)));
    }

    function acceptOwnership(uint256 who, uint8 target) external as_(who) {
        _run(_ownable(target), abi.encodeCall(IOwnable2Step.acceptOwnership, ()));
    }

    function renounceOwnership(uint256 who, uint8 target) external as_(who) {
        _run(_ownable(target), abi.encodeCall(IOwnable2Step.renounceOwnership, ()));
    }

    // ------------------------------------------------------------ internals

    /// Runs the call; a success's logs go to the model, a revert's are dropped. Never reverts.
    function _run(address target, bytes memory data) internal {
        vm.recordLogs();
        vm.prank(sender);
        (bool ok,) = target.call(data);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        if (ok) succeeded[bytes4(data)]++;
        else assembly { mstore(logs, 0) }
        handler.observe(logs, ok);
    }

    function _lease(uint256 raw) internal view returns (uint256) {
        return raw % 4 == 0 ? raw : (raw >> 2) % (market.leaseCount() + 2);
    }

    function _epoch(uint64 raw) internal pure returns (uint64) {
        return raw % 4 == 0 ? raw : (raw >> 2) % 48;
    }

    function _cluster(uint64 raw) internal view returns (uint64) {
        return raw % 4 == 0 ? raw : (raw >> 2) % (registry.clusterCount() + 2);
    }

    function _token(address raw) internal view returns (address) {
        uint256 pick = uint160(raw) % 4;
        return pick == 0 ? raw : pick == 1 ? address(usdB) : address(usdA);
    }

    function _ownable(uint8 target) internal view returns (address) {
        return target % 3 == 0 ? address(market) : target % 3 == 1 ? address(desk) : address(registry);
    }
}
