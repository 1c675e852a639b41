//! The keeper from the node's own index: the due queue follows each lease, a round's chain calls
//! and index reads grow with the due leases and not with all leases (counted, not timed), and
//! two keepers racing over the same due epochs both finish with every epoch settled once.

use std::{collections::BTreeMap, sync::Arc};

use alloy::primitives::U256;
use compute_ledger_node::{
    Indexer,
    index::{DeliveriesArchive, DueCursor, Index, NodeProofs},
    loops::keeper_round,
    metrics::Metrics,
};
use compute_ledger_sdk::{
    Client, ClusterSpec, DueKind, Keeper, LeaseOffer, LeaseStatus,
    test_utils::{EPOCH, Market, Proxy, REPORT_WINDOW, RESOLUTION_WINDOW, dollars},
};

/// Seconds per epoch of the counting test's due leases.
const HOUR: u32 = 3_600;

/// An index of `m` and proofs over it (an empty archive: these epochs are missed).
fn open_index(dir: &std::path::Path) -> NodeProofs {
    let index = Index::open(&dir.join("index")).expect("index");
    let archive = DeliveriesArchive::open(&dir.join("deliveries")).expect("archive");
    NodeProofs { index, archive }
}

/// Indexes `m`'s chain up to its head.
async fn catch_up(m: &Market, index: &Index) {
    let mut indexer = Indexer::new(
        index.clone(),
        m.governance.provider().clone(),
        m.deployment.clone(),
        0,
        Arc::new(Metrics::default()),
    )
    .expect("indexer");
    indexer.catch_up().await.expect("catch up");
}

async fn keeper_through(m: &Market, url: &str, key: usize) -> Keeper {
    let client = Client::connect(url, m.deployment.clone(), m.devnet.signer(key));
    Keeper::new(client.await.expect("keeper client"))
}

#[tokio::test]
async fn the_due_queue_follows_a_lease_through_its_life() {
    let m = Market::start(10_000, 5_000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proofs = open_index(dir.path());
    let index = &proofs.index;
    let info = m.governance.registry().clusterInfo(m.cluster_id).call().await.expect("info");
    let end_of = |epoch: u64| info.genesis + (epoch + 1) * u64::from(EPOCH);
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(2, start, 2)).await;
    let offered = m.owner.create_lease(&m.lease_offer(2, start, 2)).await.expect("offered");
    catch_up(&m, index).await;

    // Queued under the end of its first epoch; an unfunded lease never is.
    assert!(index.due_leases(end_of(start) - 1, 10).expect("due").is_empty());
    assert_eq!(index.due_leases(end_of(start), 10).expect("due"), vec![lease]);
    assert_eq!(index.due_leases(u64::MAX, 10).expect("due"), vec![lease], "not {offered}");

    // Settled once: queued under the end of its second epoch.
    m.advance_past_epoch(start, REPORT_WINDOW + 1).await;
    m.keeper.settle_missed(lease, start).await.expect("settle");
    catch_up(&m, index).await;
    assert!(index.due_leases(end_of(start + 1) - 1, 10).expect("due").is_empty());
    assert_eq!(index.due_leases(end_of(start + 1), 10).expect("due"), vec![lease]);

    // Ended: gone from the queue.
    m.advance_past_epoch(start + 1, REPORT_WINDOW + 1).await;
    m.keeper.settle_missed(lease, start + 1).await.expect("settle");
    catch_up(&m, index).await;
    assert!(index.due_leases(u64::MAX, 10).expect("due").is_empty());
}

