//! The quote for new leases per cluster (the deployment's `CapacityPricer`): an adaptive curve
//! moved by the cluster's attested utilization around its owner's reference price and floor.

use alloy::primitives::{Address, U256};

use crate::{
    Amount, Client, ErrorKind, LeaseOffer, Result, SdkError,
    bindings::{CapacityPricer, CollateralFactory, LeaseNavOracle},
    tx::transact,
};

/// Utilization the deployment's curve steers to (WAD: 80%).
pub const PRICER_TARGET_UTILIZATION: u128 = 800_000_000_000_000_000;
/// Quote at full utilization over the price at target (WAD: 4x).
pub const PRICER_STEEPNESS: u128 = 4_000_000_000_000_000_000;
/// Most the price at target moves per reported epoch at full error (WAD: 5%).
pub const PRICER_SPEED_PER_EPOCH: u128 = 50_000_000_000_000_000;

/// A cluster's quote and its inputs, as the chain has them now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// The cluster.
    pub cluster_id: u64,
    /// Price per GPU-hour the cluster quotes for a new lease.
    pub price_per_gpu_hour: Amount,
    /// The adapted price at target utilization.
    pub price_at_target: Amount,
    /// The owner's reference (where the price at target starts).
    pub reference: Amount,
    /// The owner's floor.
    pub floor: Amount,
    /// Utilization of the last reported epoch applied, in basis points.
    pub utilization_bps: u64,
    /// That epoch (0 before any).
    pub epoch: u64,
}

impl Client {
    /// The deployment's `CapacityPricer` binding (an error naming the fix for a deployment file
    /// written before it existed).
    pub fn pricer(
        &self,
    ) -> Result<CapacityPricer::CapacityPricerInstance<alloy::providers::DynProvider>> {
        let address = self.deployment().pricer.ok_or_else(|| {
            SdkError::Invalid(
                "this deployment has no capacity pricer (deployed before it existed): add its \
                 address as \"pricer\" in the deployment JSON"
                    .into(),
            )
        })?;
        Ok(CapacityPricer::new(address, self.provider().clone()))
    }

    /// `cluster_id`'s quote and its inputs (an error if its owner set no price curve).
    pub async fn quote(&self, cluster_id: u64) -> Result<Quote> {
        let pricer = self.pricer()?;
        let c = pricer.curveOf(cluster_id).call().await?;
        if c.referencePrice == 0 {
            return Err(SdkError::Invalid(format!(
                "cluster {cluster_id} has no price curve: its owner sets one first"
            )));
        }
        let quote = pricer.quote(cluster_id).call().await?;
        let decimals = self.decimals_of(self.deployment().stablecoin).await?;
        let amount = |v: U256| Amount::from_base(v, decimals);
        Ok(Quote {
            cluster_id,
            price_per_gpu_hour: amount(quote),
            price_at_target: amount(U256::from(c.priceAtTarget)),
            reference: amount(U256::from(c.referencePrice)),
            floor: amount(U256::from(c.floorPrice)),
            utilization_bps: c.lastUtilizationBps,
            epoch: c.lastReportedEpoch,
        })
    }

    /// Applies `cluster_id`'s reported epochs to its quote (anyone may; the report relayer does
    /// after each report). A cluster without a price curve is left alone. Returns the quote.
    pub async fn update_quote(&self, cluster_id: u64) -> Result<Option<Quote>> {
        let pricer = self.pricer()?;
        if pricer.curveOf(cluster_id).call().await?.referencePrice == 0 {
            return Ok(None);
        }
        transact(pricer.update(cluster_id)).await?;
        self.quote(cluster_id).await.map(Some)
    }
}

/// The owner's side of pricing.
impl crate::Owner {
    /// Sets the cluster's reference price and floor per GPU-hour (the price at target restarts
    /// at the reference).
    pub async fn set_price_curve(
        &self,
        cluster_id: u64,
        reference: Amount,
        floor: Amount,
    ) -> Result<()> {
        let to_u128 = |a: Amount, what: &str| {
            u128::try_from(a.base())
                .map_err(|_| SdkError::Invalid(format!("{what} price is too large")))
        };
        let pricer = self.client().pricer()?;
        let call =
            pricer.setCurve(cluster_id, to_u128(reference, "reference")?, to_u128(floor, "floor")?);
        transact(call).await?;
        Ok(())
    }

    /// Creates `offer` at the cluster's quote now (its own price is replaced); returns the lease
    /// id and the price it was created at.
    pub async fn create_lease_at_quote(&self, offer: &LeaseOffer) -> Result<(U256, Amount)> {
        let quote = self.client().quote(offer.cluster_id).await?;
        let priced = LeaseOffer { price_per_unit_hour: quote.price_per_gpu_hour, ..offer.clone() };
        Ok((self.create_lease(&priced).await?, quote.price_per_gpu_hour))
    }
}

/// The keeper's side: keep quotes and NAV feeds current after each round.
impl crate::Keeper {
    /// Applies new reports to the quotes of `clusters` (each one's `update`; one with nothing new
    /// to apply, or no price curve, is left alone). Returns the quotes that moved.
    pub async fn update_quotes(&self, clusters: &[u64]) -> Result<Vec<Quote>> {
        let pricer = self.client().pricer()?;
        let mut moved = Vec::new();
        for &cluster in clusters {
            match transact(pricer.update(cluster)).await {
                Ok(_) => moved.push(self.client().quote(cluster).await?),
                Err(SdkError::Contract(r))
                    if matches!(r.kind, ErrorKind::QuoteUpToDate | ErrorKind::NoPriceCurve) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(moved)
    }

    /// Pokes the NAV feeds of `leases` that have one (after their epochs settled): each feed's
    /// rise-cap anchor and trailing-ratio checkpoint move on. Returns the leases poked.
    pub async fn poke_navs(&self, leases: &[U256]) -> Result<Vec<U256>> {
        let Some(factory) = self.client().deployment().collateral else { return Ok(Vec::new()) };
        let factory = CollateralFactory::new(factory, self.client().provider().clone());
        let mut poked = Vec::new();
        for &lease in leases {
            let oracle = factory.oracleOf(lease).call().await?;
            if oracle == Address::ZERO {
                continue;
            }
            transact(LeaseNavOracle::new(oracle, self.client().provider().clone()).poke()).await?;
            poked.push(lease);
        }
        Ok(poked)
    }
}
