//! One nonce sequence per signing account per process.
//!
//! alloy's default nonce manager is per provider: two clients with the same key (the node's
//! keeper and report relayer may share one) hand out the same nonces, and a send that fails after
//! its nonce was reserved leaves a gap that every later transaction waits behind. Here every
//! provider the SDK builds draws from one process-wide sequence per (RPC endpoint, chain id,
//! address), and a failed send marks the sequence stale so the next nonce is read from the chain
//! again. The endpoint is part of the key because two endpoints may serve two chains with one
//! chain id (tests run many anvils, all on 31337, in one process).

use std::{
    collections::HashMap,
    sync::{
        Arc, LazyLock, Mutex, PoisonError, Weak,
        atomic::{AtomicBool, Ordering},
    },
};

use alloy::{
    network::Network,
    primitives::Address,
    providers::{Provider, fillers::NonceManager},
    transports::TransportResult,
};

/// The next nonce of one account on one chain, shared by every provider in the process.
#[derive(Debug, Default)]
struct NonceSlot {
    /// The nonce to hand out next; `None` until read from the chain.
    next: tokio::sync::Mutex<Option<u64>>,
    /// Set when a send failed: the next nonce must be read from the chain again.
    stale: AtomicBool,
}

/// Which account's sequence: (RPC endpoint, chain id, address).
type SlotKey = (String, u64, Address);

/// Every account's sequence in this process, held by the providers that use it: once they are
/// all dropped the sequence goes, and the next provider reads the nonce from the chain again (a
/// later devnet on the same port is another chain).
static SLOTS: LazyLock<Mutex<HashMap<SlotKey, Weak<NonceSlot>>>> = LazyLock::new(Default::default);

fn slot(key: SlotKey) -> Arc<NonceSlot> {
    let mut slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(slot) = slots.get(&key).and_then(Weak::upgrade) {
        return slot;
    }
    slots.retain(|_, slot| slot.strong_count() > 0);
    let slot = Arc::new(NonceSlot::default());
    slots.insert(key, Arc::downgrade(&slot));
    slot
}

/// Makes the next nonce of `address` be read from the chain again on every endpoint: after a
/// reorg dropped its transactions, or a receipt never came (the transaction may sit behind a gap).
pub(crate) fn resync_account(address: Address) {
    let slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
    for slot in slots.iter().filter(|((_, _, a), _)| *a == address).filter_map(|(_, s)| s.upgrade())
    {
        slot.stale.store(true, Ordering::SeqCst);
    }
}

/// A [`NonceManager`] drawing from the process-wide sequence of each (endpoint, chain id,
/// address), so providers that sign for the same account never hand out the same nonce. One per
/// provider: it remembers the chain id and the sequences it used, for
/// [`SharedNonceManager::resync`].
#[derive(Debug, Clone)]
pub(crate) struct SharedNonceManager {
    endpoint: String,
    chain_id: Arc<tokio::sync::OnceCell<u64>>,
    used: Arc<Mutex<HashMap<Address, Arc<NonceSlot>>>>,
}

impl SharedNonceManager {
    /// A manager for a provider of the RPC at `endpoint`.
    pub(crate) fn new(endpoint: String) -> Self {
        Self { endpoint, chain_id: Arc::default(), used: Arc::default() }
    }

    /// Makes the next nonce of every account this manager served be read from the chain's
    /// pending count again (after a failed send, so its nonce is reused instead of left as a
    /// gap, or after another process used the key).
    pub(crate) fn resync(&self) {
        let used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        for slot in used.values() {
            slot.stale.store(true, Ordering::SeqCst);
        }
    }
}

#[async_trait::async_trait]
impl NonceManager for SharedNonceManager {
    async fn get_next_nonce<P, N>(&self, provider: &P, address: Address) -> TransportResult<u64>
    where
        P: Provider<N>,
        N: Network,
    {
        let chain_id = *self.chain_id.get_or_try_init(|| provider.get_chain_id()).await?;
        let slot = slot((self.endpoint.clone(), chain_id, address));
        self.used.lock().unwrap_or_else(PoisonError::into_inner).insert(address, Arc::clone(&slot));
        // Held across the read from the chain so concurrent senders wait for it.
        let mut next = slot.next.lock().await;
        let stale = slot.stale.swap(false, Ordering::SeqCst);
        let nonce = match *next {
            Some(nonce) if !stale => nonce,
            _ => match provider.get_transaction_count(address).pending().await {
                Ok(nonce) => nonce,
                Err(e) => {
                    slot.stale.fetch_or(stale, Ordering::SeqCst);
                    return Err(e);
                }
            },
        };
        *next = Some(nonce + 1);
        Ok(nonce)
    }
}
