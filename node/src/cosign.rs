//! Co-signing between attestor nodes (M-of-N).
//!
//! Each node of a cluster's attestor set (owner, tenant, auditor) runs the oracle on the same
//! telemetry, so each builds the identical report and signs it. A node keeps the reports it is
//! trying to get on chain in a [`Cosigning`] book, serves them with every signature it holds over
//! `oracle_signedReport`, and asks the peers its config names for theirs. It keeps a peer's
//! signature only when it recovers, over this node's own report digest, to an attestor of the set
//! that applies to that epoch; a peer that built a different report is logged with the fields that
//! differ and counted in `/metrics` and `ledger_syncStatus`, and its signature is never combined.
//! Whoever holds the threshold first submits; the others then find the report on chain.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use alloy::{
    primitives::{Address, Bytes},
    sol_types::Eip712Domain,
};
use compute_ledger_oracle::SignedReport;
use compute_ledger_types::{UsageReport, recover_signer};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use serde::Serialize;
use serde_json::{Value, json};

/// How long a peer may take to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read from a peer (a report with a few dozen signatures is ~10 KiB).
const MAX_PEER_ANSWER: usize = 256 * 1024;

/// The `oracle_` namespace that co-signers call on each other.
#[rpc(server, namespace = "oracle")]
pub trait OracleApi {
    /// The report this node built for (cluster, epoch) with every attestor signature it holds, or
    /// `null` when it has none (not finalized yet, or long settled).
    #[method(name = "signedReport")]
    fn signed_report(&self, cluster_id: u64, epoch: u64) -> RpcResult<Option<SignedReport>>;
}

/// One field on which a peer's report differs from ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDifference {
    /// The report field.
    pub field: &'static str,
    /// Our value.
    pub ours: String,
    /// The peer's value.
    pub theirs: String,
}

/// The fields on which two reports differ (empty when they are identical).
pub fn report_differences(ours: &UsageReport, theirs: &UsageReport) -> Vec<FieldDifference> {
    let mut differences = Vec::new();
    macro_rules! compare {
        ($($field:ident),*) => {$(
            if ours.$field != theirs.$field {
                differences.push(FieldDifference {
                    field: stringify!($field),
                    ours: ours.$field.to_string(),
                    theirs: theirs.$field.to_string(),
                });
            }
        )*};
    }
    compare!(
        clusterId,
        epoch,
        gpusInstalled,
        gpusHealthy,
        gpuSecondsAvailable,
        gpuSecondsBusy,
        itEnergyWh,
        facilityEnergyWh,
        deliveriesRoot,
        telemetryRoot
    );
    differences
}

/// A peer whose report differs from ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mismatch {
    /// The epoch.
    pub epoch: u64,
    /// The peer's URL.
    pub peer: String,
    /// What differs.
    pub fields: Vec<FieldDifference>,
}

/// What a node knows about one peer of one cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerStatus {
    /// Whether the last request was answered.
    pub reachable: bool,
    /// The last error talking to it, if the last request failed.
    pub last_error: Option<String>,
    /// Signatures taken from it since start.
    pub signatures_taken: u64,
    /// Reports of it that differed from ours since start.
    pub mismatches: u64,
}

/// The state of one cluster's oracle on this node: its sampler and its co-signing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OracleStatus {
    /// `running`, or why the sampler is restarting.
    pub sampler: String,
    /// Epochs finalized here and not yet on chain, with the signatures held and needed.
    pub pending: Vec<PendingEpoch>,
    /// Last epoch whose report this node saw accepted on chain.
    pub last_on_chain: Option<u64>,
    /// Epochs whose reporting window closed before a report was accepted (they settle as missed).
    pub missed: Vec<u64>,
    /// Peers by URL.
    pub peers: BTreeMap<String, PeerStatus>,
    /// Peer reports that differed from ours since start.
    pub mismatches: u64,
    /// The most recent of them.
    pub last_mismatch: Option<Mismatch>,
}

/// An epoch waiting for signatures or for its submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingEpoch {
    /// The epoch.
    pub epoch: u64,
    /// Valid attestor signatures held.
    pub signatures: usize,
    /// Signatures the set needs.
    pub threshold: u8,
    /// Why it is not on chain yet.
    pub waiting_for: String,
}

/// Most missed epochs remembered per cluster in the status.
const MISSED_SHOWN: usize = 32;

