//! dcgm-exporter: the real exposition format served over HTTP, every way it can be wrong, and its
//! 30 s refresh (energy attributed by when counters change, staleness, a hung exporter).

use std::sync::{Arc, Mutex};

use compute_ledger_oracle::{
    DcgmExporterSource, EnergyUnit, EpochOutcome, FacilityMeter, Oracle, OracleConfig, OracleError,
    SourceConfig, TelemetrySource, parse_exposition,
};

use crate::common::{
    ExportedGpu, dcgm_fixture, exported_gpus, exposition, serve, serve_with, source_config,
};

#[test]
fn parses_the_exporter_format() {
    let gpus = parse_exposition(&dcgm_fixture(), "fixture").expect("parse");
    assert_eq!(gpus.len(), 4);
    let g0 =
        gpus.iter().find(|g| g.uuid == "GPU-5d1f3b38-5f5a-9d63-5f34-8e2a4b0c1d01").expect("gpu 0");
    assert!(g0.healthy);
    assert_eq!(
        (g0.util_pct, g0.power_mw, g0.energy_mj, g0.mem_used_mib),
        (97, 684_512, 9_823_451_276, 71_234)
    );
    let ecc = gpus.iter().find(|g| g.uuid.starts_with("GPU-e4b7")).expect("gpu 2");
    assert!(!ecc.healthy, "uncorrectable ECC errors make a GPU unavailable");
    let xid = gpus.iter().find(|g| g.uuid.starts_with("GPU-1c8f")).expect("gpu 3");
    assert!(!xid.healthy, "XID 79 (fallen off the bus)");
    assert_eq!(xid.xid, 79);
}

#[tokio::test]
async fn scrapes_over_http() {
    let url = serve(Arc::new(Mutex::new(dcgm_fixture())), 200).await;
    let source = DcgmExporterSource::new(url, reqwest::Client::new());
    let gpus = source.sample().await.expect("scrape");
    assert_eq!(gpus, parse_exposition(&dcgm_fixture(), "x").expect("parse"));
}

