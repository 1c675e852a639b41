// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Script, console} from "forge-std/Script.sol";

import {ClusterRegistry} from "../src/ClusterRegistry.sol";
import {DevStablecoin} from "../src/DevStablecoin.sol";
import {LeaseMarket} from "../src/LeaseMarket.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {Billing, LeaseTerms, UsageReport} from "../src/libraries/Types.sol";

/// @notice One scripted lease lifecycle on a live anvil, in phases that `scripts/demo.sh` runs
/// with chain time moved between them: deploy -> report epoch -> settle and claim -> finish.
/// Keys come from DEMO_MNEMONIC (generated fresh for each run, never written to disk).
contract Demo is Script {
    string internal constant DEPLOYMENT = "../.devnet/deployment.json";
    uint32 internal constant EPOCH = 30; // seconds: several epochs a minute
    uint64 internal constant REPORT_WINDOW = 60;
    uint64 internal constant CHALLENGE_WINDOW = 15;
    uint32 internal constant GPUS = 512;
    uint128 internal constant PRICE = 2_500_000; // $2.50 per GPU-hour
    uint128 internal constant SHARES = 10_000;
    uint256 internal constant SHARE_PRICE = 2_000; // $0.002 per share

    // Account indices in the mnemonic.
    uint32 internal constant GOVERNANCE = 0;
    uint32 internal constant OWNER = 1;
    uint32 internal constant TENANT = 2;
    uint32 internal constant INVESTOR_A = 3;
    uint32 internal constant INVESTOR_B = 4;
    uint32 internal constant KEEPER = 5;
    uint32 internal constant ATTESTOR_0 = 6; // attestors are 6, 7, 8 (2-of-3)

    ClusterRegistry internal registry;
    DevStablecoin internal usd;
    LeaseMarket internal market;
    uint64 internal clusterId;
    uint256 internal leaseId;

    // ------------------------------------------------------------ phases

    /// Deploys everything, registers a cluster, bonds it, leases 64 GPUs for two epochs, funds
    /// the escrow and sells shares to two investors.
    function deploy() external {
        _broadcast(GOVERNANCE);
        usd = new DevStablecoin(_addr(GOVERNANCE));
        registry = new ClusterRegistry(_addr(GOVERNANCE), REPORT_WINDOW);
        market = new LeaseMarket(
            _addr(GOVERNANCE), registry, CHALLENGE_WINDOW, "http://127.0.0.1:8645/metadata/{id}.json"
        );
        registry.setMarket(market);
        market.setStablecoinAllowed(address(usd), true);
        market.setArbiter(_addr(GOVERNANCE));
        usd.mint(_addr(OWNER), 50_000e6);
        usd.mint(_addr(TENANT), 50_000e6);
        usd.mint(_addr(INVESTOR_A), 1_000e6);
        usd.mint(_addr(INVESTOR_B), 1_000e6);
        vm.stopBroadcast();
        console.log("Deployed on chain %s", vm.toString(block.chainid));
        console.log("  DevStablecoin   %s", address(usd));
        console.log("  ClusterRegistry %s", address(registry));
        console.log("  LeaseMarket     %s", address(market));

        address[] memory attestors = _attestors();
        _broadcast(OWNER);
        clusterId = registry.registerCluster(
            "ipfs://nordic-hydro-h100", keccak256("512x H100, Nordic hydro, PUE 1.1"), EPOCH, attestors, 2
        );
        usd.approve(address(market), type(uint256).max);
        market.depositBond(clusterId, address(usd), 10_000e6);
        uint64 start = registry.currentEpoch(clusterId) + 2;
        leaseId = market.createLease(
            LeaseTerms({
                clusterId: clusterId,
                tenant: _addr(TENANT),
                stablecoin: address(usd),
                gpus: GPUS,
                startEpoch: start,
                endEpoch: start + 2,
                pricePerGpuHour: PRICE,
                billing: Billing.Reserved,
                slaBps: 9_900,
                creditBps: 10_000,
                totalShares: SHARES
            })
        );
        vm.stopBroadcast();
        console.log(
            "Cluster %s registered: 512x H100 (Nordic hydro), 30 s epochs, attestors 2-of-3", clusterId
        );
        console.log("Lease %s: 512 GPUs, epochs %s..%s, $2.50/GPU-hour, SLA 99%%", leaseId, start, start + 1);

        _broadcast(TENANT);
        usd.approve(address(market), market.escrowRequired(leaseId));
        market.fund(leaseId);
        vm.stopBroadcast();
        console.log("Tenant funded escrow: $%s (full term)", _usd(market.escrowRequired(leaseId)));

        _broadcast(OWNER);
        market.offerShares(leaseId, 6_000, SHARE_PRICE);
        vm.stopBroadcast();
        _buy(INVESTOR_A, 4_000);
        _buy(INVESTOR_B, 2_000);
        console.log("Investors bought shares at $0.002: A 4,000 and B 2,000 of 10,000; owner keeps 4,000");

        _save(start);
    }

    /// Signs (2 of 3 attestors) and submits the report of `epoch` with this lease's delivery.
    function report(uint64 epoch, uint64 delivered) external {
        _load();
        bytes32 root = ReportLib.deliveryLeaf(leaseId, epoch, delivered);
        UsageReport memory r = UsageReport({
            clusterId: clusterId,
            epoch: epoch,
            gpusInstalled: GPUS,
            gpusHealthy: uint32(delivered / EPOCH),
            gpuSecondsAvailable: uint40(delivered),
            gpuSecondsBusy: uint40(delivered * 9 / 10),
            itEnergyWh: uint40(uint256(delivered) * 700 / 3600), // ~700 W per busy H100
            facilityEnergyWh: uint40(uint256(delivered) * 770 / 3600), // PUE 1.1
            deliveriesRoot: root,
            telemetryRoot: keccak256(abi.encode("demo telemetry", epoch))
        });
        bytes32 digest = registry.reportDigest(r);
        uint256[] memory keys = _sortedAttestorKeys();
        bytes[] memory sigs = new bytes[](2);
        for (uint256 i; i < 2; ++i) {
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(keys[i], digest);
            sigs[i] = abi.encodePacked(rr, s, v);
        }
        _broadcast(KEEPER);
        registry.submitReport(r, sigs);
        vm.stopBroadcast();
        console.log(
            "Epoch %s report accepted: %s of %s GPU-seconds delivered",
            epoch,
            delivered,
            uint256(GPUS) * EPOCH
        );
    }

    /// Settles `epoch` (keeper), then both investors and the owner claim their rent.
    function settleAndClaim(uint64 epoch, uint64 delivered) external {
        _load();
        _broadcast(KEEPER);
        market.settle(leaseId, epoch, delivered, new bytes32[](0));
        vm.stopBroadcast();
        LeaseMarket.Lease memory l = market.getLease(leaseId);
        console.log(
            "Epoch %s settled: rent pool $%s, SLA credits owed to tenant $%s",
            epoch,
            _usd(l.rentPool),
            _usd(l.credits)
        );
        _claim(INVESTOR_A, "Investor A");
        _claim(INVESTOR_B, "Investor B");
        _claim(OWNER, "Owner");
    }

    /// After the term: the tenant withdraws SLA credits and the unspent escrow; prints the books.
    function finish() external {
        _load();
        uint256 before = usd.balanceOf(_addr(TENANT));
        _broadcast(TENANT);
        market.withdrawTenantFunds(leaseId);
        vm.stopBroadcast();
        console.log(
            "Tenant withdrew $%s (SLA credits + unspent escrow)", _usd(usd.balanceOf(_addr(TENANT)) - before)
        );
        LeaseMarket.Bond memory b = market.bondOf(clusterId, address(usd));
        console.log("Owner bond: $%s, locked $%s", _usd(b.total), _usd(b.locked));
        console.log("Market holds $%s (bond + unclaimed dust)", _usd(usd.balanceOf(address(market))));
    }

    // ------------------------------------------------------------ helpers

    function _buy(uint32 investor, uint256 amount) internal {
        _broadcast(investor);
        usd.approve(address(market), amount * SHARE_PRICE);
        market.buyShares(leaseId, amount, SHARE_PRICE);
        vm.stopBroadcast();
    }

    function _claim(uint32 who, string memory name) internal {
        uint256 due = market.claimable(leaseId, _addr(who));
        if (due == 0) return;
        _broadcast(who);
        market.claim(leaseId);
        vm.stopBroadcast();
        console.log("  %s claimed $%s", name, _usd(due));
    }

    function _attestors() internal view returns (address[] memory a) {
        a = new address[](3);
        for (uint32 i; i < 3; ++i) {
            a[i] = _addr(ATTESTOR_0 + i);
        }
    }

    function _sortedAttestorKeys() internal view returns (uint256[] memory keys) {
        keys = new uint256[](3);
        for (uint32 i; i < 3; ++i) {
            keys[i] = _key(ATTESTOR_0 + i);
        }
        for (uint256 i; i < 3; ++i) {
            for (uint256 j = i + 1; j < 3; ++j) {
                if (vm.addr(keys[j]) < vm.addr(keys[i])) (keys[i], keys[j]) = (keys[j], keys[i]);
            }
        }
    }

    function _key(uint32 index) internal view returns (uint256) {
        return vm.deriveKey(vm.envString("DEMO_MNEMONIC"), index);
    }

    function _addr(uint32 index) internal view returns (address) {
        return vm.addr(_key(index));
    }

    function _broadcast(uint32 index) internal {
        vm.startBroadcast(_key(index));
    }

    function _save(uint64 startEpoch) internal {
        string memory o = "deployment";
        vm.serializeUint(o, "chainId", block.chainid);
        vm.serializeAddress(o, "stablecoin", address(usd));
        vm.serializeAddress(o, "registry", address(registry));
        vm.serializeAddress(o, "market", address(market));
        vm.serializeUint(o, "clusterId", clusterId);
        vm.serializeUint(o, "startEpoch", startEpoch);
        string memory json = vm.serializeUint(o, "leaseId", leaseId);
        vm.writeJson(json, DEPLOYMENT);
    }

    function _load() internal {
        string memory json = vm.readFile(DEPLOYMENT);
        usd = DevStablecoin(vm.parseJsonAddress(json, ".stablecoin"));
        registry = ClusterRegistry(vm.parseJsonAddress(json, ".registry"));
        market = LeaseMarket(vm.parseJsonAddress(json, ".market"));
        clusterId = uint64(vm.parseJsonUint(json, ".clusterId"));
        leaseId = vm.parseJsonUint(json, ".leaseId");
    }

    /// Formats 6-decimal base units as dollars and cents ("1234.56").
    function _usd(uint256 amount) internal pure returns (string memory) {
        uint256 cents = amount / 1e4;
        string memory frac = vm.toString(cents % 100);
        if (cents % 100 < 10) frac = string.concat("0", frac);
        return string.concat(vm.toString(cents / 100), ".", frac);
    }
}
