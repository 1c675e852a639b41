//! `compute-ledger keys`: encrypted keystores (eth keystore v3, scrypt). Passwords and private
//! keys are read from environment variables or files, never from arguments (shell history) and
//! never logged.

use std::path::{Path, PathBuf};

use alloy::signers::local::PrivateKeySigner;
use compute_ledger_oracle::KeyConfig;
use serde_json::json;

use super::Output;
use crate::{NodeError, Result};

/// Where a signing key lives, for commands that send transactions.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// Encrypted keystore of the account that signs [env: COMPUTE_LEDGER_KEYSTORE].
    #[arg(long, env = "COMPUTE_LEDGER_KEYSTORE")]
    pub keystore: PathBuf,
    /// Environment variable holding the keystore password.
    #[arg(long, default_value = "COMPUTE_LEDGER_PASSWORD")]
    pub password_env: String,
}

impl KeyArgs {
    /// Decrypts the key.
    pub fn load(&self) -> Result<PrivateKeySigner> {
        let config = KeyConfig {
            keystore: self.keystore.clone(),
            password_file: None,
            password_env: Some(self.password_env.clone()),
        };
        Ok(config.load()?)
    }
}

/// `keys` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a random key, encrypted with the password in `--password-env`.
    New {
        /// Keystore directory.
        #[arg(long, default_value = ".devnet/keys")]
        dir: PathBuf,
        /// File name of the new keystore.
        #[arg(long)]
        name: String,
        /// Environment variable holding the password.
        #[arg(long, default_value = "COMPUTE_LEDGER_PASSWORD")]
        password_env: String,
    },
    /// Encrypt an existing private key (hex, read from `--key-env`).
    Import {
        /// Keystore directory.
        #[arg(long, default_value = ".devnet/keys")]
        dir: PathBuf,
        /// File name of the new keystore.
        #[arg(long)]
        name: String,
        /// Environment variable holding the private key (0x-hex).
        #[arg(long)]
        key_env: String,
        /// Environment variable holding the password.
        #[arg(long, default_value = "COMPUTE_LEDGER_PASSWORD")]
        password_env: String,
    },
    /// List the keystores in a directory with their addresses (no password needed).
    List {
        /// Keystore directory.
        #[arg(long, default_value = ".devnet/keys")]
        dir: PathBuf,
    },
}

fn env_secret(var: &str, what: &str) -> Result<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty()).ok_or_else(|| NodeError::Config {
        origin: format!("${var}"),
        reason: format!(
            "set it to the {what} (it is read from the environment, never from arguments)"
        ),
    })
}

/// Writes `signer` encrypted as `dir/name`.
pub fn import_key(
    dir: &Path,
    name: &str,
    signer: &PrivateKeySigner,
    password: &str,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, &e))?;
    let path = dir.join(name);
    if path.exists() {
        return Err(NodeError::Io { path, reason: "already exists; choose another name".into() });
    }
    let io = |e: String| NodeError::Io { path: path.clone(), reason: e };
    PrivateKeySigner::encrypt_keystore(
        dir,
        &mut rand::thread_rng(),
        signer.to_bytes(),
        password,
        Some(name),
    )
    .map_err(|e| io(e.to_string()))?;
    // Add the v3 `address` field (as geth writes it) so `keys list` needs no password.
    let text = std::fs::read_to_string(&path).map_err(|e| io(e.to_string()))?;
    let mut keystore: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| io(e.to_string()))?;
    keystore["address"] = json!(alloy::hex::encode(signer.address()));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, keystore.to_string()).map_err(|e| io(e.to_string()))?;
    std::fs::rename(&tmp, &path).map_err(|e| io(e.to_string()))?;
    Ok(path)
}

impl KeysCommand {
    /// Runs the subcommand.
    pub fn execute(self, out: Output) -> Result<()> {
        match self {
            KeysCommand::New { dir, name, password_env } => {
                let password = env_secret(&password_env, "keystore password")?;
                let signer = PrivateKeySigner::random();
                let path = import_key(&dir, &name, &signer, &password)?;
                let address = signer.address();
                out.print(
                    &format!("created {} for {address}", path.display()),
                    &json!({ "address": address, "keystore": path }),
                );
            }
            KeysCommand::Import { dir, name, key_env, password_env } => {
                let password = env_secret(&password_env, "keystore password")?;
                let key = env_secret(&key_env, "private key")?;
                let signer: PrivateKeySigner =
                    key.trim().parse().map_err(|_| NodeError::Config {
                        origin: format!("${key_env}"),
                        reason: "not a 32-byte hex private key".into(),
                    })?;
                let path = import_key(&dir, &name, &signer, &password)?;
                out.print(
                    &format!("imported {} for {}", path.display(), signer.address()),
                    &json!({ "address": signer.address(), "keystore": path }),
                );
            }
            KeysCommand::List { dir } => {
                let entries = std::fs::read_dir(&dir).map_err(|e| NodeError::io(&dir, &e))?;
                let mut keys = Vec::new();
                for entry in entries.flatten() {
                    let path = entry.path();
                    let Ok(text) = std::fs::read_to_string(&path) else { continue };
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
                    let address =
                        v["address"].as_str().map(|a| format!("0x{}", a.trim_start_matches("0x")));
                    keys.push(json!({ "keystore": path, "address": address }));
                }
                keys.sort_by_key(|k| k["keystore"].to_string());
                let text = keys
                    .iter()
                    .map(|k| {
                        format!(
                            "{}  {}",
                            k["address"].as_str().unwrap_or("(no address field)"),
                            k["keystore"].as_str().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                out.print(&text, &json!(keys));
            }
        }
        Ok(())
    }
}
