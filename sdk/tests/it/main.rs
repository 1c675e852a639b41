//! Integration tests of the SDK against a real anvil (the npm-installed binary).

mod amount;
mod borrow;
mod demand;
mod deploy;
mod owner;
mod roles;
mod rpc;
mod trade;
