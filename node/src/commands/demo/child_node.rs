//! The demo's out-of-process node: the first cluster's oracle with its own keeper, indexer and
//! deliveries archive, run as a separate `compute-ledger run` process that reaches the chain
//! through a [`Proxy`]. The demo kills it with SIGKILL in the middle of an epoch, starts it again,
//! and stalls its RPC, as an operator's machine and network would.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use compute_ledger_oracle::{KeyConfig, OracleConfig};
use compute_ledger_sdk::drill::Proxy;

use crate::{NodeError, Result};

/// A `compute-ledger run` child process and the proxy between it and the chain.
#[derive(Debug)]
pub(crate) struct ChildNode {
    config: PathBuf,
    log: PathBuf,
    child: Child,
    /// The proxy its RPC calls go through.
    pub(crate) proxy: Proxy,
}

impl ChildNode {
    /// Writes the node's and the oracle's configs under `dir` and starts the node: its RPC goes
    /// through a new proxy in front of `rpc`; `keeper` pays for its settlements.
    pub(crate) async fn start(
        dir: &Path,
        rpc: SocketAddr,
        deployment: &Path,
        oracle: &OracleConfig,
        keeper: &KeyConfig,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, &e))?;
        let proxy = Proxy::bind(rpc)
            .await
            .map_err(|e| NodeError::Server(format!("the demo's RPC proxy: {e}")))?;
        let oracle_toml = dir.join("oracle.toml");
        let text = toml::to_string(oracle).map_err(|e| NodeError::Config {
            origin: oracle_toml.display().to_string(),
            reason: e.to_string(),
        })?;
        std::fs::write(&oracle_toml, text).map_err(|e| NodeError::io(&oracle_toml, &e))?;
        let password = keeper.password_file.as_ref().ok_or_else(|| NodeError::Config {
            origin: "demo".into(),
            reason: "the keeper keystore needs a password file".into(),
        })?;
        let node = format!(
            "rpc_url = {rpc:?}\ndeployment = {deployment:?}\nindex_dir = {index:?}\n\
             deliveries_dir = {deliveries:?}\nsamples_dir = {samples:?}\n[indexer]\npoll_ms = 500\n\
             [server]\n\
             listen = \"127.0.0.1:0\"\n[keeper]\nkey = {{ keystore = {keystore:?}, \
             password_file = {password:?} }}\ninterval_ms = 1000\n[[oracles]]\nconfig = {oracle:?}\n",
            rpc = proxy.url(),
            deployment = deployment.display().to_string(),
            index = dir.join("index").display().to_string(),
            deliveries = dir.join("deliveries").display().to_string(),
            samples = dir.join("samples").display().to_string(),
            keystore = keeper.keystore.display().to_string(),
            password = password.display().to_string(),
            oracle = oracle_toml.display().to_string(),
        );
        let config = dir.join("node.toml");
        std::fs::write(&config, node).map_err(|e| NodeError::io(&config, &e))?;
        let log = dir.join("node.log");
        let child = spawn(&config, &log)?;
        Ok(Self { config, log, child, proxy })
    }

    /// Where the node logs.
    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// Kills the node with SIGKILL (no chance to flush or say goodbye) and reaps it.
    pub(crate) fn kill_9(&mut self) -> Result<()> {
        self.child.kill().map_err(|e| NodeError::io(&self.log, &e))?;
        self.child.wait().map_err(|e| NodeError::io(&self.log, &e))?;
        Ok(())
    }

    /// Starts the node again on the same data.
    pub(crate) fn restart(&mut self) -> Result<()> {
        self.child = spawn(&self.config, &self.log)?;
        Ok(())
    }

    /// Stops the node with SIGTERM and waits for it.
    pub(crate) fn stop(&mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        if !sent.is_ok_and(|status| status.success()) {
            let _ = self.child.kill();
        }
        self.child.wait().map_err(|e| NodeError::io(&self.log, &e))?;
        Ok(())
    }
}

impl Drop for ChildNode {
    /// The demo never leaves its node behind, even when it stops on an error.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn spawn(config: &Path, log: &Path) -> Result<Child> {
    let exe =
        std::env::current_exe().map_err(|e| NodeError::io(Path::new("compute-ledger"), &e))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| NodeError::io(log, &e))?;
    let stderr = file.try_clone().map_err(|e| NodeError::io(log, &e))?;
    Command::new(exe)
        .arg("--config")
        .arg(config)
        .arg("run")
        .env_remove("COMPUTE_LEDGER_RPC_URL")
        .env_remove("COMPUTE_LEDGER_LISTEN")
        .env_remove("COMPUTE_LEDGER_INDEX_DIR")
        .env_remove("COMPUTE_LEDGER_DELIVERIES_DIR")
        .env_remove("COMPUTE_LEDGER_DEPLOYMENT")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(stderr))
        .spawn()
        .map_err(|e| NodeError::io(log, &e))
}
