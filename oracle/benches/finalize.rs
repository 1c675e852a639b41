//! Finalizing an epoch for 10,000 GPUs and 1,000 leases (aggregation into deliveries and totals,
//! deliveries tree, EIP-712 signature), against the floor: hashing the 1,000 leaves and building
//! the tree alone. Run: `cargo bench -p compute-ledger-oracle --bench finalize`.

use std::hint::black_box;

use alloy::{primitives::B256, signers::local::PrivateKeySigner};
use compute_ledger_oracle::{
    Billing, EpochAccumulator, EpochClock, GpuSample, LeaseAllocation, SampleRecord, SignedReport,
    build_report,
};
use compute_ledger_types::{DeliveriesTree, report_domain};
use criterion::{Criterion, criterion_group, criterion_main};

const GPUS: usize = 10_000;
const LEASES: usize = 1_000;

fn filled_epoch() -> (EpochAccumulator, Vec<String>, Vec<LeaseAllocation>) {
    let clock = EpochClock { genesis: 0, length: 3_600 };
    let uuids: Vec<String> = (0..GPUS).map(|i| format!("GPU-{i:08}")).collect();
    let mut acc = EpochAccumulator::new(0, clock, Default::default());
    for t in 0..4u64 {
        let gpus = uuids
            .iter()
            .enumerate()
            .map(|(i, uuid)| GpuSample {
                uuid: uuid.clone(),
                healthy: i % 97 != 0,
                util_pct: (i % 100) as u8,
                power_mw: 500_000,
                energy_mj: t * 500_000,
                mem_used_mib: 40_000,
                ecc_dbe: 0,
                xid: 0,
            })
            .collect();
        acc.ingest(&SampleRecord { t, gpus, facility_mj: Some(t * 5_600_000_000), racks: vec![] })
            .expect("in order");
    }
    let per_lease = GPUS / LEASES;
    let leases = (0..LEASES)
        .map(|l| LeaseAllocation {
            lease_id: l as u64 + 1,
            billing: if l % 2 == 0 { Billing::Reserved } else { Billing::Metered },
            start_epoch: 0,
            end_epoch: 10,
            gpus: uuids[l * per_lease..(l + 1) * per_lease].to_vec(),
            racks: vec![],
            kw: 0,
        })
        .collect();
    (acc, uuids, leases)
}

fn finalize(c: &mut Criterion) {
    let (acc, inventory, leases) = filled_epoch();
    let signer = PrivateKeySigner::random();
    let domain = report_domain(31_337, alloy::primitives::Address::repeat_byte(0x11));
    let leaves = acc.summarize(&inventory, &leases).deliveries;

    let mut group = c.benchmark_group("finalize_epoch_10k_gpus_1k_leases");
    group.bench_function("floor_hash_leaves_build_tree", |b| {
        b.iter(|| DeliveriesTree::new(black_box(leaves.clone())).expect("tree").root())
    });
    group.bench_function("finalize_aggregate_tree_sign", |b| {
        b.iter(|| {
            let summary = acc.summarize(black_box(&inventory), black_box(&leases));
            let report = build_report(1, &summary, B256::ZERO).expect("report");
            let mut signed = SignedReport::new(report);
            signed.sign(&signer, &domain).expect("sign");
            signed
        })
    });
    group.finish();
}

criterion_group!(benches, finalize);
criterion_main!(benches);
