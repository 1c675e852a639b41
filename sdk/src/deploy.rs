//! Deploying the ledger, and the deployment JSON every other tool reads.

use std::path::Path;

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
};
use serde::{Deserialize, Serialize};

use crate::{
    Result, SdkError,
    bindings::{
        CapacityPricer, ClusterRegistry, CollateralFactory, DemandResponse, DevStablecoin,
        DisputeDesk, LeaseMarket, Morpho, NavOracleDeployer, ShareExchange,
    },
    pricing::{PRICER_SPEED_PER_EPOCH, PRICER_STEEPNESS, PRICER_TARGET_UTILIZATION},
};

/// Where a ledger lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Chain id the contracts were deployed on.
    pub chain_id: u64,
    /// `ClusterRegistry`.
    pub registry: Address,
    /// `LeaseMarket` (also the ERC-1155 share token).
    pub market: Address,
    /// `DisputeDesk` (challenges, rulings, challenge bonds), deployed by the market.
    pub disputes: Address,
    /// `DevStablecoin` (allowlisted at deployment).
    pub stablecoin: Address,
    /// `ShareExchange` (limit orders for lease shares); absent from deployments made before it
    /// existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Address>,
    /// `CollateralFactory` (each lease's ERC-20 share token and NAV feed); absent from
    /// deployments made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collateral: Option<Address>,
    /// Morpho Blue (npm `@morpho-org/morpho-blue`), owned by governance, with the zero-interest
    /// IRM and [`MORPHO_LLTV`] enabled; absent from deployments made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub morpho: Option<Address>,
    /// `CapacityPricer` (each cluster's quote for new leases); absent from deployments made
    /// before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricer: Option<Address>,
    /// `DemandResponse` (programs paying attested curtailment); absent from deployments made
    /// before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demand_response: Option<Address>,
    /// Block of the first deployment transaction (where indexers start).
    pub deploy_block: u64,
}

impl Deployment {
    /// Reads a deployment JSON file.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |reason: String| SdkError::Deployment { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }

    /// Writes the deployment JSON (via a temporary file, so readers never see half of it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let err = |reason: String| SdkError::Deployment { path: path.to_path_buf(), reason };
        let body = serde_json::to_vec_pretty(self).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }
}

/// Protocol parameters fixed at deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployParams {
    /// Governance (two-step owner of both contracts and issuer of `DevStablecoin`).
    pub governance: Address,
    /// Rules on challenges.
    pub arbiter: Address,
    /// Seconds after an epoch's end during which its report is accepted.
    pub report_window: u64,
    /// Seconds after a report during which the tenant or a holder may challenge it.
    pub challenge_window: u64,
    /// Seconds after a challenge during which the arbiter may rule (then the report stands).
    pub resolution_window: u64,
    /// Seconds after the challenge window (or a challenge's deadline) for a leaf's proof before
    /// the epoch may settle as unproven.
    pub proof_grace: u64,
    /// Challenge bond in basis points of a lease's full-epoch rent.
    pub challenge_bond_bps: u16,
    /// ERC-1155 metadata URI template (`{id}` replaced by wallets).
    pub metadata_uri: String,
}

/// Loan-to-value at which a Morpho position against lease shares is liquidated (WAD: 80%).
pub const MORPHO_LLTV: u128 = 800_000_000_000_000_000;
/// Most a NAV feed's price may rise per epoch, in basis points of its lease's face value.
pub const NAV_MAX_RISE_BPS: u16 = 1_000;

/// Deploys `DevStablecoin`, `ClusterRegistry`, `LeaseMarket` (which deploys its `DisputeDesk`),
/// the market's `ShareExchange` and `CollateralFactory`, the `CapacityPricer`, `DemandResponse`
/// (its review and resolution windows are the market's challenge and resolution windows), and
/// Morpho Blue;
/// links them, allowlists
/// the stablecoin, names the arbiter and enables Morpho's zero-interest IRM and [`MORPHO_LLTV`].
/// The provider's signer must be `params.governance`.
pub async fn deploy(provider: &DynProvider, params: &DeployParams) -> Result<Deployment> {
    let chain_id = provider.get_chain_id().await?;
    let deploy_block = provider.get_block_number().await? + 1;
    let stablecoin = DevStablecoin::deploy(provider.clone(), params.governance).await?;
    let registry =
        ClusterRegistry::deploy(provider.clone(), params.governance, params.report_window).await?;
    let market = LeaseMarket::deploy(
        provider.clone(),
        params.governance,
        *registry.address(),
        params.challenge_window,
        params.resolution_window,
        params.proof_grace,
        params.challenge_bond_bps,
        params.metadata_uri.clone(),
    )
    .await?;
    let disputes = DisputeDesk::new(market.disputes().call().await?, provider.clone());
    let exchange = ShareExchange::deploy(provider.clone(), *market.address()).await?;
    let oracles = NavOracleDeployer::deploy(provider.clone()).await?;
    let collateral = CollateralFactory::deploy(
        provider.clone(),
        *market.address(),
        NAV_MAX_RISE_BPS,
        *oracles.address(),
    )
    .await?;
    let morpho = Morpho::deploy(provider.clone(), params.governance).await?;
    let pricer = CapacityPricer::deploy(
        provider.clone(),
        *registry.address(),
        U256::from(PRICER_TARGET_UTILIZATION),
        U256::from(PRICER_STEEPNESS),
        U256::from(PRICER_SPEED_PER_EPOCH),
    )
    .await?;
    let demand_response = DemandResponse::deploy(
        provider.clone(),
        *registry.address(),
        params.challenge_window,
        params.resolution_window,
    )
    .await?;
    morpho.enableIrm(Address::ZERO).send().await?.get_receipt().await?;
    morpho.enableLltv(U256::from(MORPHO_LLTV)).send().await?.get_receipt().await?;
    registry.setMarket(*market.address()).send().await?.get_receipt().await?;
    market.setStablecoinAllowed(*stablecoin.address(), true).send().await?.get_receipt().await?;
    disputes.setArbiter(params.arbiter).send().await?.get_receipt().await?;
    Ok(Deployment {
        chain_id,
        registry: *registry.address(),
        market: *market.address(),
        disputes: *disputes.address(),
        stablecoin: *stablecoin.address(),
        exchange: Some(*exchange.address()),
        collateral: Some(*collateral.address()),
        morpho: Some(*morpho.address()),
        pricer: Some(*pricer.address()),
        demand_response: Some(*demand_response.address()),
        deploy_block,
    })
}
