//! The indexer loop: backfill the ledger's events from the deployment block, then follow the
//! head a few confirmations behind; detect reorgs by block hash and roll back with undo records.

use std::{collections::HashMap, sync::Arc, sync::atomic::Ordering, time::Duration};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::B256,
    providers::{DynProvider, Provider},
};
use compute_ledger_sdk::{
    Deployment, LedgerEvent, LedgerEvents, LedgerLog, MAX_RANGE, SdkError,
    bindings::ClusterRegistry::ClusterRegistryEvents,
};
use tokio::sync::{broadcast, mpsc, watch};

use crate::{
    Backoff, NodeError, Result, Shutdown,
    index::{Index, PositionRoutes, RangeRecord, Update, model::SyncStatus},
    metrics::Metrics,
};

/// Test-only fault injection: with `COMPUTE_LEDGER_FAULT_ABORT_AFTER_COMMITS=N` set, the process
/// aborts (no unwinding, no flush on exit, like a kill -9) right after the indexer's N-th
/// committed range, so crash tests stop it at exact points. Inert when unset.
pub const FAULT_ABORT_AFTER_COMMITS: &str = "COMPUTE_LEDGER_FAULT_ABORT_AFTER_COMMITS";

/// Events per atomic batch by default: a denser range is applied in several batches, each
/// ending at a block boundary.
pub const MAX_BATCH_LOGS: usize = 10_000;

/// Where the first batch of `logs` ends: the number of logs in it, covering whole blocks, at
/// most `max` unless one block alone has more; `None` when all of `logs` fit.
pub fn batch_end(logs: &[LedgerLog], max: usize) -> Option<usize> {
    if logs.len() <= max {
        return None;
    }
    let boundary = logs[max].block_number;
    // Back off to the start of the block that straddles the cap...
    let fits = logs[..max].iter().rposition(|log| log.block_number != boundary).map(|i| i + 1);
    // ...or, when that block alone exceeds it, take the whole block.
    Some(fits.unwrap_or_else(|| {
        logs.iter().position(|log| log.block_number != boundary).unwrap_or(logs.len())
    }))
}

/// The hash of block `number` (`None`: the chain has no such block).
async fn block_hash(provider: &DynProvider, number: u64) -> Result<Option<B256>> {
    let block = provider
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await
        .map_err(SdkError::from)?;
    Ok(block.map(|b| b.header.hash))
}

/// Gives each `ReportAccepted` log its block's timestamp (the keeper times challenge windows
/// from it) where the RPC's logs lack `blockTimestamp`: one header read per such block.
async fn fill_report_times(provider: &DynProvider, logs: &mut [LedgerLog]) -> Result<()> {
    let mut times: HashMap<u64, u64> = HashMap::new();
    for log in logs.iter_mut().filter(|log| {
        log.block_timestamp.is_none()
            && matches!(log.event, LedgerEvent::Registry(ClusterRegistryEvents::ReportAccepted(_)))
    }) {
        let time = match times.get(&log.block_number) {
            Some(time) => *time,
            None => {
                let block = provider
                    .get_block_by_number(BlockNumberOrTag::Number(log.block_number))
                    .await
                    .map_err(SdkError::from)?
                    .ok_or_else(|| SdkError::Log {
                        block: Some(log.block_number),
                        reason: "the RPC has no header for a block it returned logs of".into(),
                    })?;
                times.insert(log.block_number, block.header.timestamp);
                block.header.timestamp
            }
        };
        log.block_timestamp = Some(time);
    }
    Ok(())
}

/// Blocks `[from, to]`, the hash of block `to`, and their logs: what is applied.
struct Blocks {
    from: u64,
    to: u64,
    hash: B256,
    logs: Vec<LedgerLog>,
}

/// How a backfill sizes its requests, carried from step to step.
#[derive(Debug, Clone)]
struct FetchAhead {
    events: LedgerEvents,
    /// Blocks per chunk: starts at one, at most doubles per chunk (a sparse history is crossed
    /// in few requests) and shrinks to the density seen (a dense one never pulls far more than
    /// one batch of events at a time).
    blocks: u64,
}

