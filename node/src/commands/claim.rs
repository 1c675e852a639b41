//! `compute-ledger claim`: an investor claims settled rent.

use alloy::primitives::U256;
use clap::Parser;
use compute_ledger_sdk::Investor;
use serde_json::json;

use super::{Output, client, keys::KeyArgs};
use crate::{Result, config::Overrides};

/// `claim`: settled rent, from one lease or every position with rent due.
#[derive(Debug, Parser)]
pub struct ClaimCommand {
    /// The signing key.
    #[command(flatten)]
    key: KeyArgs,
    /// One lease (default: every position with rent due).
    #[arg(long)]
    lease: Option<U256>,
}

impl ClaimCommand {
    /// Claims settled rent.
    pub async fn execute(self, overrides: &Overrides, out: Output) -> Result<()> {
        let investor = Investor::new(client(overrides, &self.key).await?);
        let paid = match self.lease {
            Some(lease) => vec![(lease, investor.claim(lease).await?)],
            None => investor.claim_all().await?,
        };
        let total: U256 = paid.iter().map(|(_, a)| a.base()).sum();
        let text = if paid.is_empty() {
            "nothing to claim".to_string()
        } else {
            format!("claimed {} USD from {} lease(s)", investor.client().amount(total), paid.len())
        };
        let items: Vec<_> = paid
            .iter()
            .map(|(l, a)| json!({ "leaseId": l.to_string(), "amount": a.base().to_string() }))
            .collect();
        out.print(&text, &json!({ "total": total.to_string(), "claims": items }));
        Ok(())
    }
}
