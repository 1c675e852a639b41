//! The site's VEN: polls the grid's VTN for the events targeted at its cluster, checks each
//! against the chain, sheds the flexible load, and acknowledges on chain.
//!
//! An event is accepted only when the on-chain event it names exists, belongs to this cluster,
//! has exactly the VTN's window, is not settled and has not started: a VTN that publishes a wrong
//! window or another site's event cannot make this site owe a curtailment. The load is shed
//! before the acknowledgement is sent, so a site never owes a curtailment its load controller
//! refused. After the event's report, [`Ven::report`] posts the attested baseline and usage back
//! to the VTN.

use std::{collections::BTreeMap, collections::BTreeSet, path::PathBuf, time::Duration};

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use compute_ledger_oracle::{CurtailWindow, add_to_schedule};
use compute_ledger_sdk::Site;
use compute_ledger_types::CurtailmentLeaf;

use super::{
    client::{Event, Interval, Report, ReportResource, ValuesMap, VtnClient},
    parse_event_name, rfc3339, window_of,
};
use crate::{NodeError, Result, Shutdown, index::DeliveriesArchive};

/// How the site sheds its flexible load for an accepted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlexibleLoad {
    /// Append the window to this curtailment schedule (JSON), which the simulator's miners
    /// follow, and which a real fleet manager can follow too.
    Schedule(PathBuf),
    /// Run this program with `<event id> <start> <end>` (unix seconds): the site's own hook
    /// (a miner pool's API, PDU relays), which must shed the committed load over `[start, end)`
    /// and exit 0 once it has scheduled that.
    Hook(PathBuf),
    /// Shed nothing (for a site that acknowledges and fails to curtail; tests and drills).
    Nothing,
}

impl FlexibleLoad {
    async fn shed(&self, event_id: U256, start: u64, end: u64) -> Result<()> {
        match self {
            Self::Schedule(path) => {
                let window = CurtailWindow { event: event_id.to_string(), start, end };
                add_to_schedule(path, window).map_err(NodeError::from)
            }
            Self::Hook(program) => {
                let mut command = std::process::Command::new(program);
                command.args([event_id.to_string(), start.to_string(), end.to_string()]);
                let status = tokio::task::spawn_blocking(move || command.status())
                    .await
                    .map_err(|e| NodeError::OpenAdr(format!("curtailment hook task: {e}")))?
                    .map_err(|e| {
                        NodeError::OpenAdr(format!("curtailment hook {}: {e}", program.display()))
                    })?;
                if status.success() {
                    Ok(())
                } else {
                    Err(NodeError::OpenAdr(format!(
                        "curtailment hook {} failed ({status}); the event is not acknowledged",
                        program.display()
                    )))
                }
            }
            Self::Nothing => Ok(()),
        }
    }
}

/// An event the VEN accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedEvent {
    /// The on-chain event id.
    pub event_id: U256,
    /// The VTN's id of the same event (for the report).
    pub vtn_event_id: String,
    /// Window start (unix).
    pub start: u64,
    /// Window end (unix, exclusive).
    pub end: u64,
    /// The cluster epoch whose report attests it.
    pub report_epoch: u64,
    /// Whether its report was posted to the VTN.
    pub reported: bool,
}

/// The site's VEN for one cluster.
#[derive(Debug)]
pub struct Ven {
    vtn: VtnClient,
    site: Site,
    attestor: PrivateKeySigner,
    cluster_id: u64,
    load: FlexibleLoad,
    accepted: BTreeMap<U256, AcceptedEvent>,
    refused: BTreeSet<String>,
    archive: Option<DeliveriesArchive>,
}

impl Ven {
    /// A VEN polling `vtn` for `cluster_id`, acknowledging with `attestor` (a key of the cluster's
    /// attestor set) through `site` (whose client pays the gas), shedding with `load`.
    pub fn new(
        vtn: VtnClient,
        site: Site,
        attestor: PrivateKeySigner,
        cluster_id: u64,
        load: FlexibleLoad,
    ) -> Self {
        Self {
            vtn,
            site,
            attestor,
            cluster_id,
            load,
            accepted: BTreeMap::new(),
            refused: BTreeSet::new(),
            archive: None,
        }
    }

