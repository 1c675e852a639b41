//! End-to-end scenarios against anvil: every one asserts balances on-chain and what the node's
//! index answers over JSON-RPC, not just that nothing failed.

mod lifecycle;
mod oracle_report;
mod stablecoin;
