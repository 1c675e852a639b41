//! `compute-ledger index`: the indexer alone — backfill, then follow (or stop when caught up).

use std::{sync::Arc, time::Duration};

use clap::Parser;
use compute_ledger_sdk::MAX_RANGE;

use crate::{
    Indexer, Result, Shutdown,
    config::{Overrides, Settings},
    index::Index,
    metrics::Metrics,
};

/// `index`: index the chain into sled and follow it (`--once`: stop when caught up).
#[derive(Debug, Clone, Parser)]
pub struct IndexCommand {
    /// Stop once caught up with the confirmed head.
    #[arg(long)]
    pub once: bool,
    /// Most blocks per atomic range.
    #[arg(long, default_value_t = MAX_RANGE)]
    pub max_range: u64,
}

impl IndexCommand {
    /// Runs the indexer.
    pub async fn execute(self, overrides: &Overrides) -> Result<()> {
        let settings = Settings::resolve(overrides)?;
        let deployment = settings.deployment()?;
        let provider = settings.provider(&deployment).await?;
        let index = Index::open(&settings.index_dir)?;
        let metrics = Arc::new(Metrics::default());
        let confirmations = settings.file.indexer.confirmations;
        let mut indexer = Indexer::new(index, provider, deployment, confirmations, metrics)?
            .with_max_range(self.max_range);
        if self.once {
            indexer.catch_up().await?;
            let status = indexer.status().borrow().clone();
            println!(
                "caught up: indexed through block {}, head {}",
                status.indexed_block.map_or_else(|| "-".into(), |b| b.to_string()),
                status.head_block
            );
            return Ok(());
        }
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        indexer.run(Duration::from_millis(settings.file.indexer.poll_ms), shutdown).await
    }
}
