//! `make demo` does not rot: a short run of `compute-ledger demo` (10-second epochs, 3 per lease)
//! shows its incidents (outage, dark oracle, a report that leaves a lease out, a node killed with
//! SIGKILL mid-epoch and then cut off from the chain), lets investors trade shares on the
//! exchange, pays everyone and stops by itself with the books balanced.

use std::process::Command;

use crate::common::free_port;

#[test]
fn the_demo_runs_its_incidents_and_balances_the_books() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_compute-ledger"))
        .args(["demo", "--epoch-seconds", "10", "--epochs", "3", "--exit-when-done"])
        .args(["--stall-seconds", "15"])
        .args(["--port", &free_port().to_string()])
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--dir")
        .arg(dir.path().join("demo"))
        .arg("--anvil")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../node_modules/.bin/anvil"))
        .output()
        .expect("demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "the market is live",
        "ledger_positions",
        "below the SLA: credit from the bond",
        "missed: no report by the deadline",
        "unproven: the report left the lease out",
        "killed with SIGKILL in the middle of epoch",
        "seconds sampled: not one lost to the crash",
        "chain RPC stalls for 15 s",
        "answers again",
        "takes 40 of them for",
        "sells 50 into the bid for",
        "on the exchange: last",
        "both leases ended: everyone is paid",
        "the utility's VTN sends event 1",
        "the miners curtailed: the oracle measured",
        "event 1 settled:",
        "15,000 kW powered shell",
        "mine or lease at Texas miners",
        "stopped cleanly",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    // Each cluster's quote for new leases is on the board and moves with its utilization.
    assert!(stdout.contains("quote/GPU-h"), "no quote column in:\n{stdout}");
    assert!(
        stdout.lines().any(|l| l.contains(" ▲ ") || l.contains(" ▼ ")),
        "no quote moved off its reference in:\n{stdout}"
    );
    // The curtailment was paid (not just settled at zero).
    let settled = stdout.lines().find(|l| l.contains("event 1 settled:")).expect("settled line");
    assert!(!settled.contains("paid 0 USD") && !settled.contains("paid 0.00 USD"), "{settled}");
    // The AI tenant's powered shell got all its power in the curtailment's epoch.
    let shell = stdout.lines().find(|l| l.contains("the AI tenant's powered shell in that epoch"));
    let shell = shell.expect("powered-shell line");
    let figures: Vec<&str> = shell.split(": ").nth(1).expect("figures").split(' ').collect();
    assert_eq!(figures[0], figures[2], "power available = capacity: {shell}");
    let books = stdout.lines().find(|l| l.contains("rounding dust")).expect("books line");
    let dust: u64 = books
        .split(") and ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("dust figure");
    assert!(dust < 10, "the market holds only bonds and dust: {books}");
}