/// The reports this node is getting on chain (served to co-signers) and the co-signing status.
#[derive(Debug, Default)]
pub struct Cosigning {
    reports: Mutex<BTreeMap<(u64, u64), SignedReport>>,
    status: Mutex<BTreeMap<u64, OracleStatus>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cosigning {
    /// Offers `signed` to co-signers (replacing what was held for its epoch).
    pub fn offer(&self, signed: SignedReport) {
        let key = (signed.report.clusterId, signed.report.epoch);
        lock(&self.reports).insert(key, signed);
    }

    /// The report held for (cluster, epoch) with its signatures.
    pub fn get(&self, cluster_id: u64, epoch: u64) -> Option<SignedReport> {
        lock(&self.reports).get(&(cluster_id, epoch)).cloned()
    }

    /// Adds verified signatures to the held report of (cluster, epoch).
    pub fn add_signatures(&self, cluster_id: u64, epoch: u64, signatures: &[(Address, Bytes)]) {
        if let Some(held) = lock(&self.reports).get_mut(&(cluster_id, epoch)) {
            held.signatures.extend(signatures.iter().cloned());
        }
    }

    /// Stops offering (cluster, epoch): its reporting window is closed.
    pub fn forget(&self, cluster_id: u64, epoch: u64) {
        lock(&self.reports).remove(&(cluster_id, epoch));
    }

    /// Updates one cluster's status.
    pub fn update(&self, cluster_id: u64, change: impl FnOnce(&mut OracleStatus)) {
        change(lock(&self.status).entry(cluster_id).or_default());
    }

    /// Records that a peer's report for `epoch` differs from ours.
    pub fn record_mismatch(&self, cluster_id: u64, mismatch: Mismatch) {
        self.update(cluster_id, |status| {
            status.mismatches += 1;
            status.peers.entry(mismatch.peer.clone()).or_default().mismatches += 1;
            status.last_mismatch = Some(mismatch);
        });
    }

    /// Records an epoch whose window closed without a report.
    pub fn record_missed(&self, cluster_id: u64, epoch: u64) {
        self.update(cluster_id, |status| {
            status.missed.push(epoch);
            let excess = status.missed.len().saturating_sub(MISSED_SHOWN);
            status.missed.drain(..excess);
        });
    }

    /// Every cluster's status, for `ledger_syncStatus`.
    pub fn status(&self) -> BTreeMap<u64, OracleStatus> {
        lock(&self.status).clone()
    }

    /// The status as JSON (`{"<cluster>": {...}}`).
    pub fn status_json(&self) -> Value {
        serde_json::to_value(self.status()).unwrap_or_else(|e| json!({ "error": e.to_string() }))
    }

    /// Prometheus lines: mismatches and peer reachability per cluster.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        let status = self.status();
        let mut section = |name: &str, help: &str, kind: &str, rows: Vec<(String, u64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        };
        let per_cluster = |value: fn(&OracleStatus) -> u64| {
            status.iter().map(|(c, s)| (format!("cluster=\"{c}\""), value(s))).collect()
        };
        section(
            "ledger_cosign_mismatches_total",
            "Co-signer reports that differed from this node's since start.",
            "counter",
            per_cluster(|s| s.mismatches),
        );
        section(
            "ledger_cosign_pending_epochs",
            "Finalized epochs not yet on chain.",
            "gauge",
            per_cluster(|s| s.pending.len() as u64),
        );
        let peers = status
            .iter()
            .flat_map(|(c, s)| {
                s.peers.iter().map(move |(url, p)| {
                    (format!("cluster=\"{c}\",peer=\"{url}\""), u64::from(p.reachable))
                })
            })
            .collect();
        section(
            "ledger_cosign_peer_up",
            "Whether the co-signer answered the last request.",
            "gauge",
            peers,
        );
        out
    }
}

/// Serves [`OracleApi`] from a [`Cosigning`] book.
#[derive(Debug)]
pub struct OracleRpc(pub std::sync::Arc<Cosigning>);

impl OracleApiServer for OracleRpc {
    fn signed_report(&self, cluster_id: u64, epoch: u64) -> RpcResult<Option<SignedReport>> {
        Ok(self.0.get(cluster_id, epoch))
    }
}

/// A co-signer's node, reached over its JSON-RPC URL.
#[derive(Debug, Clone)]
pub struct Peer {
    url: String,
    http: reqwest::Client,
}

impl Peer {
    /// A peer at `url` (its wallet/oracle JSON-RPC endpoint).
    pub fn new(url: String) -> crate::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(PEER_TIMEOUT)
            .build()
            .map_err(|e| crate::NodeError::Server(format!("HTTP client: {e}")))?;
        Ok(Self { url, http })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The peer's signed report for (cluster, epoch); `Ok(None)` when it has none.
    pub async fn signed_report(
        &self,
        cluster_id: u64,
        epoch: u64,
    ) -> Result<Option<SignedReport>, String> {
        let request = json!({
            "jsonrpc": "2.0", "id": 1, "method": "oracle_signedReport", "params": [cluster_id, epoch]
        });
        let response =
            self.http.post(&self.url).json(&request).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_PEER_ANSWER {
            return Err(format!("answer of {} bytes is too large", body.len()));
        }
        let mut answer: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        if let Some(error) = answer.get("error") {
            return Err(format!("JSON-RPC error {error}"));
        }
        serde_json::from_value(answer["result"].take()).map_err(|e| format!("bad answer: {e}"))
    }
}

