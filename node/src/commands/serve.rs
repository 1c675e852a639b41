//! `compute-ledger serve`: the indexer and the wallet JSON-RPC, without keeper or oracles.

use clap::Parser;

use super::run::{Parts, run};
use crate::{Result, config::Overrides};

/// `serve`: index and serve the wallet JSON-RPC.
#[derive(Debug, Clone, Parser)]
pub struct ServeCommand {}

impl ServeCommand {
    /// Runs until SIGINT/SIGTERM, or until a loop fails (which stops the others).
    pub async fn execute(self, overrides: &Overrides) -> Result<()> {
        run(overrides, Parts::SERVE).await
    }
}
