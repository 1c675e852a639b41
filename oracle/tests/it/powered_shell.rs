//! Powered shells in the oracle: a tenant's feeds read from a PDU exporter over HTTP, billed in
//! kW-seconds of power available plus the energy its own sub-meters counted, with a meter that
//! drops out or is swapped handled conservatively toward the tenant.

use std::sync::{Arc, Mutex};

use alloy::primitives::U256;
use compute_ledger_oracle::{
    Billing, EnergyUnit, EpochOutcome, LeaseAllocation, MJ_PER_WH, MeterFaultKind, Oracle,
    RackMeters, SourceConfig, TelemetrySource,
};

use crate::common::{exported_gpus, exposition, serve, serve_with, source_config};

const GENESIS: u64 = 1_770_000_000;
/// Each feed's contracted kW and its tenant's steady draw.
const FEED_KW: u32 = 100;
const DRAW_W: u64 = 80_000;

/// A PDU exporter for feeds `r1` and `r2`: `r2` has no power in `[off.0, off.1)`; its meter is
/// swapped at `swap` (the new one starts from zero); the exporter answers HTTP 500 in `down`.
struct Pdu {
    counters: [u64; 2],
    off: (u64, u64),
    swap: u64,
    down: (u64, u64),
    body: Arc<Mutex<Option<String>>>,
}

impl Pdu {
    /// The exposition at second `t` (counters hold what each feed drew before `t`).
    fn at(&mut self, t: u64) {
        let r2_on = !(self.off.0..self.off.1).contains(&t);
        if t == self.swap {
            self.counters[1] = 0;
        }
        let wh = |mj: u64| mj as f64 / MJ_PER_WH as f64;
        let text = format!(
            "# TYPE pdu_energy_wh_total counter\n\
             pdu_energy_wh_total{{rack=\"r1\",site=\"tx1\"}} {}\n\
             pdu_energy_wh_total{{rack=\"r2\",site=\"tx1\"}} {}\n\
             # TYPE pdu_input_powered gauge\n\
             pdu_input_powered{{rack=\"r1\"}} 1\npdu_input_powered{{rack=\"r2\"}} {}\n",
            wh(self.counters[0]),
            wh(self.counters[1]),
            u8::from(r2_on),
        );
        *self.body.lock().expect("lock") =
            (!(self.down.0..self.down.1).contains(&t)).then_some(text);
        self.counters[0] += DRAW_W * 1_000;
        if r2_on {
            self.counters[1] += DRAW_W * 1_000;
        }
    }
}

/// An oracle reading one GPU from a dcgm-exporter and feeds `r1`, `r2` from a [`Pdu`]
/// exporter (with its power gauge when `powered_metric` names it), for lease 9: a powered shell
/// of both feeds.
async fn shell_oracle(
    dir: &std::path::Path,
    powered_metric: Option<&str>,
    counters: [u64; 2],
    off: (u64, u64),
    swap: u64,
    down: (u64, u64),
) -> (Oracle, Pdu) {
    let gpus = exported_gpus("gpu-node-1", 1, 500);
    let dcgm = serve(Arc::new(Mutex::new(exposition(&gpus, None))), 200).await;
    let body = Arc::new(Mutex::new(None::<String>));
    let pdu_url = {
        let body = body.clone();
        serve_with(
            Arc::new(move || Some(body.lock().expect("lock").clone().unwrap_or_default())),
            200,
        )
        .await
    };
    let mut config =
        source_config(dir, SourceConfig::Dcgm { url: dcgm, stale_after_s: 65 }, GENESIS, 60, &gpus);
    config.rack_meters = Some(RackMeters::Scrape {
        url: pdu_url,
        energy_metric: "pdu_energy_wh_total".into(),
        powered_metric: powered_metric.map(Into::into),
        label: "rack".into(),
        unit: EnergyUnit::Wh,
    });
    config.leases = vec![LeaseAllocation {
        lease_id: 9,
        billing: Billing::Reserved,
        start_epoch: 0,
        end_epoch: 10,
        gpus: vec![],
        racks: vec!["r1".into(), "r2".into()],
        kw: 2 * FEED_KW,
    }];
    let oracle =
        Oracle::open(config.clone(), TelemetrySource::from_config(&config.source).expect("source"))
            .expect("open");
    (oracle, Pdu { counters, off, swap, down, body })
}

