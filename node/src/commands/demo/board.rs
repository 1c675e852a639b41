//! The demo's board: each cluster's efficiency, rent and quote for new leases, each investor's
//! shares, claims and return, and the latest settlement of each lease.

use alloy::primitives::U256;
use compute_ledger_sdk::{Amount, Investor, MegawattUse, SiteInputs, megawatt_economics};

use super::{setup::DemoCluster, usd};
use crate::{Result, index::Index};

fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    values.iter().map(|v| BARS[(*v as usize * 8 / 10_001).min(7)]).collect()
}

fn pct(bps: u64) -> String {
    format!("{}.{} %", bps / 100, (bps % 100) / 10)
}

fn signed_pct(bps: i128) -> String {
    let sign = if bps < 0 { "-" } else { "" };
    format!("{sign}{}.{} %", bps.abs() / 100, (bps.abs() % 100) / 10)
}

/// A site whose megawatts the board compares across uses (mine or lease).
pub(super) struct PowerSite {
    pub(super) cluster: u64,
    pub(super) name: &'static str,
    pub(super) energized_kw: u64,
    pub(super) inputs: SiteInputs,
}

/// A horizontal bar of `value` against `max`, `width` cells at most.
fn bar(value: u128, max: u128, width: u128) -> String {
    let cells = if max == 0 { 0 } else { (value * width).div_ceil(max) };
    "█".repeat(usize::try_from(cells.min(width)).unwrap_or(0))
}

/// The live summary.
pub(super) struct Board<'a> {
    pub(super) index: Index,
    pub(super) sites: &'a [DemoCluster; 2],
    pub(super) investors: &'a [Investor; 3],
    pub(super) names: &'a [&'static str; 3],
    pub(super) epoch_seconds: u32,
    pub(super) power: Option<PowerSite>,
}

