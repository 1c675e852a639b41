//! Demand response in the index, from the `DemandResponse` contract's events: each site's
//! enrollments and curtailment events (dispatched, acknowledged, contested, declined, settled),
//! and the site's running totals of payouts and penalties, written with the range that emitted
//! them (and undone with it).

use alloy::primitives::U256;
use compute_ledger_sdk::{
    Amount, LedgerLog, SiteHistory, bindings::DemandResponse::DemandResponseEvents as D,
};

use super::{
    apply::Changes,
    model::{ClusterRow, CurtailmentRow, EnrollmentRow},
    store::{Index, cluster_key, decode},
};
use crate::Result;

pub(super) fn enrollment_key(id: U256) -> String {
    format!("dr-enroll/{id:064x}")
}

pub(super) fn curtailment_key(id: U256) -> String {
    format!("dr-event/{id:064x}")
}

/// Secondary key listing a site's events in id order.
fn site_prefix(cluster: u64) -> String {
    format!("dr-site/{cluster:016x}/")
}

pub(super) fn apply(ch: &mut Changes<'_>, log: &LedgerLog, event: &D) -> Result<()> {
    match event {
        D::SiteEnrolled(e) => ch.put(
            enrollment_key(e.enrollmentId),
            EnrollmentRow {
                id: e.enrollmentId,
                program_id: e.programId,
                cluster_id: e.clusterId,
                committed_kw: e.committedKw,
                payee: e.payee,
            },
        ),
        D::CurtailmentDispatched(e) => {
            let enrollment: EnrollmentRow = ch.need(&enrollment_key(e.enrollmentId))?;
            let cluster = enrollment.cluster_id;
            ch.put(
                curtailment_key(e.eventId),
                CurtailmentRow {
                    id: e.eventId,
                    enrollment_id: e.enrollmentId,
                    cluster_id: cluster,
                    start: e.start,
                    end: e.end,
                    report_epoch: e.reportEpoch,
                    committed_wh: e.committedWh.saturating_to(),
                    status: "dispatched".into(),
                    acknowledged: false,
                    curtailed_wh: None,
                    payout: U256::ZERO,
                    penalty: U256::ZERO,
                    block: log.block_number,
                },
            );
            ch.put_plain(format!("{}{:064x}", site_prefix(cluster), e.eventId), Vec::new());
            ch.update(cluster_key(cluster), |c: &mut ClusterRow| c.power.curtailment_events += 1)?;
        }
        D::CurtailmentAcknowledged(e) => event_status(ch, e.eventId, "acknowledged", true)?,
        D::CurtailmentReceiptProven(e) => {
            ch.update(curtailment_key(e.eventId), |r: &mut CurtailmentRow| r.acknowledged = true)?;
        }
        D::CurtailmentContested(e) => event_status(ch, e.eventId, "contested", false)?,
        D::CurtailmentDeclined(e) => event_status(ch, e.eventId, "declined", false)?,
        D::CurtailmentSettled(e) => {
            let row = ch.update(curtailment_key(e.eventId), |r: &mut CurtailmentRow| {
                r.status = "settled".into();
                // Unattested and unacknowledged: the site never had the event; nothing is owed.
                r.curtailed_wh = e.attested.then(|| e.curtailedWh.saturating_to());
                r.payout = e.payout;
                r.penalty = e.penalty;
            })?;
            ch.update(cluster_key(row.cluster_id), |c: &mut ClusterRow| {
                let p = &mut c.power;
                p.curtailments_settled += 1;
                if e.attested {
                    p.committed_wh_settled += row.committed_wh;
                    p.curtailed_wh += row.curtailed_wh.unwrap_or_default();
                }
                p.demand_response_paid += e.payout;
                p.demand_response_penalties += e.penalty;
            })?;
        }
        // Program funding and bonds move the contract's own balances, which wallets read there.
        _ => {}
    }
    Ok(())
}

/// What a site's settled history says for [`compute_ledger_sdk::megawatt_economics`], with the
/// owner's `energized_kw` and amounts in a stablecoin of `decimals`. GPU rent is the rent the
/// powered shells did not earn; its energy is the facility's less what the shells' sub-meters
/// counted (their tenants pay for it) — exact on a site without miners beside its GPUs.
pub fn site_history(cluster: &ClusterRow, energized_kw: u64, decimals: u8) -> SiteHistory {
    let p = &cluster.power;
    let money = |base: U256| Amount::from_base(base, decimals);
    let gpu_rent = cluster.rent_settled.saturating_sub(p.shell_rent_settled);
    let gpu_facility_wh = if gpu_rent.is_zero() {
        0
    } else {
        cluster.total_facility_energy_wh.saturating_sub(p.shell_energy_wh)
    };
    SiteHistory {
        energized_kw,
        shell_kw_leased: p.shell_kw_leased,
        shell_rent: money(p.shell_rent_settled),
        shell_kw_seconds_settled: p.shell_kw_seconds_settled,
        gpu_rent: money(gpu_rent),
        gpu_facility_wh,
        demand_response_paid: money(p.demand_response_paid),
        demand_response_wh_committed: p.committed_wh_settled,
    }
}

fn event_status(ch: &mut Changes<'_>, id: U256, status: &str, acknowledged: bool) -> Result<()> {
    ch.update(curtailment_key(id), |r: &mut CurtailmentRow| {
        // A settled event stays settled (a late receipt changes nothing).
        if r.status != "settled" {
            r.status = status.into();
        }
        r.acknowledged |= acknowledged;
    })?;
    Ok(())
}

impl Index {
    /// A site's demand-response events after event `after` (from the first when `None`), in id
    /// order, at most `limit`.
    pub fn curtailments(
        &self,
        cluster: u64,
        after: Option<U256>,
        limit: usize,
    ) -> Result<Vec<CurtailmentRow>> {
        let after = after.map(|id| format!("{id:064x}"));
        let prefix = site_prefix(cluster);
        let mut rows = Vec::new();
        for (key, _) in self.page_after(&prefix, after.as_deref(), limit)? {
            let id = &key[prefix.len()..];
            let event_key = format!("dr-event/{id}");
            let bytes = self.raw(&event_key)?.ok_or_else(|| crate::NodeError::Corrupt {
                key: key.clone(),
                reason: "a site's event key without its event; re-index".into(),
            })?;
            rows.push(decode(&event_key, &bytes)?);
        }
        Ok(rows)
    }

    /// One demand-response event.
    pub fn curtailment(&self, id: U256) -> Result<Option<CurtailmentRow>> {
        self.get(&curtailment_key(id))
    }
}