#[tokio::test]
async fn rounds_that_read_part_of_the_due_queue_reach_every_due_lease_in_turn() {
    let m = Market::start(10_000, 5_000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let index = open_index(dir.path()).index;
    let start = m.current_epoch().await + 2;
    let mut leases = Vec::new();
    for _ in 0..5 {
        leases.push(m.funded_lease(&m.lease_offer(1, start, 1)).await);
    }
    catch_up(&m, &index).await;

    // From the front every time (the old round): the same two, the other three never.
    assert_eq!(index.due_leases(u64::MAX, 2).expect("due"), leases[..2]);
    assert_eq!(index.due_leases(u64::MAX, 2).expect("due"), leases[..2]);

    // Going on where the last round stopped, wrapping around: every lease within three rounds.
    let mut cursor = DueCursor::default();
    let mut read = Vec::new();
    for _ in 0..3 {
        read.push(index.due_leases_from(u64::MAX, &mut cursor, 2).expect("due"));
    }
    assert_eq!(read, [&leases[..2], &leases[2..4], &[leases[4], leases[0]]]);
    // A round that reads the whole queue leaves the next one at the front.
    let all = index.due_leases_from(u64::MAX, &mut DueCursor::default(), 10).expect("due");
    assert_eq!(all, leases);
    let mut cursor = DueCursor::default();
    index.due_leases_from(u64::MAX, &mut cursor, 10).expect("due");
    assert_eq!(cursor, DueCursor::default());
    // Leases not due yet are never read, wherever the cursor stands.
    let info = m.governance.registry().clusterInfo(m.cluster_id).call().await.expect("info");
    let first_ends = info.genesis + (start + 1) * u64::from(EPOCH);
    let mut cursor = DueCursor::default();
    index.due_leases_from(u64::MAX, &mut cursor, 3).expect("due");
    assert!(index.due_leases_from(first_ends - 1, &mut cursor, 10).expect("due").is_empty());
}

/// The JSON-RPC methods a round asked, less those of waiting for a receipt and filling a
/// transaction's nonce and fees, which depend on timing and on the client's cache, not on the
/// ledger's size.
fn chain_work(
    counts: &BTreeMap<String, usize>,
    before: &BTreeMap<String, usize>,
) -> BTreeMap<String, usize> {
    const PLUMBING: [&str; 7] = [
        "eth_getTransactionReceipt",
        "eth_blockNumber",
        "eth_getTransactionCount",
        "eth_chainId",
        "eth_gasPrice",
        "eth_feeHistory",
        "eth_maxPriorityFeePerGas",
    ];
    counts
        .iter()
        .filter(|(method, _)| !PLUMBING.contains(&method.as_str()))
        .map(|(method, count)| (method.clone(), count - before.get(method).copied().unwrap_or(0)))
        .filter(|(_, count)| *count > 0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keeper_round_asks_the_same_among_many_leases_as_among_few() {
    const DUE: usize = 5;
    const IDLE: u64 = 300;
    let m = Market::start(100_000, 50_000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proofs = open_index(dir.path());
    let proxy = Proxy::for_devnet(&m.devnet).await;
    let keeper = keeper_through(&m, &proxy.url(), 8).await;

    // The due leases are on a cluster of hour-long epochs, so the real time that creating the
    // idle leases takes (anvil's clock runs) never makes a second epoch due.
    let spec = ClusterSpec {
        metadata_uri: "ipfs://hourly".into(),
        metadata_hash: Default::default(),
        epoch_length: HOUR,
        attestors: vec![m.attestors[0].address()],
        threshold: 1,
    };
    let hourly = m.owner.register_cluster(&spec).await.expect("register");
    m.owner.deposit_bond(hourly, dollars(10_000)).await.expect("bond");
    let registry = m.governance.registry();
    let genesis = registry.clusterInfo(hourly).call().await.expect("info").genesis;
    let start = registry.currentEpoch(hourly).call().await.expect("epoch") + 2;
    for _ in 0..DUE {
        let offer = LeaseOffer { cluster_id: hourly, ..m.lease_offer(1, start, 3) };
        m.funded_lease(&offer).await;
    }
    let m_ref = &m;
    let past_deadline_of = |epoch: u64| async move {
        let target = genesis + (epoch + 1) * u64::from(HOUR) + REPORT_WINDOW + 1;
        let now = m_ref.governance.chain_time().await.expect("now");
        m_ref.devnet.advance(target.saturating_sub(now)).await;
    };

    // Round one: the first epoch of DUE leases is missed, among DUE leases.
    past_deadline_of(start).await;
    catch_up(&m, &proofs.index).await;
    let (now, windows) = (m.governance.chain_time().await.expect("now"), keeper.windows().await);
    let few_reads = proofs.index.due_epochs(now, &windows.expect("windows"), 1_000).expect("due");
    let before = proxy.requests();
    let run = keeper_round(&keeper, &proofs, 100).await.expect("round among few");
    assert_eq!(run.settled.len(), DUE, "{run:?}");
    let few = chain_work(&proxy.requests(), &before);

    // IDLE more leases, active but far from their first epoch's end.
    let later = m.current_epoch().await + 1_000;
    let tenant = m.tenant.client();
    let stablecoin = tenant.stablecoin();
    let approve = stablecoin.approve(m.deployment.market, U256::MAX);
    approve.send().await.expect("approve").get_receipt().await.expect("approved");
    for i in 0..IDLE {
        let lease = m.owner.create_lease(&m.lease_offer(1, later + i, 1)).await.expect("lease");
        m.tenant.fund(lease).await.expect("fund");
    }
    // Round two: the second epoch of the DUE leases is missed, among DUE + IDLE leases.
    past_deadline_of(start + 1).await;
    catch_up(&m, &proofs.index).await;
    let (now, windows) = (m.governance.chain_time().await.expect("now"), keeper.windows().await);
    let many_reads = proofs.index.due_epochs(now, &windows.expect("windows"), 1_000).expect("due");
    let before = proxy.requests();
    let run = keeper_round(&keeper, &proofs, 100).await.expect("round among many");
    assert_eq!(run.settled.len(), DUE, "{run:?}");
    let many = chain_work(&proxy.requests(), &before);

    println!(
        "index reads: {} among few, {} among many",
        few_reads.records_read, many_reads.records_read
    );
    println!("chain requests among {DUE} leases: {few:?}");
    println!("chain requests among {} leases: {many:?}", DUE as u64 + IDLE);
    assert_eq!(few_reads.epochs.len(), DUE);
    assert_eq!(few_reads.records_read, many_reads.records_read, "index reads grew with leases");
    // Blocks are read for chain time (twice a round) and by the receipt watcher, which polls
    // as often as timing makes it: bounded, not compared.
    let blocks = |counts: &mut BTreeMap<String, usize>| counts.remove("eth_getBlockByNumber");
    let (mut few, mut many) = (few, many);
    assert!(blocks(&mut few).unwrap_or(0) < 20 && blocks(&mut many).unwrap_or(0) < 20);
    assert_eq!(few, many, "a round's chain requests grew with the number of leases");
    assert!(few.values().sum::<usize>() < 20, "{few:?}");

    // The control: the SDK's chain scan asks the chain about every lease.
    let before = proxy.requests();
    let scanned = keeper.due_epochs().await.expect("chain scan");
    assert!(scanned.is_empty());
    let scan = chain_work(&proxy.requests(), &before);
    println!("the SDK's chain scan among {} leases: {scan:?}", DUE as u64 + IDLE);
    assert!(scan.get("eth_call").copied().unwrap_or(0) >= IDLE as usize, "{scan:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keepers_from_the_index_racing_both_finish_and_settle_each_epoch_once() {
    let m = Market::start(10_000, 5_000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proofs = open_index(dir.path());
    let start = m.current_epoch().await + 2;
    let mut leases = Vec::new();
    for _ in 0..4 {
        leases.push(m.funded_lease(&m.lease_offer(2, start, 2)).await);
    }
    m.advance_past_epoch(start + 1, REPORT_WINDOW + 1).await;
    catch_up(&m, &proofs.index).await;
    let url = m.devnet.anvil.endpoint();
    let (first, second) = (keeper_through(&m, &url, 8).await, keeper_through(&m, &url, 9).await);
    let now = m.governance.chain_time().await.expect("now");
    let windows = first.windows().await.expect("windows");
    let due = proofs.index.due_epochs(now, &windows, 100).expect("due");
    assert_eq!(due.epochs.len(), 8);
    assert!(due.epochs.iter().all(|d| d.kind == DueKind::Missed));
    let stablecoin = m.governance.stablecoin();
    let held_before = stablecoin.balanceOf(m.deployment.market).call().await.expect("balance");

    // Both start together from the same index; batches of three.
    let (a, b) = tokio::join!(keeper_round(&first, &proofs, 3), keeper_round(&second, &proofs, 3));
    let (a, b) = (a.expect("first keeper's round"), b.expect("second keeper's round"));
    let mut settled: Vec<(U256, u64)> =
        a.settled.iter().chain(&b.settled).map(|s| (s.lease_id, s.epoch)).collect();
    settled.sort();
    settled.dedup();
    assert_eq!(settled.len(), 8, "every epoch settled once: {a:?} {b:?}");
    for skip in a.skipped.iter().chain(&b.skipped) {
        assert!(
            skip.already_settled || skip.reason.contains("earlier epoch"),
            "a skip other than the race: {skip:?}"
        );
    }

    // The index agrees: each lease ended with its two settlements, no more.
    catch_up(&m, &proofs.index).await;
    for lease in &leases {
        assert_eq!(m.governance.lease(*lease).await.expect("lease").status, LeaseStatus::Ended);
        assert_eq!(proofs.index.settlements(*lease).expect("settlements").len(), 2);
    }
    assert!(proofs.index.due_leases(u64::MAX, 10).expect("due").is_empty());
    let held_after = stablecoin.balanceOf(m.deployment.market).call().await.expect("balance");
    assert_eq!(held_after, held_before, "settlement moves no tokens: nothing lost");
}

#[tokio::test]
async fn a_challenge_left_open_past_its_deadline_is_closed_after_its_lease_ended() {
    let m = Market::start(10_000, 5_000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proofs = open_index(dir.path());
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(2, start, 1)).await;
    m.advance_past_epoch(start, 1).await;
    let delivered = 2 * u64::from(EPOCH);
    let tree = m.report(start, &[(lease, delivered)]).await;
    m.tenant.challenge(lease, start).await.expect("challenge");
    catch_up(&m, &proofs.index).await;
    assert_eq!(proofs.index.expired_challenges(u64::MAX, 10).expect("open").len(), 1);

    // The arbiter stays silent; past the deadline someone settles the epoch (the report stands)
    // and the lease ends, leaving the challenge open with the tenant's bond in it.
    m.devnet.advance(RESOLUTION_WINDOW + 1).await;
    let proof = tree.proof(lease).expect("proof");
    m.keeper.settle(lease, start, delivered, 0, proof).await.expect("settle");
    assert_eq!(m.governance.lease(lease).await.expect("lease").status, LeaseStatus::Ended);
    catch_up(&m, &proofs.index).await;
    assert!(proofs.index.due_leases(u64::MAX, 10).expect("due").is_empty());

    // The index keeper closes it though the lease left the due queue; the bond goes back.
    let keeper = keeper_through(&m, &m.devnet.anvil.endpoint(), 8).await;
    let run = keeper_round(&keeper, &proofs, 10).await.expect("round");
    assert_eq!(run.expired_challenges, 1, "{run:?}");
    let bond = compute_ledger_sdk::withdraw_payout(m.tenant.client()).await.expect("payout");
    assert!(!bond.base().is_zero());
    catch_up(&m, &proofs.index).await;
    assert!(proofs.index.expired_challenges(u64::MAX, 10).expect("open").is_empty());
}
