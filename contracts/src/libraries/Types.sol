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

/// @notice What a lease's units are, and so what its deliveries count.
enum Unit {
    /// GPUs: deliveries in GPU-seconds, priced per GPU-hour.
    Gpu,
    /// Critical-IT power (a powered shell: the tenant brings its own machines): deliveries in
    /// kW-seconds of power available to the tenant's racks, priced per kW-hour of capacity; the
    /// racks' metered energy may be passed through at the lease's tariff.
    Kw
}

/// @notice How a lease's delivered unit-seconds are counted by the oracle.
enum Billing {
    /// Pay for available unit-seconds: healthy GPU-seconds of the leased GPUs, or kW-seconds of
    /// power available to the tenant's racks (the only billing a `Unit.Kw` lease may use).
    Reserved,
    /// Pay for busy GPU-seconds of the leased GPUs.
    Metered
}

/// @notice Where a lease is in its life.
enum LeaseStatus {
    None,
    /// Created and shares minted; waiting for the tenant's escrow.
    Offered,
    /// Escrow funded for the rest of the term; epochs settle.
    Active,
    /// Every epoch settled; the tenant may withdraw the remainder.
    Ended,
    /// Cancelled before funding: by the owner, or by anyone once funding can no longer start it.
    Cancelled
}

/// @notice Which delivery an epoch's settlement billed.
enum Outcome {
    /// The report's leaf for the lease, proven against its deliveries root.
    Proven,
    /// The arbiter's ruling on a challenge.
    Arbitrated,
    /// No report by the reporting deadline: the owner's failure.
    Missed,
    /// A report came but no proof of the lease's leaf by the proof deadline, or two different
    /// leaves for the lease were shown: the owner's failure.
    Unproven
}

/// @notice Where a dispute of one (lease, epoch) stands.
enum DisputeStatus {
    None,
    /// A tenant or holder challenged; the arbiter may rule until the resolution deadline.
    Open,
    /// The arbiter ruled for the challenger: its bond is returned.
    Upheld,
    /// The arbiter ruled against the challenger: its bond goes to the cluster's bond.
    Rejected,
    /// The arbiter did not rule in time: the report stands and the challenger's bond is returned.
    Expired,
    /// Two different leaves for the lease were proven under the report's root: settles unproven.
    Conflict
}

/// @notice The terms an owner offers a tenant.
struct LeaseTerms {
    uint64 clusterId;
    address tenant;
    address stablecoin;
    uint32 units; // GPUs or kW, by `unit`
    uint64 startEpoch;
    uint64 endEpoch;
    uint128 pricePerUnitHour;
    Billing billing;
    uint16 slaBps;
    uint16 creditBps;
    uint128 totalShares;
    Unit unit;
    /// Energy pass-through (`Unit.Kw` only; 0 for none): stablecoin base units per kWh of the
    /// racks' metered energy, billed from escrow to the cluster's bond as each epoch settles.
    uint128 energyPricePerKwh;
}

/// @notice One (lease, epoch) to settle in a batch: its deliveries leaf and the leaf's proof.
struct SettleItem {
    uint256 leaseId;
    uint64 epoch;
    uint64 delivered;
    uint64 energyWh;
    bytes32[] proof;
}

/// @notice A deliveries leaf of one (lease, epoch) and its proof under the epoch's report root.
struct ProvenLeaf {
    uint64 delivered;
    uint64 energyWh;
    bytes32[] proof;
}

/// @notice Every stored field of a lease, packed to eight slots (settlement reads each once; the
/// last only for a lease with an energy tariff).
struct Lease {
    // slot 0
    uint64 clusterId;
    uint64 startEpoch; // first billed epoch (moved later when funded late)
    uint64 endEpoch; // exclusive
    uint64 nextEpoch; // next epoch to settle; == endEpoch once ended
    // slot 1
    address tenant;
    uint32 units; // GPUs or kW, by `unit`
    uint32 epochLength; // copied from the cluster (immutable there)
    LeaseStatus status;
    Billing billing;
    uint16 slaBps;
    // slot 2
    address stablecoin;
    uint16 creditBps;
    uint64 genesis; // copied from the cluster (immutable there)
    Unit unit;
    // slot 3
    uint128 pricePerUnitHour;
    uint128 totalShares;
    // slot 4
    uint128 escrow; // prepaid rent not yet settled (or, once ended, the remainder)
    uint128 rentPool; // rent and compensation not yet claimed, including rounding dust
    // slot 5
    uint128 credits; // SLA credits owed to the tenant
    uint128 bondPerEpoch; // bond locked per unsettled epoch: full SLA credit + holders' compensation
    // slot 6
    uint256 rentPerShare; // accumulator, scaled by RentLib.ACC_SCALE
    // slot 7
    uint128 energyPricePerKwh; // 0: no energy pass-through
    uint128 energyBilled; // energy pass-through billed so far (escrow to the cluster's bond)
}

/// @notice A dispute of one (lease, epoch): who opened it and when, its bond, and the ruling.
struct Challenge {
    address challenger;
    uint64 openedAt;
    DisputeStatus status;
    uint64 delivered; // the arbiter's ruling (Upheld or Rejected)
    uint128 bond; // held while open; 0 once returned or forfeited
    uint64 energyWh; // the arbiter's ruling of the racks' metered energy
}
