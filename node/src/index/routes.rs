//! Position updates routed per holder: the indexer hands each one to the subscribers of that
//! holder only (a map lookup), so a wallet's subscription never sees, decodes or buffers another
//! holder's updates, and a burst for one busy holder cannot push other wallets' subscriptions
//! behind. Each subscriber's queue is bounded; one that fills is dropped, and its subscription
//! closes with the "fell behind" error (it may have missed a rollback).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use alloy::primitives::{Address, U256};
use tokio::sync::mpsc;

/// Updates a subscriber may queue before it is dropped as too slow.
pub const SUBSCRIBER_QUEUE: usize = 256;

/// What a position subscriber receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    /// The holder's position in this lease changed.
    Position(U256),
    /// A reorg rolled back blocks `[from_block, to_block]` (sent to every subscriber).
    RolledBack {
        /// First block rolled back.
        from_block: u64,
        /// Last block rolled back.
        to_block: u64,
    },
}

/// The routing table: holder → the queues of its subscribers.
#[derive(Debug, Default)]
pub struct PositionRoutes {
    routes: Mutex<HashMap<Address, Vec<mpsc::Sender<Routed>>>>,
}

impl PositionRoutes {
    /// A queue of `holder`'s updates (and every rollback notice). It ends (`recv` gives `None`)
    /// if the subscriber fell [`SUBSCRIBER_QUEUE`] updates behind.
    pub fn subscribe(&self, holder: Address) -> mpsc::Receiver<Routed> {
        let (sender, receiver) = mpsc::channel(SUBSCRIBER_QUEUE);
        let mut table = self.table();
        let senders = table.entry(holder).or_default();
        // Subscribers that left since this holder's last update go now.
        senders.retain(|s| !s.is_closed());
        senders.push(sender);
        receiver
    }

    /// Hands `holder`'s update in `lease` to its subscribers only; never waits.
    pub fn position(&self, holder: Address, lease: U256) {
        let mut table = self.table();
        if let Some(senders) = table.get_mut(&holder) {
            senders.retain(|sender| sender.try_send(Routed::Position(lease)).is_ok());
            if senders.is_empty() {
                table.remove(&holder);
            }
        }
    }

    /// Tells every subscriber that blocks `[from_block, to_block]` were rolled back.
    pub fn rolled_back(&self, from_block: u64, to_block: u64) {
        let notice = Routed::RolledBack { from_block, to_block };
        self.table().retain(|_, senders| {
            senders.retain(|sender| sender.try_send(notice).is_ok());
            !senders.is_empty()
        });
    }

    /// Forgets `holder`'s subscribers that left (their queues dropped). Called as each
    /// subscription ends, so a churn of subscriptions to quiet holders leaves nothing behind.
    pub fn prune(&self, holder: Address) {
        let mut table = self.table();
        if let Some(senders) = table.get_mut(&holder) {
            senders.retain(|sender| !sender.is_closed());
            if senders.is_empty() {
                table.remove(&holder);
            }
        }
    }

    /// Holders with at least one subscriber.
    pub fn holders(&self) -> usize {
        self.table().len()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Address, Vec<mpsc::Sender<Routed>>>> {
        // The table stays consistent whatever a panicking holder of the lock was doing.
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Forgets its holder's departed subscribers when dropped: declare it before the receiver, so the
/// receiver is dropped (and its queue closed) first.
#[derive(Debug)]
pub struct PruneOnDrop<'a> {
    /// The routing table.
    pub routes: &'a PositionRoutes,
    /// The subscription's holder.
    pub holder: Address,
}

impl Drop for PruneOnDrop<'_> {
    fn drop(&mut self) {
        self.routes.prune(self.holder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_that_ended_leave_no_entry_behind() {
        let routes = PositionRoutes::default();
        for n in 0..1_000u16 {
            let holder = Address::left_padding_from(&n.to_be_bytes());
            let _guard = PruneOnDrop { routes: &routes, holder };
            let _queue = routes.subscribe(holder);
            assert_eq!(routes.holders(), 1);
        }
        assert_eq!(routes.holders(), 0, "a thousand quiet holders' ended subscriptions linger");

        // A holder with a live subscriber keeps it when another of its subscriptions ends.
        let holder = Address::with_last_byte(7);
        let mut live = routes.subscribe(holder);
        {
            let _guard = PruneOnDrop { routes: &routes, holder };
            let _ended = routes.subscribe(holder);
        }
        routes.position(holder, U256::from(1));
        assert_eq!(live.try_recv().ok(), Some(Routed::Position(U256::from(1))));
        assert_eq!(routes.holders(), 1);
    }
}