/// Fetches blocks `[from, to]` (all final) in chunks of about `target` events, sending each to
/// the applier while it fetches the next. Stops early, without an error, if the chain answers
/// inconsistently: the next step starts from there again.
async fn fetch_ahead(
    provider: DynProvider,
    mut ahead: FetchAhead,
    from: u64,
    to: u64,
    target: usize,
    chunks: mpsc::Sender<Blocks>,
) -> Result<FetchAhead> {
    let mut start = from;
    while start <= to {
        let end = to.min(start.saturating_add(ahead.blocks - 1));
        let Some(hash) = block_hash(&provider, end).await? else { return Ok(ahead) };
        let mut logs = ahead.events.fetch(start, end).await?;
        if logs.iter().any(|log| log.block_number == end && log.block_hash != hash) {
            return Ok(ahead);
        }
        fill_report_times(&provider, &mut logs).await?;
        let seen = logs.len().max(1) as u64;
        let dense = (end - start + 1).saturating_mul(target as u64) / seen;
        ahead.blocks = dense.clamp(1, ahead.blocks.saturating_mul(2)).min(MAX_RANGE);
        if chunks.send(Blocks { from: start, to: end, hash, logs }).await.is_err() {
            return Ok(ahead); // the applier stopped: its error is the step's
        }
        start = end + 1;
    }
    Ok(ahead)
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Applied blocks `[from, to]`.
    Applied {
        /// First block.
        from: u64,
        /// Last block.
        to: u64,
    },
    /// Rolled back this many ranges after a reorg.
    RolledBack(usize),
    /// Nothing new is confirmed.
    Idle,
}

/// Keeps an [`Index`] in step with the chain.
#[derive(Debug)]
pub struct Indexer {
    index: Index,
    provider: DynProvider,
    events: LedgerEvents,
    /// The backfill's request sizing.
    ahead: FetchAhead,
    deployment: Deployment,
    confirmations: u64,
    max_range: u64,
    max_batch_logs: usize,
    updates: broadcast::Sender<Update>,
    /// Position updates, routed to each holder's subscribers only.
    positions: Arc<PositionRoutes>,
    status: watch::Sender<SyncStatus>,
    metrics: Arc<Metrics>,
    /// Ranges committed by this indexer, and after how many to abort ([`FAULT_ABORT_AFTER_COMMITS`]).
    commits: u64,
    abort_after_commits: Option<u64>,
}

impl Indexer {
    /// An indexer of `deployment` into `index` (bound to the deployment on first use).
    pub fn new(
        index: Index,
        provider: DynProvider,
        deployment: Deployment,
        confirmations: u64,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        index.bind(&deployment)?;
        let (updates, _) = broadcast::channel(1024);
        let status = watch::Sender::new(SyncStatus {
            deploy_block: deployment.deploy_block,
            confirmations,
            indexed_block: index.cursor()?.and_then(|c| c.checked_sub(1)),
            ..SyncStatus::default()
        });
        let events = LedgerEvents::new(provider.clone(), deployment.clone());
        let abort_after_commits = match std::env::var(FAULT_ABORT_AFTER_COMMITS) {
            Ok(n) => Some(n.parse().map_err(|e| NodeError::Config {
                origin: FAULT_ABORT_AFTER_COMMITS.into(),
                reason: format!("{n:?} is not a number of commits ({e}); unset it (test-only)"),
            })?),
            Err(_) => None,
        };
        Ok(Self {
            index,
            provider,
            ahead: FetchAhead { events: events.clone(), blocks: 1 },
            events,
            deployment,
            confirmations,
            max_range: MAX_RANGE,
            max_batch_logs: MAX_BATCH_LOGS,
            updates,
            positions: Arc::default(),
            status,
            metrics,
            commits: 0,
            abort_after_commits,
        })
    }

    /// Caps blocks per applied range (smaller ranges: more, smaller atomic batches).
    pub fn with_max_range(mut self, blocks: u64) -> Self {
        self.max_range = blocks.max(1);
        self
    }

    /// Caps events per atomic batch (at block boundaries; a block is never split) instead of
    /// [`MAX_BATCH_LOGS`].
    pub fn with_max_batch_logs(mut self, logs: usize) -> Self {
        self.max_batch_logs = logs.max(1);
        self
    }

    /// Updates as ranges are applied (for subscriptions).
    pub fn updates(&self) -> broadcast::Sender<Update> {
        self.updates.clone()
    }

    /// Position updates by holder (for `ledger_subscribePositions`).
    pub fn positions(&self) -> Arc<PositionRoutes> {
        self.positions.clone()
    }

    /// The sync status, kept current.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    /// Whether the chain still has block `number` with `hash`.
    async fn on_chain(&self, number: u64, hash: B256) -> Result<bool> {
        Ok(block_hash(&self.provider, number).await? == Some(hash))
    }

