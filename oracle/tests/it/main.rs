//! Integration tests of the oracle: real HTTP endpoints on 127.0.0.1, a real Prometheus server,
//! real processes killed with SIGKILL (the on-chain check of a report is in `tests/e2e`).

mod common;
mod curtailment;
mod dcgm;
mod live;
mod nvml;
mod powered_shell;
mod prometheus;
mod replay;
mod restart;
mod retention;
mod shared_store;
