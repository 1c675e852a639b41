//! A real Prometheus server (Debian's `prometheus` package) scraping test exporters: the oracle
//! reads the DCGM series' raw samples back with their timestamps, attributes energy by when the
//! counters changed at a realistic 15 s scrape interval, treats a host that stopped reporting as
//! unavailable within the staleness limit, and counts only its own inventory on a shared server.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use compute_ledger_oracle::{
    Carry, EnergyUnit, EpochAccumulator, EpochClock, FacilityMeter, Oracle, PrometheusSource,
    RackMeters, SourceConfig, TelemetrySource, run_range, unix_now,
};

use crate::common::{
    ExportedGpu, dcgm_fixture, exported_gpus, exposition, serve, serve_with, source_config,
    wait_until,
};

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_binary() -> Option<&'static str> {
    let found = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Prometheus: `make test` installs Debian's prometheus"
        );
        eprintln!(
            "SKIPPED: no prometheus binary (apt-get install prometheus, or run `make test` as root)"
        );
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Starts Prometheus scraping each exporter URL as its own target every `scrape_interval`.
fn start_prometheus(binary: &str, exporters: &[&str], scrape_interval: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let targets: Vec<String> = exporters
        .iter()
        .map(|url| format!("'{}'", url.trim_start_matches("http://").trim_end_matches("/metrics")))
        .collect();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: {scrape_interval}\nscrape_configs:\n  - job_name: dcgm\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .expect("config");
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Server { child, base: format!("http://127.0.0.1:{port}"), _dir: dir }
}

/// The newest sample timestamp (unix seconds, rounded down) Prometheus holds for `query`.
async fn newest_sample(base: &str, query: &str) -> Option<u64> {
    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", format!("max(timestamp({query}))"))])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let value = answer["data"]["result"][0]["value"][1].as_str()?;
    Some(value.parse::<f64>().ok()? as u64)
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    u64::try_from(since.as_millis()).expect("ms")
}

#[tokio::test]
async fn reads_dcgm_series_from_a_real_prometheus() {
    let Some(binary) = prometheus_binary() else { return };
    let body = format!(
        "{}# TYPE site_energy_wh_total counter\nsite_energy_wh_total 5000\n\
         # TYPE pdu_energy_kwh_total counter\n\
         pdu_energy_kwh_total{{rack=\"hall-01\"}} 12.5\npdu_energy_kwh_total{{rack=\"hall-02\"}} 7\n\
         # TYPE pdu_input_powered gauge\n\
         pdu_input_powered{{rack=\"hall-01\"}} 1\npdu_input_powered{{rack=\"hall-02\"}} 0\n",
        dcgm_fixture()
    );
    let exporter = serve(Arc::new(Mutex::new(body)), 200).await;
    let server = start_prometheus(binary, &[&exporter], "15s");
    let source = PrometheusSource::new(&server.base, "{job=\"dcgm\"}", reqwest::Client::new());

    let mut records = Vec::new();
    wait_until("Prometheus serves the scraped series", Duration::from_secs(90), async || {
        let now = unix_now();
        records = source.range(now - 5, now).await.unwrap_or_default();
        records.iter().any(|r| r.gpus.len() == 4)
    })
    .await;
    let full = records.iter().find(|r| r.gpus.len() == 4).expect("a full second");
    let g0 = full.gpus.iter().find(|g| g.uuid.starts_with("GPU-5d1f")).expect("gpu 0");
    assert_eq!((g0.util_pct, g0.power_mw, g0.energy_mj), (97, 684_512, 9_823_451_276));
    assert_eq!(full.gpus.iter().filter(|g| !g.healthy).count(), 2, "ECC and XID GPUs unavailable");

    let meter = FacilityMeter::Prometheus {
        url: server.base.clone(),
        query: "site_energy_wh_total".into(),
        unit: EnergyUnit::Wh,
    };
    assert_eq!(
        meter.read(&reqwest::Client::new(), full.t).await.expect("meter"),
        5_000 * 3_600_000
    );
    // A powered shell's sub-meters through the same server, by feed label.
    let feeds = RackMeters::Prometheus {
        url: server.base.clone(),
        energy_query: "pdu_energy_kwh_total".into(),
        powered_query: Some("pdu_input_powered".into()),
        label: "rack".into(),
        unit: EnergyUnit::Kwh,
    };
    let read = feeds.read(&reqwest::Client::new(), full.t).await.expect("sub-meters");
    let seen: Vec<(&str, bool, u64)> =
        read.iter().map(|r| (r.id.as_str(), r.powered, r.energy_mj)).collect();
    assert_eq!(
        seen,
        vec![("hall-01", true, 12_500 * 3_600_000), ("hall-02", false, 7_000 * 3_600_000)]
    );
    let unlabelled = RackMeters::Prometheus {
        url: server.base.clone(),
        energy_query: "pdu_energy_kwh_total".into(),
        powered_query: None,
        label: "feed".into(),
        unit: EnergyUnit::Kwh,
    };
    let err = unlabelled.read(&reqwest::Client::new(), full.t).await.expect_err("no label");
    assert!(err.to_string().contains("\"feed\" label"), "{err}");

    let bad = PrometheusSource::new(&server.base, "{job=", reqwest::Client::new());
    let err = bad.range(full.t, full.t).await.expect_err("bad selector");
    assert!(err.to_string().contains("failed"), "{err}");
}