#[tokio::test]
async fn missing_metric_names_the_field_and_gpu() {
    let body: String = dcgm_fixture()
        .lines()
        .filter(|l| !l.contains("TOTAL_ENERGY"))
        .map(|l| format!("{l}\n"))
        .collect();
    let url = serve(Arc::new(Mutex::new(body)), 200).await;
    let err = DcgmExporterSource::new(url.clone(), reqwest::Client::new())
        .sample()
        .await
        .expect_err("missing");
    let msg = err.to_string();
    assert!(
        msg.contains("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
            && msg.contains("GPU-")
            && msg.contains(&url),
        "{msg}"
    );
}

#[tokio::test]
async fn wrong_endpoint_malformed_payload_and_http_errors_are_clear() {
    let not_dcgm =
        serve(Arc::new(Mutex::new("# HELP node_load1 x\nnode_load1 0.5\n".into())), 200).await;
    let err = DcgmExporterSource::new(not_dcgm, reqwest::Client::new())
        .sample()
        .await
        .expect_err("not dcgm");
    assert!(err.to_string().contains("is this a dcgm-exporter"), "{err}");

    let malformed = "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-1\"} not-a-number\n";
    let err = parse_exposition(malformed, "fixture").expect_err("malformed");
    assert!(matches!(err, OracleError::BadTelemetry { .. }), "{err}");

    let failing = serve(Arc::new(Mutex::new(String::new())), 503).await;
    let err = DcgmExporterSource::new(failing.clone(), reqwest::Client::new())
        .sample()
        .await
        .expect_err("503");
    assert!(err.to_string().contains("503") && err.to_string().contains(&failing), "{err}");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = format!("http://{}/metrics", listener.local_addr().expect("addr"));
    drop(listener);
    let err = DcgmExporterSource::new(closed.clone(), reqwest::Client::new())
        .sample()
        .await
        .expect_err("refused");
    assert!(matches!(err, OracleError::Http { ref url, .. } if *url == closed), "{err}");
}

#[tokio::test]
async fn facility_meter_scrape_converts_units() {
    let body = format!(
        "{}# TYPE site_energy_kwh_total counter\nsite_energy_kwh_total 1234.5\n",
        dcgm_fixture()
    );
    let url = serve(Arc::new(Mutex::new(body)), 200).await;
    let meter = FacilityMeter::Scrape {
        url: url.clone(),
        metric: "site_energy_kwh_total".into(),
        unit: EnergyUnit::Kwh,
    };
    assert_eq!(meter.read(&reqwest::Client::new(), 0).await.expect("read"), 4_444_200_000_000);
    let wrong = FacilityMeter::Scrape { url, metric: "nope".into(), unit: EnergyUnit::Wh };
    let err = wrong.read(&reqwest::Client::new(), 0).await.expect_err("missing");
    assert!(err.to_string().contains("nope"), "{err}");
}

/// An 8-GPU dcgm-exporter drawing 550 W per GPU that refreshes its values every 30 s, read by an
/// oracle whose seconds are driven explicitly (no wall time).
struct RefreshingExporter {
    body: Arc<Mutex<String>>,
    gpus: Vec<ExportedGpu>,
    url: String,
}

const GENESIS: u64 = 1_760_000_000;
/// Each GPU's draw (W); 8 of them over a 60 s epoch are 73.33 Wh.
const WATTS: u32 = 550;

impl RefreshingExporter {
    async fn start() -> Self {
        let body = Arc::new(Mutex::new(String::new()));
        let url = serve(body.clone(), 200).await;
        Self { body, gpus: exported_gpus("gpu-node-7", 8, WATTS), url }
    }

    /// At second `t` the exporter refreshes (every 30 s, while `t < frozen_from`): counters show
    /// the energy drawn since genesis, on top of what the GPUs drew before.
    fn at(&mut self, t: u64, frozen_from: u64) {
        if (t - GENESIS).is_multiple_of(30) && t < frozen_from {
            for g in &mut self.gpus {
                g.energy_mj = 7_000_000_000 + (t - GENESIS) * u64::from(WATTS) * 1_000;
            }
            *self.body.lock().expect("lock") = exposition(&self.gpus, None);
        }
    }

    fn config(&self, dir: &std::path::Path) -> OracleConfig {
        let source = SourceConfig::Dcgm { url: self.url.clone(), stale_after_s: 65 };
        source_config(dir, source, GENESIS, 60, &self.gpus)
    }
}

fn open(config: &OracleConfig) -> Oracle {
    Oracle::open(config.clone(), TelemetrySource::from_config(&config.source).expect("source"))
        .expect("open")
}

/// Ticks `[from, to)` (the exporter refreshing on its own schedule) and returns the outcomes.
async fn drive(
    oracle: &mut Oracle,
    exporter: &mut RefreshingExporter,
    seconds: std::ops::Range<u64>,
    frozen_from: u64,
) -> Vec<EpochOutcome> {
    let mut outcomes = Vec::new();
    for t in seconds {
        exporter.at(t, frozen_from);
        outcomes.extend(oracle.tick(t).await.expect("tick"));
    }
    outcomes
}

#[tokio::test]
async fn an_exporter_refreshing_every_30_s_loses_no_energy_even_across_a_restart() {
    let mut exporter = RefreshingExporter::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = exporter.config(dir.path());
    let mut oracle = open(&config);
    let mut outcomes = drive(&mut oracle, &mut exporter, GENESIS..GENESIS + 181, u64::MAX).await;
    outcomes.extend(oracle.finalize_due(GENESIS + 181).expect("finalize"));
    let energy: Vec<u64> = outcomes.iter().map(|o| o.summary.it_energy_wh).collect();
    // Epoch 0 starts counting at its first reading (one 30 s refresh inside it); every later
    // epoch holds two refreshes: 8 x 550 W x 60 s = 73.33 Wh.
    assert_eq!(energy.len(), 3);
    let truth_wh = 8.0 * f64::from(WATTS) * 60.0 / 3_600.0;
    for wh in &energy[1..] {
        assert!((*wh as f64 - truth_wh).abs() / truth_wh < 0.01, "{energy:?} vs {truth_wh}");
    }
    assert_eq!(outcomes[1].summary.gpu_seconds_available, 8 * 60, "never stale");

    // The same run, restarted mid-epoch twice: the counters carried out of a finalized epoch
    // (when each last changed) come back from the store.
    let mut exporter = RefreshingExporter::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = exporter.config(dir.path());
    let mut restarted = Vec::new();
    for seconds in
        [GENESIS..GENESIS + 75, GENESIS + 75..GENESIS + 150, GENESIS + 150..GENESIS + 181]
    {
        let mut oracle = open(&config);
        let end = seconds.end;
        restarted.extend(drive(&mut oracle, &mut exporter, seconds, u64::MAX).await);
        restarted.extend(oracle.finalize_due(end).expect("finalize"));
    }
    let reports = |o: &[EpochOutcome]| o.iter().map(|o| o.report.clone()).collect::<Vec<_>>();
    assert_eq!(reports(&restarted), reports(&outcomes), "restarts change no report");
}

#[tokio::test]
async fn a_frozen_counter_makes_its_gpus_unavailable_after_the_staleness_limit() {
    let mut exporter = RefreshingExporter::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut oracle = open(&exporter.config(dir.path()));
    // The last refresh is at +90; with a 65 s limit the GPUs are fresh through +155.
    let mut outcomes =
        drive(&mut oracle, &mut exporter, GENESIS..GENESIS + 241, GENESIS + 91).await;
    outcomes.extend(oracle.finalize_due(GENESIS + 241).expect("finalize"));
    let available: Vec<u64> = outcomes.iter().map(|o| o.summary.gpu_seconds_available).collect();
    assert_eq!(available, vec![8 * 60, 8 * 60, 8 * 36, 0], "stale from +156 on");
    assert_eq!(outcomes[3].summary.seconds_sampled, 60, "the exporter still answered");
}

#[tokio::test]
async fn a_hung_exporter_is_bounded_by_the_sample_timeout() {
    let url = serve_with(Arc::new(|| None), 200).await;
    let gpus = exported_gpus("gpu-node-7", 1, WATTS);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = source_config(
        dir.path(),
        SourceConfig::Dcgm { url, stale_after_s: 65 },
        GENESIS,
        60,
        &gpus,
    );
    let mut oracle = open(&config).with_sample_timeout(std::time::Duration::from_millis(300));
    let err = oracle.tick(GENESIS).await.expect_err("hung");
    assert!(matches!(err, OracleError::SampleTimeout { after_ms: 300, .. }), "{err}");
    assert!(err.to_string().contains("300 ms"), "{err}");
    assert_eq!(oracle.store().last_t().expect("store"), None, "nothing stored for the second");
}

#[tokio::test]
async fn an_epoch_closed_by_a_failing_second_still_reaches_the_caller() {
    let hung = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gpus = exported_gpus("gpu-node-7", 1, WATTS);
    let respond = {
        let (hung, gpus) = (hung.clone(), gpus.clone());
        Arc::new(move || {
            (!hung.load(std::sync::atomic::Ordering::SeqCst)).then(|| exposition(&gpus, None))
        })
    };
    let url = serve_with(respond, 200).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let source = SourceConfig::Dcgm { url, stale_after_s: 65 };
    let config = source_config(dir.path(), source, GENESIS, 60, &gpus);
    let mut oracle = open(&config).with_sample_timeout(std::time::Duration::from_millis(300));
    assert_eq!(oracle.tick(GENESIS + 59).await.expect("tick"), None);
    hung.store(true, std::sync::atomic::Ordering::SeqCst);
    let outcome = oracle.tick(GENESIS + 60).await.expect("the epoch, not the sample's error");
    assert_eq!(outcome.map(|o| (o.summary.epoch, o.summary.seconds_sampled)), Some((0, 1)));
    assert_eq!(oracle.store().last_t().expect("store"), Some(GENESIS + 59), "nothing for +60");
}