impl Board<'_> {
    /// Prints the board after lease epoch `epoch` of `epochs`.
    pub(super) fn print(&self, epoch: u64, epochs: u64) -> Result<()> {
        println!(
            "\n\x1b[1m── lease epoch {epoch} of {epochs} ─────────────────────────────────────────────────────────────────\x1b[0m"
        );
        println!(
            "  {:<26} {:>8} {:>8} {:>6} {:>9} {:>13} {:>9} {:>12}  utilization by epoch",
            "cluster", "util", "avail", "PUE", "Wh/GPU-h", "rent settled", "USD/kWh", "quote/GPU-h"
        );
        for site in self.sites {
            let Some(c) = self.index.cluster(site.id)? else { continue };
            let reports = self.index.reports(site.id, 0, 1_000)?;
            let history: Vec<u64> = reports.iter().map(|r| r.efficiency.utilization_bps).collect();
            let latest = c.latest_report.as_ref().map(|r| r.efficiency).unwrap_or_default();
            let per_kwh = c.revenue_per_kwh().map_or("-".into(), usd);
            // The quote for a new lease, against the owner's reference (▲ above, ▼ below).
            let quote = self.index.quote(site.id)?.map_or("-".into(), |q| {
                let arrow = match q.quote.cmp(&q.reference_price) {
                    std::cmp::Ordering::Greater => "▲",
                    std::cmp::Ordering::Less => "▼",
                    std::cmp::Ordering::Equal => " ",
                };
                format!("{} {arrow}", usd(q.quote))
            });
            println!(
                "  {:<26} {:>8} {:>8} {:>6} {:>9} {:>13} {:>9} {:>12}  {}",
                format!("{} {}×H100 {}", c.id, site.gpus, site.name),
                pct(latest.utilization_bps),
                pct(latest.availability_bps),
                latest.pue_milli.map_or("-".into(), |p| format!(
                    "{}.{:02}",
                    p / 1000,
                    (p % 1000) / 10
                )),
                latest.wh_per_gpu_hour.map_or("-".into(), |w| w.to_string()),
                usd(c.rent_settled),
                per_kwh,
                quote,
                sparkline(&history),
            );
        }
        if let Some(site) = &self.power {
            self.print_power(site)?;
        }
        println!(
            "  {:<8} {:>12} {:>11} {:>11} {:>10} {:>10} {:>9} {:>13}",
            "investor",
            "shares A / B",
            "claimable",
            "claimed",
            "cost",
            "paid back",
            "return*",
            "realized APR†"
        );
        for (investor, name) in self.investors.iter().zip(self.names) {
            let positions = self.index.positions(investor.client().address())?;
            let held = |lease: U256| {
                positions
                    .iter()
                    .find(|p| p.position.lease_id == lease)
                    .map_or(U256::ZERO, |p| p.position.shares)
            };
            let (mut earned, mut cost, mut cost_to_date, mut epochs) =
                (U256::ZERO, U256::ZERO, U256::ZERO, 0u64);
            for p in &positions {
                let Some(lease) = self.index.lease(p.position.lease_id)? else { continue };
                let settled = lease.next_epoch - lease.start_epoch;
                earned += p.claimable + p.position.claimed + p.position.proceeds;
                cost += p.position.cost;
                // The part of the price the epochs settled so far stand for.
                cost_to_date += p.position.cost * U256::from(settled)
                    / U256::from(lease.end_epoch - lease.start_epoch);
                epochs = epochs.max(settled);
            }
            let bps = |n: U256, d: U256| {
                if d.is_zero() {
                    0
                } else {
                    i128::try_from(n * U256::from(10_000) / d).unwrap_or(i128::MAX)
                }
            };
            let paid_back = bps(earned, cost);
            let return_to_date = bps(earned, cost_to_date) - 10_000;
            let apr = return_to_date * 365 / i128::from(epochs.max(1));
            println!(
                "  {:<8} {:>12} {:>11} {:>11} {:>10} {:>10} {:>9} {:>13}",
                name,
                format!("{} / {}", held(self.sites[0].lease), held(self.sites[1].lease)),
                usd(positions.iter().map(|p| p.claimable).sum()),
                usd(positions.iter().map(|p| p.position.claimed).sum()),
                usd(cost),
                signed_pct(paid_back),
                if cost_to_date.is_zero() { "-".into() } else { signed_pct(return_to_date) },
                if cost_to_date.is_zero() { "-".into() } else { signed_pct(apr) },
            );
        }
        println!(
            "  * rent earned (claimed + claimable) and share sales against the part of the price the settled epochs stand for\n  \
             † that return annualized as if each {}-second demo epoch were a day",
            self.epoch_seconds
        );
        let leases: Vec<U256> = self.sites.iter().map(|s| s.lease).collect();
        // (the Texas powered shell's settlements are summarized by its site above)
        super::trading::print_books(&self.index, &leases)?;
        for site in self.sites {
            if let Some(last) = self.index.settlements(site.lease)?.last() {
                let note = if last.missed {
                    "  ← missed: no report by the deadline, full SLA credit and holders' rent from the bond"
                } else if last.outcome == "unproven" {
                    "  ← unproven: the report left the lease out, full SLA credit and holders' rent from the bond"
                } else if !last.sla_credit.is_zero() {
                    "  ← below the SLA: credit from the bond"
                } else {
                    ""
                };
                let compensation = if last.compensation.is_zero() {
                    String::new()
                } else {
                    format!(", holders' compensation {} USD", usd(last.compensation))
                };
                println!(
                    "  lease {} epoch {}: {} GPU-seconds, rent {} USD{compensation}, credit {} USD{note}",
                    last.lease_id,
                    last.epoch,
                    last.delivered,
                    usd(last.rent),
                    usd(last.sla_credit)
                );
            }
        }
        Ok(())
    }

    /// Mine or lease: what each use of the site's megawatts earned per MW-hour, as bars.
    fn print_power(&self, site: &PowerSite) -> Result<()> {
        let Some(cluster) = self.index.cluster(site.cluster)? else { return Ok(()) };
        let decimals = site.inputs.energy_price_per_kwh.decimals();
        let history = crate::index::site_history(&cluster, site.energized_kw, decimals);
        let e = megawatt_economics(&history, &site.inputs);
        let p = &cluster.power;
        println!(
            "  mine or lease at {} (cluster {}): {} MW energized, {} MW leased as powered shells ({}), demand-response events settled: {}",
            site.name,
            site.cluster,
            site.energized_kw / 1_000,
            p.shell_kw_leased / 1_000,
            pct(e.occupancy_bps),
            p.curtailments_settled,
        );
        let base = |a: &Amount| u128::try_from(a.base()).unwrap_or(u128::MAX);
        let rows = [
            ("powered shell (rent; energy passed through)", e.shell_per_mwh),
            ("GPU leases (rent less energy)", e.gpu_per_mwh),
            ("mining (hashprice less energy)", Some(e.mining_per_mwh)),
            ("demand response (per committed MWh, on top)", e.demand_response_per_mwh),
        ];
        let max = rows.iter().filter_map(|(_, v)| v.as_ref().map(base)).max().unwrap_or(0);
        for (name, value) in rows {
            let shown = value.as_ref().map_or("-".to_string(), |v| {
                let cent = 10u128.pow(u32::from(decimals.saturating_sub(2)));
                let cents = base(v) / cent;
                format!("{}.{:02}", cents / 100, cents % 100)
            });
            let cells = value.as_ref().map_or(String::new(), |v| bar(base(v), max, 30));
            println!("    {name:<44} {shown:>9} USD/MWh {cells}");
        }
        let best = match e.best_use {
            MegawattUse::PoweredShell => "lease it as a powered shell",
            MegawattUse::Gpu => "lease GPUs on it",
            MegawattUse::Mining => "mine on it",
        };
        println!(
            "    at {} USD per PH/s-day, {} J/TH and {} USD per kWh, the next megawatt pays most if you {best}",
            site.inputs.hashprice_per_ph_day,
            site.inputs.fleet_j_per_th,
            site.inputs.energy_price_per_kwh
        );
        Ok(())
    }
}
