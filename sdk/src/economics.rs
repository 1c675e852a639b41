//! Mine or lease: what a site's next megawatt earns in each use, per MW-hour, so an owner can
//! compare leasing power (a powered shell), leasing GPUs, selling curtailment and mining.
//!
//! Every figure is a margin in the stablecoin per MW-hour, after the energy the site pays for:
//! a powered shell's energy is passed through to its tenant, so its margin is its rent; GPUs and
//! miners draw power the site buys, so their margins are revenue less that energy.

use serde::{Deserialize, Serialize};

use crate::Amount;

/// Hours per day: hashprice is quoted per PH/s per day.
const HOURS_PER_DAY: u128 = 24;

/// What a site's settled history says, as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteHistory {
    /// Critical-IT power the site can deliver (kW).
    pub energized_kw: u64,
    /// kW leased as powered shells now.
    pub shell_kw_leased: u64,
    /// Rent settled on powered shells.
    pub shell_rent: Amount,
    /// Powered-shell capacity that rent covered, kW-seconds.
    pub shell_kw_seconds_settled: u64,
    /// Rent settled on GPU leases.
    pub gpu_rent: Amount,
    /// Facility energy of the epochs that rent covered (Wh).
    pub gpu_facility_wh: u64,
    /// Demand-response payouts received.
    pub demand_response_paid: Amount,
    /// Curtailment committed to the events those payouts settled, Wh.
    pub demand_response_wh_committed: u64,
}

/// The site's market inputs, set by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteInputs {
    /// Stablecoin per PH/s per day a miner earns now.
    pub hashprice_per_ph_day: Amount,
    /// The fleet's efficiency, joules per terahash.
    pub fleet_j_per_th: u32,
    /// What the site pays per kWh.
    pub energy_price_per_kwh: Amount,
}

/// One use of a megawatt and its margin per MW-hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MegawattUse {
    /// Lease the power and space to a tenant with its own machines.
    PoweredShell,
    /// Lease GPUs.
    Gpu,
    /// Mine bitcoin.
    Mining,
}

/// Per-MW-hour margins of each use, occupancy, and the best use of the next megawatt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MegawattEconomics {
    /// Leased powered-shell kW over energized kW, basis points.
    pub occupancy_bps: u64,
    /// Powered-shell rent per MW-hour of capacity (energy is the tenant's): `None` before any
    /// settled.
    pub shell_per_mwh: Option<Amount>,
    /// GPU rent per facility MWh, less that MWh's energy: `None` before any settled.
    pub gpu_per_mwh: Option<Amount>,
    /// Demand-response payouts per MWh of committed curtailment (earned on top of the load that
    /// sheds it): `None` before any event settled.
    pub demand_response_per_mwh: Option<Amount>,
    /// Mining revenue per MW-hour at the hashprice and fleet efficiency.
    pub mining_revenue_per_mwh: Amount,
    /// Mining revenue less the MWh of energy: negative margins clamp to zero.
    pub mining_per_mwh: Amount,
    /// The use whose margin is highest (mining when nothing else has settled).
    pub best_use: MegawattUse,
}

