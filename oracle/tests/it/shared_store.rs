//! Many oracles in one process share one sled database: their data stays apart, survives a
//! reopen, an oracle's own old store is carried over, and concurrent flushes share fsyncs.

use compute_ledger_oracle::{Carry, SampleDb, SampleRecord, SampleStore};

fn second(t: u64) -> SampleRecord {
    SampleRecord { t, gpus: Vec::new(), facility_mj: Some(t * 1_000), racks: vec![] }
}

#[tokio::test(flavor = "current_thread")]
async fn forty_oracles_flushing_every_second_share_fsyncs_and_keep_their_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = SampleDb::open(dir.path()).expect("open");
    let stores: Vec<SampleStore> =
        (0..40).map(|cluster| db.store(cluster, None).expect("store")).collect();
    for t in 1_000..1_005 {
        // Every oracle stores its second and asks for a flush at the same moment.
        let flushes = stores.iter().enumerate().map(|(cluster, store)| async move {
            store.put_sample(&second(t + cluster as u64)).expect("put");
            store.flush().await
        });
        for flushed in futures::future::join_all(flushes).await {
            flushed.expect("flush");
        }
    }
    // 200 flush requests: the first of each second runs alone and the next covers those that
    // asked meanwhile (3 a second here, with the executor's polling order), never one each.
    let fsyncs = db.fsyncs();
    assert!((5..=50).contains(&fsyncs), "{fsyncs} fsyncs for 200 flushes of one database");
    drop(stores);
    drop(db);

    let db = SampleDb::open(dir.path()).expect("reopen");
    for cluster in [0u64, 17, 39] {
        let store = db.store(cluster, None).expect("store");
        let seconds: Vec<u64> = store.records(0, u64::MAX).map(|r| r.expect("record").t).collect();
        let expected: Vec<u64> = (1_000..1_005).map(|t| t + cluster).collect();
        assert_eq!(seconds, expected, "cluster {cluster} sees exactly its own seconds");
    }
}

#[tokio::test]
async fn an_oracles_own_store_is_carried_into_the_shared_one_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let legacy = dir.path().join("oracle-7").join("samples.sled");
    {
        let own = SampleStore::open(&legacy).expect("own store");
        for t in 600..610 {
            own.put_sample(&second(t)).expect("put");
        }
        let carry = Carry { facility: Some((609, 609_000)), ..Carry::default() };
        own.put_finalized(9, &serde_json::json!({"epoch": 9}), &carry).expect("finalize");
        own.mark_pruned(8).expect("prune");
        own.flush().await.expect("flush");
    }
    let db = SampleDb::open(&dir.path().join("oracles.sled")).expect("open");
    let store = db.store(7, Some(&legacy)).expect("store");
    assert_eq!(store.last_t().expect("last"), Some(609));
    assert_eq!(store.last_epoch().expect("epoch"), Some(9));
    assert_eq!(store.carry().expect("carry").and_then(|c| c.facility), Some((609, 609_000)));
    assert!(store.is_pruned(8).expect("pruned"));

    // The shared store goes on from there; asking again never re-imports over newer data.
    store.put_sample(&second(610)).expect("put");
    store.prune_before(605).expect("prune");
    store.flush().await.expect("flush");
    let again = db.store(7, Some(&legacy)).expect("store");
    let seconds: Vec<u64> = again.records(0, u64::MAX).map(|r| r.expect("record").t).collect();
    assert_eq!(seconds, (605..611).collect::<Vec<_>>());
    // Another cluster's store is not touched by cluster 7's legacy data.
    assert_eq!(db.store(8, None).expect("store").last_t().expect("last"), None);
}
