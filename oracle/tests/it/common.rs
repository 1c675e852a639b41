//! Shared fixtures: a tiny HTTP server on 127.0.0.1 and simulator configurations.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use compute_ledger_oracle::{
    Billing, LeaseAllocation, OracleConfig, Simulator, SimulatorConfig, Site, SourceConfig,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// The dcgm-exporter fixture (real exporter output format, four H100s).
pub(crate) fn dcgm_fixture() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dcgm-exporter.txt"
    ))
    .expect("fixture")
}

/// What a test endpoint answers to one request: a body, or `None` to hang (accept the request
/// and never answer, like a wedged exporter).
pub(crate) type Responder = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Serves `body` (changeable) with `status` at `http://127.0.0.1:PORT/metrics`; returns the URL.
pub(crate) async fn serve(body: Arc<Mutex<String>>, status: u16) -> String {
    serve_with(Arc::new(move || Some(body.lock().expect("lock").clone())), status).await
}

/// Serves whatever `respond` returns for each request (computed when the request arrives) with
/// `status` at `http://127.0.0.1:PORT/metrics`; returns the URL.
pub(crate) async fn serve_with(respond: Responder, status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let respond = respond.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut read = 0;
                while let Ok(n) = stream.read(&mut buf[read..]).await {
                    if n == 0 {
                        return;
                    }
                    read += n;
                    if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") || read == buf.len() {
                        break;
                    }
                }
                let Some(text) = respond() else {
                    // Hung: hold the connection until the client gives up.
                    let _ = stream.read(&mut buf).await;
                    return;
                };
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}/metrics")
}

/// One GPU as a dcgm-exporter shows it.
#[derive(Debug, Clone)]
pub(crate) struct ExportedGpu {
    pub(crate) uuid: String,
    pub(crate) hostname: String,
    pub(crate) util_pct: u32,
    pub(crate) power_w: u32,
    pub(crate) energy_mj: u64,
    pub(crate) fb_used_mib: u64,
}

/// `count` GPUs of host `hostname` (UUIDs `GPU-<hostname>-<i>`), 90 % busy at `power_w`.
pub(crate) fn exported_gpus(hostname: &str, count: usize, power_w: u32) -> Vec<ExportedGpu> {
    (0..count)
        .map(|i| ExportedGpu {
            uuid: format!("GPU-{hostname}-{i}"),
            hostname: hostname.into(),
            util_pct: 90,
            power_w,
            energy_mj: 0,
            fb_used_mib: 0,
        })
        .collect()
}

/// The dcgm-exporter exposition of `gpus`; with `timestamp_ms`, every sample carries it (as a
/// federating or pushing source does).
pub(crate) fn exposition(gpus: &[ExportedGpu], timestamp_ms: Option<u64>) -> String {
    let ts = timestamp_ms.map(|ms| format!(" {ms}")).unwrap_or_default();
    let mut text = String::new();
    type Value = fn(&ExportedGpu) -> String;
    let metrics: [(&str, &str, Value); 5] = [
        ("DCGM_FI_DEV_GPU_UTIL", "gauge", |g| g.util_pct.to_string()),
        ("DCGM_FI_DEV_POWER_USAGE", "gauge", |g| g.power_w.to_string()),
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", |g| g.energy_mj.to_string()),
        ("DCGM_FI_DEV_FB_USED", "gauge", |g| g.fb_used_mib.to_string()),
        ("DCGM_FI_DEV_XID_ERRORS", "gauge", |_| "0".into()),
    ];
    for (metric, kind, value) in metrics {
        text.push_str(&format!("# TYPE {metric} {kind}\n"));
        for (i, g) in gpus.iter().enumerate() {
            text.push_str(&format!(
                "{metric}{{gpu=\"{i}\",UUID=\"{}\",Hostname=\"{}\"}} {}{ts}\n",
                g.uuid,
                g.hostname,
                value(g)
            ));
        }
    }
    text
}

/// An oracle configuration for `source` with `gpus` as the inventory and no leases.
pub(crate) fn source_config(
    data_dir: &Path,
    source: SourceConfig,
    genesis: u64,
    epoch_length: u32,
    gpus: &[ExportedGpu],
) -> OracleConfig {
    OracleConfig {
        cluster_id: 1,
        chain_id: 31_337,
        registry: alloy::primitives::Address::repeat_byte(0x42),
        genesis,
        epoch_length,
        data_dir: data_dir.to_path_buf(),
        inventory: gpus.iter().map(|g| g.uuid.clone()).collect(),
        source,
        facility: None,
        rack_meters: None,
        leases: vec![],
        signer: None,
        max_backfill_s: 3_600,
        demand_response: None,
    }
}

/// Polls `ready` every 200 ms until it holds; panics with `what` after `deadline`.
pub(crate) async fn wait_until(
    what: &str,
    deadline: std::time::Duration,
    mut ready: impl AsyncFnMut() -> bool,
) {
    let give_up = std::time::Instant::now() + deadline;
    while !ready().await {
        assert!(std::time::Instant::now() < give_up, "gave up waiting: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Genesis used by simulator scenarios.
pub(crate) const GENESIS: u64 = 1_750_000_000;

/// An 8-GPU simulated cluster with 20-second epochs and two leases (reserved and metered).
pub(crate) fn sim_config(data_dir: &Path) -> OracleConfig {
    let sim = SimulatorConfig {
        seed: 42,
        gpus: 8,
        site: Site::TexasGas,
        origin: GENESIS,
        outages: vec![(2, GENESIS + 25, GENESIS + 34)],
        flexible_kw: 0,
        curtailment_schedule: None,
        racks: vec![],
    };
    let uuids = Simulator::new(sim.clone()).uuids().to_vec();
    OracleConfig {
        cluster_id: 1,
        chain_id: 31_337,
        registry: alloy::primitives::Address::repeat_byte(0x42),
        genesis: GENESIS,
        epoch_length: 20,
        data_dir: data_dir.to_path_buf(),
        inventory: uuids.clone(),
        source: SourceConfig::Simulator(sim),
        facility: None,
        rack_meters: None,
        leases: vec![
            LeaseAllocation {
                lease_id: 1,
                billing: Billing::Reserved,
                start_epoch: 1,
                end_epoch: 9,
                gpus: uuids[0..4].to_vec(),
                racks: vec![],
                kw: 0,
            },
            LeaseAllocation {
                lease_id: 2,
                billing: Billing::Metered,
                start_epoch: 0,
                end_epoch: 9,
                gpus: uuids[4..6].to_vec(),
                racks: vec![],
                kw: 0,
            },
        ],
        signer: None,
        max_backfill_s: 3_600,
        demand_response: None,
    }
}
