//! What the index stores, as wallets read it over JSON-RPC: the SDK's wire model
//! ([`compute_ledger_sdk::api::model`]), one definition for the node, the SDK client and the
//! OpenRPC document.

pub use compute_ledger_sdk::api::model::*;
