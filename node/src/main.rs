//! The `compute-ledger` binary (work in progress).

fn main() {}
