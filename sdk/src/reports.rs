//! Submitting usage reports signed by the oracle's attestors, and reading accepted ones.

use alloy::{
    dyn_abi::Eip712Domain,
    primitives::{B256, Bytes},
    sol_types::SolValue,
};
use compute_ledger_types::{UsageReport, report_domain};

use crate::{Client, Result, bindings::ClusterRegistry, tx::transact};

/// An accepted report's on-chain record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedReport {
    /// Root of the (lease, epoch, delivered) tree that settlement proves against.
    pub deliveries_root: B256,
    /// When the registry accepted it (unix seconds); the challenge window runs from here.
    pub submitted_at: u64,
}

/// The reporting role: anyone may relay a report its attestors signed.
#[derive(Debug, Clone)]
pub struct Reports {
    client: Client,
}

impl Reports {
    /// The reporting role for `client`'s signer (who pays the gas; it need not be an attestor).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The client that relays (and reads the chain).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The EIP-712 domain attestors sign reports under for this deployment.
    pub fn domain(&self) -> Eip712Domain {
        let deployment = self.client.deployment();
        report_domain(deployment.chain_id, deployment.registry)
    }

    /// Submits `report` with attestors' signatures in ascending signer order (as
    /// `SignedReport::ordered_signatures` in the oracle crate returns them).
    pub async fn submit(&self, report: &UsageReport, signatures: Vec<Bytes>) -> Result<()> {
        let registry = self.client.registry();
        transact(registry.submitReport(to_binding(report), signatures)).await?;
        Ok(())
    }

    /// Whether `account` is an attestor of the set that verifies (cluster, epoch), and that set's
    /// threshold (signatures a report needs).
    pub async fn attestor_of(
        &self,
        cluster_id: u64,
        epoch: u64,
        account: alloy::primitives::Address,
    ) -> Result<(bool, u8)> {
        let answer = self.client.registry().isAttestor(cluster_id, epoch, account).call().await?;
        Ok((answer._0, answer._1))
    }

    /// Seconds after an epoch's end during which its report is accepted.
    pub async fn report_window(&self) -> Result<u64> {
        Ok(self.client.registry().reportWindow().call().await?)
    }

    /// The latest block's timestamp (deadlines are judged by it).
    pub async fn chain_time(&self) -> Result<u64> {
        self.client.chain_time().await
    }

    /// The accepted report of (cluster, epoch), if any.
    pub async fn report_of(&self, cluster_id: u64, epoch: u64) -> Result<Option<AcceptedReport>> {
        let stored = self.client.registry().reportOf(cluster_id, epoch).call().await?;
        Ok((stored.submittedAt != 0).then_some(AcceptedReport {
            deliveries_root: stored.deliveriesRoot,
            submitted_at: stored.submittedAt,
        }))
    }
}

/// The shared `UsageReport` type as the registry binding's struct (same ABI layout).
pub fn to_binding(report: &UsageReport) -> ClusterRegistry::UsageReport {
    let fields = report.abi_encode();
    <ClusterRegistry::UsageReport as SolValue>::abi_decode(&fields)
        .expect("UsageReport is declared once in Types.sol; both sides share its layout")
}
