//! A connection to one deployment with one signer.

use alloy::{
    eips::BlockNumberOrTag,
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};

use crate::{
    Amount, Deployment, Result, SdkError,
    bindings::{ClusterRegistry, DevStablecoin, DisputeDesk, LeaseMarket, ShareExchange},
    nonce::SharedNonceManager,
    rpc::{RpcOptions, parse_url, rpc_client},
};

/// Decimals of the devnet stablecoin (`DevStablecoin`, USDC-style). A [`Client`] reads the
/// deployment's token's own decimals at connect: use [`Client::decimals`] for real tokens.
pub const STABLECOIN_DECIMALS: u8 = 6;

/// A provider at `url` that signs with `signer`: gas and chain id filled by alloy, nonces from the
/// process-wide sequence of the signer's account, and the RPC transport of `options`.
pub(crate) fn signing_provider(
    url: Url,
    signer: PrivateKeySigner,
    options: &RpcOptions,
) -> Result<DynProvider> {
    let nonces = SharedNonceManager::new(url.to_string());
    let client = rpc_client(url, options, Some(nonces.clone()))?;
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_nonce_management(nonces)
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_client(client)
        .erased())
}

/// A provider at `rpc_url` that signs with `signer`, e.g. for [`deploy`], with the default
/// [`RpcOptions`].
///
/// [`deploy`]: crate::deploy
pub fn wallet_provider(rpc_url: &str, signer: PrivateKeySigner) -> Result<DynProvider> {
    wallet_provider_with(rpc_url, signer, &RpcOptions::default())
}

/// [`wallet_provider`] with explicit timeouts and retries.
pub fn wallet_provider_with(
    rpc_url: &str,
    signer: PrivateKeySigner,
    options: &RpcOptions,
) -> Result<DynProvider> {
    signing_provider(parse_url(rpc_url)?, signer, options)
}

/// A read-only provider at `rpc_url` (for indexers and explorers), after checking that it serves
/// the deployment's chain; default [`RpcOptions`].
pub async fn read_provider(rpc_url: &str, deployment: &Deployment) -> Result<DynProvider> {
    read_provider_with(rpc_url, deployment, &RpcOptions::default()).await
}

/// [`read_provider`] with explicit timeouts and retries.
pub async fn read_provider_with(
    rpc_url: &str,
    deployment: &Deployment,
    options: &RpcOptions,
) -> Result<DynProvider> {
    let client = rpc_client(parse_url(rpc_url)?, options, None)?;
    let provider = ProviderBuilder::new().connect_client(client).erased();
    check_chain(&provider, deployment).await?;
    Ok(provider)
}

async fn check_chain(provider: &DynProvider, deployment: &Deployment) -> Result<()> {
    let actual = provider.get_chain_id().await?;
    if actual != deployment.chain_id {
        return Err(SdkError::WrongChain { expected: deployment.chain_id, actual });
    }
    Ok(())
}

/// A provider that signs as one account (chain id, nonce and gas are never set by hand; nonces
/// are shared with every other client of the same key in the process), bound to a deployment
/// whose chain id it has checked and whose stablecoin's decimals it has read.
#[derive(Debug, Clone)]
pub struct Client {
    provider: DynProvider,
    deployment: Deployment,
    signer: PrivateKeySigner,
    decimals: u8,
}

impl Client {
    /// Connects to `rpc_url` as `signer` with the default [`RpcOptions`], checks the RPC's chain
    /// id against the deployment and reads the stablecoin's decimals.
    pub async fn connect(
        rpc_url: &str,
        deployment: Deployment,
        signer: PrivateKeySigner,
    ) -> Result<Self> {
        Self::connect_with(rpc_url, deployment, signer, &RpcOptions::default()).await
    }

    /// [`Client::connect`] with explicit timeouts and retries.
    pub async fn connect_with(
        rpc_url: &str,
        deployment: Deployment,
        signer: PrivateKeySigner,
        options: &RpcOptions,
    ) -> Result<Self> {
        let provider = signing_provider(parse_url(rpc_url)?, signer.clone(), options)?;
        check_chain(&provider, &deployment).await?;
        let decimals = token_decimals(&provider, deployment.stablecoin).await?;
        Ok(Self { provider, deployment, signer, decimals })
    }

    /// The provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// Makes this account's next nonce be read from the chain again (in every client of the
    /// process): after a reorg dropped its transactions, or a receipt that never came.
    pub fn resync_nonce(&self) {
        crate::nonce::resync_account(self.address());
    }

    /// The signing account's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The signer (for off-chain signatures such as EIP-2612 permits).
    pub(crate) fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }

    /// The deployment's stablecoin's decimals, as the token reported them at connect.
    pub fn decimals(&self) -> u8 {
        self.decimals
    }

    /// An amount of the deployment's stablecoin from base units.
    pub fn amount(&self, base: alloy::primitives::U256) -> Amount {
        Amount::from_base(base, self.decimals)
    }

    /// Parses a decimal such as `"12.50"` as an amount of the deployment's stablecoin.
    pub fn parse_amount(&self, text: &str) -> Result<Amount> {
        Amount::parse(text, self.decimals)
    }

    /// The decimals of `token` (the deployment's stablecoin's are known without a call).
    pub async fn decimals_of(&self, token: Address) -> Result<u8> {
        if token == self.deployment.stablecoin {
            return Ok(self.decimals);
        }
        token_decimals(&self.provider, token).await
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

    /// The share exchange binding; an error for a deployment without one.
    pub fn exchange(&self) -> Result<ShareExchange::ShareExchangeInstance<DynProvider>> {
        let address = self.deployment.exchange.ok_or_else(|| {
            SdkError::Invalid(
                "this deployment has no share exchange (deployed before it existed): add its \
                 address as \"exchange\" in the deployment JSON"
                    .into(),
            )
        })?;
        Ok(ShareExchange::new(address, self.provider.clone()))
    }

    /// The stablecoin binding.
    pub fn stablecoin(&self) -> DevStablecoin::DevStablecoinInstance<DynProvider> {
        DevStablecoin::new(self.deployment.stablecoin, self.provider.clone())
    }
}

/// `token.decimals()` of an ERC-20 (read it once, e.g. for a read-only provider that formats
/// amounts), with an error that says what to check when the address is no ERC-20.
pub async fn token_decimals(provider: &DynProvider, token: Address) -> Result<u8> {
    DevStablecoin::new(token, provider).decimals().call().await.map_err(|e| match e {
        alloy::contract::Error::TransportError(t) if t.as_error_resp().is_none() => {
            SdkError::Transport(t.to_string())
        }
        other => SdkError::Invalid(format!(
            "stablecoin {token} did not answer decimals() ({other}): is the deployment's \
             stablecoin an ERC-20 on this chain?"
        )),
    })
}
