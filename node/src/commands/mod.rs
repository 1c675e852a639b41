//! One module per subcommand of `compute-ledger`: each is an `XCommand` (clap) with an
//! `execute` method; `main.rs` only parses and dispatches.

pub mod claim;
pub mod cluster;
pub mod demo;
pub mod devnet;
pub mod index;
pub mod keys;
pub mod lease;
pub mod oracle;
pub mod order;
pub mod run;
pub mod serve;
pub mod settle;
pub mod shares;

use compute_ledger_sdk::{Amount, Client};
use serde_json::Value;

use crate::{
    NodeError, Result,
    config::{Overrides, Settings},
};

/// How results are printed: plain sentences, or one JSON object per result with `--json`.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON.
    pub json: bool,
}

impl Output {
    /// Prints `text` for people or `value` for programs.
    pub fn print(self, text: &str, value: &Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }
}

/// A client of the configured deployment signing with `key`.
async fn client(overrides: &Overrides, key: &keys::KeyArgs) -> Result<Client> {
    let settings = Settings::resolve(overrides)?;
    let deployment = settings.deployment()?;
    Ok(Client::connect(&settings.rpc_url, deployment, key.load()?).await?)
}

/// An amount of the deployment's stablecoin, in the token's own decimals.
fn amount(client: &Client, text: &str, what: &str) -> Result<Amount> {
    client
        .parse_amount(text)
        .map_err(|e| NodeError::Config { origin: format!("--{what}"), reason: e.to_string() })
}
