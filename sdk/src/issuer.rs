//! The stablecoin issuer's controls on `DevStablecoin` (a real GENIUS-style token has the same
//! powers): mint against reserves, freeze an account, pause every transfer.

use alloy::primitives::Address;

use crate::{Amount, Client, Result, tx::transact};

/// The issuer role: a [`Client`] whose signer owns the deployment's `DevStablecoin`.
#[derive(Debug, Clone)]
pub struct Issuer {
    client: Client,
}

impl Issuer {
    /// The issuer role for `client`'s signer.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Mints `amount` to `to`.
    pub async fn mint(&self, to: Address, amount: Amount) -> Result<()> {
        transact(self.client.stablecoin().mint(to, amount.base())).await?;
        Ok(())
    }

    /// Freezes (`true`) or unfreezes an account: it can neither send nor receive.
    pub async fn set_blocklisted(&self, account: Address, blocked: bool) -> Result<()> {
        transact(self.client.stablecoin().setBlocklisted(account, blocked)).await?;
        Ok(())
    }

    /// Stops every transfer of the token.
    pub async fn pause(&self) -> Result<()> {
        transact(self.client.stablecoin().pause()).await?;
        Ok(())
    }

    /// Lets transfers resume.
    pub async fn unpause(&self) -> Result<()> {
        transact(self.client.stablecoin().unpause()).await?;
        Ok(())
    }
}
