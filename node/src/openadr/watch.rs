//! Tells a cluster's oracle which demand-response events its site acknowledged on chain, so every
//! attestor node of the cluster (owner, tenant, auditor) attests the same events and builds the
//! same deliveries tree. It records each acknowledged event of the cluster in the oracle's store
//! and, after each complete pass, the time up to which every acknowledgement is known; the oracle
//! holds an epoch open until that time passes the epoch's end (see
//! [`compute_ledger_oracle::Oracle::waiting_for_curtailments`]).

use std::time::Duration;

use alloy::primitives::Address;
use compute_ledger_oracle::{CurtailmentWindow, SampleStore, unix_now};
use compute_ledger_sdk::Client;

use crate::{Result, Shutdown};

/// A block may carry a timestamp a little before the moment this node first sees it: a pass is
/// taken to cover acknowledgements up to this long before it started.
pub const ACK_SYNC_MARGIN_S: u64 = 3;

/// Blocks re-read below the stored cursor after a restart: an acknowledgement in a block a
/// shallow reorg replaced is read again from the new chain.
pub const ACK_REREAD_BLOCKS: u64 = 64;

/// Follows one cluster's acknowledgements.
#[derive(Debug)]
pub struct AckWatch {
    client: Client,
    cluster_id: u64,
    contract: Address,
    store: SampleStore,
    next_block: u64,
}

impl AckWatch {
    /// Watches `client`'s deployment for `cluster_id`'s acknowledged events, recording them in
    /// the oracle's `store`; resumes a little before where the last run stopped.
    pub fn new(client: Client, cluster_id: u64, store: SampleStore) -> Result<Self> {
        let contract = *client.demand_response()?.address();
        let deployed = client.deployment().deploy_block;
        let resume = store.ack_cursor()?.map(|b| b.saturating_sub(ACK_REREAD_BLOCKS));
        let next_block = resume.unwrap_or(deployed).max(deployed);
        Ok(Self { client, cluster_id, contract, store, next_block })
    }

    /// The next block a pass reads from.
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// One pass from the last block seen to the head; returns the events newly recorded.
    pub async fn sync(&mut self) -> Result<Vec<CurtailmentWindow>> {
        let started = unix_now();
        let (head, head_time) = self.client.head().await?;
        let mut recorded = Vec::new();
        if head >= self.next_block {
            for (event_id, _) in
                self.client.curtailment_acknowledgements(self.next_block, head).await?
            {
                let info = self.client.curtailment_event(event_id).await?;
                if info.cluster_id != self.cluster_id {
                    continue;
                }
                let window = CurtailmentWindow {
                    demand_response: self.contract,
                    event_id,
                    start: info.start,
                    end: info.end,
                };
                self.store.put_curtailment(&window)?;
                recorded.push(window);
            }
        }
        // Covered: up to the head block's time, and never past this node's clock (a block may
        // carry a time a little before the moment it is seen).
        let synced = started.saturating_sub(ACK_SYNC_MARGIN_S).min(head_time);
        if self.store.curtailments_synced()?.is_none_or(|before| synced > before) {
            self.store.set_curtailments_synced(synced)?;
        }
        self.next_block = self.next_block.max(head + 1);
        self.store.set_ack_cursor(self.next_block)?;
        self.store.flush().await?;
        Ok(recorded)
    }

    /// Syncs every `every` until shutdown; a chain failure is logged and retried with backoff
    /// (the oracle meanwhile holds the epoch open, for at most its grace).
    pub async fn run(mut self, every: Duration, shutdown: Shutdown) -> Result<()> {
        let what = format!("acknowledgement watch of cluster {}", self.cluster_id);
        let mut pacer = super::Pacer::new(every, &shutdown);
        loop {
            let synced = self.sync().await.map(|recorded| {
                for w in recorded {
                    tracing::info!(
                        cluster = self.cluster_id,
                        event = %w.event_id,
                        "acknowledged demand-response event recorded for attestation"
                    );
                }
            });
            if pacer.after(&what, synced).await {
                return Ok(());
            }
        }
    }
}