/// Compares the uses of a site's megawatts from its history and its owner's inputs.
pub fn megawatt_economics(history: &SiteHistory, inputs: &SiteInputs) -> MegawattEconomics {
    let decimals = inputs.energy_price_per_kwh.decimals();
    let amount = |base: u128| Amount::from_base(alloy::primitives::U256::from(base), decimals);
    let base = |a: Amount| u128::try_from(a.base()).unwrap_or(u128::MAX);
    let energy_per_mwh = base(inputs.energy_price_per_kwh).saturating_mul(1_000);

    let occupancy_bps = history
        .shell_kw_leased
        .saturating_mul(10_000)
        .checked_div(history.energized_kw)
        .map_or(0, |bps| bps.min(10_000));
    // `scale` units of `quantity` make one MWh (3,600,000 kW-seconds; 1,000,000 Wh).
    let per_mwh = |money: Amount, quantity: u64, scale: u128| {
        (quantity != 0).then(|| amount(base(money).saturating_mul(scale) / u128::from(quantity)))
    };
    let shell_per_mwh = per_mwh(history.shell_rent, history.shell_kw_seconds_settled, 3_600_000);
    let gpu_per_mwh = (history.gpu_facility_wh != 0).then(|| {
        let revenue =
            base(history.gpu_rent).saturating_mul(1_000_000) / u128::from(history.gpu_facility_wh);
        amount(revenue.saturating_sub(energy_per_mwh))
    });
    let demand_response_per_mwh =
        per_mwh(history.demand_response_paid, history.demand_response_wh_committed, 1_000_000);

    // 1 MW at J/TH hashes 1e6 / (J/TH) TH/s = 1,000 / (J/TH) PH/s.
    let efficiency = u128::from(inputs.fleet_j_per_th.max(1));
    let mining_revenue =
        base(inputs.hashprice_per_ph_day).saturating_mul(1_000) / efficiency / HOURS_PER_DAY;
    let mining_margin = mining_revenue.saturating_sub(energy_per_mwh);

    let mut best = (MegawattUse::Mining, mining_margin);
    for (use_, margin) in
        [(MegawattUse::PoweredShell, shell_per_mwh), (MegawattUse::Gpu, gpu_per_mwh)]
    {
        if let Some(margin) = margin.map(base)
            && margin > best.1
        {
            best = (use_, margin);
        }
    }
    MegawattEconomics {
        occupancy_bps,
        shell_per_mwh,
        gpu_per_mwh,
        demand_response_per_mwh,
        mining_revenue_per_mwh: amount(mining_revenue),
        mining_per_mwh: amount(mining_margin),
        best_use: best.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(text: &str) -> Amount {
        Amount::parse(text, 6).expect("amount")
    }

    fn texas() -> (SiteHistory, SiteInputs) {
        (
            SiteHistory {
                energized_kw: 20_000,
                shell_kw_leased: 15_000,
                // 15 MW for 24 hours at $0.205 per kW-hour.
                shell_rent: usd("73800"),
                shell_kw_seconds_settled: 360_000 * 3_600,
                gpu_rent: Amount::zero(6),
                gpu_facility_wh: 0,
                // One 2-hour event of 5 MW at $0.20 per kWh.
                demand_response_paid: usd("2000"),
                demand_response_wh_committed: 10_000_000,
            },
            SiteInputs {
                hashprice_per_ph_day: usd("50"),
                fleet_j_per_th: 20,
                energy_price_per_kwh: usd("0.045"),
            },
        )
    }

    #[test]
    fn a_converted_miner_sees_that_leasing_the_next_megawatt_pays_more_than_mining_it() {
        let (history, inputs) = texas();
        let e = megawatt_economics(&history, &inputs);
        assert_eq!(e.occupancy_bps, 7_500);
        assert_eq!(e.shell_per_mwh, Some(usd("205")));
        // 50 PH/s per MW × $50 per PH/s per day / 24 h = $104.166666, less $45 of energy.
        assert_eq!(e.mining_revenue_per_mwh, usd("104.166666"));
        assert_eq!(e.mining_per_mwh, usd("59.166666"));
        assert_eq!(e.demand_response_per_mwh, Some(usd("200")));
        assert_eq!(e.gpu_per_mwh, None);
        assert_eq!(e.best_use, MegawattUse::PoweredShell);
    }

    #[test]
    fn mining_wins_when_hashprice_is_high_and_nothing_else_has_settled() {
        let (mut history, mut inputs) = texas();
        history.shell_kw_seconds_settled = 0;
        inputs.hashprice_per_ph_day = usd("150");
        let e = megawatt_economics(&history, &inputs);
        assert_eq!(e.shell_per_mwh, None);
        assert_eq!(e.best_use, MegawattUse::Mining);
        assert_eq!(e.mining_per_mwh, usd("267.5"));
    }

    #[test]
    fn gpu_rent_is_compared_after_the_energy_it_burned_and_margins_never_go_negative() {
        let (mut history, mut inputs) = texas();
        // $1,000 of GPU rent over 2 MWh of facility energy: $500 per MWh, $455 after energy.
        history.gpu_rent = usd("1000");
        history.gpu_facility_wh = 2_000_000;
        let e = megawatt_economics(&history, &inputs);
        assert_eq!(e.gpu_per_mwh, Some(usd("455")));
        assert_eq!(e.best_use, MegawattUse::Gpu);
        inputs.energy_price_per_kwh = usd("0.50");
        let e = megawatt_economics(&history, &inputs);
        assert_eq!(e.mining_per_mwh, Amount::zero(6), "mining at a loss clamps to zero");
        assert_eq!(e.gpu_per_mwh, Some(Amount::zero(6)));
    }
}
