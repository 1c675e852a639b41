//! The share exchange in the index: orders, each lease's open book in price order, fills, and
//! each lease's trading so far, all written with the range that emitted them (and undone with it).

use alloy::primitives::{Address, U256};
use compute_ledger_sdk::{
    LedgerLog,
    bindings::ShareExchange::{OrderPlaced, ShareExchangeEvents as X},
};

use super::{
    apply::Changes,
    model::{OrderBook, OrderRow, OrderSide, OrderStatus, TradeRow, TradingStats},
    store::Index,
};
use crate::{NodeError, Result};

fn order_key(id: u64) -> String {
    format!("order/{id:016x}")
}

/// The prefix of a lease's open orders on one side. Asks rank by price, bids by its complement,
/// so a forward scan meets the best price first; equal prices meet the oldest order first.
fn book_prefix(lease: U256, side: OrderSide) -> String {
    let side = match side {
        OrderSide::Ask => 'a',
        OrderSide::Bid => 'b',
    };
    format!("book/{lease:064x}/{side}/")
}

fn book_key(order: &OrderRow) -> String {
    let rank = match order.side {
        OrderSide::Ask => order.price_per_share,
        OrderSide::Bid => U256::MAX - order.price_per_share,
    };
    format!("{}{rank:064x}/{:016x}", book_prefix(order.lease_id, order.side), order.id)
}

fn maker_prefix(maker: Address) -> String {
    format!("ordmk/{}/", alloy::hex::encode(maker))
}

fn trades_prefix(lease: U256) -> String {
    format!("trade/{lease:064x}/")
}

fn trading_key(lease: U256) -> String {
    format!("tstat/{lease:064x}")
}

/// A trade's cursor: its block and position, in key order.
pub fn trade_cursor(trade: &TradeRow) -> String {
    format!("{:016x}{:08x}", trade.block, trade.log_index)
}

/// The order id at the end of a book or maker key.
fn id_at_end(key: &str) -> Result<u64> {
    let hex = key.rsplit('/').next().unwrap_or_default();
    u64::from_str_radix(hex, 16).map_err(|e| NodeError::Corrupt {
        key: key.to_string(),
        reason: format!("not an order id: {e}"),
    })
}

pub(super) fn apply(ch: &mut Changes<'_>, log: &LedgerLog, event: &X) -> Result<()> {
    match event {
        X::OrderPlaced(e) => placed(ch, log, e),
        X::OrderFilled(e) => {
            let id = order_id(e.orderId)?;
            // The event carries only what the order does not: what is left follows from it.
            let order = ch.update(order_key(id), |o: &mut OrderRow| {
                o.remaining = o.remaining.saturating_sub(e.amount);
                if o.remaining.is_zero() {
                    o.status = OrderStatus::Filled;
                }
            })?;
            if order.status == OrderStatus::Filled {
                ch.remove_plain(book_key(&order));
            }
            // What each side paid and received, on its position (the share movement that
            // follows in the same transaction moves the shares).
            let (buyer, seller) = match order.side {
                OrderSide::Ask => (e.taker, order.maker),
                OrderSide::Bid => (order.maker, e.taker),
            };
            let mut bought = ch.position(buyer, order.lease_id)?;
            bought.cost += e.cost;
            ch.put_position(bought);
            let mut sold = ch.position(seller, order.lease_id)?;
            sold.proceeds += e.cost;
            ch.put_position(sold);
            let trade = TradeRow {
                order_id: id,
                lease_id: order.lease_id,
                maker: order.maker,
                taker: e.taker,
                side: order.side,
                amount: e.amount,
                price_per_share: order.price_per_share,
                cost: e.cost,
                block: log.block_number,
                log_index: log.log_index,
                timestamp: log.block_timestamp,
                tx_hash: log.tx_hash,
            };
            let mut stats: TradingStats = ch.get(&trading_key(order.lease_id))?.unwrap_or_default();
            stats.trades += 1;
            stats.volume_shares += e.amount;
            stats.volume += e.cost;
            stats.last_price = Some(order.price_per_share);
            stats.last_trade_block = Some(log.block_number);
            ch.put(trading_key(order.lease_id), stats);
            ch.put(format!("{}{}", trades_prefix(order.lease_id), trade_cursor(&trade)), trade);
            Ok(())
        }
        X::OrderCancelled(e) => {
            let id = order_id(e.orderId)?;
            // The book key names lease, side, price and id, none of which a cancel changes.
            let order = ch.update(order_key(id), |o: &mut OrderRow| {
                o.remaining = U256::ZERO;
                o.status = OrderStatus::Cancelled;
            })?;
            ch.remove_plain(book_key(&order));
            Ok(())
        }
    }
}

fn placed(ch: &mut Changes<'_>, log: &LedgerLog, e: &OrderPlaced) -> Result<()> {
    let order = OrderRow {
        id: order_id(e.orderId)?,
        lease_id: e.leaseId,
        maker: e.maker,
        side: if e.bid { OrderSide::Bid } else { OrderSide::Ask },
        stablecoin: e.stablecoin,
        amount: e.amount,
        remaining: e.amount,
        price_per_share: e.pricePerShare,
        expiry: e.expiry,
        status: OrderStatus::Open,
        placed_block: log.block_number,
    };
    ch.put_plain(book_key(&order), Vec::new());
    ch.put_plain(format!("{}{:016x}", maker_prefix(order.maker), order.id), Vec::new());
    ch.put(order_key(order.id), order);
    Ok(())
}

fn order_id(id: U256) -> Result<u64> {
    u64::try_from(id).map_err(|_| NodeError::Corrupt {
        key: format!("order {id}"),
        reason: "an order id beyond 64 bits".into(),
    })
}

impl Index {
    /// One order.
    pub fn order(&self, id: u64) -> Result<Option<OrderRow>> {
        self.get(&order_key(id))
    }

    fn existing_order(&self, key: &str) -> Result<OrderRow> {
        let id = id_at_end(key)?;
        self.order(id)?.ok_or_else(|| NodeError::Corrupt {
            key: key.to_string(),
            reason: "an order key refers to an order the index does not have".into(),
        })
    }

    /// Lease `lease`'s open orders, at most `depth` a side, best price first, with its trading
    /// so far: reads O(depth) keys.
    pub fn order_book(&self, lease: U256, depth: usize) -> Result<OrderBook> {
        let side = |side| -> Result<Vec<OrderRow>> {
            self.page_after(&book_prefix(lease, side), None, depth)?
                .iter()
                .map(|(key, _)| self.existing_order(key))
                .collect()
        };
        Ok(OrderBook {
            lease_id: lease,
            asks: side(OrderSide::Ask)?,
            bids: side(OrderSide::Bid)?,
            stats: self.get(&trading_key(lease))?.unwrap_or_default(),
        })
    }

    /// Lease `lease`'s fills in chain order after `after` (a [`trade_cursor`]), at most `limit`.
    pub fn trades(&self, lease: U256, after: Option<&str>, limit: usize) -> Result<Vec<TradeRow>> {
        self.page_after(&trades_prefix(lease), after, limit)?
            .iter()
            .map(|(key, value)| super::store::decode(key, value))
            .collect()
    }

    /// The orders `maker` placed, in id order after order `after`, at most `limit`.
    pub fn orders_of(
        &self,
        maker: Address,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<OrderRow>> {
        let after = after.map(|id| format!("{id:016x}"));
        self.page_after(&maker_prefix(maker), after.as_deref(), limit)?
            .iter()
            .map(|(key, _)| self.existing_order(key))
            .collect()
    }
}
