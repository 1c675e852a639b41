//! Integration tests of the node against a real anvil (the npm-installed binary).

mod builder;
mod common;
mod cosign;
mod demand;
mod demo;
mod drill;
mod exchange;
mod history;
mod index;
mod keeper;
mod loops;
mod openadr;
mod outbox;
mod power;
mod pricing;
mod process;
mod rpc;
