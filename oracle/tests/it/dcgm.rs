//! dcgm-exporter: the real exposition format served over HTTP, and every way it can be wrong.

use std::sync::{Arc, Mutex};

use compute_ledger_oracle::{
    DcgmExporterSource, EnergyUnit, FacilityMeter, OracleError, parse_exposition,
};

use crate::common::{dcgm_fixture, serve};

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
