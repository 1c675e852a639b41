//! The cluster owner's actions: register a cluster, post a bond, create leases, offer shares.

use alloy::{
    contract::{CallBuilder, CallDecoder},
    primitives::{Address, B256, U256},
    providers::DynProvider,
    rpc::types::TransactionReceipt,
};

use crate::{Amount, Client, Result, SdkError, bindings::ClusterRegistry};

/// Simulates a transaction first — a revert comes back as the contract's custom error and no
/// nonce is spent — then sends it and waits for a successful receipt.
pub(crate) async fn transact<D: CallDecoder>(
    call: CallBuilder<&DynProvider, D>,
) -> Result<TransactionReceipt> {
    call.call_raw().await?;
    let receipt = call.send().await?.get_receipt().await?;
    if !receipt.status() {
        return Err(SdkError::Revert(format!(
            "transaction {} reverted when mined",
            receipt.transaction_hash
        )));
    }
    Ok(receipt)
}

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

    /// Registers a cluster; returns its id.
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
        receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| log.log_decode::<ClusterRegistry::ClusterRegistered>().ok())
            .map(|event| event.inner.data.clusterId)
            .ok_or_else(|| SdkError::Revert("no ClusterRegistered event in the receipt".into()))
    }

    /// Approves and deposits `amount` of the deployment's stablecoin as the cluster's bond.
    pub async fn deposit_bond(&self, cluster_id: u64, amount: Amount) -> Result<()> {
        let deployment = self.client.deployment();
        let (stablecoin, market) = (self.client.stablecoin(), self.client.market());
        transact(stablecoin.approve(deployment.market, amount.base())).await?;
        transact(market.depositBond(cluster_id, deployment.stablecoin, amount.base())).await?;
        Ok(())
    }

    /// The cluster's bond: total and the part locked by open leases.
    pub async fn bond(&self, cluster_id: u64) -> Result<(U256, U256)> {
        let deployment = self.client.deployment();
        let bond = self.client.market().bondOf(cluster_id, deployment.stablecoin).call().await?;
        Ok((U256::from(bond.total), U256::from(bond.locked)))
    }
}
