//! The node's configuration: a TOML file, then `COMPUTE_LEDGER_*` environment variables, then
//! command-line flags (each later source wins). Validated at start with messages that say
//! what to change.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use compute_ledger_oracle::KeyConfig;
use compute_ledger_sdk::{Deployment, SdkError};
use serde::Deserialize;

use crate::{Backoff, NodeError, Result, rpc::Limits};

/// Default JSON-RPC endpoint of the chain.
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";
/// Default deployment file (what `compute-ledger devnet` and `make demo` write).
pub const DEFAULT_DEPLOYMENT: &str = ".devnet/deployment.json";
/// Default index directory.
pub const DEFAULT_INDEX_DIR: &str = ".devnet/index";
/// Default deliveries archive directory (apart from the index: deleting the index keeps it).
pub const DEFAULT_DELIVERIES_DIR: &str = ".devnet/deliveries";
/// Default directory of the oracles' shared sample database.
pub const DEFAULT_SAMPLES_DIR: &str = ".devnet/samples";
/// Default listen address of the wallet server.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8645";

/// The indexer's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexerConfig {
    /// Blocks to wait before indexing a block (0 on a devnet; more where reorgs happen).
    pub confirmations: u64,
    /// How often to poll the head, milliseconds.
    pub poll_ms: u64,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        Self { confirmations: 0, poll_ms: 1_000 }
    }
}

/// The wallet server's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address (HTTP and WebSocket on one port).
    pub listen: String,
    /// Base URL wallets reach the server at (defaults to `http://{listen}`).
    pub public_url: Option<String>,
    /// Request, connection, batch and page limits.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { listen: DEFAULT_LISTEN.into(), public_url: None, limits: Limits::default() }
    }
}

/// The keeper loop's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeeperConfig {
    /// The key that pays the settlement gas.
    pub key: KeyConfig,
    /// Settlements per transaction.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// How often to look for due epochs, milliseconds.
    #[serde(default = "default_keeper_interval")]
    pub interval_ms: u64,
}

fn default_batch() -> usize {
    20
}
fn default_keeper_interval() -> u64 {
    2_000
}

/// One cluster oracle this node runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleEntry {
    /// The oracle's own TOML config (source, leases, attestor key, data directory).
    pub config: PathBuf,
    /// Who pays to submit its reports (defaults to its attestor key).
    #[serde(default)]
    pub relayer: Option<KeyConfig>,
    /// The JSON-RPC URLs of the other attestors' nodes (co-signers), asked for their signatures
    /// when the attestor set's threshold is above one. This node serves its own on its server.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Days an epoch's report file, telemetry archive and stored outcome are kept after the epoch
    /// ended; they are deleted only once every lease in it is settled on chain and its deliveries
    /// tree is in the deliveries archive (which is kept).
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
    /// The site's OpenADR VEN for this cluster's demand-response programs (off without it).
    #[serde(default)]
    pub ven: Option<VenConfig>,
}

/// A site's VEN: where the grid's VTN is, how the VEN logs in, and how the site sheds its
/// flexible load. It acknowledges events with the oracle's attestor key and pays the gas with
/// the oracle's relayer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenConfig {
    /// The VTN's base URL (e.g. `https://vtn.utility.example`).
    pub vtn_url: String,
    /// The VEN's OAuth client id at the VTN.
    pub client_id: String,
    /// A file holding the VEN's client secret (kept out of this file and of the logs).
    pub secret_file: PathBuf,
    /// A curtailment schedule (JSON) the site's fleet manager follows; or use `hook`.
    #[serde(default)]
    pub schedule: Option<PathBuf>,
    /// A program run as `<hook> <event id> <start> <end>` that sheds the load; or use
    /// `schedule`.
    #[serde(default)]
    pub hook: Option<PathBuf>,
    /// How often to poll the VTN, milliseconds.
    #[serde(default = "default_ven_poll")]
    pub poll_ms: u64,
}

fn default_ven_poll() -> u64 {
    5_000
}

