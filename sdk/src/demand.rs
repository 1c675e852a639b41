//! Demand response (the deployment's `DemandResponse`): a sponsor funds a program at a price per
//! curtailed kWh, a site enrolls committed kW of flexible load with a bond, the sponsor dispatches
//! events, and each event settles on the curtailment the site's report attests (a
//! [`CurtailmentLeaf`] in its deliveries tree). [`Sponsor`] is the utility's or aggregator's side,
//! [`Site`] the cluster owner's.

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::{SolEvent, SolStruct, eip712_domain},
};
use compute_ledger_types::{CurtailmentLeaf, encode_signature};

use crate::{
    Amount, Client, Result, SdkError,
    bindings::{DemandResponse, DevStablecoin},
    events::get_logs_adaptive,
    tx::{event_in, transact},
};

alloy::sol! {
    /// What an attestor signs to acknowledge an event (`DemandResponse.ACK_TYPEHASH`).
    struct CurtailmentAck {
        uint256 eventId;
        uint64 clusterId;
    }
}

/// The EIP-712 digest an attestor signs to acknowledge `event_id` for `cluster_id`, computed here
/// (never taken from an RPC: a lying node could otherwise hand the attestor key a report's digest
/// to sign).
pub fn ack_digest(chain_id: u64, contract: Address, event_id: U256, cluster_id: u64) -> B256 {
    let domain = eip712_domain! {
        name: "ComputeLedgerDemandResponse",
        version: "1",
        chain_id: chain_id,
        verifying_contract: contract,
    };
    CurtailmentAck { eventId: event_id, clusterId: cluster_id }.eip712_signing_hash(&domain)
}

/// What one event's settlement paid and charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurtailmentSettlement {
    /// The event.
    pub event_id: U256,
    /// Wh counted as curtailed (attested, ruled, or zero).
    pub curtailed_wh: u64,
    /// Paid to the enrollment's payee.
    pub payout: Amount,
    /// Charged to the site's bond, owed to the sponsor.
    pub penalty: Amount,
    /// False when nobody attested the event and the site never acknowledged it: nothing either way.
    pub attested: bool,
}

/// Where a dispatched event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurtailmentEventInfo {
    /// The enrollment it was dispatched to.
    pub enrollment_id: U256,
    /// The enrolled site's cluster.
    pub cluster_id: u64,
    /// The kW the site committed to shed.
    pub committed_kw: u32,
    /// Window start (unix seconds).
    pub start: u64,
    /// Window end (unix seconds, exclusive).
    pub end: u64,
    /// The cluster epoch whose report attests it (the epoch in which the window ends).
    pub report_epoch: u64,
    /// 1 dispatched, 2 contested, 3 ruled, 4 settled.
    pub status: u8,
    /// Whether the site's signed receipt was recorded.
    pub acknowledged: bool,
}

impl Client {
    /// The deployment's `DemandResponse` binding (an error naming the fix for a deployment file
    /// written before it existed).
    pub fn demand_response(&self) -> Result<DemandResponse::DemandResponseInstance<DynProvider>> {
        let address = self.deployment().demand_response.ok_or_else(|| {
            SdkError::Invalid(
                "this deployment has no demand-response contract (deployed before it existed): \
                 add its address as \"demandResponse\" in the deployment JSON"
                    .into(),
            )
        })?;
        Ok(DemandResponse::new(address, self.provider().clone()))
    }

    /// A dispatched event's window, report epoch and status.
    pub async fn curtailment_event(&self, event_id: U256) -> Result<CurtailmentEventInfo> {
        let dr = self.demand_response()?;
        let e = dr.eventOf(event_id).call().await?;
        let enrollment = dr.enrollments(e.enrollmentId).call().await?;
        Ok(CurtailmentEventInfo {
            enrollment_id: e.enrollmentId,
            cluster_id: enrollment.clusterId,
            committed_kw: enrollment.committedKw,
            start: e.start,
            end: e.end,
            report_epoch: e.reportEpoch,
            status: e.status,
            acknowledged: e.acknowledged,
        })
    }

    /// The events acknowledged in blocks `[from, to]`, in chain order, with the block of each
    /// acknowledgement (an event acknowledged twice appears once per log).
    pub async fn curtailment_acknowledgements(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<(U256, u64)>> {
        let filter = Filter::new()
            .address(self.demand_response()?.address().to_owned())
            .event_signature(DemandResponse::CurtailmentAcknowledged::SIGNATURE_HASH);
        let mut range = 10_000;
        let logs = get_logs_adaptive(self.provider(), &filter, from, to, &mut range).await?;
        logs.iter()
            .map(|log| {
                let ack = log
                    .log_decode::<DemandResponse::CurtailmentAcknowledged>()
                    .map_err(|e| SdkError::Invalid(format!("acknowledgement log: {e}")))?;
                Ok((ack.inner.data.eventId, log.block_number.unwrap_or(to)))
            })
            .collect()
    }

    /// The latest block's number and timestamp.
    pub async fn head(&self) -> Result<(u64, u64)> {
        let block = self
            .provider()
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| SdkError::Invalid("the node has no latest block".into()))?;
        Ok((block.header.number, block.header.timestamp))
    }

