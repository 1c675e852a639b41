//! The live loop on the wall clock against a dcgm-exporter that hangs for a while: the loop keeps
//! the clock, the hung seconds count as unavailable, and no second is ever stamped with a reading
//! taken later (no phantom seconds billed after the exporter recovers).

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use compute_ledger_oracle::{
    MAX_LIVE_LAG_S, Oracle, ReportFile, SampleRecord, SourceConfig, TelemetrySource, run_live,
    unix_now,
};

use crate::common::{exported_gpus, exposition, serve_with, source_config, wait_until};

fn report(dir: &Path, epoch: u64) -> Option<ReportFile> {
    let text = std::fs::read_to_string(dir.join(format!("reports/epoch-{epoch}.json"))).ok()?;
    Some(serde_json::from_str(&text).expect("report json"))
}

#[tokio::test]
async fn a_hung_exporter_costs_its_seconds_and_bills_no_phantom_ones() {
    // The exporter writes the wall-clock second it answered into FB_USED, so the archive shows
    // when each stored second was really read.
    let base = unix_now() - 1;
    let hung = Arc::new(AtomicBool::new(false));
    let (answered, hung_requests) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let gpus = exported_gpus("gpu-node-7", 2, 550);
    let respond = {
        let (hung, answered, hung_requests, gpus) =
            (hung.clone(), answered.clone(), hung_requests.clone(), gpus.clone());
        Arc::new(move || {
            if hung.load(Ordering::SeqCst) {
                hung_requests.fetch_add(1, Ordering::SeqCst);
                return None;
            }
            let now_ms = u64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_millis(),
            )
            .expect("ms");
            let mut gpus = gpus.clone();
            for g in &mut gpus {
                g.energy_mj = (now_ms - base * 1_000) * 550;
                g.fb_used_mib = now_ms / 1_000 - base;
            }
            answered.fetch_add(1, Ordering::SeqCst);
            Some(exposition(&gpus, None))
        })
    };
    let url = serve_with(respond, 200).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let genesis = base - base % 10;
    let config = source_config(
        dir.path(),
        SourceConfig::Dcgm { url, stale_after_s: 65 },
        genesis,
        10,
        &gpus,
    );
    let oracle =
        Oracle::open(config.clone(), TelemetrySource::from_config(&config.source).expect("source"))
            .expect("open");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let live = tokio::spawn(async move {
        let mut oracle = oracle;
        run_live(&mut oracle, None, async {
            let _ = stopped.await;
        })
        .await
    });

    wait_until("three answered scrapes", Duration::from_secs(60), async || {
        answered.load(Ordering::SeqCst) >= 3
    })
    .await;
    hung.store(true, Ordering::SeqCst);
    let hang_from = unix_now();
    // Hung for at least 10 s and at least three held requests (each bounded by the timeout).
    wait_until("a long hang", Duration::from_secs(120), async || {
        hung_requests.load(Ordering::SeqCst) >= 3 && unix_now() >= hang_from + 10
    })
    .await;
    let hang_to = unix_now();
    hung.store(false, Ordering::SeqCst);
    let last_epoch = (hang_to - genesis) / 10 + 1;
    wait_until("the epoch after the hang reported", Duration::from_secs(120), async || {
        report(dir.path(), last_epoch).is_some()
    })
    .await;
    stop.send(()).expect("loop running");
    live.await.expect("join").expect("run_live");

    let first_epoch = (base + 1 - genesis) / 10;
    let mut stored = Vec::new();
    for epoch in first_epoch..=last_epoch {
        let file = report(dir.path(), epoch).unwrap_or_else(|| panic!("epoch {epoch} closed"));
        let archive = std::fs::read_to_string(&file.outcome.archive).expect("archive");
        for line in archive.lines() {
            stored.push(serde_json::from_str::<SampleRecord>(line).expect("record"));
        }
    }
    assert!(stored.len() >= 5, "the exporter was sampled before and after the hang");
    for record in &stored {
        for gpu in &record.gpus {
            let read_at = base + u64::from(gpu.mem_used_mib);
            assert!(
                read_at >= record.t && read_at <= record.t + MAX_LIVE_LAG_S + 1,
                "second {} was stamped with a reading taken at {read_at}",
                record.t
            );
        }
    }
    let in_hang =
        stored.iter().filter(|r| r.t > hang_from + 1 && r.t + MAX_LIVE_LAG_S + 2 < hang_to).count();
    assert_eq!(in_hang, 0, "seconds while the exporter hung are unavailable");
    assert!(stored.iter().any(|r| r.t >= hang_to), "sampling resumed after the hang");
}
