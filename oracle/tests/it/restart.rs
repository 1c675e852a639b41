//! kill -9 at many points of a run, then restart: the reports equal those of a run never
//! interrupted (every second is flushed before the next; the epoch is rebuilt from disk).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use compute_ledger_oracle::ReportFile;

use crate::common::{GENESIS, sim_config};

const EPOCHS: u64 = 12;

fn config_file(dir: &Path) -> PathBuf {
    let path = dir.join("oracle.toml");
    std::fs::write(&path, toml::to_string(&sim_config(&dir.join("data"))).expect("toml"))
        .expect("write");
    path
}

fn spawn(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_compute-ledger-oracle"))
        .args(["--config".as_ref(), config.as_os_str()])
        .args(["--from", &GENESIS.to_string(), "--to", &(GENESIS + 20 * EPOCHS).to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn oracle")
}

fn reports(dir: &Path) -> Vec<ReportFile> {
    (0..EPOCHS)
        .map(|e| {
            let text = std::fs::read_to_string(dir.join(format!("data/reports/epoch-{e}.json")))
                .unwrap_or_else(|_| panic!("epoch {e} reported"));
            serde_json::from_str(&text).expect("json")
        })
        .collect()
}

/// Report files written so far.
fn reported(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data/reports")).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .count()
    })
}

#[test]
fn kill_9_mid_epoch_changes_no_report() {
    let clean = tempfile::tempdir().expect("tempdir");
    assert!(spawn(&config_file(clean.path())).wait().expect("wait").success());

    // Kill points chosen by observed progress, not by time: each run is killed as soon as it
    // has written its next two reports, i.e. somewhere inside the epoch after them.
    let crashy = tempfile::tempdir().expect("tempdir");
    let config = config_file(crashy.path());
    let mut interrupted = 0;
    for target in (2..EPOCHS as usize).step_by(2) {
        let mut child = spawn(&config);
        let deadline = Instant::now() + Duration::from_secs(120);
        while reported(crashy.path()) < target && child.try_wait().expect("poll").is_none() {
            assert!(Instant::now() < deadline, "no progress to {target} reports");
            std::thread::sleep(Duration::from_millis(1));
        }
        if child.try_wait().expect("poll").is_none() {
            interrupted += 1;
        }
        child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        child.wait().expect("reap");
    }
    let last = Command::new(env!("CARGO_BIN_EXE_compute-ledger-oracle"))
        .args(["--config".as_ref(), config.as_os_str()])
        .args(["--from", &GENESIS.to_string(), "--to", &(GENESIS + 20 * EPOCHS).to_string()])
        .env("RUST_LOG", "warn")
        .output()
        .expect("final run");
    assert!(last.status.success(), "final run: {}", String::from_utf8_lossy(&last.stderr));
    assert!(interrupted >= 3, "kills landed mid-run ({interrupted})");

    for (clean, crashed) in reports(clean.path()).iter().zip(reports(crashy.path())) {
        assert_eq!(
            crashed.signed.report, clean.signed.report,
            "epoch {}",
            clean.outcome.summary.epoch
        );
        assert_eq!(crashed.outcome.summary, clean.outcome.summary);
        let archive =
            |f: &ReportFile| std::fs::read_to_string(&f.outcome.archive).expect("archive");
        assert_eq!(archive(&crashed), archive(clean), "same audit log");
    }
}
