//! The compute-ledger SDK: typed access to the contracts for cluster owners, tenants, investors
//! and keepers, built on alloy.
//!
//! - [`bindings`]: `sol!` bindings generated from the Foundry artifacts at compile time (they
//!   cannot drift from the contracts).
//! - [`Amount`]: stablecoin amounts in base units that know their decimals; parse and print
//!   `"12.50"`, never a float.
//! - [`deploy`] and [`Deployment`]: deploy every contract plus `DevStablecoin`, and the deployment
//!   JSON (chain id, addresses, deploy block) the node, the CLI and the demo read.
//! - [`Client`]: a provider with a signer for one deployment; refuses an RPC on another chain.
//! - Roles: [`Owner`] (register clusters, bonds); tenant, investor and keeper roles follow.
//! - [`SdkError::Contract`]: reverts decoded into the contracts' custom errors ([`Revert`]), with
//!   the human message from each error's NatSpec.
//!
//! Feature `test-utils`: [`test_utils::Devnet`], a fresh anvil for tests.

mod amount;
pub mod bindings;
mod client;
mod deploy;
mod error;
mod owner;
mod revert;
#[cfg(feature = "test-utils")]
pub mod test_utils;

pub use amount::Amount;
pub use client::Client;
pub use deploy::{DeployParams, Deployment, deploy};
pub use error::{Result, SdkError};
pub use owner::{ClusterSpec, Owner};
pub use revert::{Revert, decode_revert};
