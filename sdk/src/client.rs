//! A connection to one deployment with one signer.

use alloy::{
    network::EthereumWallet,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};

use crate::{
    Deployment, Result, SdkError,
    bindings::{ClusterRegistry, DevStablecoin, LeaseMarket},
};

/// A provider at `url` that signs with `signer`, with alloy's default fillers (chain id, nonce and
/// gas are never set by hand).
pub(crate) fn signing_provider(
    url: alloy::transports::http::reqwest::Url,
    signer: PrivateKeySigner,
) -> DynProvider {
    ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url).erased()
}

/// A provider (alloy's default fillers: chain id, nonce and gas are never set by hand) bound to
/// a deployment whose chain id it has checked.
#[derive(Debug, Clone)]
pub struct Client {
    provider: DynProvider,
    deployment: Deployment,
}

impl Client {
    /// Connects to `rpc_url` as `signer` and checks the RPC's chain id against the deployment.
    pub async fn connect(
        rpc_url: &str,
        deployment: Deployment,
        signer: PrivateKeySigner,
    ) -> Result<Self> {
        let url = rpc_url
            .parse()
            .map_err(|e| SdkError::Transport(format!("bad RPC URL {rpc_url:?}: {e}")))?;
        Self::with_provider(signing_provider(url, signer), deployment).await
    }

    /// Wraps an existing provider after the same chain-id check.
    pub async fn with_provider(provider: DynProvider, deployment: Deployment) -> Result<Self> {
        let actual = provider.get_chain_id().await?;
        if actual != deployment.chain_id {
            return Err(SdkError::WrongChain { expected: deployment.chain_id, actual });
        }
        Ok(Self { provider, deployment })
    }

    /// The provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The registry binding.
    pub fn registry(&self) -> ClusterRegistry::ClusterRegistryInstance<DynProvider> {
        ClusterRegistry::new(self.deployment.registry, self.provider.clone())
    }

    /// The market binding (also the ERC-1155 share token).
    pub fn market(&self) -> LeaseMarket::LeaseMarketInstance<DynProvider> {
        LeaseMarket::new(self.deployment.market, self.provider.clone())
    }

    /// The stablecoin binding.
    pub fn stablecoin(&self) -> DevStablecoin::DevStablecoinInstance<DynProvider> {
        DevStablecoin::new(self.deployment.stablecoin, self.provider.clone())
    }
}