#[tokio::test]
async fn a_powered_shell_is_billed_for_power_available_and_what_its_sub_meters_counted() {
    // The exporter's 500s are modelled as an empty body: no series, so the read fails.
    let dir = tempfile::tempdir().expect("tmp");
    let (mut oracle, mut pdu) = shell_oracle(
        dir.path(),
        Some("pdu_input_powered"),
        [5_000 * MJ_PER_WH, 7_000 * MJ_PER_WH],
        (GENESIS + 70, GENESIS + 80),
        GENESIS + 150,
        (GENESIS + 90, GENESIS + 95),
    )
    .await;
    let mut outcomes: Vec<EpochOutcome> = Vec::new();
    for t in GENESIS..GENESIS + 181 {
        pdu.at(t);
        outcomes.extend(oracle.tick(t).await.expect("tick"));
    }
    let leaf = |epoch: usize| {
        let s = &outcomes[epoch].summary;
        let leaf = s.deliveries.iter().find(|d| d.lease_id == U256::from(9)).expect("leaf");
        (leaf.delivered, leaf.energy_wh)
    };
    let full = u64::from(2 * FEED_KW) * 60;
    let wh = |feed_seconds: u64| feed_seconds * DRAW_W / 3_600;
    assert_eq!(leaf(0), (full, wh(59 + 59)), "all power available; energy from the first reading");
    // Epoch 1: r2 off for 10 s, the exporter down for 5 s (both feeds unproven then).
    let powered_feed_seconds = 60 + 60 - 10 - 2 * 5;
    assert_eq!(leaf(1).0, u64::from(FEED_KW) * powered_feed_seconds, "kW x feed-seconds powered");
    assert!(
        leaf(1).1.abs_diff(wh(60 + 50)) <= 1,
        "energy is what the feeds drew, the outage across the exporter gap included: {:?}",
        leaf(1)
    );
    // Epoch 2: r2's meter swapped at +150 reads from zero: that interval bills nothing.
    let faults = &outcomes[2].summary.meter_faults;
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!((faults[0].meter.as_str(), faults[0].kind), ("r2", MeterFaultKind::Backwards));
    assert!(leaf(2).1 < wh(60 + 60), "the swap's interval is not billed: {:?}", leaf(2));
    assert!(leaf(2).1 >= wh(60 + 58) - 1, "only that interval is lost: {:?}", leaf(2));
    assert_eq!(leaf(2).0, full);
}

#[tokio::test]
async fn a_scraped_sub_meter_is_never_stamped_onto_a_past_second() {
    // A source that reads the past (here the simulator) catching up after a restart: the PDU
    // exporter only knows now, so the caught-up seconds show no feed powered (the tenant is not
    // billed for power nobody saw); a second read live gets the scrape.
    let body = "pdu_energy_wh_total{rack=\"r1\"} 10\n".to_string();
    let url = serve(Arc::new(Mutex::new(body)), 200).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = crate::common::sim_config(dir.path());
    let now = compute_ledger_oracle::unix_now();
    config.genesis = now - 3_600;
    if let SourceConfig::Simulator(sim) = &mut config.source {
        sim.origin = config.genesis;
    }
    config.leases.clear();
    config.rack_meters = Some(RackMeters::Scrape {
        url,
        energy_metric: "pdu_energy_wh_total".into(),
        powered_metric: None,
        label: "rack".into(),
        unit: EnergyUnit::Wh,
    });
    let mut oracle =
        Oracle::open(config.clone(), TelemetrySource::from_config(&config.source).expect("source"))
            .expect("open");
    let past = now - 600;
    oracle.tick(past).await.expect("tick");
    let live = compute_ledger_oracle::unix_now();
    oracle.tick(live).await.expect("tick");
    let racks = |t: u64| {
        let mut records = oracle.store().records(t, t + 1);
        records.next().expect("stored").expect("read").racks
    };
    assert!(racks(past).is_empty(), "a caught-up second gets no scrape");
    assert_eq!(racks(live).len(), 1, "a live second does");
}

#[tokio::test]
async fn energy_drawn_while_the_oracle_was_down_is_not_billed_in_the_next_epoch() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut oracle, mut pdu) =
        shell_oracle(dir.path(), None, [0, 0], (0, 0), u64::MAX, (0, 0)).await;
    // Epoch 0 sampled; epochs 1 and 2 never (the oracle was down; the racks drew on); epoch 3
    // sampled again.
    let mut outcomes: Vec<EpochOutcome> = Vec::new();
    for t in GENESIS..GENESIS + 241 {
        pdu.at(t);
        if !(GENESIS + 60..GENESIS + 180).contains(&t) {
            outcomes.extend(oracle.tick(t).await.expect("tick"));
        }
    }
    outcomes.extend(oracle.finalize_due(GENESIS + 241).expect("finalize"));
    let energy = |epoch: u64| {
        let o = outcomes.iter().find(|o| o.summary.epoch == epoch).expect("epoch");
        o.summary.deliveries[0].energy_wh
    };
    let wh = |feed_seconds: u64| feed_seconds * DRAW_W / 3_600;
    assert_eq!(energy(0), wh(59 + 59));
    assert_eq!(energy(3), wh(59 + 59), "only what the feeds drew inside epoch 3");
}
