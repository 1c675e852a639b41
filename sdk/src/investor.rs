//! The investor's actions: buy lease shares from an owner's offer, transfer them, see positions
//! and claimable rent, claim it.

use std::collections::BTreeSet;

use alloy::{
    primitives::{Address, Bytes, U256},
    rpc::types::Filter,
    sol_types::SolEvent,
};

use crate::{
    Amount, Client, Result, SdkError,
    bindings::LeaseMarket,
    events::get_logs_adaptive,
    tx::{event_in, transact},
};

/// An owner's primary-sale offer of lease shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// Who sells (and is paid).
    pub seller: Address,
    /// Shares still offered.
    pub amount: u128,
    /// Price of one share.
    pub price_per_share: Amount,
}

/// An account's holding in one lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The lease (also the ERC-1155 token id).
    pub lease_id: U256,
    /// Shares held.
    pub shares: u128,
    /// Shares in existence.
    pub total_shares: u128,
    /// Settled rent the account may claim now.
    pub claimable: Amount,
}

impl Position {
    /// The held fraction of the lease's rent, in basis points.
    pub fn share_bps(&self) -> u128 {
        self.shares * 10_000 / self.total_shares.max(1)
    }
}

/// The investor role: a [`Client`] whose signer buys and holds lease shares.
#[derive(Debug, Clone)]
pub struct Investor {
    client: Client,
}

impl Investor {
    /// The investor role for `client`'s signer.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The current offer of lease `lease_id`'s shares.
    pub async fn offer(&self, lease_id: U256) -> Result<Offer> {
        let offer = self.client.market().offers(lease_id).call().await?;
        Ok(Offer {
            seller: offer.seller,
            amount: offer.amount,
            price_per_share: self.client.amount(offer.pricePerShare),
        })
    }

    /// Buys `amount` shares at the offer's price, paying at most `max_price_per_share` each:
    /// approves exactly the cost at today's price, so a re-priced offer fails instead of
    /// charging more. Returns what was paid.
    pub async fn buy_shares(
        &self,
        lease_id: U256,
        amount: u128,
        max_price_per_share: Amount,
    ) -> Result<Amount> {
        let offer = self.offer(lease_id).await?;
        if offer.amount < amount || offer.price_per_share.base() > max_price_per_share.base() {
            return Err(SdkError::Invalid(format!(
                "lease {lease_id} offers {} shares at {} each; asked for {amount} at most {}",
                offer.amount, offer.price_per_share, max_price_per_share
            )));
        }
        let cost = offer.price_per_share.base() * U256::from(amount);
        let stablecoin = self.client.stablecoin();
        transact(stablecoin.approve(self.client.deployment().market, cost)).await?;
        let market = self.client.market();
        let call = market.buyShares(lease_id, U256::from(amount), max_price_per_share.base());
        let receipt = transact(call).await?;
        Ok(self.client.amount(event_in::<LeaseMarket::SharesBought>(&receipt)?.cost))
    }

    /// Transfers `amount` shares to `to`; rent earned so far stays claimable by the sender.
    pub async fn transfer_shares(&self, lease_id: U256, to: Address, amount: u128) -> Result<()> {
        let market = self.client.market();
        let from = self.client.address();
        let call = market.safeTransferFrom(from, to, lease_id, U256::from(amount), Bytes::new());
        transact(call).await?;
        Ok(())
    }

    /// The account's position in one lease.
    pub async fn position(&self, lease_id: U256) -> Result<Position> {
        let market = self.client.market();
        let me = self.client.address();
        let shares = market.balanceOf(me, lease_id).call().await?;
        let lease = self.client.lease(lease_id).await?;
        Ok(Position {
            lease_id,
            shares: u128::try_from(shares).unwrap_or(u128::MAX),
            total_shares: lease.total_shares,
            claimable: self.claimable(lease_id).await?,
        })
    }

    /// Every lease the account ever received shares of, where it still holds shares or has rent
    /// to claim (found from the market's ERC-1155 transfer logs since deployment).
    pub async fn positions(&self) -> Result<Vec<Position>> {
        let deployment = self.client.deployment();
        let provider = self.client.provider();
        let head = alloy::providers::Provider::get_block_number(provider).await?;
        let received = Filter::new()
            .address(deployment.market)
            .event_signature(vec![
                LeaseMarket::TransferSingle::SIGNATURE_HASH,
                LeaseMarket::TransferBatch::SIGNATURE_HASH,
            ])
            .topic3(self.client.address().into_word());
        let mut range = 10_000;
        let logs =
            get_logs_adaptive(provider, &received, deployment.deploy_block, head, &mut range)
                .await?;
        let mut ids = BTreeSet::new();
        for log in &logs {
            if let Ok(single) = log.log_decode::<LeaseMarket::TransferSingle>() {
                ids.insert(single.inner.data.id);
            } else if let Ok(batch) = log.log_decode::<LeaseMarket::TransferBatch>() {
                ids.extend(batch.inner.data.ids.iter().copied());
            }
        }
        let mut positions = Vec::new();
        for id in ids {
            let position = self.position(id).await?;
            if position.shares > 0 || !position.claimable.base().is_zero() {
                positions.push(position);
            }
        }
        Ok(positions)
    }

    /// Disputes a reported epoch of a lease the account holds shares of, posting the challenge
    /// bond (holders carry the delivery risk, so they may challenge as the tenant may); see
    /// [`crate::challenge`].
    pub async fn challenge(&self, lease_id: U256, epoch: u64) -> Result<Amount> {
        crate::challenge(&self.client, lease_id, epoch).await
    }

    /// Withdraws returned or awarded challenge bonds.
    pub async fn withdraw_payout(&self) -> Result<Amount> {
        crate::withdraw_payout(&self.client).await
    }

    /// Settled rent the account may claim from lease `lease_id` now.
    pub async fn claimable(&self, lease_id: U256) -> Result<Amount> {
        let market = self.client.market();
        Ok(self.client.amount(market.claimable(lease_id, self.client.address()).call().await?))
    }

    /// Claims the rent the account's shares of `lease_id` earned; returns what was paid.
    pub async fn claim(&self, lease_id: U256) -> Result<Amount> {
        let receipt = transact(self.client.market().claim(lease_id)).await?;
        Ok(self.client.amount(event_in::<LeaseMarket::RentClaimed>(&receipt)?.amount))
    }

    /// Claims from every position with rent due; returns (lease, paid) for each claim made.
    pub async fn claim_all(&self) -> Result<Vec<(U256, Amount)>> {
        let mut paid = Vec::new();
        for position in self.positions().await? {
            if !position.claimable.base().is_zero() {
                paid.push((position.lease_id, self.claim(position.lease_id).await?));
            }
        }
        Ok(paid)
    }
}