/// What checking a peer's answer against our report gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Signatures over our digest that recover to the signer they are filed under (whether each
    /// signer is an attestor is asked of the chain next).
    Signatures(Vec<(Address, Bytes)>),
    /// The peer built a different report.
    Differs(Vec<FieldDifference>),
}

/// Checks a peer's answer: the same report as ours, and which of its signatures are genuine
/// (recover, over our digest, to the address they are filed under). Forged or misfiled signatures
/// are dropped with a warning.
pub fn check_answer(ours: &SignedReport, theirs: SignedReport, domain: &Eip712Domain) -> Checked {
    if theirs.report != ours.report {
        return Checked::Differs(report_differences(&ours.report, &theirs.report));
    }
    let digest = ours.report.signing_hash(domain);
    let genuine = theirs
        .signatures
        .into_iter()
        .filter(|(signer, _)| !ours.signatures.contains_key(signer))
        .filter(|(claimed, signature)| match recover_signer(digest, signature) {
            Ok(recovered) if recovered == *claimed => true,
            Ok(recovered) => {
                tracing::warn!(%claimed, %recovered, "co-signer sent a signature filed under the wrong signer; dropped");
                false
            }
            Err(e) => {
                tracing::warn!(%claimed, "co-signer sent an unreadable signature ({e}); dropped");
                false
            }
        })
        .collect();
    Checked::Signatures(genuine)
}

/// Attestor membership answers, cached per (epoch, account): the set of a past epoch never
/// changes, so each is asked of the chain once.
#[derive(Debug, Default)]
pub struct AttestorCache {
    answers: HashMap<(u64, Address), (bool, u8)>,
}

impl AttestorCache {
    /// The cached answer for (epoch, account).
    pub fn get(&self, epoch: u64, account: Address) -> Option<(bool, u8)> {
        self.answers.get(&(epoch, account)).copied()
    }

    /// Caches an answer.
    pub fn put(&mut self, epoch: u64, account: Address, answer: (bool, u8)) {
        self.answers.insert((epoch, account), answer);
    }

    /// Drops answers of epochs before `epoch` (bounded memory).
    pub fn forget_before(&mut self, epoch: u64) {
        self.answers.retain(|(e, _), _| *e >= epoch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{primitives::address, signers::local::PrivateKeySigner};
    use compute_ledger_types::report_domain;

    fn report() -> UsageReport {
        UsageReport {
            clusterId: 1,
            epoch: 9,
            gpusInstalled: 8,
            gpusHealthy: 8,
            ..Default::default()
        }
    }

    #[test]
    fn a_peer_signature_is_kept_only_over_our_exact_report_and_by_its_signer() {
        let domain = report_domain(31_337, address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"));
        let (owner, tenant, liar) =
            (PrivateKeySigner::random(), PrivateKeySigner::random(), PrivateKeySigner::random());
        let mut ours = SignedReport::new(report());
        ours.sign(&owner, &domain).expect("sign");

        let mut same = SignedReport::new(report());
        same.sign(&tenant, &domain).expect("sign");
        same.sign(&owner, &domain).expect("sign");
        let Checked::Signatures(kept) = check_answer(&ours, same, &domain) else {
            panic!("same report")
        };
        assert_eq!(kept.len(), 1, "our own signature is not taken again");
        assert_eq!(kept[0].0, tenant.address());

        // A signature filed under someone else's address is dropped.
        let mut misfiled = SignedReport::new(report());
        misfiled.sign(&liar, &domain).expect("sign");
        let signature = misfiled.signatures.remove(&liar.address()).expect("signed");
        misfiled.signatures.insert(tenant.address(), signature);
        assert_eq!(check_answer(&ours, misfiled, &domain), Checked::Signatures(vec![]));

        // A different report is never combined; the differing fields are named.
        let mut other = SignedReport::new(UsageReport { gpusHealthy: 7, ..report() });
        other.sign(&tenant, &domain).expect("sign");
        let Checked::Differs(fields) = check_answer(&ours, other, &domain) else {
            panic!("different report")
        };
        assert_eq!(
            fields,
            vec![FieldDifference { field: "gpusHealthy", ours: "8".into(), theirs: "7".into() }]
        );
    }

    #[test]
    fn status_renders_as_metrics_and_keeps_missed_bounded() {
        let book = Cosigning::default();
        book.record_mismatch(
            4,
            Mismatch { epoch: 2, peer: "http://peer".into(), fields: Vec::new() },
        );
        book.update(4, |s| s.peers.entry("http://peer".into()).or_default().reachable = true);
        for epoch in 0..100 {
            book.record_missed(4, epoch);
        }
        let text = book.render_metrics();
        assert!(text.contains("ledger_cosign_mismatches_total{cluster=\"4\"} 1"), "{text}");
        assert!(text.contains("ledger_cosign_peer_up{cluster=\"4\",peer=\"http://peer\"} 1"));
        let status = book.status();
        assert_eq!(status[&4].missed.len(), MISSED_SHOWN);
        assert_eq!(status[&4].missed.last(), Some(&99));
    }
}
