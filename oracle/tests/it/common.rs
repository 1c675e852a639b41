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

/// Serves `body` (changeable) with `status` at `http://127.0.0.1:PORT/metrics`; returns the URL.
pub(crate) async fn serve(body: Arc<Mutex<String>>, status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let body = body.clone();
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
                let text = body.lock().expect("lock").clone();
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
        leases: vec![
            LeaseAllocation {
                lease_id: 1,
                billing: Billing::Reserved,
                start_epoch: 1,
                end_epoch: 9,
                gpus: uuids[0..4].to_vec(),
            },
            LeaseAllocation {
                lease_id: 2,
                billing: Billing::Metered,
                start_epoch: 0,
                end_epoch: 9,
                gpus: uuids[4..6].to_vec(),
            },
        ],
        signer: None,
        max_backfill_s: 3_600,
    }
}
