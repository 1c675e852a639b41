//! `compute-ledger oracle`: the configured oracles with the indexer (which keeps their proof
//! archive); the wallet server only where co-signers need it.

use clap::Parser;

use super::run::{Parts, run};
use crate::{Result, config::Overrides};

/// `oracle`: run the configured oracles.
#[derive(Debug, Clone, Parser)]
pub struct OracleCommand {}

impl OracleCommand {
    /// Runs until SIGINT/SIGTERM, or until a loop fails (which stops the others).
    pub async fn execute(self, overrides: &Overrides) -> Result<()> {
        run(overrides, Parts::ORACLE).await
    }
}
