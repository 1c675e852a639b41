//! Finalization streams the epoch's seconds into the archive and `telemetryRoot` unchanged, and
//! settled epochs can be pruned: gone for good, idempotently, and never resurrected by a restart.

use std::path::Path;

use compute_ledger_oracle::{
    Oracle, OracleConfig, OracleError, ReportFile, Simulator, SourceConfig, TelemetrySource,
    republish_missing, run_range, telemetry_root_of_archive,
};

use crate::common::{GENESIS, sim_config};

fn open(config: &OracleConfig) -> Oracle {
    Oracle::open(config.clone(), TelemetrySource::from_config(&config.source).expect("source"))
        .expect("open")
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for sub in ["archive", "reports"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("dir") {
            let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                found.push(name);
            }
        }
    }
    found
}

#[tokio::test]
async fn the_streamed_archive_is_the_seconds_in_order_and_hashes_to_the_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = sim_config(dir.path());
    let mut oracle = open(&config);
    run_range(&mut oracle, None, GENESIS, GENESIS + 60).await.expect("run");
    let SourceConfig::Simulator(sim) = &config.source else { panic!("simulator") };
    let mut sim = Simulator::new(sim.clone());
    for epoch in 0..3 {
        let outcome = oracle.outcome(epoch).expect("store").expect("finalized");
        let archive = std::fs::read(&outcome.archive).expect("archive");
        // What the oracle wrote before streaming: every stored line, in order, newline-ended.
        let mut expected = Vec::new();
        for t in GENESIS + 20 * epoch..GENESIS + 20 * (epoch + 1) {
            expected.extend(sim.sample(t).to_line());
            expected.push(b'\n');
        }
        assert_eq!(archive, expected, "epoch {epoch}'s archive");
        let text = String::from_utf8(archive).expect("utf-8");
        assert_eq!(telemetry_root_of_archive(1, epoch, &text), outcome.report.telemetryRoot);
    }
    assert_eq!(temp_files(dir.path()), Vec::<String>::new(), "no temporary file left");
}

#[tokio::test]
async fn a_pruned_epoch_is_gone_for_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = sim_config(dir.path());
    let mut oracle = open(&config);
    run_range(&mut oracle, None, GENESIS, GENESIS + 60).await.expect("run");
    assert_eq!(oracle.finalized_epochs().expect("list"), vec![0, 1, 2]);
    let archive_1 = oracle.archive_path(1);
    assert!(archive_1.exists() && oracle.report_path(1).exists());

    // The node prunes through a handle while the live loop holds the oracle.
    let retention = oracle.retention();
    retention.prune_epoch(1).expect("prune");
    assert!(!archive_1.exists() && !oracle.report_path(1).exists(), "files deleted");
    assert_eq!(oracle.outcome(1).expect("store"), None, "outcome deleted");
    assert_eq!(oracle.finalized_epochs().expect("list"), vec![0, 2]);
    oracle.prune_epoch(1).expect("pruning twice is fine");
    assert_eq!(retention.finalized_epochs().expect("list"), vec![0, 2]);
    let err = oracle.prune_epoch(3).expect_err("epoch 3 is not finalized");
    assert!(matches!(err, OracleError::NotFinalized { epoch: 3, last_finalized: Some(2) }));
    assert!(err.to_string().contains("not finalized"), "{err}");

    // A crash between marking epoch 2 pruned and deleting its files: the next open finishes.
    oracle.store().mark_pruned(2).expect("mark");
    assert!(oracle.archive_path(2).exists(), "files outlive the crash");
    drop((oracle, retention)); // a handle keeps the store open, like the oracle
    let mut oracle = open(&config);
    assert!(!oracle.archive_path(2).exists() && !oracle.report_path(2).exists());
    assert_eq!(
        republish_missing(&oracle, None).expect("republish"),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(!oracle.report_path(1).exists(), "a restart does not resurrect a pruned epoch");

    // Epoch 2 was the last finalized one: its late seconds are not accumulated again, and the
    // run goes on with epoch 3.
    let written = run_range(&mut oracle, None, GENESIS + 50, GENESIS + 80).await.expect("run");
    assert_eq!(written, vec![oracle.report_path(3)], "only epoch 3 is reported");
    assert!(!oracle.report_path(2).exists());
    let report: ReportFile =
        serde_json::from_slice(&std::fs::read(oracle.report_path(3)).expect("report"))
            .expect("json");
    assert_eq!(report.outcome.summary.seconds_sampled, 20);
    assert_eq!(oracle.finalized_epochs().expect("list"), vec![0, 3]);
}
