//! Starts the grid side for the demo and the tests: a PostgreSQL cluster (Debian's) on a Unix
//! socket and the OpenLEADR VTN (`tools/openadr-vtn`, built by `make vtn`) on 127.0.0.1.
//! Nothing listens on another interface; [`VtnServer`] stops both when dropped.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{NodeError, Result};

/// How long PostgreSQL and the VTN may take to come up (migrations included).
const START_DEADLINE: Duration = Duration::from_secs(120);

/// Who a VTN user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VtnRole {
    /// The program operator (utility or aggregator): programs, events, VEN objects, reports.
    Grid,
    /// A site's VEN: reads the events targeted at it, posts reports.
    Ven,
}

/// A user the VTN is started with.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VtnUser {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub secret: String,
    /// What it may do.
    pub role: VtnRole,
}

impl std::fmt::Debug for VtnUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtnUser")
            .field("client_id", &self.client_id)
            .field("role", &self.role)
            .finish()
    }
}

/// A running PostgreSQL + VTN pair under one directory.
#[derive(Debug)]
pub struct VtnServer {
    dir: PathBuf,
    pg_root: PathBuf,
    pg_bin: PathBuf,
    url: String,
    vtn: Option<Child>,
    as_postgres: bool,
}

impl VtnServer {
    /// Starts a fresh PostgreSQL cluster (in a temporary directory, removed on drop) and the VTN
    /// on a free port of 127.0.0.1 with `users`; the VTN's log is `dir/vtn.log`. Blocks until the
    /// VTN accepts connections.
    pub fn start(dir: &Path, users: &[VtnUser]) -> Result<Self> {
        let vtn_bin = vtn_binary()?;
        let pg_bin = postgres_bin_dir()?;
        std::fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, &e))?;
        // PostgreSQL refuses to run as root: as root (CI), it runs as Debian's `postgres` user,
        // in a directory under the system's temporary directory that user can reach.
        let as_postgres = is_root();
        let pg_root = std::env::temp_dir().join(format!(
            "compute-ledger-vtn-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let (data, socket) = (pg_root.join("data"), pg_root.join("socket"));
        std::fs::create_dir_all(&socket).map_err(|e| NodeError::io(&socket, &e))?;
        let mut server = Self {
            dir: dir.to_owned(),
            pg_root,
            pg_bin,
            url: String::new(),
            vtn: None,
            as_postgres,
        };
        if as_postgres {
            run(
                Command::new("chown").args(["-R", "postgres:postgres"]).arg(&server.pg_root),
                "chown",
            )?;
        }
        // Trust authentication is safe only while no other local user can reach the socket.
        run(Command::new("chmod").arg("0700").arg(&server.pg_root), "chmod")?;
        let mut initdb = server.pg_command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(&mut initdb, "initdb")?;
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories={} -c unix_socket_permissions=0700 \
             -c fsync=off",
            socket.display()
        );
        let mut pg_ctl = server.pg_command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-w", "-t", "60", "-l"])
            .arg(server.pg_root.join("pg.log"))
            .arg("start");
        run(&mut pg_ctl, "pg_ctl start")?;

        let users_file = dir.join("vtn-users.json");
        let users_json = serde_json::to_vec(users).expect("users serialize");
        write_private(&users_file, &users_json)?;
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("vtn.log")).map_err(|e| NodeError::io(dir, &e))?;
        let log_err = log.try_clone().map_err(|e| NodeError::io(dir, &e))?;
        // A fresh HMAC secret per start (64 hex digits are valid base64 for 48 bytes): tokens of
        // an earlier run are void.
        let secret = alloy::primitives::hex::encode(rand::random::<[u8; 32]>());
        let child = Command::new(&vtn_bin)
            .env(
                "DATABASE_URL",
                format!("postgres://postgres@localhost/postgres?host={}", socket.display()),
            )
            .env("VTN_BIND", format!("127.0.0.1:{port}"))
            .env("OAUTH_TYPE", "INTERNAL")
            .env("OAUTH_BASE64_SECRET", secret)
            .env("OAUTH_TOKEN_URL", format!("{url}/auth/token"))
            .env("VTN_USERS_FILE", &users_file)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| NodeError::OpenAdr(format!("start {}: {e}", vtn_bin.display())))?;
        server.vtn = Some(child);
        server.url = url;
        server.wait_ready(port)?;
        Ok(server)
    }

    /// The VTN's base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the VTN and leaves PostgreSQL running (a VTN outage; its data stays).
    pub fn stop_vtn(&mut self) {
        if let Some(mut child) = self.vtn.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_ready(&mut self, port: u16) -> Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            let exited = self.vtn.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("vtn.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(NodeError::OpenAdr(format!(
                    "the VTN did not come up ({}); last lines of {}:\n{}",
                    exited.map_or("timed out".to_owned(), |s| format!("exited: {s}")),
                    self.dir.join("vtn.log").display(),
                    tail.join("\n")
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pg_command(&self, program: &str) -> Command {
        let binary = self.pg_bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(binary);
            command
        } else {
            Command::new(binary)
        }
    }
}

impl Drop for VtnServer {
    fn drop(&mut self) {
        self.stop_vtn();
        let mut stop = self.pg_command("pg_ctl");
        stop.arg("-D").arg(self.pg_root.join("data")).args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.pg_root);
    }
}

/// The built VTN: `$OPENADR_VTN_BIN`, or `target/openadr-vtn/debug/openadr-vtn` of this checkout.
fn vtn_binary() -> Result<PathBuf> {
    let path = std::env::var_os("OPENADR_VTN_BIN").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/openadr-vtn/debug/openadr-vtn")
    });
    if path.is_file() {
        Ok(path)
    } else {
        Err(NodeError::OpenAdr(format!(
            "no OpenADR VTN at {}: build it with `make vtn` (make demo and make test do), or set \
             OPENADR_VTN_BIN",
            path.display()
        )))
    }
}

/// PostgreSQL's server binaries: `$PG_BIN_DIR`, the directory of `initdb` on the PATH, or the
/// newest `/usr/lib/postgresql/<version>/bin` (Debian's `postgresql` package).
fn postgres_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join("initdb")).find(|p| p.is_file())
    });
    if let Some(initdb) = on_path {
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        return Ok(real.parent().expect("a file has a directory").to_owned());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        NodeError::OpenAdr(
            "PostgreSQL is not installed (no initdb): sudo apt-get install postgresql \
             (make test installs it when run as root), or set PG_BIN_DIR"
                .into(),
        )
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| NodeError::OpenAdr(format!("no free port on 127.0.0.1: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| NodeError::OpenAdr(e.to_string()))
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NodeError::OpenAdr(format!("{what}: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(NodeError::OpenAdr(format!(
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| NodeError::io(path, &e))?;
    std::io::Write::write_all(&mut file, bytes).map_err(|e| NodeError::io(path, &e))
}
