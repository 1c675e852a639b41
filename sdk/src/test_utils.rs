//! Test fixtures (feature `test-utils`): a fresh anvil started from the npm-installed binary,
//! with providers for its funded keys.

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    providers::DynProvider,
    signers::local::PrivateKeySigner,
};

/// A running anvil; stopped when dropped.
#[derive(Debug)]
pub struct Devnet {
    /// The anvil process.
    pub anvil: AnvilInstance,
}

impl Devnet {
    /// Starts anvil from `node_modules/.bin/anvil` (installed by `npm ci`, i.e. `make test`).
    pub fn spawn() -> Self {
        let anvil = Anvil::at(concat!(env!("CARGO_MANIFEST_DIR"), "/../node_modules/.bin/anvil"))
            .try_spawn()
            .expect("anvil from node_modules (run `make test`, which runs npm ci)");
        Self { anvil }
    }

    /// Funded key number `index` (0 is used as governance by convention).
    pub fn signer(&self, index: usize) -> PrivateKeySigner {
        PrivateKeySigner::from(self.anvil.keys()[index].clone())
    }

    /// A provider that signs with `signer` (alloy's default fillers).
    pub fn provider_for(&self, signer: PrivateKeySigner) -> DynProvider {
        crate::client::signing_provider(self.anvil.endpoint_url(), signer)
    }
}
