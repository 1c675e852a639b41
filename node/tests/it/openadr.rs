//! The OpenADR side of demand response against the real OpenLEADR VTN (built by `make vtn`) over
//! Debian's PostgreSQL.

use compute_ledger_node::openadr::{
    self,
    client::{Interval, Report, ReportResource, ValuesMap, VtnClient},
    server::{VtnRole, VtnServer, VtnUser},
};

use alloy::primitives::{Address, U256};

fn user(client_id: &str, role: VtnRole) -> VtnUser {
    VtnUser { client_id: client_id.into(), secret: format!("{client_id}-secret"), role }
}

fn login(server: &VtnServer, client_id: &str) -> VtnClient {
    VtnClient::new(server.url(), client_id, &format!("{client_id}-secret")).expect("client")
}

/// A VEN sees only the events targeted at its cluster; its report reaches the grid.
#[tokio::test]
async fn events_reach_only_their_site_and_reports_reach_the_grid() {
    let dir = tempfile::tempdir().expect("tmp");
    let users =
        [user("grid", VtnRole::Grid), user("ven-3", VtnRole::Ven), user("ven-4", VtnRole::Ven)];
    let server = tokio::task::spawn_blocking({
        let path = dir.path().to_owned();
        move || VtnServer::start(&path, &users)
    })
    .await
    .expect("join")
    .expect("VTN up");
    let grid = login(&server, "grid");
    let (ven3, ven4) = (login(&server, "ven-3"), login(&server, "ven-4"));

    let contract = Address::repeat_byte(0x11);
    let program = grid
        .create_program(&openadr::program_name(31_337, contract, U256::from(1)))
        .await
        .expect("program");
    grid.create_ven("ven-3", "site-3", &openadr::ven_target(3)).await.expect("ven 3");
    grid.create_ven("ven-4", "site-4", &openadr::ven_target(4)).await.expect("ven 4");
    let request = openadr::event_request(
        &program.id,
        31_337,
        contract,
        U256::from(9),
        3,
        1_900_000_000,
        1_900_000_060,
    );
    let created = grid.create_event(&request).await.expect("event");

    let seen = ven3.events().await.expect("ven 3 polls");
    assert_eq!(seen.len(), 1, "site 3 sees its event");
    let event = &seen[0];
    assert_eq!(event.id, created.id);
    let name = event.event_name.as_deref().expect("named");
    assert_eq!(openadr::parse_event_name(name), Some((31_337, contract, U256::from(9))));
    let period = event.intervals[0].interval_period.as_ref().expect("period");
    assert_eq!(openadr::window_of(period).expect("window"), (1_900_000_000, 1_900_000_060));
    assert!(
        ven4.events().await.expect("ven 4 polls").is_empty(),
        "site 4 never sees site 3's event"
    );

    let report = Report {
        event_id: event.id.clone(),
        client_name: "ven-3".into(),
        report_name: Some("curtailment".into()),
        resources: vec![ReportResource {
            resource_name: "AGGREGATED_REPORT".into(),
            interval_period: Some(period.clone()),
            intervals: vec![Interval {
                id: 0,
                interval_period: None,
                payloads: vec![
                    ValuesMap { value_type: "BASELINE".into(), values: vec![8.5.into()] },
                    ValuesMap { value_type: "USAGE".into(), values: vec![0.25.into()] },
                ],
            }],
        }],
    };
    ven3.post_report(&report).await.expect("report posted");
    let reports = grid.reports(&event.id).await.expect("grid reads reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].resources[0].intervals[0].payloads[0].values[0], serde_json::json!(8.5));

    let wrong = VtnClient::new(server.url(), "ven-3", "not-the-secret").expect("client");
    let refused = wrong.events().await.expect_err("a wrong secret is refused");
    assert!(refused.to_string().contains("refused"), "{refused}");
}
