//! `compute-ledger settle`: settle due epochs once (missed and resolved ones; reported ones with
//! proofs from a deliveries archive).

use std::path::PathBuf;

use clap::Parser;
use compute_ledger_sdk::{Keeper, ProofBook};
use serde_json::json;

use super::{Output, client, keys::KeyArgs};
use crate::{
    Result,
    config::{Overrides, Settings},
    index::{DeliveriesArchive, Index, NodeProofs},
};

/// `settle`: due epochs once, as a keeper round does.
#[derive(Debug, Parser)]
pub struct SettleCommand {
    /// The signing key.
    #[command(flatten)]
    key: KeyArgs,
    /// Settlements per transaction.
    #[arg(long, default_value_t = 20)]
    batch_size: usize,
    /// A stopped node's deliveries archive directory that supplies proofs for reported epochs,
    /// checked against the reports in the configured index (without it, only missed, ruled and,
    /// after their proof deadline, unproven epochs settle).
    #[arg(long)]
    proofs_from: Option<PathBuf>,
}

impl SettleCommand {
    /// Settles due epochs once.
    pub async fn execute(self, overrides: &Overrides, out: Output) -> Result<()> {
        let keeper = Keeper::new(client(overrides, &self.key).await?);
        let run = match &self.proofs_from {
            Some(dir) => {
                let index = Index::open(&Settings::resolve(overrides)?.index_dir)?;
                let proofs = NodeProofs { index, archive: DeliveriesArchive::open(dir)? };
                keeper.settle_due(&proofs, self.batch_size).await?
            }
            None => keeper.settle_due(&ProofBook::default(), self.batch_size).await?,
        };
        let lines: Vec<String> = run
        .settled
        .iter()
        .map(|s| {
            format!(
                "lease {} epoch {} ({}): rent {} USD, holders' compensation {} USD, credit {} USD",
                s.lease_id,
                s.epoch,
                s.outcome.as_str(),
                s.rent,
                s.compensation,
                s.sla_credit
            )
        })
        .collect();
        let text = if lines.is_empty() { "nothing due".to_string() } else { lines.join("\n") };
        out.print(
        &format!("{text}\n{} waiting for a delivery proof", run.without_proof.len()),
        &json!({ "settled": run.settled.len(), "withoutProof": run.without_proof.len(), "transactions": run.transactions }),
    );
        Ok(())
    }
}
