//! Power as the asset in the index and over JSON-RPC: a powered shell's rent, capacity and
//! metered energy, a GPU lease's rent and a demand-response event's payout follow the chain into
//! the site's totals; `ledger_curtailments` lists the event and `ledger_megawattEconomics`
//! compares each use of the site's megawatts with mining them.

use alloy::primitives::U256;
use compute_ledger_sdk::{
    Amount, MegawattUse, ProofBook, STABLECOIN_DECIMALS, Site, Sponsor, Unit,
    api::{LedgerApiClient, SiteInputsParam, http_client},
    test_utils::{CHALLENGE_WINDOW, EPOCH, Market, dollars, mint},
};
use compute_ledger_types::{CurtailmentLeaf, DeliveriesTree, DeliveryLeaf};

use crate::common::serve;

fn usd(text: &str) -> Amount {
    Amount::parse(text, STABLECOIN_DECIMALS).expect("amount")
}

/// Base units of a decimal the RPC returned.
fn base(text: &str) -> u128 {
    usd(text).base().to()
}

#[tokio::test]
async fn the_index_follows_powered_shells_and_demand_response_and_compares_each_megawatt() {
    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    // A 50 kW powered shell at $0.20 per kW-hour with energy passed through at $0.05 per kWh,
    // beside an 8-GPU lease, both for epoch `start`.
    let mut offer = m.lease_offer(50, start, 1);
    offer.unit = Unit::Kw;
    offer.price_per_unit_hour = usd("0.20");
    offer.energy_price_per_kwh = usd("0.05");
    let shell = m.funded_lease(&offer).await;
    let gpu = m.funded_lease(&m.lease_offer(8, start, 1)).await;

    // A program at $0.20 per curtailed kWh; the site commits 300 kW and acknowledges an event
    // of 20 s inside epoch `start`.
    let sponsor = Sponsor::new(m.governance.clone());
    let site = Site::new(m.owner.client().clone());
    mint(&m.governance, m.governance.address(), dollars(100)).await;
    let program = sponsor
        .create_program(usd("0.20"), usd("0.10"), m.governance.address())
        .await
        .expect("program");
    sponsor.fund_program(program, dollars(50)).await.expect("fund");
    let payee = m.investors[0].client().address();
    let enrollment = site.enroll(program, m.cluster_id, 300, payee).await.expect("enroll");
    site.deposit_bond(enrollment, dollars(20)).await.expect("bond");
    let genesis =
        m.governance.registry().clusterInfo(m.cluster_id).call().await.expect("info").genesis;
    let event_start = genesis + start * u64::from(EPOCH) + 5;
    let event =
        sponsor.dispatch(enrollment, event_start, event_start + 20).await.expect("dispatch");
    site.acknowledge(event, &m.attestors[0]).await.expect("acknowledge");

    // The epoch's report: full power to the shell (300 Wh metered), the GPUs delivered, and
    // 2,000 Wh curtailed (more than the 1,666 Wh committed).
    m.advance_past_epoch(start, 1).await;
    let shell_leaf = DeliveryLeaf {
        lease_id: shell,
        epoch: start,
        delivered: 50 * u64::from(EPOCH),
        energy_wh: 300,
    };
    let gpu_leaf =
        DeliveryLeaf { lease_id: gpu, epoch: start, delivered: 8 * u64::from(EPOCH), energy_wh: 0 };
    let curtailment = CurtailmentLeaf {
        demand_response: m.deployment.demand_response.expect("deployed"),
        event_id: event,
        cluster_id: m.cluster_id,
        baseline_wh: 3_000,
        actual_wh: 1_000,
    };
    let tree = DeliveriesTree::with_curtailments(vec![shell_leaf, gpu_leaf], vec![curtailment])
        .expect("tree");
    let tree = m.report_tree(start, tree).await;
    let proof = tree.curtailment_proof(event).expect("proof");
    let mut proofs = ProofBook::default();
    proofs.insert(m.cluster_id, start, tree);
    m.devnet.advance(CHALLENGE_WINDOW).await;
    m.keeper.settle_due(&proofs, 10).await.expect("settle leases");
    let paid = sponsor.settle(&curtailment, proof).await.expect("settle event");
    // kW-seconds × $0.20 per kW-hour, in base units (rounded down as the contract does).
    let shell_rent = U256::from(50 * u64::from(EPOCH) * 200_000 / 3_600);

    let dir = tempfile::tempdir().expect("tmp");
    let (_indexer, server, _ledger) = serve(&m, dir.path()).await;
    let node = http_client(&format!("http://{}", server.addr)).expect("client");

    let events = node.curtailments(m.cluster_id, None).await.expect("curtailments");
    assert_eq!(events.items.len(), 1);
    let row = &events.items[0];
    assert_eq!((row.id, row.status.as_str(), row.acknowledged), (event, "settled", true));
    assert_eq!(row.committed_wh, 300 * 20 * 1_000 / 3_600);
    assert_eq!(row.curtailed_wh, Some(2_000));
    assert_eq!((row.payout, row.penalty), (paid.payout.base(), U256::ZERO));

    let cluster = node.cluster(m.cluster_id).await.expect("cluster").cluster;
    let power = &cluster.power;
    assert_eq!(power.shell_kw_leased, 0, "the one-epoch shell has ended");
    assert_eq!(power.shell_rent_settled, shell_rent);
    assert_eq!(power.shell_kw_seconds_settled, 50 * u64::from(EPOCH));
    assert_eq!(power.shell_energy_wh, 300);
    assert_eq!((power.curtailment_events, power.curtailments_settled), (1, 1));
    assert_eq!(power.demand_response_paid, paid.payout.base());

    let inputs = SiteInputsParam {
        energized_kw: 1_000,
        hashprice_per_ph_day: "50".into(),
        fleet_j_per_th: 20,
        energy_price_per_kwh: "0.045".into(),
    };
    let e = node.megawatt_economics(m.cluster_id, inputs.clone()).await.expect("economics");
    // The shell: $0.20 per kW-hour of capacity is $200 per MW-hour (less base-unit rounding).
    let shell_per_mwh = base(e.shell_per_mwh.as_deref().expect("shell settled"));
    assert!(shell_per_mwh.abs_diff(200_000_000) <= 1_000, "{e:?}");
    // Demand response: $0.20 per kWh of the commitment (the excess is not paid): $200 per MWh.
    let dr_per_mwh = base(e.demand_response_per_mwh.as_deref().expect("event settled"));
    assert!(dr_per_mwh.abs_diff(200_000_000) <= 1_000, "{e:?}");
    // GPUs: their rent over the facility energy the shell's tenant did not pay for, less $45.
    let gpu_rent: u128 = cluster.rent_settled.saturating_sub(shell_rent).to();
    let gpu_wh = u128::from(cluster.total_facility_energy_wh - 300);
    let gpu_per_mwh = base(e.gpu_per_mwh.as_deref().expect("gpu settled"));
    assert_eq!(gpu_per_mwh, gpu_rent * 1_000_000 / gpu_wh - 45_000_000);
    // Mining: 50 PH/s per MW × $50 per PH/s-day / 24 h = $104.17, less $45 of energy.
    assert_eq!(e.mining_per_mwh, "59.166666");
    assert_eq!(e.best_use, MegawattUse::Gpu, "{e:?}");
    assert_eq!(e.occupancy_bps, 0);

    // Bad inputs are refused with -32602 and the field's name; an unknown site with -32001.
    let bad = SiteInputsParam { hashprice_per_ph_day: "fifty".into(), ..inputs.clone() };
    let err = node.megawatt_economics(m.cluster_id, bad).await.expect_err("bad hashprice");
    assert!(err.to_string().contains("hashpricePerPhDay"), "{err}");
    let zero = SiteInputsParam { energized_kw: 0, ..inputs.clone() };
    let err = node.megawatt_economics(m.cluster_id, zero).await.expect_err("no power");
    assert!(err.to_string().contains("energizedKw"), "{err}");
    let err = node.megawatt_economics(999, inputs).await.expect_err("unknown");
    assert!(err.to_string().contains("no cluster 999"), "{err}");
}
