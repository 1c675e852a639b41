//! Integration tests of the oracle: real HTTP endpoints on 127.0.0.1, a real Prometheus server,
//! real processes killed with SIGKILL, and the contracts on a real anvil.

mod common;
mod dcgm;
mod live;
mod nvml;
mod onchain;
mod prometheus;
mod replay;
mod restart;
mod retention;
mod shared_store;
