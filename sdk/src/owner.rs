//! The cluster owner's actions: register a cluster, rotate its attestors, post a bond, create
//! leases, offer shares.

use alloy::primitives::{Address, B256, Bytes, U256};

use crate::{
    Amount, Client, LeaseOffer, Result,
    bindings::{ClusterRegistry, LeaseMarket},
    tx::{event_in, transact},
};

/// A cluster to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Where the cluster's description lives.
    pub metadata_uri: String,
    /// keccak256 of that description.
    pub metadata_hash: B256,
    /// Seconds per epoch.
    pub epoch_length: u32,
    /// Attestor addresses.
    pub attestors: Vec<Address>,
    /// Signatures required per report.
    pub threshold: u8,
}

/// A cluster's performance bond in the deployment's stablecoin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bond {
    /// Deposited, less SLA credits paid out.
    pub total: Amount,
    /// Reserved for open leases' worst-case SLA credits.
    pub locked: Amount,
}

impl Bond {
    /// What the owner may withdraw now.
    pub fn free(&self) -> Amount {
        Amount::from_base(self.total.base() - self.locked.base(), self.total.decimals())
    }
}

/// The owner role: a [`Client`] whose signer owns clusters.
#[derive(Debug, Clone)]
pub struct Owner {
    client: Client,
}

impl Owner {
    /// The owner role for `client`'s signer.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Registers a cluster (its epoch 0 starts now); returns its id.
    pub async fn register_cluster(&self, spec: &ClusterSpec) -> Result<u64> {
        let registry = self.client.registry();
        let call = registry.registerCluster(
            spec.metadata_uri.clone(),
            spec.metadata_hash,
            spec.epoch_length,
            spec.attestors.clone(),
            spec.threshold,
        );
        let receipt = transact(call).await?;
        Ok(event_in::<ClusterRegistry::ClusterRegistered>(&receipt)?.clusterId)
    }

    /// Names a new attestor set (e.g. after a key is lost) that verifies reports from
    /// `from_epoch`, which must be in the future. While the cluster has an offered or active
    /// lease, `consent` must hold the threshold of signatures of the set verifying the current
    /// epoch over [`Owner::rotation_digest`], in ascending signer order; with none it may be empty.
    pub async fn rotate_attestors(
        &self,
        cluster_id: u64,
        attestors: Vec<Address>,
        threshold: u8,
        from_epoch: u64,
        consent: Vec<Bytes>,
    ) -> Result<()> {
        let registry = self.client.registry();
        let call = registry.rotateAttestors(cluster_id, attestors, threshold, from_epoch, consent);
        transact(call).await?;
        Ok(())
    }

    /// The EIP-712 digest the current attestors sign to consent to a rotation (each signs it
    /// with its own key, e.g. `signer.sign_hash_sync(&digest)`).
    pub async fn rotation_digest(
        &self,
        cluster_id: u64,
        attestors: Vec<Address>,
        threshold: u8,
        from_epoch: u64,
    ) -> Result<B256> {
        let registry = self.client.registry();
        Ok(registry.rotationDigest(cluster_id, attestors, threshold, from_epoch).call().await?)
    }

    /// Deregisters a cluster that has no offered or active lease.
    pub async fn deregister_cluster(&self, cluster_id: u64) -> Result<()> {
        transact(self.client.registry().deregisterCluster(cluster_id)).await?;
        Ok(())
    }

    /// Approves and deposits `amount` of the deployment's stablecoin as the cluster's bond.
    pub async fn deposit_bond(&self, cluster_id: u64, amount: Amount) -> Result<()> {
        let deployment = self.client.deployment();
        let (stablecoin, market) = (self.client.stablecoin(), self.client.market());
        transact(stablecoin.approve(deployment.market, amount.base())).await?;
        transact(market.depositBond(cluster_id, deployment.stablecoin, amount.base())).await?;
        Ok(())
    }

    /// Withdraws bond that no open lease can still need ([`Bond::free`]).
    pub async fn withdraw_bond(&self, cluster_id: u64, amount: Amount) -> Result<()> {
        let market = self.client.market();
        let token = self.client.deployment().stablecoin;
        transact(market.withdrawBond(cluster_id, token, amount.base())).await?;
        Ok(())
    }

    /// The cluster's bond in the deployment's stablecoin.
    pub async fn bond(&self, cluster_id: u64) -> Result<Bond> {
        let deployment = self.client.deployment();
        let bond = self.client.market().bondOf(cluster_id, deployment.stablecoin).call().await?;
        Ok(Bond {
            total: self.client.amount(U256::from(bond.total)),
            locked: self.client.amount(U256::from(bond.locked)),
        })
    }

    /// Creates a lease on one of the owner's clusters, locking its worst-case SLA credits from
    /// the bond and minting every share to the owner; returns the lease id.
    pub async fn create_lease(&self, offer: &LeaseOffer) -> Result<U256> {
        let terms = offer.to_terms(self.client.deployment().stablecoin)?;
        let market = self.client.market();
        let receipt = transact(market.createLease(terms)).await?;
        Ok(event_in::<LeaseMarket::LeaseCreated>(&receipt)?.leaseId)
    }

    /// Cancels a lease its tenant never funded; releases the bond lock.
    pub async fn cancel_lease(&self, lease_id: U256) -> Result<()> {
        transact(self.client.market().cancelLease(lease_id)).await?;
        Ok(())
    }

    /// Offers `amount` of the owner's shares of an active lease at `price_per_share`; replaces
    /// any earlier offer. Buyers pay the owner directly.
    pub async fn offer_shares(
        &self,
        lease_id: U256,
        amount: u128,
        price_per_share: Amount,
    ) -> Result<()> {
        let market = self.client.market();
        let call = market.offerShares(lease_id, U256::from(amount), price_per_share.base());
        transact(call).await?;
        Ok(())
    }
}
