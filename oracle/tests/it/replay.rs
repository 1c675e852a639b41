//! The audit log is a replayable recording: replaying it reproduces every report, and its hash
//! chain is the report's telemetryRoot.

use compute_ledger_oracle::{
    Oracle, ReportFile, SourceConfig, TelemetrySource, run_range, telemetry_root_of_archive,
};

use crate::common::{GENESIS, sim_config};

fn report_file(dir: &std::path::Path, epoch: u64) -> ReportFile {
    let text = std::fs::read_to_string(dir.join(format!("reports/epoch-{epoch}.json")))
        .expect("report file");
    serde_json::from_str(&text).expect("json")
}

#[tokio::test]
async fn replaying_the_archive_reproduces_the_reports() {
    let live_dir = tempfile::tempdir().expect("tempdir");
    let config = sim_config(live_dir.path());
    let mut oracle =
        Oracle::open(config.clone(), TelemetrySource::from_config(&config.source).expect("source"))
            .expect("open");
    let written = run_range(&mut oracle, None, GENESIS, GENESIS + 100).await.expect("run");
    assert_eq!(written.len(), 5, "five 20-second epochs");

    let mut recording = String::new();
    for epoch in 0..5 {
        let file = report_file(live_dir.path(), epoch);
        let archive = std::fs::read_to_string(&file.outcome.archive).expect("archive");
        assert_eq!(archive.lines().count(), 20, "one line per second");
        assert_eq!(
            telemetry_root_of_archive(1, epoch, &archive),
            file.signed.report.telemetryRoot,
            "auditor recomputes the root"
        );
        recording.push_str(&archive);
    }
    let recording_path = live_dir.path().join("recording.jsonl");
    std::fs::write(&recording_path, recording).expect("write");

    let replay_dir = tempfile::tempdir().expect("tempdir");
    let mut replay_config = sim_config(replay_dir.path());
    replay_config.source = SourceConfig::Replay { path: recording_path };
    let source = TelemetrySource::from_config(&replay_config.source).expect("replay");
    let mut replayed = Oracle::open(replay_config, source).expect("open");
    run_range(&mut replayed, None, GENESIS, GENESIS + 100).await.expect("replay");
    for epoch in 0..5 {
        assert_eq!(
            report_file(replay_dir.path(), epoch).signed.report,
            report_file(live_dir.path(), epoch).signed.report
        );
    }

    // The simulated outage of GPU 2 (seconds 25..=34) shows in epoch 1 and lease 1's delivery.
    let epoch1 = report_file(live_dir.path(), 1).outcome.summary;
    let lease1 = epoch1
        .deliveries
        .iter()
        .find(|d| d.lease_id == alloy::primitives::U256::from(1))
        .expect("lease 1");
    assert!(
        lease1.delivered <= 4 * 20 - 10,
        "10 outage seconds are not delivered: {}",
        lease1.delivered
    );
}

#[test]
fn malformed_recording_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.jsonl");
    std::fs::write(&path, "{\"t\":1,\"gpus\":[]}\n{\"t\":2,\"gpus\":[}\n").expect("write");
    let err = compute_ledger_oracle::ReplaySource::load(&path).expect_err("bad line");
    assert!(err.to_string().contains("line 2"), "{err}");
}