    /// Reports each accepted event's attested curtailment to the VTN once this node's oracle has
    /// archived the report that attests it (in [`run`](Self::run)).
    pub fn with_archive(mut self, archive: DeliveriesArchive) -> Self {
        self.archive = Some(archive);
        self
    }

    /// The events accepted so far.
    pub fn accepted(&self) -> impl Iterator<Item = &AcceptedEvent> {
        self.accepted.values()
    }

    /// One poll of the VTN: accepts each new event of this site's that the chain confirms;
    /// returns the on-chain ids accepted by this poll.
    pub async fn poll(&mut self) -> Result<Vec<U256>> {
        let deployment = self.site.client().deployment().clone();
        let mut newly = Vec::new();
        for event in self.vtn.events().await? {
            let Some((chain, contract, event_id)) =
                event.event_name.as_deref().and_then(parse_event_name)
            else {
                continue; // not one of the ledger's events
            };
            if chain != deployment.chain_id || Some(contract) != deployment.demand_response {
                continue; // another deployment's
            }
            if self.accepted.contains_key(&event_id) || self.refused.contains(&event.id) {
                continue;
            }
            // One event's failure (a hook, a transaction) must not hold back the others: it is
            // logged and tried again at the next poll.
            match self.consider(&event, event_id).await {
                Ok(true) => newly.push(event_id),
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    cluster = self.cluster_id,
                    event = %event_id,
                    "demand-response event not handled yet: {e}; trying again at the next poll"
                ),
            }
        }
        Ok(newly)
    }

    /// Accepts `event` (sheds, then acknowledges) if the chain confirms it; refuses it for good
    /// if the chain contradicts it. Returns whether it was accepted now.
    async fn consider(&mut self, event: &Event, event_id: U256) -> Result<bool> {
        match self.check(event, event_id).await? {
            Ok((start, end, acknowledged, report_epoch)) => {
                self.load.shed(event_id, start, end).await?;
                if !acknowledged {
                    self.site.acknowledge(event_id, &self.attestor).await?;
                }
                tracing::info!(
                    cluster = self.cluster_id,
                    event = %event_id,
                    start,
                    end,
                    "demand-response event accepted: load shed and acknowledged on chain"
                );
                let vtn_event_id = event.id.clone();
                let accepted = AcceptedEvent {
                    event_id,
                    vtn_event_id,
                    start,
                    end,
                    report_epoch,
                    reported: false,
                };
                self.accepted.insert(event_id, accepted);
                Ok(true)
            }
            Err(reason) => {
                tracing::warn!(
                    cluster = self.cluster_id,
                    vtn_event = %event.id,
                    event = %event_id,
                    "demand-response event refused: {reason}"
                );
                self.refused.insert(event.id.clone());
                Ok(false)
            }
        }
    }

    /// The event's window and whether it is acknowledged already, if this site should accept
    /// it, or why not (outer error: the chain or the VTN could not be asked, or the chain does
    /// not know the event yet; try again).
    async fn check(
        &self,
        event: &Event,
        event_id: U256,
    ) -> Result<std::result::Result<(u64, u64, bool, u64), String>> {
        let Some(period) = event.intervals.first().and_then(|i| i.interval_period.as_ref()) else {
            return Ok(Err("the VTN event has no interval period".into()));
        };
        let window = match window_of(period) {
            Ok(window) => window,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let info = match self.site.client().curtailment_event(event_id).await {
            Ok(info) => info,
            // `eventOf` reverts only for an event it does not know: maybe not yet (this node's
            // RPC may be a block behind the sponsor's), so it is asked again at the next poll.
            Err(e @ compute_ledger_sdk::SdkError::Contract(_)) => return Err(e.into()),
            Err(e) => return Err(e.into()),
        };
        let now = self.site.client().chain_time().await?;
        Ok(if info.cluster_id != self.cluster_id {
            Err(format!("on chain it is cluster {}'s", info.cluster_id))
        } else if (info.start, info.end) != window {
            Err(format!(
                "the VTN's window {window:?} is not the chain's {:?}",
                (info.start, info.end)
            ))
        } else if info.status == 4 {
            Err("already settled".into())
        } else if now >= info.start {
            // The contract takes a receipt only before the start (a site may not choose after
            // seeing its meter).
            Err("already started".into())
        } else {
            Ok((window.0, window.1, info.acknowledged, info.report_epoch))
        })
    }

    /// Posts the attested curtailment of an accepted event to the VTN (kWh of baseline and of
    /// usage over the window); returns false for an event this VEN did not accept or already
    /// reported.
    pub async fn report(&mut self, leaf: &CurtailmentLeaf) -> Result<bool> {
        let Some(event) = self.accepted.get(&leaf.event_id).filter(|e| !e.reported) else {
            return Ok(false);
        };
        let kwh = |wh: u64| serde_json::Value::from(wh as f64 / 1000.0);
        let period = super::client::IntervalPeriod {
            start: rfc3339(event.start),
            duration: Some(format!("PT{}S", event.end - event.start)),
        };
        let report = Report {
            event_id: event.vtn_event_id.clone(),
            client_name: self.vtn.client_id().to_owned(),
            report_name: Some(format!("curtailment-{}", leaf.event_id)),
            resources: vec![ReportResource {
                resource_name: "AGGREGATED_REPORT".into(),
                interval_period: Some(period),
                intervals: vec![Interval {
                    id: 0,
                    interval_period: None,
                    payloads: vec![
                        ValuesMap {
                            value_type: "BASELINE".into(),
                            values: vec![kwh(leaf.baseline_wh)],
                        },
                        ValuesMap { value_type: "USAGE".into(), values: vec![kwh(leaf.actual_wh)] },
                    ],
                }],
            }],
        };
        self.vtn.post_report(&report).await?;
        if let Some(event) = self.accepted.get_mut(&leaf.event_id) {
            event.reported = true;
        }
        Ok(true)
    }

    /// Posts the report of every accepted event whose curtailment leaf is archived and not
    /// reported yet; a failure is logged and tried again at the next poll. Returns how many
    /// were posted.
    pub async fn report_attested(&mut self) -> usize {
        let Some(archive) = self.archive.clone() else { return 0 };
        let mut posted = 0;
        let due: Vec<(U256, u64)> = self
            .accepted
            .values()
            .filter(|e| !e.reported)
            .map(|e| (e.event_id, e.report_epoch))
            .collect();
        for (event_id, epoch) in due {
            let leaf = match archive.tree(self.cluster_id, epoch) {
                Ok(tree) => tree.and_then(|t| t.curtailment(event_id).copied()),
                Err(e) => {
                    tracing::warn!(event = %event_id, "reading the deliveries archive: {e}");
                    continue;
                }
            };
            let Some(leaf) = leaf else { continue };
            match self.report(&leaf).await {
                Ok(_) => {
                    posted += 1;
                    tracing::info!(
                        cluster = self.cluster_id,
                        event = %event_id,
                        baseline_wh = leaf.baseline_wh,
                        actual_wh = leaf.actual_wh,
                        "curtailment reported to the VTN"
                    );
                }
                Err(e) => tracing::warn!(
                    event = %event_id,
                    "curtailment not reported to the VTN yet: {e}; trying again at the next poll"
                ),
            }
        }
        posted
    }

    /// Polls every `every` until shutdown; a VTN or chain failure is logged and retried with
    /// backoff (no event is acknowledged while either is unreachable).
    pub async fn run(mut self, every: Duration, shutdown: Shutdown) -> Result<()> {
        let what = format!("VEN of cluster {}", self.cluster_id);
        let mut pacer = super::Pacer::new(every, &shutdown);
        loop {
            let polled = self.poll().await.map(drop);
            self.report_attested().await;
            if pacer.after(&what, polled).await {
                return Ok(());
            }
        }
    }
}
