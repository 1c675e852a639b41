// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Types
/// @notice Structs and enums shared by the registry, the market and off-chain code.

/// @notice What an oracle attests for one cluster and one epoch (EIP-712 typed data).
/// @dev Field widths bound the values: 2^40 GPU-seconds or Wh per epoch is far above any real site.
struct UsageReport {
    uint64 clusterId;
    uint64 epoch;
    uint32 gpusInstalled;
    uint32 gpusHealthy;
    uint40 gpuSecondsAvailable;
    uint40 gpuSecondsBusy;
    uint40 itEnergyWh;
    uint40 facilityEnergyWh;
    bytes32 deliveriesRoot;
    bytes32 telemetryRoot;
}

/// @notice How a lease's delivered GPU-seconds are counted by the oracle.
enum Billing {
    /// Pay for healthy (available) GPU-seconds of the leased GPUs.
    Reserved,
    /// Pay for busy GPU-seconds of the leased GPUs.
    Metered
}

/// @notice Where a lease is in its life.
enum LeaseStatus {
    None,
    /// Created and shares minted; waiting for the tenant's escrow.
    Offered,
    /// Escrow funded for the full term; epochs settle.
    Active,
    /// Every epoch settled; the tenant may withdraw the remainder.
    Ended,
    /// Cancelled by the owner before funding.
    Cancelled
}

/// @notice The terms an owner offers a tenant.
struct LeaseTerms {
    uint64 clusterId;
    address tenant;
    address stablecoin;
    uint32 gpus;
    uint64 startEpoch;
    uint64 endEpoch;
    uint128 pricePerGpuHour;
    Billing billing;
    uint16 slaBps;
    uint16 creditBps;
    uint128 totalShares;
}

/// @notice One (lease, epoch) to settle in a batch.
struct SettleItem {
    uint256 leaseId;
    uint64 epoch;
    uint64 delivered;
    bytes32[] proof;
}