    /// Runs `work` on the index in a blocking thread: sled's fsyncs never stall the runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(Index) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || work(index)).await.map_err(|e| NodeError::Index {
            path: self.index.path().to_path_buf(),
            reason: format!("the index writer thread failed: {e}"),
        })?
    }

    /// Rolls back every applied range whose end block's hash the chain no longer has, after
    /// finding the common ancestor among the kept undo records; if it is older than all of them,
    /// rolls back nothing and fails with [`NodeError::ReorgTooDeep`].
    async fn unwind_reorg(&mut self) -> Result<usize> {
        let Some(newest) = self.index.last_range()? else {
            // Only final ranges so far (a backfill): the floor must still be on the chain.
            return match self.index.floor()? {
                Some(floor) if !self.on_chain(floor.to, floor.hash).await? => {
                    Err(NodeError::ReorgTooDeep {
                        block: floor.to,
                        window: self.index.undo_window(),
                        index: self.index.path().to_path_buf(),
                    })
                }
                _ => Ok(0),
            };
        };
        if self.on_chain(newest.to, newest.hash).await? {
            return Ok(0);
        }
        let to_block = newest.to;
        let mut oldest_orphan: RangeRecord = newest;
        let mut orphaned = 1;
        // Walk back, reading only, to the newest kept range the chain still has.
        let ancestor_kept = loop {
            match self.index.range_before(oldest_orphan.from)? {
                Some(range) if self.on_chain(range.to, range.hash).await? => break true,
                Some(range) => {
                    oldest_orphan = range;
                    orphaned += 1;
                }
                None => break false,
            }
        };
        if !ancestor_kept {
            // Every kept range is orphaned: what lies below them must still be on the chain.
            let rooted = match self.index.floor()? {
                Some(floor) => self.on_chain(floor.to, floor.hash).await?,
                None => oldest_orphan.from <= self.deployment.deploy_block,
            };
            if !rooted {
                return Err(NodeError::ReorgTooDeep {
                    block: oldest_orphan.from,
                    window: self.index.undo_window(),
                    index: self.index.path().to_path_buf(),
                });
            }
        }
        // One atomic batch per range: a crash in between leaves a consistent, shorter index
        // whose remaining orphans the next poll finds again.
        for _ in 0..orphaned {
            self.blocking(|index| index.rollback_last()).await?;
        }
        let from_block = oldest_orphan.from;
        self.metrics.reorgs.fetch_add(1, Ordering::Relaxed);
        self.status.send_modify(|s| s.reorgs += 1);
        tracing::warn!(
            ranges = orphaned,
            from_block,
            to_block,
            "reorg: rolled back to the common ancestor"
        );
        let _ = self.updates.send(Update::RolledBack { from_block, to_block });
        self.positions.rolled_back(from_block, to_block);
        Ok(orphaned)
    }

    /// One poll: undo a reorg if the chain changed, else apply the next confirmed range.
    pub async fn step(&mut self) -> Result<Step> {
        let head = self.provider.get_block_number().await.map_err(SdkError::from)?;
        self.metrics.head_block.store(head, Ordering::Relaxed);
        let undone = self.unwind_reorg().await?;
        if undone > 0 {
            return Ok(Step::RolledBack(undone));
        }
        let from = self.index.cursor()?.unwrap_or(self.deployment.deploy_block);
        let confirmed = head.saturating_sub(self.confirmations);
        self.publish_status(head, from);
        if from > confirmed {
            return Ok(Step::Idle);
        }
        let to = confirmed.min(from + self.max_range - 1);
        // Deep below the head (a backfill) no reorg can reach: fetch ahead while applying.
        let last_final = head.checked_sub(self.index.undo_depth() + 1);
        if let Some(last_final) = last_final.filter(|last| *last >= from) {
            return self.backfill(head, from, to.min(last_final)).await;
        }
        // The hash is read before the logs: if the chain reorganises in between, the stored hash
        // is the old one and the next step rolls this range back.
        let Some(hash) = block_hash(&self.provider, to).await? else { return Ok(Step::Idle) };
        let mut logs = self.events.fetch(from, to).await?;
        fill_report_times(&self.provider, &mut logs).await?;
        if logs.iter().any(|log| log.block_number == to && log.block_hash != hash) {
            return Ok(Step::Idle); // the chain moved under us; retry
        }
        // A range with many events is applied as several batches ending at block boundaries, so
        // memory is bounded by the batch, not by how dense the range is.
        self.apply_logs(head, Blocks { from, to, hash, logs }).await?;
        Ok(Step::Applied { from, to })
    }

    /// Applies the final blocks `[from, to]` chunk by chunk while the next chunk is fetched: the
    /// pull and the apply overlap, and memory holds at most three chunks.
    async fn backfill(&mut self, head: u64, from: u64, to: u64) -> Result<Step> {
        let (chunks, mut fetched) = mpsc::channel(1);
        let ahead = self.ahead.clone();
        let fetcher =
            fetch_ahead(self.provider.clone(), ahead, from, to, self.max_batch_logs, chunks);
        let applier = async {
            let mut applied = None;
            while let Some(blocks) = fetched.recv().await {
                let to = blocks.to;
                self.apply_logs(head, blocks).await?;
                applied = Some(to);
            }
            Ok::<_, NodeError>(applied)
        };
        // Joined, not raced: a failed pull never cuts short a batch being applied (its
        // subscribers' updates would be lost), and the chunks already pulled are applied first.
        let (fetched, applied) = tokio::join!(fetcher, applier);
        let applied = applied?;
        match (fetched, applied) {
            (Ok(ahead), applied) => {
                self.ahead = ahead;
                Ok(applied.map_or(Step::Idle, |to| Step::Applied { from, to }))
            }
            // Progress was made: the next step meets the failed pull again and reports it.
            (Err(e), Some(to)) => {
                tracing::debug!("indexer: backfill pull stopped after block {to}: {e}");
                Ok(Step::Applied { from, to })
            }
            (Err(e), None) => Err(e),
        }
    }

    /// Applies `blocks` in batches of at most the configured number of events, each ending at a
    /// block boundary.
    async fn apply_logs(&mut self, head: u64, blocks: Blocks) -> Result<()> {
        let Blocks { from, to, hash, logs } = blocks;
        let mut start = from;
        let mut rest = logs;
        while !rest.is_empty() || start <= to {
            let (end, end_hash, batch) = match batch_end(&rest, self.max_batch_logs) {
                Some(split) if rest[split - 1].block_number < to => {
                    let tail = rest.split_off(split);
                    let last = &rest[split - 1];
                    (last.block_number, last.block_hash, std::mem::replace(&mut rest, tail))
                }
                _ => (to, hash, std::mem::take(&mut rest)),
            };
            let blocks = Blocks { from: start, to: end, hash: end_hash, logs: batch };
            self.apply_batch(head, blocks).await?;
            start = end + 1;
        }
        Ok(())
    }

    /// Applies `blocks` as one atomic batch and tells subscribers what changed.
    async fn apply_batch(&mut self, head: u64, blocks: Blocks) -> Result<()> {
        let Blocks { from, to, hash, logs } = blocks;
        // Deep below the head a range cannot reorganise: no undo record (read or written).
        let final_range = head.saturating_sub(to) > self.index.undo_depth();
        let updates = self
            .blocking(move |index| {
                if final_range {
                    index.apply_final_range(from, to, hash, &logs)
                } else {
                    index.apply_range(from, to, hash, &logs)
                }
            })
            .await?;
        self.commits += 1;
        if self.abort_after_commits == Some(self.commits) {
            eprintln!(
                "{FAULT_ABORT_AFTER_COMMITS}: aborting after {} committed ranges",
                self.commits
            );
            std::process::abort();
        }
        for update in updates {
            match &update {
                Update::Report(_) => self.metrics.reports_indexed.fetch_add(1, Ordering::Relaxed),
                Update::Settlement(_) => {
                    self.metrics.settlements_indexed.fetch_add(1, Ordering::Relaxed)
                }
                Update::Position { holder, lease_id } => {
                    // Routed, not broadcast: only that holder's subscribers hear of it.
                    self.positions.position(*holder, *lease_id);
                    continue;
                }
                Update::RolledBack { .. } => 0,
            };
            let _ = self.updates.send(update); // no subscriber is fine
        }
        self.metrics.indexed_block.store(to, Ordering::Relaxed);
        self.publish_status(head, to + 1);
        Ok(())
    }

    fn publish_status(&self, head: u64, next: u64) {
        let indexed = next.checked_sub(1).filter(|b| *b >= self.deployment.deploy_block);
        self.status.send_modify(|s| {
            s.head_block = head;
            s.indexed_block = indexed;
            s.lag = head.saturating_sub(indexed.unwrap_or(self.deployment.deploy_block));
        });
    }

    /// Steps until caught up with the confirmed head.
    pub async fn catch_up(&mut self) -> Result<()> {
        while self.step().await? != Step::Idle {}
        Ok(())
    }

    /// Follows the chain until shutdown, polling every `interval`; transport errors are retried
    /// with backoff (up to 30 s), index errors stop the loop.
    pub async fn run(mut self, interval: Duration, shutdown: Shutdown) -> Result<()> {
        let mut backoff = Backoff::new(interval, Duration::from_secs(30));
        while !shutdown.is_triggered() {
            // Shutdown interrupts a step in flight (a hung RPC call): a range is one atomic batch
            // written on a blocking thread, so an interrupted step leaves all of it or none.
            let step = tokio::select! {
                step = self.step() => step,
                () = shutdown.wait() => break,
            };
            match step {
                Ok(Step::Idle) => {
                    backoff.reset();
                    if shutdown.sleep(interval).await {
                        break;
                    }
                }
                Ok(_) => backoff.reset(),
                Err(NodeError::Sdk(e)) => {
                    let wait = backoff.next_delay();
                    tracing::warn!("indexer: {e}; retrying in {} s", wait.as_secs_f32());
                    if shutdown.sleep(wait).await {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        tracing::info!("indexer stopped");
        Ok(())
    }
}
