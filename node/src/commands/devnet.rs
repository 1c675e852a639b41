//! `compute-ledger devnet`: a local chain with the ledger deployed, for trying things out.
//! Anvil starts from a random mnemonic (nothing to leak); its first accounts are written as
//! encrypted keystores so the other subcommands can sign.

use std::path::PathBuf;

use alloy::{node_bindings::Anvil, signers::local::PrivateKeySigner};
use clap::Parser;
use compute_ledger_sdk::{DeployParams, deploy, wallet_provider};
use serde_json::json;

use super::{Output, keys::import_key};
use crate::{NodeError, Result, Shutdown};

/// `devnet`: start a local anvil, deploy the ledger, write the deployment JSON and dev
/// keystores, and keep the chain running until Ctrl-C.
#[derive(Debug, Clone, Parser)]
pub struct DevnetCommand {
    /// Port of the chain's JSON-RPC.
    #[arg(long, default_value_t = 8545)]
    pub port: u16,
    /// Where the deployment JSON and keystores go (cleared first: a devnet starts fresh).
    #[arg(long, default_value = ".devnet")]
    pub out: PathBuf,
    /// Seconds per block (default: a block per transaction).
    #[arg(long)]
    pub block_time: Option<u64>,
    /// The anvil binary (`npm ci` installs it here).
    #[arg(long, default_value = "node_modules/.bin/anvil")]
    pub anvil: PathBuf,
    /// Seconds after an epoch during which its report is accepted.
    #[arg(long, default_value_t = 60)]
    pub report_window: u64,
    /// Seconds after a report during which the tenant or a holder may challenge it.
    #[arg(long, default_value_t = 15)]
    pub challenge_window: u64,
    /// Seconds after a challenge during which the arbiter may rule (then the report stands).
    #[arg(long, default_value_t = 30)]
    pub resolution_window: u64,
    /// Seconds after the challenge window before an epoch whose leaf nobody proved may settle
    /// as unproven.
    #[arg(long, default_value_t = 15)]
    pub proof_grace: u64,
    /// Challenge bond in basis points of a lease's full-epoch rent.
    #[arg(long, default_value_t = 1_000)]
    pub challenge_bond_bps: u16,
    /// Dev accounts to write keystores for (account 0 is governance and arbiter).
    #[arg(long, default_value_t = 8)]
    pub accounts: usize,
    /// Environment variable holding the keystores' password.
    #[arg(long, default_value = "COMPUTE_LEDGER_PASSWORD")]
    pub password_env: String,
    /// Public URL of the node's wallet server (for the ERC-1155 metadata URI).
    #[arg(long, default_value = "http://127.0.0.1:8645")]
    pub public_url: String,
}

impl DevnetCommand {
    /// Starts anvil, deploys, writes files, and waits for Ctrl-C.
    pub async fn execute(self, out: Output) -> Result<()> {
        let password = std::env::var(&self.password_env)
            .ok()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| NodeError::Config {
                origin: format!("${}", self.password_env),
                reason: "set it to the password for the dev keystores".into(),
            })?;
        let mut anvil = Anvil::at(&self.anvil).port(self.port).arg("--mnemonic-random");
        if let Some(seconds) = self.block_time {
            anvil = anvil.block_time(seconds);
        }
        let anvil = anvil.try_spawn().map_err(|e| NodeError::Config {
            origin: self.anvil.display().to_string(),
            reason: format!(
                "cannot start anvil ({e}): run `make install` (npm ci) or pass --anvil"
            ),
        })?;
        let keys: Vec<PrivateKeySigner> = anvil
            .keys()
            .iter()
            .take(self.accounts.max(1))
            .cloned()
            .map(PrivateKeySigner::from)
            .collect();
        let governance = keys[0].clone();
        let params = DeployParams {
            governance: governance.address(),
            arbiter: governance.address(),
            report_window: self.report_window,
            challenge_window: self.challenge_window,
            resolution_window: self.resolution_window,
            proof_grace: self.proof_grace,
            challenge_bond_bps: self.challenge_bond_bps,
            metadata_uri: format!("{}/metadata/{{id}}.json", self.public_url.trim_end_matches('/')),
        };
        let deployment = deploy(&wallet_provider(&anvil.endpoint(), governance)?, &params).await?;

        std::fs::create_dir_all(&self.out).map_err(|e| NodeError::io(&self.out, &e))?;
        for stale in ["keys", "index"] {
            let path = self.out.join(stale);
            if path.exists() {
                std::fs::remove_dir_all(&path).map_err(|e| NodeError::io(&path, &e))?;
            }
        }
        let deployment_path = self.out.join("deployment.json");
        deployment.save(&deployment_path)?;
        let mut accounts = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let path =
                import_key(&self.out.join("keys"), &format!("account-{i}.json"), key, &password)?;
            accounts.push(json!({ "address": key.address(), "keystore": path }));
        }
        let text = format!(
            "devnet on {} (chain {}): registry {}, market {}, stablecoin {}\n\
         deployment: {}\nkeystores: {}/keys/account-0..{}.json (account 0 is governance)\n\
         Ctrl-C stops it.",
            anvil.endpoint(),
            deployment.chain_id,
            deployment.registry,
            deployment.market,
            deployment.stablecoin,
            deployment_path.display(),
            self.out.display(),
            keys.len() - 1,
        );
        out.print(
            &text,
            &json!({ "rpcUrl": anvil.endpoint(), "deployment": deployment, "accounts": accounts }),
        );
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        shutdown.wait().await;
        drop(anvil);
        Ok(())
    }
}
