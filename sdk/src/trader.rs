//! The trader's actions on the share exchange: place asks and bids for lease shares, fill other
//! traders' orders, cancel one's own, read an order.

use alloy::{
    eips::BlockId,
    primitives::{Address, U256},
};

use crate::{
    Amount, Client, Result, SdkError,
    bindings::{DevStablecoin, ShareExchange},
    tx::{event_in, transact},
};

/// Which side of the book an order is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The maker sells shares it holds (they stay in its wallet until filled).
    Ask,
    /// The maker buys; its cost is escrowed in the exchange.
    Bid,
}

/// A limit order as the exchange stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// Order id.
    pub id: u64,
    /// The lease whose shares trade.
    pub lease_id: U256,
    /// Who placed it.
    pub maker: Address,
    /// Ask or bid.
    pub side: Side,
    /// The lease's stablecoin (the order is priced and paid in it).
    pub stablecoin: Address,
    /// Shares left (0 once filled or cancelled).
    pub remaining: u128,
    /// Price of one share.
    pub price_per_share: Amount,
    /// Unix seconds; the order fills strictly before it.
    pub expiry: u64,
}

/// A fill's outcome: shares moved and what the buyer paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// Shares moved from the seller to the buyer.
    pub shares: u128,
    /// What the buyer paid the seller.
    pub cost: Amount,
    /// Shares the order has left.
    pub remaining: u128,
}

/// The trader role: a [`Client`] whose signer trades lease shares on the deployment's
/// `ShareExchange`.
#[derive(Debug, Clone)]
pub struct Trader {
    client: Client,
}

impl Trader {
    /// The trader role for `client`'s signer.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Order `id` (an error if no such order was ever placed).
    pub async fn order(&self, id: u64) -> Result<Order> {
        let o = self.client.exchange()?.getOrder(U256::from(id)).call().await?;
        if o.maker == Address::ZERO {
            return Err(SdkError::Invalid(format!("no order {id} on the exchange")));
        }
        let lease_id = U256::from(o.leaseId);
        let stablecoin = self.client.market().leaseStatus(lease_id).call().await?.stablecoin;
        let decimals = self.client.decimals_of(stablecoin).await?;
        Ok(Order {
            id,
            lease_id,
            maker: o.maker,
            side: if o.bid { Side::Bid } else { Side::Ask },
            stablecoin,
            remaining: o.remaining,
            price_per_share: Amount::from_base(U256::from(o.pricePerShare), decimals),
            expiry: o.expiry.to::<u64>(),
        })
    }

    /// Offers `amount` shares of `lease_id` at `price_per_share` until `expiry` (unix seconds).
    /// The shares stay in the wallet, earning rent, until filled; approves the exchange to move
    /// this account's shares first if it may not yet. Returns the order id.
    pub async fn place_ask(
        &self,
        lease_id: U256,
        amount: u128,
        price_per_share: Amount,
        expiry: u64,
    ) -> Result<u64> {
        self.approve_shares().await?;
        let exchange = self.client.exchange()?;
        let call = exchange.placeAsk(lease_id, U256::from(amount), price_per_share.base(), expiry);
        order_id(&event_in::<ShareExchange::OrderPlaced>(&transact(call).await?)?)
    }

    /// Bids for `amount` shares of `lease_id` at `price_per_share` until `expiry`, escrowing the
    /// whole cost (approves exactly that much first). Returns the order id.
    pub async fn place_bid(
        &self,
        lease_id: U256,
        amount: u128,
        price_per_share: Amount,
        expiry: u64,
    ) -> Result<u64> {
        let exchange = self.client.exchange()?;
        let stablecoin = self.client.lease(lease_id).await?.stablecoin;
        let cost = price_per_share.base().checked_mul(U256::from(amount)).ok_or_else(|| {
            SdkError::Invalid(format!("{amount} shares at {price_per_share} overflow"))
        })?;
        let token = DevStablecoin::new(stablecoin, self.client.provider().clone());
        transact(token.approve(*exchange.address(), cost)).await?;
        let call = exchange.placeBid(lease_id, U256::from(amount), price_per_share.base(), expiry);
        order_id(&event_in::<ShareExchange::OrderPlaced>(&transact(call).await?)?)
    }

    /// Takes `amount` shares of order `id` at its price: buys from an ask (approves exactly the
    /// cost first) or sells into a bid (approves the exchange to move this account's shares if
    /// it may not yet).
    pub async fn fill(&self, id: u64, amount: u128) -> Result<Fill> {
        let order = self.order(id).await?;
        let exchange = self.client.exchange()?;
        match order.side {
            Side::Ask => {
                // Nothing left (or nothing asked): no approval; the fill's own error says why.
                let cost = order.price_per_share.base() * U256::from(amount.min(order.remaining));
                if !cost.is_zero() {
                    let token =
                        DevStablecoin::new(order.stablecoin, self.client.provider().clone());
                    transact(token.approve(*exchange.address(), cost)).await?;
                }
            }
            Side::Bid => self.approve_shares().await?,
        }
        let receipt = transact(exchange.fill(U256::from(id), U256::from(amount))).await?;
        let filled = event_in::<ShareExchange::OrderFilled>(&receipt)?;
        // What is left at the end of the fill's block (the order read above may be stale).
        let block = receipt.block_number.map_or(BlockId::latest(), BlockId::number);
        let after = exchange.getOrder(U256::from(id)).block(block).call().await?;
        Ok(Fill {
            shares: u128::try_from(filled.amount).unwrap_or(u128::MAX),
            cost: Amount::from_base(filled.cost, order.price_per_share.decimals()),
            remaining: after.remaining,
        })
    }

    /// Cancels what is left of order `id` (this account's own at any time; anyone's once it is
    /// expired or its lease no longer trades). Returns the escrow refunded to the maker.
    pub async fn cancel(&self, id: u64) -> Result<Amount> {
        let order = self.order(id).await?;
        let receipt = transact(self.client.exchange()?.cancel(U256::from(id))).await?;
        let cancelled = event_in::<ShareExchange::OrderCancelled>(&receipt)?;
        Ok(Amount::from_base(cancelled.refund, order.price_per_share.decimals()))
    }

    /// Lets the exchange move this account's shares (for asks and for selling into bids).
    async fn approve_shares(&self) -> Result<()> {
        let exchange = *self.client.exchange()?.address();
        let market = self.client.market();
        if !market.isApprovedForAll(self.client.address(), exchange).call().await? {
            transact(market.setApprovalForAll(exchange, true)).await?;
        }
        Ok(())
    }
}

fn order_id(placed: &ShareExchange::OrderPlaced) -> Result<u64> {
    u64::try_from(placed.orderId)
        .map_err(|_| SdkError::Invalid(format!("order id {} out of range", placed.orderId)))
}