impl VenConfig {
    /// How the site sheds its load: exactly one of `schedule` and `hook`.
    pub fn flexible_load(&self) -> Result<crate::openadr::ven::FlexibleLoad> {
        use crate::openadr::ven::FlexibleLoad;
        match (&self.schedule, &self.hook) {
            (Some(path), None) => Ok(FlexibleLoad::Schedule(path.clone())),
            (None, Some(program)) => Ok(FlexibleLoad::Hook(program.clone())),
            _ => Err(NodeError::Config {
                origin: "[oracles.ven]".into(),
                reason: "set exactly one of `schedule` (a file the fleet manager follows) and \
                         `hook` (a program that sheds the load)"
                    .into(),
            }),
        }
    }

    /// The VTN's URL, checked: `https`, except on this machine (loopback), since the VEN sends
    /// its client secret there; and no credentials in it (they would end up in logs).
    pub fn vtn_url(&self) -> Result<reqwest::Url> {
        let bad =
            |reason: String| NodeError::Config { origin: "[oracles.ven] vtn_url".into(), reason };
        let url = reqwest::Url::parse(&self.vtn_url)
            .map_err(|e| bad(format!("{:?} is not a URL: {e}", self.vtn_url)))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("put no credentials in the URL: the VEN authenticates with \
                            client_id and secret_file"
                .into()));
        }
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => Ok(url),
            "http" if loopback => Ok(url),
            scheme => Err(bad(format!(
                "{scheme}:// to {}: use https (the VEN sends its secret to the VTN); plain http \
                 only to a VTN on this machine",
                url.host_str().unwrap_or("?")
            ))),
        }
    }

    /// The client secret, from its file (trimmed).
    pub fn secret(&self) -> Result<String> {
        let text = std::fs::read_to_string(&self.secret_file).map_err(|e| NodeError::Config {
            origin: "[oracles.ven] secret_file".into(),
            reason: format!("{}: {e}", self.secret_file.display()),
        })?;
        Ok(text.trim().to_owned())
    }
}

fn default_retention_days() -> u64 {
    30
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The chain's JSON-RPC URL.
    pub rpc_url: Option<String>,
    /// The deployment JSON.
    pub deployment: Option<PathBuf>,
    /// The sled index directory.
    pub index_dir: Option<PathBuf>,
    /// The deliveries archive directory (Merkle proofs of this node's oracle reports).
    pub deliveries_dir: Option<PathBuf>,
    /// The database every oracle of this node keeps its samples in (one tree set per cluster).
    pub samples_dir: Option<PathBuf>,
    /// Indexer settings.
    #[serde(default)]
    pub indexer: IndexerConfig,
    /// Wallet server settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// Keeper loop (off without it).
    #[serde(default)]
    pub keeper: Option<KeeperConfig>,
    /// Oracle loops.
    #[serde(default)]
    pub oracles: Vec<OracleEntry>,
}

/// Values given on the command line (they override the file and the environment).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Config file (TOML).
    #[arg(long, short = 'c', global = true)]
    pub config: Option<PathBuf>,
    /// Chain JSON-RPC URL [env: COMPUTE_LEDGER_RPC_URL] [default: http://127.0.0.1:8545].
    #[arg(long, global = true)]
    pub rpc_url: Option<String>,
    /// Deployment JSON [env: COMPUTE_LEDGER_DEPLOYMENT] [default: .devnet/deployment.json].
    #[arg(long, global = true)]
    pub deployment: Option<PathBuf>,
    /// Index directory [env: COMPUTE_LEDGER_INDEX_DIR] [default: .devnet/index].
    #[arg(long, global = true)]
    pub index_dir: Option<PathBuf>,
    /// Deliveries archive directory [env: COMPUTE_LEDGER_DELIVERIES_DIR]
    /// [default: .devnet/deliveries].
    #[arg(long, global = true)]
    pub deliveries_dir: Option<PathBuf>,
    /// The oracles' sample database [env: COMPUTE_LEDGER_SAMPLES_DIR] [default: .devnet/samples].
    #[arg(long, global = true)]
    pub samples_dir: Option<PathBuf>,
    /// Wallet server listen address [env: COMPUTE_LEDGER_LISTEN] [default: 127.0.0.1:8645].
    #[arg(long, global = true)]
    pub listen: Option<String>,
}

