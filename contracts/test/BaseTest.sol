// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";

import {ClusterRegistry} from "../src/ClusterRegistry.sol";
import {DevStablecoin} from "../src/DevStablecoin.sol";
import {DisputeDesk} from "../src/DisputeDesk.sol";
import {LeaseMarket} from "../src/LeaseMarket.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {Billing, LeaseTerms, Unit, UsageReport} from "../src/libraries/Types.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";

/// @notice Shared set-up: a registry, a market, a stablecoin, one cluster with three attestors
/// (2-of-3), and helpers to sign reports, build deliveries trees and walk time.
abstract contract BaseTest is Test {
    uint64 internal constant REPORT_WINDOW = 1 hours;
    uint64 internal constant CHALLENGE_WINDOW = 30 minutes;
    uint64 internal constant RESOLUTION_WINDOW = 2 hours;
    uint64 internal constant PROOF_GRACE = 1 hours;
    uint16 internal constant CHALLENGE_BOND_BPS = 1_000; // 10% of a full epoch's rent
    uint32 internal constant EPOCH = 1 hours;
    uint128 internal constant PRICE = 2_000_000; // $2.00 per GPU-hour
    uint32 internal constant GPUS = 8;
    uint128 internal constant SHARES = 1_000_000;

    address internal governance = makeAddr("governance");
    address internal arbiter = makeAddr("arbiter");
    address internal owner = makeAddr("owner");
    address internal tenant;
    uint256 internal tenantKey;
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal keeper = makeAddr("keeper");

    uint256[] internal attestorKeys; // sorted by address
    address[] internal attestors;

    DevStablecoin internal usd;
    ClusterRegistry internal registry;
    LeaseMarket internal market;
    DisputeDesk internal desk;
    uint64 internal clusterId;

    function setUp() public virtual {
        vm.warp(1_750_000_000);
        (tenant, tenantKey) = makeAddrAndKey("tenant");
        usd = new DevStablecoin(governance);
        registry = new ClusterRegistry(governance, REPORT_WINDOW);
        market = _deployMarket("http://127.0.0.1/metadata/{id}.json");
        desk = DisputeDesk(address(market.disputes()));
        vm.startPrank(governance);
        registry.setMarket(market);
        market.setStablecoinAllowed(address(usd), true);
        desk.setArbiter(arbiter);
        vm.stopPrank();

        _makeAttestors(3);
        clusterId = _registerCluster(2);

        address[4] memory funded = [owner, tenant, alice, bob];
        for (uint256 i; i < funded.length; ++i) {
            vm.prank(governance);
            usd.mint(funded[i], 10_000_000e6);
            vm.startPrank(funded[i]);
            usd.approve(address(market), type(uint256).max);
            usd.approve(address(desk), type(uint256).max);
            vm.stopPrank();
        }
        vm.prank(owner);
        market.depositBond(clusterId, address(usd), 100_000e6);
    }

    // ------------------------------------------------------------ actors

    /// @dev A LeaseMarket as deployed: the via-IR build in out-market/ (see foundry.toml).
    function _deployMarket(string memory metadataUri) internal returns (LeaseMarket) {
        bytes memory args = abi.encode(
            governance,
            registry,
            CHALLENGE_WINDOW,
            RESOLUTION_WINDOW,
            PROOF_GRACE,
            CHALLENGE_BOND_BPS,
            metadataUri
        );
        return LeaseMarket(deployCode("out-market/LeaseMarket.sol/LeaseMarket.json", args));
    }

    function _makeAttestors(uint256 n) internal {
        delete attestorKeys;
        delete attestors;
        for (uint256 i; i < n; ++i) {
            (address a, uint256 k) = makeAddrAndKey(string.concat("attestor", vm.toString(i)));
            attestors.push(a);
            attestorKeys.push(k);
        }
        // Sort ascending by address: reports must carry signatures in that order.
        for (uint256 i; i < n; ++i) {
            for (uint256 j = i + 1; j < n; ++j) {
                if (attestors[j] < attestors[i]) {
                    (attestors[i], attestors[j]) = (attestors[j], attestors[i]);
                    (attestorKeys[i], attestorKeys[j]) = (attestorKeys[j], attestorKeys[i]);
                }
            }
        }
    }

    function _registerCluster(uint8 threshold) internal returns (uint64) {
        vm.prank(owner);
        return registry.registerCluster("ipfs://cluster", keccak256("meta"), EPOCH, attestors, threshold);
    }

    // ------------------------------------------------------------ leases

    function _terms(uint64 start, uint64 end) internal view returns (LeaseTerms memory) {
        return LeaseTerms({
            clusterId: clusterId,
            tenant: tenant,
            stablecoin: address(usd),
            units: GPUS,
            startEpoch: start,
            endEpoch: end,
            pricePerUnitHour: PRICE,
            billing: Billing.Reserved,
            slaBps: 9_900,
            creditBps: 10_000,
            totalShares: SHARES,
            unit: Unit.Gpu,
            energyPricePerKwh: 0
        });
    }

    /// A funded lease over epochs [1, 1 + epochs), shares held by the owner.
    function _activeLease(uint64 epochs) internal returns (uint256 leaseId) {
        vm.prank(owner);
        leaseId = market.createLease(_terms(1, 1 + epochs));
        vm.prank(tenant);
        market.fund(leaseId);
    }

    // ------------------------------------------------------------ time

    function _epochEnd(uint64 epoch) internal view returns (uint256) {
        (,, uint64 genesis,) = registry.clusterInfo(clusterId);
        return uint256(genesis) + (uint256(epoch) + 1) * EPOCH;
    }

    function _warpToEpochEnd(uint64 epoch) internal {
        vm.warp(_epochEnd(epoch));
    }

    // ------------------------------------------------------------ reports

    function _report(uint64 epoch, bytes32 root) internal view returns (UsageReport memory) {
        return UsageReport({
            clusterId: clusterId,
            epoch: epoch,
            gpusInstalled: 16,
            gpusHealthy: 16,
            gpuSecondsAvailable: 16 * EPOCH,
            gpuSecondsBusy: 12 * EPOCH,
            itEnergyWh: 11_200,
            facilityEnergyWh: 12_320,
            deliveriesRoot: root,
            telemetryRoot: keccak256(abi.encode("telemetry", epoch))
        });
    }

    function _sign(UsageReport memory r, uint256[] memory keys) internal view returns (bytes[] memory sigs) {
        bytes32 digest = registry.reportDigest(r);
        sigs = new bytes[](keys.length);
        for (uint256 i; i < keys.length; ++i) {
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(keys[i], digest);
            sigs[i] = abi.encodePacked(rr, s, v);
        }
    }

    /// The first `n` attestor keys (already in ascending address order).
    function _keys(uint256 n) internal view returns (uint256[] memory keys) {
        keys = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            keys[i] = attestorKeys[i];
        }
    }

    function _submit(UsageReport memory r) internal {
        registry.submitReport(r, _sign(r, _keys(2)));
    }

    /// Reports `epoch` with one delivery leaf for `leaseId` and returns the proof (empty).
    function _reportSingle(uint256 leaseId, uint64 epoch, uint64 delivered) internal {
        _warpToEpochEnd(epoch);
        _submit(_report(epoch, ReportLib.deliveryLeaf(leaseId, epoch, delivered, 0)));
    }

    function _deliveriesTree(uint256[] memory leaseIds, uint64 epoch, uint64[] memory delivered)
        internal
        pure
        returns (bytes32 root, bytes32[][] memory proofs)
    {
        bytes32[] memory leaves = new bytes32[](leaseIds.length);
        for (uint256 i; i < leaves.length; ++i) {
            leaves[i] = ReportLib.deliveryLeaf(leaseIds[i], epoch, delivered[i], 0);
        }
        root = MerkleBuilder.root(leaves);
        proofs = new bytes32[][](leaves.length);
        for (uint256 i; i < leaves.length; ++i) {
            proofs[i] = MerkleBuilder.proof(leaves, i);
        }
    }

    /// Reports and settles `epoch` of a single-leaf lease, past the challenge window.
    function _reportAndSettle(uint256 leaseId, uint64 epoch, uint64 delivered) internal {
        _reportSingle(leaseId, epoch, delivered);
        skip(CHALLENGE_WINDOW);
        market.settle(leaseId, epoch, delivered, 0, new bytes32[](0));
    }

    function _full() internal pure returns (uint64) {
        return uint64(GPUS) * EPOCH;
    }

    /// Rent of one fully delivered epoch of a `_terms` lease ($16.00).
    function _epochRent() internal pure returns (uint256) {
        return uint256(GPUS) * EPOCH * PRICE / 3600;
    }

    /// Worst-case SLA credit of one epoch of a `_terms` lease ($15.84).
    function _maxCredit() internal pure returns (uint256) {
        return (uint256(GPUS) * EPOCH * 9_900 / 10_000) * PRICE / 3600;
    }

    /// Consent signatures of the first `n` attestors for a rotation of `cluster`.
    function _consent(uint64 cluster, address[] memory set, uint8 threshold, uint64 fromEpoch, uint256 n)
        internal
        view
        returns (bytes[] memory sigs)
    {
        bytes32 digest = registry.rotationDigest(cluster, set, threshold, fromEpoch);
        uint256[] memory keys = _keys(n);
        sigs = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(keys[i], digest);
            sigs[i] = abi.encodePacked(rr, s, v);
        }
    }
}
