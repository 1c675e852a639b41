//! The `compute-ledger` binary as an operator runs it: kill -9 at many points of a backfill
//! loses nothing and counts nothing twice; SIGTERM stops every loop cleanly; readers see a
//! consistent index while it is being written.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::json;

use crate::common::{call, index_fresh, market_with_history, serve_behind};

const BIN: &str = env!("CARGO_BIN_EXE_compute-ledger");

fn node(m: &compute_ledger_sdk::test_utils::Market, dir: &Path) -> Command {
    let deployment = dir.join("deployment.json");
    m.deployment.save(&deployment).expect("deployment");
    let mut command = Command::new(BIN);
    command
        .arg("--rpc-url")
        .arg(m.devnet.anvil.endpoint())
        .arg("--deployment")
        .arg(&deployment)
        .arg("--index-dir")
        .arg(dir.join("index"))
        .env_remove("COMPUTE_LEDGER_RPC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[tokio::test]
async fn kill_9_during_backfill_loses_nothing() {
    let (m, _) = market_with_history().await;
    // A long tail of empty blocks after the history: with one block per atomic range the
    // backfill then takes seconds, not milliseconds, so the kills below land at different
    // points however fast or loaded the machine is.
    use alloy::providers::Provider;
    let mined: serde_json::Value = m
        .governance
        .provider()
        .raw_request("anvil_mine".into(), (alloy::primitives::U256::from(3_000),))
        .await
        .expect("mine");
    assert!(mined.is_null(), "{mined}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cursors = Vec::new();
    // One block per atomic range: many commits, so the kills land between and inside them.
    for delay_ms in [40, 80, 120, 160, 200, 260, 320, 400] {
        let mut child = node(&m, dir.path())
            .args(["index", "--once", "--max-range", "1"])
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        child.wait().expect("reaped");
        let index =
            compute_ledger_node::index::Index::open(&dir.path().join("index")).expect("open");
        cursors.push(index.cursor().expect("cursor"));
    }
    // The kills landed at different points of the backfill, and never moved the cursor back.
    assert!(cursors.windows(2).all(|w| w[0] <= w[1]), "{cursors:?}");
    let distinct: std::collections::BTreeSet<_> = cursors.iter().collect();
    assert!(distinct.len() >= 3, "kills should interrupt at several points: {cursors:?}");
    let finished = node(&m, dir.path()).args(["index", "--once"]).output().expect("run");
    assert!(finished.status.success(), "{}", String::from_utf8_lossy(&finished.stderr));
    assert!(String::from_utf8_lossy(&finished.stdout).contains("caught up"));

    let killed = compute_ledger_node::index::Index::open(&dir.path().join("index")).expect("open");
    let clean_dir = tempfile::tempdir().expect("tempdir");
    let clean = index_fresh(&m, clean_dir.path(), 50_000).await;
    assert_eq!(killed.contents().expect("contents"), clean.contents().expect("contents"));
}

#[tokio::test]
async fn sigterm_stops_the_node_cleanly() {
    let (m, _) = market_with_history().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child =
        node(&m, dir.path()).args(["--listen", &listen, "serve"]).spawn().expect("spawn");
    let url = format!("http://{listen}");
    let started = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(format!("{url}/health")).await
            && response.json::<serde_json::Value>().await.is_ok_and(|h| h["status"] == "ok")
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "node did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let claimable = call(&url, "ledger_claimable", json!([m.owner.client().address()])).await;
    assert!(claimable["result"]["total"].is_string(), "{claimable}");

    let status =
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                let mut stderr = String::new();
                std::io::Read::read_to_string(
                    &mut child.stderr.take().expect("stderr"),
                    &mut stderr,
                )
                .expect("read");
                return (status, stderr);
            }
            assert!(Instant::now() < deadline, "node ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("join");
    assert!(output.0.success(), "{}", output.1);
    assert!(output.1.contains("stopped cleanly"), "{}", output.1);
    // The sled lock is released: the index opens again.
    compute_ledger_node::index::Index::open(&dir.path().join("index")).expect("reopen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_a_consistent_index_while_it_is_written() {
    let (m, _) = market_with_history().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Readers query while the indexer applies the whole history one block per atomic range.
    let (mut indexer, server, _ledger) = serve_behind(&m, dir.path()).await;
    let url = format!("http://{}", server.addr);
    let holders = crate::common::holders(&m);
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let url = url.clone();
            let holder = holders[i % holders.len()];
            tokio::spawn(async move {
                let mut last_block = 0;
                for _ in 0..50 {
                    let positions = call(&url, "ledger_positions", json!([holder])).await;
                    assert!(positions["error"].is_null(), "{positions}");
                    let sync = call(&url, "ledger_syncStatus", json!([])).await;
                    let block = sync["result"]["indexedBlock"].as_u64().unwrap_or(0);
                    assert!(block >= last_block, "indexed block went back: {block} < {last_block}");
                    last_block = block;
                }
            })
        })
        .collect();
    let mut steps = 0;
    while indexer.step().await.expect("step") != compute_ledger_node::Step::Idle {
        steps += 1;
        tokio::task::yield_now().await;
    }
    assert!(steps > 20, "the history spans many ranges ({steps})");
    for reader in readers {
        reader.await.expect("reader");
    }
}

#[tokio::test]
async fn bad_config_stops_start_up_with_the_reason() {
    let m = compute_ledger_sdk::test_utils::Market::start(1_000, 100).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere = compute_ledger_sdk::Deployment { chain_id: 1, ..m.deployment };
    let wrong = dir.path().join("wrong.json");
    elsewhere.save(&wrong).expect("save");
    let run = |args: &[&str]| {
        let output = Command::new(BIN)
            .arg("--rpc-url")
            .arg(m.devnet.anvil.endpoint())
            .arg("--index-dir")
            .arg(dir.path().join("index"))
            .args(args)
            .output()
            .expect("run");
        (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (ok, stderr) = run(&["--deployment", wrong.to_str().expect("utf-8"), "index", "--once"]);
    assert!(
        !ok && stderr.contains("RPC is on chain 31337, but the deployment is on chain 1"),
        "{stderr}"
    );
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "[indexer]\nconfirmatons = 2\n").expect("write");
    let (ok, stderr) = run(&[
        "--deployment",
        wrong.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
        "index",
        "--once",
    ]);
    assert!(!ok && stderr.contains("confirmatons"), "{stderr}");
    let (ok, stderr) = run(&["--deployment", "/nonexistent/deployment.json", "index", "--once"]);
    assert!(!ok && stderr.contains("compute-ledger devnet"), "{stderr}");
}
