//! One second of 100 oracles in one node: each stores its sample and flushes it before the next
//! second, with a sled database per oracle (as before) vs one shared database with grouped
//! fsyncs. Run: `cargo bench -p compute-ledger-oracle --bench sample_store`.

use std::hint::black_box;

use compute_ledger_oracle::{SampleDb, SampleRecord, SampleStore};
use criterion::{Criterion, criterion_group, criterion_main};

const ORACLES: u64 = 100;

fn second(t: u64) -> SampleRecord {
    SampleRecord { t, gpus: Vec::new(), facility_mj: Some(t * 1_000), racks: vec![] }
}

/// Every oracle stores second `t` and flushes, all at once, as their 1 Hz loops do.
async fn one_second(stores: &[SampleStore], t: u64) {
    let flushes = stores.iter().map(|store| async move {
        store.put_sample(&second(t)).expect("put");
        store.flush().await.expect("flush");
    });
    futures::future::join_all(flushes).await;
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("rt");
    let dir = tempfile::tempdir().expect("tempdir");
    let own: Vec<SampleStore> = (0..ORACLES)
        .map(|i| SampleStore::open(&dir.path().join(format!("own-{i}"))).expect("open"))
        .collect();
    let db = SampleDb::open(&dir.path().join("shared")).expect("open");
    let shared: Vec<SampleStore> =
        (0..ORACLES).map(|i| db.store(i, None).expect("store")).collect();

    let mut group = c.benchmark_group("100 oracles, one second");
    group.sample_size(20);
    let mut t = 0;
    group.bench_function("a database each", |b| {
        b.iter(|| {
            t += 1;
            runtime.block_on(one_second(black_box(&own), t));
        })
    });
    let mut t = 0;
    group.bench_function("one shared database", |b| {
        b.iter(|| {
            t += 1;
            runtime.block_on(one_second(black_box(&shared), t));
        })
    });
    group.finish();
    println!("shared database: {} fsyncs over all its seconds", db.fsyncs());
}

criterion_group!(benches, bench);
criterion_main!(benches);
