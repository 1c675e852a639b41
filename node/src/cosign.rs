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
use compute_ledger_types::{UsageReport, encode_signature, recover_signer};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use serde::Serialize;
use serde_json::{Value, json};

/// How long a peer may take to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read from a peer (a report with 16 signatures is about 3 KiB).
const MAX_PEER_ANSWER: usize = 64 * 1024;
/// Most attestors a set has (the registry's limit): an answer with more signers is refused
/// before any is recovered or asked about on chain.
pub const MAX_ATTESTORS: usize = 16;
/// Longest error text kept in the status per peer.
const MAX_ERROR_TEXT: usize = 200;

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

/// `url` without credentials (`user:pass@`), for logs, labels and status.
pub fn display_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_string(),
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// An error text cut to a length fit for a status page.
pub fn short_error(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
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
    /// Peer (or on-chain) reports that differed from ours since start.
    pub mismatches: u64,
    /// The most recent of them (peer `chain`: the report accepted on chain is not ours).
    pub last_mismatch: Option<Mismatch>,
    /// The last round's error (an unreachable RPC, a refused submission), if it failed.
    pub last_error: Option<String>,
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

    /// Peers of `cluster_id` that answered their last request.
    pub fn reachable_peers(&self, cluster_id: u64) -> usize {
        lock(&self.status)
            .get(&cluster_id)
            .map_or(0, |s| s.peers.values().filter(|p| p.reachable).count())
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
                    (format!("cluster=\"{c}\",peer=\"{}\"", label(url)), u64::from(p.reachable))
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

/// Serves the `oracle_` namespace ([`OracleApiServer`]) from a [`Cosigning`] book.
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
    shown: String,
    http: reqwest::Client,
}

impl Peer {
    /// A peer at `url` (its wallet/oracle JSON-RPC endpoint).
    pub fn new(url: String) -> crate::Result<Self> {
        // No redirects: a peer must not point our requests at other hosts.
        let http = reqwest::Client::builder()
            .timeout(PEER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| crate::NodeError::Server(format!("HTTP client: {e}")))?;
        Ok(Self { shown: display_url(&url), url, http })
    }

    /// The URL as shown in logs, status and metrics (without credentials).
    pub fn shown(&self) -> &str {
        &self.shown
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
        let mut response = self
            .http
            .post(&self.url)
            .json(&request)
            .send()
            .await
            .map_err(|e| short_error(&e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let too_large = || format!("answer larger than {MAX_PEER_ANSWER} bytes");
        if response.content_length().is_some_and(|n| n > MAX_PEER_ANSWER as u64) {
            return Err(too_large());
        }
        // Read in chunks and stop at the limit: a peer cannot make us hold more.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| short_error(&e.to_string()))? {
            if body.len() + chunk.len() > MAX_PEER_ANSWER {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        if let Some(error) = answer.get("error") {
            return Err(short_error(&format!("JSON-RPC error {error}")));
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
    /// The answer is refused as a whole (more signers than a set can have).
    Refused(String),
}

/// The one form of a signature the registry takes (OpenZeppelin ECDSA: low `s`, `v` 27 or 28).
/// A high-`s` or `v` 0/1 encoding of the same signature recovers off chain but reverts the whole
/// `submitReport`: every signature is re-encoded before it is kept.
pub fn canonical_signature(signature: &[u8]) -> Option<Bytes> {
    let parsed = alloy::primitives::Signature::try_from(signature).ok()?;
    Some(encode_signature(&parsed.normalized_s()))
}

/// Checks a peer's answer: the same report as ours, at most [`MAX_ATTESTORS`] signers, and which
/// of its signatures are genuine (recover, over our digest, to the address they are filed under),
/// each re-encoded in the registry's canonical form. Forged or misfiled signatures are dropped
/// with a warning.
pub fn check_answer(ours: &SignedReport, theirs: SignedReport, domain: &Eip712Domain) -> Checked {
    if theirs.report != ours.report {
        return Checked::Differs(report_differences(&ours.report, &theirs.report));
    }
    if theirs.signatures.len() > MAX_ATTESTORS {
        return Checked::Refused(format!(
            "{} signatures, more than a set of {MAX_ATTESTORS} attestors can give",
            theirs.signatures.len()
        ));
    }
    let digest = ours.report.signing_hash(domain);
    let genuine = theirs
        .signatures
        .into_iter()
        .filter(|(signer, _)| !ours.signatures.contains_key(signer))
        .filter_map(|(claimed, signature)| {
            let canonical = canonical_signature(&signature);
            if canonical.is_none() {
                tracing::warn!(%claimed, "co-signer sent an unreadable signature; dropped");
            }
            Some((claimed, canonical?))
        })
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

    /// The registry (OpenZeppelin ECDSA) takes only low-s signatures with v = 27 or 28; alloy's
    /// recovery takes high-s and v = 0/1 too. A co-signer's genuine signature sent in such a form
    /// must never be combined as-is: one such entry makes `submitReport` revert for the whole set.
    #[test]
    fn a_malleable_form_of_a_genuine_signature_is_never_combined_as_is() {
        use alloy::primitives::{Signature, U256};
        let domain = report_domain(31_337, address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"));
        let (owner, tenant) = (PrivateKeySigner::random(), PrivateKeySigner::random());
        let mut ours = SignedReport::new(report());
        ours.sign(&owner, &domain).expect("sign");
        let mut honest = SignedReport::new(report());
        honest.sign(&tenant, &domain).expect("sign");
        let genuine = honest.signatures[&tenant.address()].clone();
        let parsed = Signature::try_from(genuine.as_ref()).expect("65 bytes");
        let order = U256::from_str_radix(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
            16,
        )
        .expect("n");
        let high_s = Signature::new(parsed.r(), order - parsed.s(), !parsed.v());
        let mut v_zero_one = genuine.to_vec();
        v_zero_one[64] -= 27;
        let canonical_high_s_v = Bytes::copy_from_slice(&high_s.as_bytes());
        for (form, bytes) in [("high-s", canonical_high_s_v), ("v = 0/1", Bytes::from(v_zero_one))]
        {
            let mut lying = SignedReport::new(report());
            lying.signatures.insert(tenant.address(), bytes.clone());
            let Checked::Signatures(kept) = check_answer(&ours, lying, &domain) else {
                panic!("same report")
            };
            for (_, signature) in &kept {
                let s = U256::from_be_slice(&signature[32..64]);
                assert!(
                    s <= order / U256::from(2) && (signature[64] == 27 || signature[64] == 28),
                    "{form}: kept a signature the registry rejects (ECDSAInvalidSignature[S]); \
                     submitReport reverts with it for every epoch"
                );
            }
        }
    }

    /// The registry's sets have at most 16 members: an answer can't hold more attestor
    /// signatures. Every extra signer costs an `isAttestor` call to the chain RPC and a cache
    /// entry, every round, for every pending epoch.
    #[test]
    fn an_answer_with_more_signers_than_a_set_is_refused() {
        let domain = report_domain(31_337, address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"));
        let owner = PrivateKeySigner::random();
        let mut ours = SignedReport::new(report());
        ours.sign(&owner, &domain).expect("sign");
        let mut flood = SignedReport::new(report());
        for _ in 0..200 {
            flood.sign(&PrivateKeySigner::random(), &domain).expect("sign");
        }
        // ~200 * 200 bytes of JSON: within MAX_PEER_ANSWER.
        assert!(serde_json::to_vec(&flood).expect("json").len() < MAX_PEER_ANSWER);
        // Refused whole, before any signer is recovered or asked about on chain.
        let checked = check_answer(&ours, flood, &domain);
        assert!(matches!(checked, Checked::Refused(_)), "{checked:?}");
    }

    /// Peer URLs go into Prometheus labels unescaped; the config only checks the `http` prefix.
    #[test]
    fn peer_urls_are_escaped_in_metric_labels() {
        let book = Cosigning::default();
        let url = "http://peer/\"} 1\nledger_fake 1\n#";
        book.update(4, |s| s.peers.entry(url.into()).or_default().reachable = true);
        let text = book.render_metrics();
        assert!(!text.lines().any(|l| l.starts_with("ledger_fake")), "{text}");
    }

    /// A peer's answer must be cut off at MAX_PEER_ANSWER while it is read, not after the whole
    /// body is in memory: here the peer offers 64 MiB and the node reads every byte of it.
    #[tokio::test]
    async fn a_huge_answer_is_not_read_into_memory() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        const HUGE: usize = 64 * 1024 * 1024;
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = vec![0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {HUGE}\r\n\r\n"
            );
            socket.write_all(head.as_bytes()).await.expect("head");
            let chunk = vec![b' '; 1024 * 1024];
            let mut written = 0;
            while written < HUGE {
                if socket.write_all(&chunk).await.is_err() {
                    break; // the node hung up: it stopped reading
                }
                written += chunk.len();
            }
            written
        });
        let peer = Peer::new(format!("http://{addr}")).expect("peer");
        let answer = peer.signed_report(1, 9).await;
        assert!(answer.is_err(), "{answer:?}");
        let written = server.await.expect("server");
        assert!(
            written < HUGE,
            "the node read all {written} bytes of an answer limited to {MAX_PEER_ANSWER}"
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