/// The configuration after every source is merged and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Everything from the file (and overrides).
    pub file: NodeConfig,
    /// Chain JSON-RPC URL.
    pub rpc_url: String,
    /// Deployment JSON path.
    pub deployment_path: PathBuf,
    /// Index directory.
    pub index_dir: PathBuf,
    /// Deliveries archive directory.
    pub deliveries_dir: PathBuf,
    /// The oracles' sample database directory.
    pub samples_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Public base URL of the server.
    pub public_url: String,
}

fn config_error(origin: impl Into<String>, reason: impl Into<String>) -> NodeError {
    NodeError::Config { origin: origin.into(), reason: reason.into() }
}

impl NodeConfig {
    /// Parses a TOML document; `origin` names it in errors. Unknown keys are refused.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| config_error(origin, e.to_string()))
    }

    /// Reads a TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(path.display().to_string(), e.to_string()))?;
        Self::from_toml(&text, &path.display().to_string())
    }
}

impl Settings {
    /// Merges file, environment and flags, and checks every value that needs no network.
    pub fn resolve(overrides: &Overrides) -> Result<Self> {
        let file = match &overrides.config {
            Some(path) => NodeConfig::load(path)?,
            None => NodeConfig::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let rpc_url = overrides
            .rpc_url
            .clone()
            .or_else(|| env("COMPUTE_LEDGER_RPC_URL"))
            .or_else(|| file.rpc_url.clone())
            .unwrap_or_else(|| DEFAULT_RPC_URL.into());
        if !(rpc_url.starts_with("http://") || rpc_url.starts_with("https://")) {
            return Err(config_error(
                "rpc_url",
                format!("{rpc_url:?} is not an http(s) URL, e.g. http://127.0.0.1:8545"),
            ));
        }
        let deployment_path = overrides
            .deployment
            .clone()
            .or_else(|| env("COMPUTE_LEDGER_DEPLOYMENT").map(PathBuf::from))
            .or_else(|| file.deployment.clone())
            .unwrap_or_else(|| DEFAULT_DEPLOYMENT.into());
        let index_dir = overrides
            .index_dir
            .clone()
            .or_else(|| env("COMPUTE_LEDGER_INDEX_DIR").map(PathBuf::from))
            .or_else(|| file.index_dir.clone())
            .unwrap_or_else(|| DEFAULT_INDEX_DIR.into());
        let deliveries_dir = overrides
            .deliveries_dir
            .clone()
            .or_else(|| env("COMPUTE_LEDGER_DELIVERIES_DIR").map(PathBuf::from))
            .or_else(|| file.deliveries_dir.clone())
            .unwrap_or_else(|| DEFAULT_DELIVERIES_DIR.into());
        let samples_dir = overrides
            .samples_dir
            .clone()
            .or_else(|| env("COMPUTE_LEDGER_SAMPLES_DIR").map(PathBuf::from))
            .or_else(|| file.samples_dir.clone())
            .unwrap_or_else(|| DEFAULT_SAMPLES_DIR.into());
        if samples_dir == index_dir || samples_dir == deliveries_dir {
            return Err(config_error(
                "samples_dir",
                format!(
                    "{} is also the index or deliveries directory: the oracles' samples need \
                     their own directory",
                    samples_dir.display()
                ),
            ));
        }
        if deliveries_dir == index_dir {
            return Err(config_error(
                "deliveries_dir",
                format!(
                    "{} is also the index directory: the archive needs its own directory",
                    deliveries_dir.display()
                ),
            ));
        }
        let listen_text = overrides
            .listen
            .clone()
            .or_else(|| env("COMPUTE_LEDGER_LISTEN"))
            .unwrap_or_else(|| file.server.listen.clone());
        let listen: SocketAddr = listen_text.parse().map_err(|e| {
            config_error("server.listen", format!("{listen_text:?} is not host:port ({e})"))
        })?;
        let public_url =
            file.server.public_url.clone().unwrap_or_else(|| format!("http://{listen}"));
        let limits = &file.server.limits;
        if limits.page_size == 0 || limits.max_batch == 0 || limits.max_connections == 0 {
            return Err(config_error(
                "server.limits",
                "page_size, max_batch and max_connections must be at least 1",
            ));
        }
        for (i, entry) in file.oracles.iter().enumerate() {
            for peer in &entry.peers {
                if !(peer.starts_with("http://") || peer.starts_with("https://")) {
                    return Err(config_error(
                        format!("oracles[{i}].peers"),
                        format!(
                            "{peer:?} is not an http(s) URL of a co-signer's node, e.g. http://10.0.0.7:8645"
                        ),
                    ));
                }
            }
        }
        if let Some(keeper) = &file.keeper
            && keeper.batch_size == 0
        {
            return Err(config_error("keeper.batch_size", "must be at least 1"));
        }
        Ok(Self {
            file,
            rpc_url,
            deployment_path,
            index_dir,
            deliveries_dir,
            samples_dir,
            listen,
            public_url,
        })
    }

    /// Reads the deployment JSON.
    pub fn deployment(&self) -> Result<Deployment> {
        Deployment::load(&self.deployment_path).map_err(|e| {
            config_error(
                "deployment",
                format!("{e}; run `compute-ledger devnet` (or `make demo`) to create one, or pass --deployment"),
            )
        })
    }

    /// Connects read-only to the RPC, retrying an unreachable endpoint with backoff (5 tries over
    /// about 8 s) and refusing one on another chain than the deployment.
    pub async fn provider(&self, deployment: &Deployment) -> Result<alloy::providers::DynProvider> {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
        for attempt in 1..=5 {
            // This loop is the retry (with its own messages): one try per attempt below it.
            let once = compute_ledger_sdk::RpcOptions { max_retries: 0, ..Default::default() };
            match compute_ledger_sdk::read_provider_with(&self.rpc_url, deployment, &once).await {
                // Reachable: from here on every call gets the SDK's timeouts and retries.
                Ok(_) => {
                    return Ok(compute_ledger_sdk::read_provider(&self.rpc_url, deployment).await?);
                }
                Err(SdkError::Transport(reason)) if attempt < 5 => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        "RPC {} unreachable (attempt {attempt} of 5): {reason}; retrying in {:.1} s",
                        self.rpc_url,
                        delay.as_secs_f32()
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(SdkError::Transport(reason)) => {
                    return Err(config_error(
                        "rpc_url",
                        format!(
                            "{} is unreachable after 5 attempts ({reason}): is the node running? (`make demo` starts one)",
                            self.rpc_url
                        ),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        unreachable!("the last attempt returns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_the_key_named() {
        let err = NodeConfig::from_toml("rpc_urll = \"x\"", "node.toml").expect_err("typo");
        assert!(err.to_string().contains("rpc_urll"), "{err}");
        let err = NodeConfig::from_toml("[server]\nlisten = 5", "node.toml").expect_err("type");
        assert!(err.to_string().contains("listen"), "{err}");
        let err =
            NodeConfig::from_toml("[server.limits]\npage_sise = 5", "node.toml").expect_err("typo");
        assert!(err.to_string().contains("page_sise"), "{err}");

        let file = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(file.path(), "[server]\nlisten = \"localhost\"\n").expect("write");
        let overrides = Overrides { config: Some(file.path().into()), ..Overrides::default() };
        let err = Settings::resolve(&overrides).expect_err("no port");
        assert!(err.to_string().contains("server.listen"), "{err}");

        let overrides =
            Overrides { rpc_url: Some("127.0.0.1:8545".into()), ..Overrides::default() };
        let err = Settings::resolve(&overrides).expect_err("no scheme");
        assert!(err.to_string().contains("http(s) URL"), "{err}");
    }

    #[test]
    fn a_ven_needs_one_way_to_shed_load_and_its_secret_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let secret = dir.path().join("ven-secret");
        std::fs::write(&secret, "s3cret\n").expect("secret");
        let entry = |load: &str| {
            format!(
                "[[oracles]]\nconfig = \"oracle.toml\"\n[oracles.ven]\nvtn_url = \"http://127.0.0.1:3100\"\n\
                 client_id = \"ven-3\"\nsecret_file = {:?}\n{load}",
                secret.display().to_string()
            )
        };
        let file = NodeConfig::from_toml(&entry("schedule = \"miners.json\""), "n").expect("valid");
        let ven = file.oracles[0].ven.as_ref().expect("ven");
        assert_eq!(ven.secret().expect("read"), "s3cret", "trimmed");
        assert_eq!(ven.poll_ms, 5_000);
        assert!(matches!(ven.flexible_load(), Ok(crate::openadr::ven::FlexibleLoad::Schedule(_))));
        for load in ["", "schedule = \"a\"\nhook = \"b\""] {
            let file = NodeConfig::from_toml(&entry(load), "n").expect("parses");
            let err = file.oracles[0].ven.as_ref().expect("ven").flexible_load().expect_err("one");
            assert!(err.to_string().contains("exactly one of `schedule`"), "{err}");
        }
        let mut ven = ven.clone();
        ven.secret_file = dir.path().join("missing");
        assert!(ven.secret().expect_err("missing").to_string().contains("secret_file"));
        assert_eq!(ven.vtn_url().expect("loopback http").port(), Some(3100));
        for (url, why) in [
            ("http://vtn.utility.example", "use https"),
            ("https://ven:pw@vtn.utility.example", "no credentials"),
            ("vtn.utility.example", "not a URL"),
        ] {
            let ven = VenConfig { vtn_url: url.into(), ..ven.clone() };
            let err = ven.vtn_url().expect_err(url).to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
        let remote = VenConfig { vtn_url: "https://vtn.utility.example".into(), ..ven };
        assert!(remote.vtn_url().is_ok());
        let typo = NodeConfig::from_toml(&entry("shedule = \"a\""), "n").expect_err("typo");
        assert!(typo.to_string().contains("shedule"), "{typo}");
    }

    #[test]
    fn flags_override_the_file() {
        let file = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(
            file.path(),
            "rpc_url = \"http://10.0.0.1:8545\"\nindex_dir = \"/tmp/a\"\ndeliveries_dir = \"/tmp/d\"\n\
             [indexer]\nconfirmations = 3\n",
        )
        .expect("write");
        let overrides = Overrides {
            config: Some(file.path().into()),
            index_dir: Some("/tmp/b".into()),
            ..Overrides::default()
        };
        let settings = Settings::resolve(&overrides).expect("valid");
        assert_eq!(settings.index_dir, PathBuf::from("/tmp/b"));
        assert_eq!(settings.file.indexer.confirmations, 3);
        assert_eq!(settings.deliveries_dir, PathBuf::from("/tmp/d"));
        assert_eq!(settings.listen.to_string(), DEFAULT_LISTEN);

        // The archive must not share the index's directory (deleting one would delete both).
        let same = Overrides { deliveries_dir: Some("/tmp/b".into()), ..overrides.clone() };
        let err = Settings::resolve(&same).expect_err("shared directory");
        assert!(err.to_string().contains("deliveries_dir"), "{err}");
        // Nor may the oracles' sample database.
        let same = Overrides { samples_dir: Some("/tmp/d".into()), ..overrides };
        let err = Settings::resolve(&same).expect_err("shared directory");
        assert!(err.to_string().contains("samples_dir"), "{err}");
    }
}