#[tokio::test]
async fn energy_survives_a_15_s_scrape_of_a_30_s_exporter() {
    let Some(binary) = prometheus_binary() else { return };
    // dcgm-exporter refreshing every 30 s behind a 15 s scrape: the exporter refreshes at every
    // other scrape, its counters showing the energy 8 GPUs at 550 W drew until that moment.
    const WATTS: u64 = 550;
    let start = unix_now();
    let scrapes = Arc::new(AtomicU64::new(0));
    let gpus = exported_gpus("gpu-node-7", 8, 550);
    let shown = Arc::new(Mutex::new(gpus.clone()));
    let respond = {
        let (scrapes, shown) = (scrapes.clone(), shown.clone());
        Arc::new(move || {
            let mut shown = shown.lock().expect("lock");
            if scrapes.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                let drawn_ms = now_ms() - start * 1_000;
                for g in shown.iter_mut() {
                    g.energy_mj = 5_000_000_000 + drawn_ms * WATTS;
                }
            }
            Some(exposition(&shown, None))
        })
    };
    let exporter = serve_with(respond, 200).await;
    let server = start_prometheus(binary, &[&exporter], "15s");

    // Epoch 0 sees the first scrapes (counters start there); epoch 1 is measured.
    let genesis = start - 30;
    let end = genesis + 120;
    wait_until("Prometheus holds samples past epoch 1", Duration::from_secs(240), async || {
        newest_sample(&server.base, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
            .await
            .is_some_and(|t| t > end)
    })
    .await;

    let dir = tempfile::tempdir().expect("tempdir");
    let source = SourceConfig::Prometheus {
        url: server.base.clone(),
        selector: "job=\"dcgm\"".into(),
        stale_after_s: 40,
    };
    let config = source_config(dir.path(), source, genesis, 60, &gpus);
    let mut oracle =
        Oracle::open(config.clone(), TelemetrySource::from_config(&config.source).expect("source"))
            .expect("open");
    run_range(&mut oracle, None, genesis, end).await.expect("run");
    let epoch1 = oracle.outcome(1).expect("store").expect("epoch 1 finalized").summary;
    let truth_wh = 8.0 * WATTS as f64 * 60.0 / 3_600.0;
    let error = (epoch1.it_energy_wh as f64 - truth_wh).abs() / truth_wh;
    assert!(error < 0.01, "{} Wh vs {truth_wh:.2} Wh", epoch1.it_energy_wh);
    assert_eq!(epoch1.gpu_seconds_available, 8 * 60, "15 s scrapes stay within a 40 s limit");
}

