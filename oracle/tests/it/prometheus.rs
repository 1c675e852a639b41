//! A real Prometheus server (Debian's `prometheus` package) scraping the fixture exporter:
//! the oracle reads the DCGM series back with PromQL range queries, and the facility meter with
//! an instant query.

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use compute_ledger_oracle::{EnergyUnit, FacilityMeter, PrometheusSource, unix_now};

use crate::common::{dcgm_fixture, serve};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prometheus_binary() -> Option<&'static str> {
    ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test]
async fn reads_dcgm_series_from_a_real_prometheus() {
    let Some(binary) = prometheus_binary() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Prometheus: `make test` installs Debian's prometheus"
        );
        eprintln!(
            "SKIPPED: no prometheus binary (apt-get install prometheus, or run `make test` as root)"
        );
        return;
    };
    let body = format!(
        "{}# TYPE site_energy_wh_total counter\nsite_energy_wh_total 5000\n",
        dcgm_fixture()
    );
    let exporter = serve(Arc::new(Mutex::new(body)), 200).await;
    let target = exporter.trim_start_matches("http://").trim_end_matches("/metrics").to_string();

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: dcgm\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .expect("config");
    let port = free_port();
    let _server = Server(
        Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let source = PrometheusSource::new(base.clone(), "{job=\"dcgm\"}", reqwest::Client::new());

    let deadline = Instant::now() + Duration::from_secs(60);
    let records = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = unix_now();
        if let Ok(records) = source.range(now - 5, now).await
            && records.iter().any(|r| r.gpus.len() == 4)
        {
            break records;
        }
        assert!(Instant::now() < deadline, "Prometheus never served the scraped series");
    };
    let full = records.iter().find(|r| r.gpus.len() == 4).expect("a full second");
    let g0 = full.gpus.iter().find(|g| g.uuid.starts_with("GPU-5d1f")).expect("gpu 0");
    assert_eq!((g0.util_pct, g0.power_mw, g0.energy_mj), (97, 684_512, 9_823_451_276));
    assert_eq!(full.gpus.iter().filter(|g| !g.healthy).count(), 2, "ECC and XID GPUs unavailable");

    let meter = FacilityMeter::Prometheus {
        url: base,
        query: "site_energy_wh_total".into(),
        unit: EnergyUnit::Wh,
    };
    assert_eq!(
        meter.read(&reqwest::Client::new(), full.t).await.expect("meter"),
        5_000 * 3_600_000
    );

    let bad =
        PrometheusSource::new(format!("http://127.0.0.1:{port}"), "{job=", reqwest::Client::new());
    let err = bad.range(full.t, full.t).await.expect_err("bad selector");
    assert!(err.to_string().contains("failed"), "{err}");
}