    /// Withdraws this account's demand-response payouts (a payee) or penalties (a sponsor) in the
    /// deployment's stablecoin.
    pub async fn withdraw_demand_response(&self) -> Result<Amount> {
        let dr = self.demand_response()?;
        let receipt = transact(dr.withdraw(self.deployment().stablecoin)).await?;
        Ok(self.amount(event_in::<DemandResponse::DemandResponsePaid>(&receipt)?.amount))
    }

    async fn approve_demand_response(&self, amount: Amount) -> Result<()> {
        let token = DevStablecoin::new(self.deployment().stablecoin, self.provider().clone());
        transact(token.approve(*self.demand_response()?.address(), amount.base())).await?;
        Ok(())
    }
}

/// A demand-response sponsor (utility or aggregator): opens and funds programs, dispatches
/// events, relays sites' acknowledgements, contests attestations it doubts.
#[derive(Debug, Clone)]
pub struct Sponsor {
    client: Client,
}

impl Sponsor {
    /// The sponsor role for `client`'s signer.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The client the sponsor signs with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens a program in the deployment's stablecoin; returns its id.
    pub async fn create_program(
        &self,
        price_per_kwh: Amount,
        penalty_per_kwh: Amount,
        arbiter: Address,
    ) -> Result<U256> {
        let dr = self.client.demand_response()?;
        let call = dr.createProgram(
            self.client.deployment().stablecoin,
            base128(price_per_kwh, "price per kWh")?,
            base128(penalty_per_kwh, "penalty per kWh")?,
            arbiter,
        );
        let receipt = transact(call).await?;
        Ok(event_in::<DemandResponse::ProgramCreated>(&receipt)?.programId)
    }

    /// Approves and adds `amount` to a program.
    pub async fn fund_program(&self, program_id: U256, amount: Amount) -> Result<()> {
        self.client.approve_demand_response(amount).await?;
        transact(self.client.demand_response()?.fundProgram(program_id, amount.base())).await?;
        Ok(())
    }

    /// Dispatches a curtailment event over `[start, end)` (unix seconds, in the future) to an
    /// enrollment; returns the event id. Its most payout is reserved from the program now.
    pub async fn dispatch(&self, enrollment_id: U256, start: u64, end: u64) -> Result<U256> {
        let receipt =
            transact(self.client.demand_response()?.dispatch(enrollment_id, start, end)).await?;
        Ok(event_in::<DemandResponse::CurtailmentDispatched>(&receipt)?.eventId)
    }

    /// Relays a site's signed receipt of an event (from [`Site::sign_acknowledgement`]).
    pub async fn acknowledge(&self, event_id: U256, signature: Bytes) -> Result<()> {
        transact(self.client.demand_response()?.acknowledge(event_id, signature)).await?;
        Ok(())
    }

    /// Contests an event's attestation within the review window after its report.
    pub async fn contest(&self, event_id: U256) -> Result<()> {
        transact(self.client.demand_response()?.contest(event_id)).await?;
        Ok(())
    }

    /// Shows an event's curtailment leaf before it settles: the site received the event, so a
    /// ruling penalizes a shortfall and the event cannot close as unattested.
    pub async fn prove_receipt(&self, leaf: &CurtailmentLeaf, proof: Vec<B256>) -> Result<()> {
        let dr = self.client.demand_response()?;
        transact(dr.proveReceipt(leaf.event_id, leaf.baseline_wh, leaf.actual_wh, proof)).await?;
        Ok(())
    }

    /// As the program's arbiter: rules a contested event's curtailed Wh.
    pub async fn rule(&self, event_id: U256, curtailed_wh: u64) -> Result<()> {
        transact(self.client.demand_response()?.rule(event_id, curtailed_wh)).await?;
        Ok(())
    }

    /// Settles an event with its attested leaf and proof (anyone may; the sponsor usually does).
    pub async fn settle(
        &self,
        leaf: &CurtailmentLeaf,
        proof: Vec<B256>,
    ) -> Result<CurtailmentSettlement> {
        let dr = self.client.demand_response()?;
        let call = dr.settle(leaf.event_id, leaf.baseline_wh, leaf.actual_wh, proof);
        self.settlement(&transact(call).await?)
    }

