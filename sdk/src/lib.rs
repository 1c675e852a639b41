//! The compute-ledger SDK: typed access to the contracts for cluster owners, tenants, investors
//! and keepers, built on alloy.
//!
//! - [`bindings`]: `sol!` bindings generated from the Foundry artifacts at compile time (they
//!   cannot drift from the contracts).
//! - [`Amount`]: stablecoin amounts in base units that know their decimals; parse and print
//!   `"12.50"`, never a float.
//! - [`deploy`] and [`Deployment`]: deploy every contract plus `DevStablecoin`, and the deployment
//!   JSON (chain id, addresses, deploy block) the node, the CLI and the demo read.
//! - [`Client`]: a provider with a signer for one deployment; refuses an RPC on another chain and
//!   reads the stablecoin's decimals. Every provider the SDK builds has request timeouts and
//!   retries ([`RpcOptions`]) and shares one nonce sequence per account in the process.
//! - Roles, each a thin wrapper over a [`Client`]: [`Owner`] (clusters, attestors, bonds, leases,
//!   share offers), [`Tenant`] (escrow by approval or permit, challenges, withdrawals),
//!   [`Investor`] (buy and transfer shares, positions, claims), [`Keeper`] (find and settle due
//!   epochs, batched), [`Reports`] (relay attestor-signed usage reports) and [`Arbiter`]
//!   (resolve challenges).
//! - [`LedgerEvents`]: every registry and market event, typed, backfilled then followed.
//! - [`SdkError::Contract`]: reverts decoded into the contracts' custom errors ([`Revert`]), with
//!   the human message from each error's NatSpec. Every transaction is simulated before it is
//!   sent, so a revert comes back this way without spending a nonce or gas; transport failures,
//!   timeouts and transactions that were never mined are separate variants.
//!
//! - [`api`]: the node's wallet JSON-RPC (`ledger_` methods) as one typed trait, with the
//!   generated [`api::LedgerApiClient`] over HTTP or WebSocket and the OpenRPC document.
//!
//! Escrow is the full term paid up front, so tenants never top up; see [`Tenant`].
//!
//! Feature `test-utils`: `test_utils::Devnet` (a fresh anvil) and `test_utils::Market` (a
//! deployed market with a bonded cluster and funded participants) for tests and examples.

mod amount;
pub mod api;
pub mod bindings;
mod borrower;
mod client;
mod demand;
mod deploy;
pub mod drill;
mod economics;
mod error;
mod events;
mod investor;
mod issuer;
mod keeper;
mod lease;
mod nonce;
mod owner;
mod pricing;
mod reports;
mod revert;
mod rpc;
mod tenant;
#[cfg(feature = "test-utils")]
pub mod test_utils;
mod trader;
mod tx;

pub use amount::Amount;
pub use borrower::{Borrower, Collateral, Liquidation, Loan, Nav};
pub use client::{
    Client, STABLECOIN_DECIMALS, read_provider, read_provider_with, token_decimals,
    wallet_provider, wallet_provider_with,
};
pub use demand::{CurtailmentEventInfo, CurtailmentSettlement, Site, Sponsor, ack_digest};
pub use deploy::{DeployParams, Deployment, MORPHO_LLTV, NAV_MAX_RISE_BPS, deploy};
pub use economics::{MegawattEconomics, MegawattUse, SiteHistory, SiteInputs, megawatt_economics};
pub use error::{Result, SdkError};
pub use events::{LedgerEvent, LedgerEvents, LedgerLog, MAX_RANGE};
pub use investor::{Investor, Offer, Position};
pub use issuer::Issuer;
pub use keeper::{
    DeliveryProofs, DisputeState, DueEpoch, DueKind, EpochFacts, Keeper, KeeperRun, LeaseWalk,
    MAX_EPOCHS_PER_SCAN, Outcome, ProofBook, Settlement, Skipped, WalkStep, Windows,
};
pub use lease::{Billing, LeaseInfo, LeaseOffer, LeaseStatus, Unit};
pub use owner::{Bond, ClusterSpec, Owner};
pub use pricing::{PRICER_SPEED_PER_EPOCH, PRICER_STEEPNESS, PRICER_TARGET_UTILIZATION, Quote};
pub use reports::{AcceptedReport, Reports, to_binding};
pub use revert::{ErrorKind, Revert, decode_revert};
pub use rpc::RpcOptions;
pub use tenant::{Arbiter, Tenant, Withdrawal, challenge, withdraw_payout};
pub use trader::{Fill, Order, Side, Trader};
pub use tx::RECEIPT_TIMEOUT;
