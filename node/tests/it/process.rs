//! The `compute-ledger` binary as an operator runs it: a crash after any commit of a backfill
//! loses nothing and counts nothing twice; SIGTERM stops every loop cleanly; an older node's
//! deliveries archive moves out of its index on first start; readers see a consistent index
//! while it is being written.

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
        .arg("--deliveries-dir")
        .arg(dir.join("deliveries"))
        .env_remove("COMPUTE_LEDGER_RPC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[tokio::test]
async fn a_crash_after_any_commit_of_a_backfill_loses_nothing() {
    use std::os::unix::process::ExitStatusExt;

    use compute_ledger_node::{FAULT_ABORT_AFTER_COMMITS, index::Index};

    let (m, _) = market_with_history().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let deploy_block = m.deployment.deploy_block;
    // One block per atomic range; every run aborts (as a kill -9 would stop it: no unwinding,
    // nothing flushed on exit) right after its COMMITS-th committed range. So the crashes land
    // at exact, known points however fast or loaded the machine is.
    const COMMITS: u64 = 4;
    let mut cursor = None;
    let mut crashes = 0;
    loop {
        let run = node(&m, dir.path())
            .args(["index", "--once", "--max-range", "1"])
            .env(FAULT_ABORT_AFTER_COMMITS, COMMITS.to_string())
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&run.stderr);
        let resumed_from = cursor.unwrap_or(deploy_block);
        cursor = Index::open(&dir.path().join("index")).expect("open").cursor().expect("cursor");
        if run.status.success() {
            break; // caught up before its COMMITS-th commit
        }
        assert_eq!(run.status.signal(), Some(6), "aborted by the fault hook: {stderr}");
        assert!(stderr.contains(FAULT_ABORT_AFTER_COMMITS), "{stderr}");
        // Every committed range survived the crash, and nothing beyond it was applied.
        assert_eq!(cursor, Some(resumed_from + COMMITS), "{stderr}");
        crashes += 1;
    }
    assert!(crashes >= 5, "the history spans several crashes ({crashes})");

    let killed = Index::open(&dir.path().join("index")).expect("open");
    let clean_dir = tempfile::tempdir().expect("tempdir");
    let clean = index_fresh(&m, clean_dir.path(), 50_000).await;
    assert_eq!(killed.contents().expect("contents"), clean.contents().expect("contents"));
}

#[tokio::test]
async fn sigterm_stops_the_node_cleanly_and_the_archive_moves_out_of_the_index() {
    use compute_ledger_node::index::{DeliveriesArchive, Index};
    use compute_ledger_types::DeliveryLeaf;

    let (m, leases) = market_with_history().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // An older node kept its deliveries trees in an `archive` tree inside the index.
    let leaves =
        vec![DeliveryLeaf { lease_id: leases[0], epoch: 7, delivered: 480, energy_wh: 96 }];
    {
        let legacy = sled::open(dir.path().join("index")).expect("legacy index");
        let archive = legacy.open_tree("archive").expect("tree");
        let key = format!("{:016x}/{:016x}", m.cluster_id, 7);
        archive.insert(key, serde_json::to_vec(&leaves).expect("json")).expect("insert");
        legacy.flush().expect("flush");
    }
    let listen = format!("127.0.0.1:{}", crate::common::free_port());
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
        assert!(started.elapsed() < Duration::from_secs(120), "node did not come up in 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let claimable = call(&url, "ledger_claimable", json!([m.owner.client().address()])).await;
    assert!(claimable["result"]["total"].is_string(), "{claimable}");

    let status =
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
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
            assert!(Instant::now() < deadline, "node ignored SIGTERM for 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("join");
    assert!(output.0.success(), "{}", output.1);
    assert!(output.1.contains("stopped cleanly"), "{}", output.1);
    // The sled lock is released: the index opens again. The archive moved to its own
    // directory, and the index no longer holds a copy (deleting it deletes no proof).
    let index = Index::open(&dir.path().join("index")).expect("reopen");
    let archive = DeliveriesArchive::open(&dir.path().join("deliveries")).expect("archive");
    let tree = archive.tree(m.cluster_id, 7).expect("readable").expect("moved");
    assert_eq!(tree.leaves(), leaves.as_slice());
    drop(index);
    let raw = sled::open(dir.path().join("index")).expect("raw index");
    assert!(!raw.tree_names().iter().any(|name| name.as_ref() == b"archive"));
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