#[tokio::test]
async fn a_dead_host_goes_stale_and_another_clusters_gpus_never_count() {
    let Some(binary) = prometheus_binary() else { return };
    // Two hosts on one Prometheus, their samples carrying their own timestamps (as a federated or
    // pushed series does, which Prometheus never marks stale). Host a dies: it keeps serving its
    // last samples, so Prometheus gets nothing new, and its 5-minute lookback would keep them.
    const STALE_AFTER_S: u64 = 5;
    let (hosts_a, hosts_b) = (exported_gpus("a", 4, 400), exported_gpus("b", 4, 400));
    let frozen_at_ms = Arc::new(AtomicU64::new(0));
    let host = |gpus: Vec<ExportedGpu>, frozen: Option<Arc<AtomicU64>>| {
        let last = Arc::new(Mutex::new(String::new()));
        Arc::new(move || {
            let mut last = last.lock().expect("lock");
            let dead = frozen.as_ref().is_some_and(|f| f.load(Ordering::SeqCst) > 0);
            if !dead {
                *last = exposition(&gpus, Some(now_ms()));
            }
            Some(last.clone())
        })
    };
    let exporter_a = serve_with(host(hosts_a.clone(), Some(frozen_at_ms.clone())), 200).await;
    let exporter_b = serve_with(host(hosts_b.clone(), None), 200).await;
    let server = start_prometheus(binary, &[&exporter_a, &exporter_b], "1s");
    let source = PrometheusSource::new(&server.base, "job=\"dcgm\"", reqwest::Client::new())
        .with_stale_after(STALE_AFTER_S);

    wait_until("Prometheus serves both hosts", Duration::from_secs(60), async || {
        let now = unix_now();
        source.range(now - 1, now).await.is_ok_and(|r| r.iter().any(|r| r.gpus.len() == 8))
    })
    .await;
    frozen_at_ms.store(now_ms(), Ordering::SeqCst);
    let mut last_a = None;
    wait_until("host a's last sample is known", Duration::from_secs(30), async || {
        last_a = newest_sample(&server.base, "DCGM_FI_DEV_GPU_UTIL{Hostname=\"a\"}").await;
        last_a.is_some()
    })
    .await;
    let last_a = last_a.expect("host a sampled");
    let (from, to) = (last_a + 1, last_a + STALE_AFTER_S + 10);
    wait_until("host b sampled well past the limit", Duration::from_secs(60), async || {
        newest_sample(&server.base, "DCGM_FI_DEV_GPU_UTIL{Hostname=\"b\"}")
            .await
            .is_some_and(|t| t > to)
    })
    .await;

    let records = source.range(from, to).await.expect("range");
    let count = |t: u64, host: &str| {
        let record = records.iter().find(|r| r.t == t).expect("every second");
        record.gpus.iter().filter(|g| g.uuid.starts_with(&format!("GPU-{host}-"))).count()
    };
    // a's last sample is at last_a.xxx: fresh through last_a + STALE_AFTER_S, then unavailable
    // (Prometheus's lookback would have kept it for 5 minutes).
    for t in from..=to {
        let a_fresh = t <= last_a + STALE_AFTER_S;
        assert_eq!(count(t, "a"), if a_fresh { 4 } else { 0 }, "t = last_a + {}", t - last_a);
        assert_eq!(count(t, "b"), 4, "host b keeps reporting (t = last_a + {})", t - last_a);
    }

    // Over the 10 s after a's limit, cluster b (inventory: its own GPUs) counts only its own,
    // though the selector matches both hosts; cluster a's GPUs are installed but unavailable.
    let clock = EpochClock { genesis: last_a + STALE_AFTER_S + 1, length: 10 };
    let mut acc = EpochAccumulator::new(0, clock, Carry::default());
    for r in records.iter().filter(|r| clock.epoch_of(r.t) == Some(0)) {
        acc.ingest(r).expect("ingest");
    }
    let uuids = |gpus: &[ExportedGpu]| gpus.iter().map(|g| g.uuid.clone()).collect::<Vec<_>>();
    let b = acc.summarize(&uuids(&hosts_b), &[]);
    assert_eq!((b.gpus_installed, b.gpu_seconds_available), (4, 40), "only cluster b's GPUs");
    let a = acc.summarize(&uuids(&hosts_a), &[]);
    assert_eq!((a.gpus_installed, a.gpu_seconds_available), (4, 0), "a's GPUs went stale");
}

#[test]
fn an_empty_selector_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = SourceConfig::Prometheus {
        url: "http://127.0.0.1:9090".into(),
        selector: String::new(),
        stale_after_s: 130,
    };
    let config = source_config(dir.path(), source.clone(), 1_750_000_000, 60, &[]);
    for err in [
        config.validate().expect_err("config"),
        TelemetrySource::from_config(&source).expect_err("source"),
    ] {
        let msg = err.to_string();
        assert!(msg.contains("source.selector") && msg.contains("Hostname=\""), "{msg}");
    }
}
