//! Each cluster's quote for new leases as the node keeps and serves it: the owner sets a curve,
//! a report attests 90% utilization, the keeper's round applies it on chain, the index follows
//! the pricer's events and `ledger_quote` serves the quote with every input; the owner creates a
//! lease at the quote.

use alloy::primitives::U256;
use compute_ledger_node::{
    index::{DeliveriesArchive, Index, NodeProofs},
    loops::keeper_round,
};
use compute_ledger_sdk::{
    Amount,
    api::{ClientError, LedgerApiClient, NOT_FOUND_CODE, http_client},
    test_utils::Market,
};

use crate::common::{indexer_of, serve};

fn usd(text: &str) -> Amount {
    Amount::parse(text, 6).expect("amount")
}

#[tokio::test]
async fn the_keeper_moves_a_quote_with_attested_utilization_and_the_node_serves_it() {
    let m = Market::start(10_000, 5_000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let index = Index::open(&dir.path().join("index")).expect("index");
    let archive = DeliveriesArchive::open(&dir.path().join("deliveries")).expect("archive");
    let proofs = NodeProofs { index: index.clone(), archive };
    let owner = m.owner.client();

    // The owner's curve: $2.00 reference, $1.00 floor. Before any report the quote is the reference.
    m.owner.set_price_curve(m.cluster_id, usd("2.00"), usd("1.00")).await.expect("curve");
    let epoch = m.current_epoch().await;
    assert_eq!(owner.quote(m.cluster_id).await.expect("quote").price_per_gpu_hour, usd("2.00"));

    // The epoch ends 90% busy (target 80%: err +0.5): the price at target rises 2.5% and the quote
    // is 1 + 3 x 0.5 = 2.5 times it, once the keeper's round applies the report.
    m.advance_past_epoch(epoch, 1).await;
    m.report(epoch, &[(U256::from(999), 0)]).await;
    indexer_of(&m, &index).catch_up().await.expect("index");
    keeper_round(&m.keeper, &proofs, 10).await.expect("round");
    let quote = owner.quote(m.cluster_id).await.expect("quote");
    assert_eq!(
        (quote.price_per_gpu_hour, quote.price_at_target, quote.utilization_bps, quote.epoch),
        (usd("5.125"), usd("2.05"), 9_000, epoch)
    );
    // A round with nothing new to apply sends nothing and fails nothing.
    indexer_of(&m, &index).catch_up().await.expect("index");
    keeper_round(&m.keeper, &proofs, 10).await.expect("idle round");

    // The node serves it with every input of the curve.
    let served = tempfile::tempdir().expect("tempdir");
    let (_indexer, server, _ledger) = serve(&m, served.path()).await;
    let client = http_client(&format!("http://{}", server.addr)).expect("client");
    let row = client.quote(m.cluster_id).await.expect("ledger_quote");
    assert_eq!(row.quote, U256::from(5_125_000));
    assert_eq!(row.price_at_target, U256::from(2_050_000));
    assert_eq!(
        (row.reference_price, row.floor_price),
        (U256::from(2_000_000), U256::from(1_000_000))
    );
    assert_eq!((row.utilization_bps, row.epoch), (9_000, epoch));
    assert_eq!(
        (row.target_utilization_bps, row.steepness_bps, row.speed_per_epoch_bps),
        (8_000, 40_000, 500)
    );
    match client.quote(m.cluster_id + 7).await {
        Err(ClientError::Call(e)) => assert_eq!(e.code(), NOT_FOUND_CODE),
        other => panic!("expected not found, got {other:?}"),
    }

    // The owner creates a lease at the quote.
    let start = m.current_epoch().await + 2;
    let (lease, price) =
        m.owner.create_lease_at_quote(&m.lease_offer(2, start, 2)).await.expect("lease");
    assert_eq!(price, usd("5.125"));
    let terms = m.governance.market().getLease(lease).call().await.expect("lease");
    assert_eq!(terms.pricePerUnitHour, 5_125_000);
}
