//! The tenant's actions: fund a lease's escrow (approval or EIP-2612 permit), challenge a
//! reported epoch, withdraw SLA credits and the remainder.
//!
//! Escrow is the **full term, paid up front** (the market's prepayment rule), so a lease never
//! needs a top-up and can never run dry mid-term: what is not earned by delivered GPU-seconds
//! comes back through [`Tenant::withdraw`] once the lease ends.

use alloy::{
    dyn_abi::Eip712Domain,
    primitives::{Address, B256, U256},
    signers::SignerSync,
    sol,
    sol_types::SolStruct,
};

use crate::{
    Amount, Client, Result, SdkError,
    bindings::{DisputeDesk, LeaseMarket},
    tx::{event_in, transact},
};

sol! {
    /// The EIP-2612 permit an owner signs to approve a spender.
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
    }
}

/// What a tenant withdrawal paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawal {
    /// SLA credits earned by under-delivered epochs.
    pub credits: Amount,
    /// Escrow left once every epoch settled.
    pub remainder: Amount,
}

/// The tenant role: a [`Client`] whose signer is a lease's tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    client: Client,
}

impl Tenant {
    /// The tenant role for `client`'s signer.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Approves the market to take lease `lease_id`'s full-term escrow (then call [`Self::fund`]).
    pub async fn approve_escrow(&self, lease_id: U256) -> Result<Amount> {
        let escrow = self.client.escrow_required(lease_id).await?;
        let stablecoin = self.client.stablecoin();
        transact(stablecoin.approve(self.client.deployment().market, escrow.base())).await?;
        Ok(escrow)
    }

    /// Pays the full-term escrow under a prior approval; the lease becomes active. Must happen
    /// before the lease's first epoch begins.
    pub async fn fund(&self, lease_id: U256) -> Result<Amount> {
        let receipt = transact(self.client.market().fund(lease_id)).await?;
        Ok(self.client.amount(event_in::<LeaseMarket::LeaseFunded>(&receipt)?.escrow))
    }

    /// Approves and pays the escrow in one transaction with an EIP-2612 permit signed here,
    /// valid until `deadline` (unix seconds, judged by chain time).
    pub async fn fund_with_permit(&self, lease_id: U256, deadline: u64) -> Result<Amount> {
        let escrow = self.client.escrow_required(lease_id).await?;
        let signature = self.sign_permit(escrow.base(), U256::from(deadline)).await?;
        let v = 27 + u8::from(signature.v());
        let (r, s) = (B256::from(signature.r()), B256::from(signature.s()));
        let market = self.client.market();
        let receipt =
            transact(market.fundWithPermit(lease_id, U256::from(deadline), v, r, s)).await?;
        Ok(self.client.amount(event_in::<LeaseMarket::LeaseFunded>(&receipt)?.escrow))
    }

    async fn sign_permit(&self, value: U256, deadline: U256) -> Result<alloy::signers::Signature> {
        let token = self.client.stablecoin();
        let fields = token.eip712Domain().call().await?;
        let domain = Eip712Domain::new(
            Some(fields.name.into()),
            Some(fields.version.into()),
            Some(fields.chainId),
            Some(fields.verifyingContract),
            None,
        );
        let owner = self.client.address();
        let permit = Permit {
            owner,
            spender: self.client.deployment().market,
            value,
            nonce: token.nonces(owner).call().await?,
            deadline,
        };
        self.client
            .signer()
            .sign_hash_sync(&permit.eip712_signing_hash(&domain))
            .map_err(|e| SdkError::Invalid(format!("signing the permit: {e}")))
    }

    /// Disputes a reported epoch within its challenge window, posting the challenge bond; see
    /// [`challenge`].
    pub async fn challenge(&self, lease_id: U256, epoch: u64) -> Result<Amount> {
        challenge(&self.client, lease_id, epoch).await
    }

    /// Withdraws SLA credits and, once the lease ended, the escrow remainder.
    pub async fn withdraw(&self, lease_id: U256) -> Result<Withdrawal> {
        let receipt = transact(self.client.market().withdrawTenantFunds(lease_id)).await?;
        let paid = event_in::<LeaseMarket::TenantWithdrawn>(&receipt)?;
        Ok(Withdrawal {
            credits: self.client.amount(paid.credits),
            remainder: self.client.amount(paid.remainder),
        })
    }

    /// The account this role acts as.
    pub fn address(&self) -> Address {
        self.client.address()
    }
}

/// Disputes a reported, unsettled epoch as the lease's tenant or a holder of its shares: approves
/// and posts the challenge bond (returned if the arbiter upholds the challenge or lets its
/// deadline pass; paid to the owner if rejected) and returns it. The epoch cannot settle until
/// the arbiter rules or the resolution deadline passes.
pub async fn challenge(client: &Client, lease_id: U256, epoch: u64) -> Result<Amount> {
    let desk = client.disputes();
    let bond = desk.challengeBond(lease_id).call().await?;
    if !bond.is_zero() {
        transact(client.stablecoin().approve(client.deployment().disputes, bond)).await?;
    }
    transact(desk.challenge(lease_id, epoch)).await?;
    Ok(client.amount(bond))
}

/// Withdraws the caller's returned or awarded challenge bonds from the dispute desk.
pub async fn withdraw_payout(client: &Client) -> Result<Amount> {
    let desk = client.disputes();
    let receipt = transact(desk.withdrawPayout(client.deployment().stablecoin)).await?;
    Ok(client.amount(event_in::<DisputeDesk::PayoutWithdrawn>(&receipt)?.amount))
}

/// The arbiter role: rules on challenges with the delivery it found.
#[derive(Debug, Clone)]
pub struct Arbiter {
    client: Client,
}

impl Arbiter {
    /// The arbiter role for `client`'s signer (the market's named arbiter).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Rules on a challenged epoch before its deadline: the delivered unit-seconds and metered
    /// energy (Wh) it settles with, and whether the challenger was right (bond returned) or not
    /// (bond forfeited).
    pub async fn resolve(
        &self,
        lease_id: U256,
        epoch: u64,
        delivered: u64,
        energy_wh: u64,
        upheld: bool,
    ) -> Result<()> {
        let desk = self.client.disputes();
        transact(desk.resolveChallenge(lease_id, epoch, delivered, energy_wh, upheld)).await?;
        Ok(())
    }
}