    /// Settles an event with the arbiter's ruling.
    pub async fn settle_ruled(&self, event_id: U256) -> Result<CurtailmentSettlement> {
        let dr = self.client.demand_response()?;
        self.settlement(&transact(dr.settle(event_id, 0, 0, Vec::new())).await?)
    }

    /// Closes an event nobody attested by its deadline (penalized in full only if acknowledged).
    pub async fn settle_unattested(&self, event_id: U256) -> Result<CurtailmentSettlement> {
        let dr = self.client.demand_response()?;
        self.settlement(&transact(dr.settleUnattested(event_id)).await?)
    }

    fn settlement(
        &self,
        receipt: &alloy::rpc::types::TransactionReceipt,
    ) -> Result<CurtailmentSettlement> {
        let e = event_in::<DemandResponse::CurtailmentSettled>(receipt)?;
        Ok(CurtailmentSettlement {
            event_id: e.eventId,
            curtailed_wh: u64::try_from(e.curtailedWh).unwrap_or(u64::MAX),
            payout: self.client.amount(e.payout),
            penalty: self.client.amount(e.penalty),
            attested: e.attested,
        })
    }
}

/// A site in demand-response programs: the cluster owner's enrollments and bonds, and its
/// attestors' acknowledgements of events its VEN received.
#[derive(Debug, Clone)]
pub struct Site {
    client: Client,
}

impl Site {
    /// The site role for the cluster owner's `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The client the owner signs with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Enrolls the owner's cluster with `committed_kw` of flexible load, paying `payee`.
    pub async fn enroll(
        &self,
        program_id: U256,
        cluster_id: u64,
        committed_kw: u32,
        payee: Address,
    ) -> Result<U256> {
        let dr = self.client.demand_response()?;
        let receipt = transact(dr.enroll(program_id, cluster_id, committed_kw, payee)).await?;
        Ok(event_in::<DemandResponse::SiteEnrolled>(&receipt)?.enrollmentId)
    }

    /// Approves and adds `amount` to the enrollment's performance bond.
    pub async fn deposit_bond(&self, enrollment_id: U256, amount: Amount) -> Result<()> {
        self.client.approve_demand_response(amount).await?;
        let dr = self.client.demand_response()?;
        transact(dr.depositSiteBond(enrollment_id, amount.base())).await?;
        Ok(())
    }

    /// Signs the event's acknowledgement with `attestor` (a key of the cluster's attestor set) and
    /// relays it from this client: from then on the site owes the committed curtailment. Only
    /// before the event starts (`AcknowledgementTooLate` after).
    pub async fn acknowledge(&self, event_id: U256, attestor: &PrivateKeySigner) -> Result<()> {
        let signature = self.sign_acknowledgement(event_id, attestor).await?;
        transact(self.client.demand_response()?.acknowledge(event_id, signature)).await?;
        Ok(())
    }

    /// Declines an event that has not started and that the site has not acknowledged: nothing is
    /// paid or penalized, and the cluster's calendar is freed if it was its latest event.
    pub async fn decline(&self, event_id: U256) -> Result<()> {
        transact(self.client.demand_response()?.decline(event_id)).await?;
        Ok(())
    }

    /// Takes back bond no dispatched event has locked.
    pub async fn withdraw_bond(&self, enrollment_id: U256, amount: Amount) -> Result<()> {
        let dr = self.client.demand_response()?;
        transact(dr.withdrawSiteBond(enrollment_id, amount.base())).await?;
        Ok(())
    }

    /// The acknowledgement of `event_id` signed by one of the cluster's attestors: the proof the
    /// site received the event (the sponsor relays it with [`Sponsor::acknowledge`]). The digest
    /// is typed data built here ([`ack_digest`]); only the event's cluster is read from the chain.
    pub async fn sign_acknowledgement(
        &self,
        event_id: U256,
        attestor: &PrivateKeySigner,
    ) -> Result<Bytes> {
        let contract = *self.client.demand_response()?.address();
        let cluster = self.client.curtailment_event(event_id).await?.cluster_id;
        let digest = ack_digest(self.client.deployment().chain_id, contract, event_id, cluster);
        let signature = attestor
            .sign_hash_sync(&digest)
            .map_err(|e| SdkError::Invalid(format!("signing the acknowledgement: {e}")))?;
        Ok(encode_signature(&signature))
    }
}

fn base128(amount: Amount, what: &str) -> Result<u128> {
    u128::try_from(amount.base()).map_err(|_| SdkError::Invalid(format!("{what} is too large")))
}
