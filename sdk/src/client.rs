//! A connection to one deployment with one signer.

use alloy::{
    eips::BlockNumberOrTag,
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};

use crate::{
    Amount, Deployment, Result, SdkError,
    bindings::{ClusterRegistry, DevStablecoin, DisputeDesk, LeaseMarket},
};

/// Decimals of the stablecoins the ledger accepts (GENIUS-style dollar tokens use 6).
pub const STABLECOIN_DECIMALS: u8 = 6;

/// A provider at `url` that signs with `signer`, with alloy's default fillers (chain id, nonce and
/// gas are never set by hand).
pub(crate) fn signing_provider(
    url: alloy::transports::http::reqwest::Url,
    signer: PrivateKeySigner,
) -> DynProvider {
    ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url).erased()
}

/// A provider at `rpc_url` that signs with `signer` (alloy's default fillers), e.g. for [`deploy`].
///
/// [`deploy`]: crate::deploy
pub fn wallet_provider(rpc_url: &str, signer: PrivateKeySigner) -> Result<DynProvider> {
    let url = rpc_url
        .parse()
        .map_err(|e| SdkError::Transport(format!("bad RPC URL {rpc_url:?}: {e}")))?;
    Ok(signing_provider(url, signer))
}

/// A read-only provider at `rpc_url` (for indexers and explorers), after checking that it serves
/// the deployment's chain.
pub async fn read_provider(rpc_url: &str, deployment: &Deployment) -> Result<DynProvider> {
    let url: alloy::transports::http::reqwest::Url = rpc_url
        .parse()
        .map_err(|e| SdkError::Transport(format!("bad RPC URL {rpc_url:?}: {e}")))?;
    let provider = ProviderBuilder::new().connect_http(url).erased();
    let actual = provider.get_chain_id().await?;
    if actual != deployment.chain_id {
        return Err(SdkError::WrongChain { expected: deployment.chain_id, actual });
    }
    Ok(provider)
}

/// A provider that signs as one account (alloy's default fillers: chain id, nonce and gas are
/// never set by hand), bound to a deployment whose chain id it has checked.
#[derive(Debug, Clone)]
pub struct Client {
    provider: DynProvider,
    deployment: Deployment,
    signer: PrivateKeySigner,
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
        let provider = signing_provider(url, signer.clone());
        let actual = provider.get_chain_id().await?;
        if actual != deployment.chain_id {
            return Err(SdkError::WrongChain { expected: deployment.chain_id, actual });
        }
        Ok(Self { provider, deployment, signer })
    }

    /// The provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The signing account's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The signer (for off-chain signatures such as EIP-2612 permits).
    pub(crate) fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }

    /// An amount of the deployment's stablecoin from base units.
    pub fn amount(&self, base: alloy::primitives::U256) -> Amount {
        Amount::from_base(base, STABLECOIN_DECIMALS)
    }

    /// The latest block's timestamp: the time the contracts judge deadlines by (on a devnet it
    /// can run ahead of the wall clock).
    pub async fn chain_time(&self) -> Result<u64> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| SdkError::Transport("the RPC returned no latest block".into()))?;
        Ok(block.header.timestamp)
    }

    /// The account's stablecoin balance.
    pub async fn balance(&self) -> Result<Amount> {
        Ok(self.amount(self.stablecoin().balanceOf(self.address()).call().await?))
    }

    /// The registry binding.
    pub fn registry(&self) -> ClusterRegistry::ClusterRegistryInstance<DynProvider> {
        ClusterRegistry::new(self.deployment.registry, self.provider.clone())
    }

    /// The market binding (also the ERC-1155 share token).
    pub fn market(&self) -> LeaseMarket::LeaseMarketInstance<DynProvider> {
        LeaseMarket::new(self.deployment.market, self.provider.clone())
    }

    /// The dispute desk binding (challenges, rulings, challenge bonds).
    pub fn disputes(&self) -> DisputeDesk::DisputeDeskInstance<DynProvider> {
        DisputeDesk::new(self.deployment.disputes, self.provider.clone())
    }

    /// The stablecoin binding.
    pub fn stablecoin(&self) -> DevStablecoin::DevStablecoinInstance<DynProvider> {
        DevStablecoin::new(self.deployment.stablecoin, self.provider.clone())
    }
}
