//! Borrowing against lease shares: each lease's ERC-20 share token and NAV feed (from the
//! deployment's `CollateralFactory`), and a Morpho Blue market that lends the lease's stablecoin
//! against the token, priced by the feed. Wrap shares, post them, borrow, repay, withdraw, unwrap;
//! read the NAV and a position's health; liquidate an unhealthy one.

use alloy::{
    contract::{CallBuilder, CallDecoder},
    eips::BlockId,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::DynProvider,
    sol_types::SolValue,
};

use crate::{
    Amount, Client, Result, SdkError,
    bindings::{
        CollateralFactory, DevStablecoin, LeaseNavOracle, LeaseShareToken,
        Morpho::{self, MarketParams},
    },
    deploy::MORPHO_LLTV,
    tx::transact,
};

const WAD: u128 = 1_000_000_000_000_000_000;

/// Morpho's oracle scale: a price is loan-token base units per collateral base unit times 1e36.
fn price_scale() -> U256 {
    U256::from(10u8).pow(U256::from(36u8))
}

/// A lease's collateral pair: its ERC-20 share token and NAV feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collateral {
    /// The lease.
    pub lease_id: U256,
    /// `LeaseShareToken`: one token per share, plus the rent its shares earned.
    pub token: Address,
    /// `LeaseNavOracle`: Morpho `IOracle` and Chainlink `AggregatorV3Interface`.
    pub oracle: Address,
    /// The lease's stablecoin (lent on the Morpho market, paid as rent).
    pub stablecoin: Address,
    /// The Morpho market lending the lease's stablecoin against the token.
    pub market_id: B256,
}

impl Collateral {
    /// The Morpho market of the token: its stablecoin lent, no interest, [`MORPHO_LLTV`].
    fn params(&self) -> MarketParams {
        MarketParams {
            loanToken: self.stablecoin,
            collateralToken: self.token,
            oracle: self.oracle,
            irm: Address::ZERO,
            lltv: U256::from(MORPHO_LLTV),
        }
    }
}

/// The NAV of one share token and what it is made of (docs/protocol.md, "NAV feed").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nav {
    /// Value of one token in the lease's stablecoin, under the rise cap (what Morpho reads).
    pub per_token: Amount,
    /// Value before the rise cap.
    pub raw_per_token: Amount,
    /// Trailing delivery ratio in basis points (10,000 = every settled epoch fully delivered).
    pub ratio_bps: u64,
    /// Epochs valued at full rent times the ratio.
    pub live_epochs: u64,
    /// Ended, unsettled epochs valued at 0 (missed, unproven, dark or under open challenge).
    pub marked_down_epochs: u64,
    /// Rent the token holds (or may claim) per token.
    pub cash_per_token: Amount,
    /// Unix seconds of the newest attested input counted: its age tells how stale the NAV is.
    pub updated_at: u64,
}

/// A borrower's Morpho position against a lease's share token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loan {
    /// Share tokens posted.
    pub collateral: u128,
    /// What is owed now.
    pub debt: Amount,
    /// Most that may be owed at the NAV now before the position can be liquidated.
    pub max_debt: Amount,
}

impl Loan {
    /// Whether the position is safe from liquidation at the NAV now.
    pub fn healthy(&self) -> bool {
        self.debt.base() <= self.max_debt.base()
    }
}

/// What a liquidation took and repaid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liquidation {
    /// Share tokens seized from the borrower.
    pub seized: u128,
    /// Debt the liquidator repaid.
    pub repaid: Amount,
}

/// The borrower role (also the liquidator's): a [`Client`] whose signer wraps lease shares and
/// borrows against them on the deployment's Morpho Blue.
#[derive(Debug, Clone)]
pub struct Borrower {
    client: Client,
}

impl Borrower {
    /// The borrower role for `client`'s signer.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `lease_id`'s share token, NAV feed and Morpho market, creating whichever does not exist
    /// yet (anyone may).
    pub async fn open_market(&self, lease_id: U256) -> Result<Collateral> {
        let factory = self.factory()?;
        if factory.tokenOf(lease_id).call().await? == Address::ZERO {
            transact(factory.create(lease_id)).await?;
        }
        let collateral = self.collateral(lease_id).await?;
        let params = collateral.params();
        let morpho = self.morpho()?;
        let created = morpho.market(collateral.market_id).call().await?.lastUpdate != 0;
        if !created {
            transact(morpho.createMarket(params)).await?;
        }
        Ok(collateral)
    }

    /// `lease_id`'s collateral pair (an error if `open_market` never ran for it).
    pub async fn collateral(&self, lease_id: U256) -> Result<Collateral> {
        let factory = self.factory()?;
        let token = factory.tokenOf(lease_id).call().await?;
        if token == Address::ZERO {
            return Err(SdkError::Invalid(format!(
                "lease {lease_id} has no share token yet: open its market first"
            )));
        }
        let oracle = factory.oracleOf(lease_id).call().await?;
        let stablecoin = self.client.market().leaseStatus(lease_id).call().await?.stablecoin;
        let mut c = Collateral { lease_id, token, oracle, stablecoin, market_id: B256::ZERO };
        c.market_id = keccak256(c.params().abi_encode());
        Ok(c)
    }

    /// The NAV of one of `lease_id`'s share tokens now, with its inputs.
    pub async fn nav(&self, lease_id: U256) -> Result<Nav> {
        let c = self.collateral(lease_id).await?;
        let decimals = self.client.decimals_of(c.stablecoin).await?;
        let b = LeaseNavOracle::new(c.oracle, self.client.provider().clone())
            .breakdown()
            .call()
            .await?;
        let amount = |price: U256| Amount::from_base(price / price_scale(), decimals);
        let ratio_bps = b.ratio1e18 * U256::from(10_000u64) / U256::from(WAD);
        Ok(Nav {
            per_token: amount(b.price),
            raw_per_token: amount(b.rawPrice),
            ratio_bps: ratio_bps.to::<u64>(),
            live_epochs: b.liveEpochs,
            marked_down_epochs: b.markedDownEpochs,
            cash_per_token: Amount::from_base(b.cashPerToken1e18 / U256::from(WAD), decimals),
            updated_at: b.updatedAt.saturating_to::<u64>(),
        })
    }

    /// Wraps `shares` of `lease_id` into as many tokens, paying the rent already accrued per
    /// token (approves the token for shares and exactly that payment). Returns what was paid.
    pub async fn wrap(&self, lease_id: U256, shares: u128) -> Result<Amount> {
        let c = self.collateral(lease_id).await?;
        let decimals = self.client.decimals_of(c.stablecoin).await?;
        let market = self.client.market();
        if !market.isApprovedForAll(self.client.address(), c.token).call().await? {
            transact(market.setApprovalForAll(c.token, true)).await?;
        }
        let token = LeaseShareToken::new(c.token, self.client.provider().clone());
        // Rounded up, as the token charges; the token claims pending rent first, which this
        // estimate counts too.
        let per_token = token.cashPerToken1e18().call().await?;
        let due = (per_token * U256::from(shares)).div_ceil(U256::from(WAD)) + U256::from(1u8);
        transact(self.coin(&c).approve(c.token, due)).await?;
        let (before, after) =
            self.balances_around(&c, token.wrap(U256::from(shares), self.client.address())).await?;
        Ok(Amount::from_base(before.saturating_sub(after), decimals))
    }

    /// Burns `tokens` of `lease_id` for as many shares and their rent, to this account. Returns
    /// the rent received.
    pub async fn unwrap(&self, lease_id: U256, tokens: u128) -> Result<Amount> {
        let c = self.collateral(lease_id).await?;
        let decimals = self.client.decimals_of(c.stablecoin).await?;
        let token = LeaseShareToken::new(c.token, self.client.provider().clone());
        let (before, after) = self
            .balances_around(&c, token.unwrap(U256::from(tokens), self.client.address()))
            .await?;
        Ok(Amount::from_base(after.saturating_sub(before), decimals))
    }

    /// Pulls what a share token keeps for this account: rent an unwrap or exit could not pay at
    /// once, returned challenge bonds. Returns what was paid.
    pub async fn withdraw_owed(&self, lease_id: U256) -> Result<Amount> {
        let c = self.collateral(lease_id).await?;
        let decimals = self.client.decimals_of(c.stablecoin).await?;
        let token = LeaseShareToken::new(c.token, self.client.provider().clone());
        let (before, after) = self.balances_around(&c, token.withdrawOwed()).await?;
        Ok(Amount::from_base(after.saturating_sub(before), decimals))
    }

    /// Pays this account the rent of its exits (tokens it unwrapped while epochs were still
    /// settling) whose epochs have all settled. Returns what was paid (zero if none is due yet).
    pub async fn claim_exits(&self, lease_id: U256) -> Result<Amount> {
        let c = self.collateral(lease_id).await?;
        let decimals = self.client.decimals_of(c.stablecoin).await?;
        let token = LeaseShareToken::new(c.token, self.client.provider().clone());
        let me = self.client.address();
        match transact(token.claimExits(me)).await {
            Ok(receipt) => {
                let claimed = crate::tx::event_in::<LeaseShareToken::ExitsClaimed>(&receipt)?;
                Ok(Amount::from_base(claimed.amount, decimals))
            }
            Err(SdkError::Contract(r)) if r.kind == crate::ErrorKind::NothingToClaim => {
                Ok(Amount::from_base(U256::ZERO, decimals))
            }
            Err(e) => Err(e),
        }
    }

    /// Challenges the report of `epoch` for the share tokens (this account must hold some): posts
    /// the desk's bond through the token (approves exactly that first).
    pub async fn challenge(&self, lease_id: U256, epoch: u64) -> Result<()> {
        let c = self.collateral(lease_id).await?;
        let bond = self.client.disputes().challengeBond(lease_id).call().await?;
        transact(self.coin(&c).approve(c.token, bond)).await?;
        let token = LeaseShareToken::new(c.token, self.client.provider().clone());
        transact(token.challenge(epoch)).await?;
        Ok(())
    }

    /// Pays back the bond of a challenge made through the token, once the desk returned it.
    pub async fn reclaim_challenge_bond(&self, lease_id: U256, epoch: u64) -> Result<()> {
        let c = self.collateral(lease_id).await?;
        let token = LeaseShareToken::new(c.token, self.client.provider().clone());
        transact(token.reclaimChallengeBond(epoch)).await?;
        Ok(())
    }

    /// Share tokens of `lease_id` this account holds (not counting those posted on Morpho).
    pub async fn tokens(&self, lease_id: U256) -> Result<u128> {
        let c = self.collateral(lease_id).await?;
        let held = LeaseShareToken::new(c.token, self.client.provider().clone())
            .balanceOf(self.client.address())
            .call()
            .await?;
        Ok(held.saturating_to())
    }

    /// Posts `tokens` share tokens as collateral on Morpho (approves exactly them first).
    pub async fn post(&self, lease_id: U256, tokens: u128) -> Result<()> {
        let c = self.collateral(lease_id).await?;
        let morpho = self.morpho()?;
        let token = LeaseShareToken::new(c.token, self.client.provider().clone());
        transact(token.approve(*morpho.address(), U256::from(tokens))).await?;
        let params = c.params();
        let me = self.client.address();
        transact(morpho.supplyCollateral(params, U256::from(tokens), me, Bytes::new())).await?;
        Ok(())
    }

    /// Borrows `amount` of the lease's stablecoin against the posted tokens, to this account.
    pub async fn borrow(&self, lease_id: U256, amount: Amount) -> Result<()> {
        let c = self.collateral(lease_id).await?;
        let params = c.params();
        let me = self.client.address();
        transact(self.morpho()?.borrow(params, amount.base(), U256::ZERO, me, me)).await?;
        Ok(())
    }

    /// Repays `amount` of this account's debt (approves exactly that first).
    pub async fn repay(&self, lease_id: U256, amount: Amount) -> Result<()> {
        let (morpho, params) = self.pay_in(lease_id, amount).await?;
        let me = self.client.address();
        transact(morpho.repay(params, amount.base(), U256::ZERO, me, Bytes::new())).await?;
        Ok(())
    }

    /// Lends `amount` of the lease's stablecoin to its Morpho market (the lender's side; approves
    /// exactly that first).
    pub async fn lend(&self, lease_id: U256, amount: Amount) -> Result<()> {
        let (morpho, params) = self.pay_in(lease_id, amount).await?;
        let me = self.client.address();
        transact(morpho.supply(params, amount.base(), U256::ZERO, me, Bytes::new())).await?;
        Ok(())
    }

    /// Approves Morpho for exactly `amount` of the lease's stablecoin; returns Morpho and the
    /// lease's market.
    async fn pay_in(
        &self,
        lease_id: U256,
        amount: Amount,
    ) -> Result<(Morpho::MorphoInstance<DynProvider>, MarketParams)> {
        let c = self.collateral(lease_id).await?;
        let params = c.params();
        let morpho = self.morpho()?;
        transact(self.coin(&c).approve(*morpho.address(), amount.base())).await?;
        Ok((morpho, params))
    }

    /// Takes `tokens` of posted collateral back (Morpho refuses if the loan would be unhealthy).
    pub async fn withdraw_collateral(&self, lease_id: U256, tokens: u128) -> Result<()> {
        let c = self.collateral(lease_id).await?;
        let params = c.params();
        let me = self.client.address();
        transact(self.morpho()?.withdrawCollateral(params, U256::from(tokens), me, me)).await?;
        Ok(())
    }

    /// `borrower`'s position against `lease_id`'s tokens, valued at the NAV now.
    pub async fn loan(&self, lease_id: U256, borrower: Address) -> Result<Loan> {
        let c = self.collateral(lease_id).await?;
        let decimals = self.client.decimals_of(c.stablecoin).await?;
        let morpho = self.morpho()?;
        let p = morpho.position(c.market_id, borrower).call().await?;
        let m = morpho.market(c.market_id).call().await?;
        let debt = if m.totalBorrowShares == 0 {
            U256::ZERO
        } else {
            // Rounded up, as Morpho rounds what a borrower owes.
            (U256::from(p.borrowShares) * U256::from(m.totalBorrowAssets))
                .div_ceil(U256::from(m.totalBorrowShares))
        };
        let price =
            LeaseNavOracle::new(c.oracle, self.client.provider().clone()).price().call().await?;
        let value = U256::from(p.collateral) * price / price_scale();
        let max_debt = value * U256::from(MORPHO_LLTV) / U256::from(WAD);
        Ok(Loan {
            collateral: p.collateral,
            debt: Amount::from_base(debt, decimals),
            max_debt: Amount::from_base(max_debt, decimals),
        })
    }

    /// Liquidates `borrower`'s unhealthy position: repays all its debt for the collateral that
    /// covers it at the NAV plus Morpho's incentive, or, when the collateral cannot cover the debt,
    /// seizes all of it (Morpho books the rest as bad debt). Approves exactly the repayment first.
    pub async fn liquidate(&self, lease_id: U256, borrower: Address) -> Result<Liquidation> {
        let c = self.collateral(lease_id).await?;
        let decimals = self.client.decimals_of(c.stablecoin).await?;
        let params = c.params();
        let morpho = self.morpho()?;
        let p = morpho.position(c.market_id, borrower).call().await?;
        // What repaying all of it costs at most (Morpho rounds a repayment up); approved first,
        // as Morpho pulls the repayment inside the call the simulations below run.
        let debt = self.loan(lease_id, borrower).await?.debt.base();
        let stablecoin = self.coin(&c);
        transact(stablecoin.approve(*morpho.address(), debt)).await?;
        let all_debt = U256::from(p.borrowShares);
        let repay_all =
            morpho.liquidate(params.clone(), borrower, U256::ZERO, all_debt, Bytes::new());
        let (seize, shares) = match repay_all.call().await {
            Ok(_) => (U256::ZERO, all_debt),
            Err(_) => {
                let seize = U256::from(p.collateral);
                let seize_all =
                    morpho.liquidate(params.clone(), borrower, seize, U256::ZERO, Bytes::new());
                seize_all.call().await?;
                (seize, U256::ZERO)
            }
        };
        let receipt =
            transact(morpho.liquidate(params, borrower, seize, shares, Bytes::new())).await?;
        let (before, after) = around(receipt.block_number);
        let held_before = morpho.position(c.market_id, borrower).block(before).call().await?;
        let held_after = morpho.position(c.market_id, borrower).block(after).call().await?;
        let me = self.client.address();
        let paid_before = stablecoin.balanceOf(me).block(before).call().await?;
        let paid_after = stablecoin.balanceOf(me).block(after).call().await?;
        if !stablecoin.allowance(me, *morpho.address()).call().await?.is_zero() {
            transact(stablecoin.approve(*morpho.address(), U256::ZERO)).await?;
        }
        Ok(Liquidation {
            seized: held_before.collateral.saturating_sub(held_after.collateral),
            repaid: Amount::from_base(paid_before.saturating_sub(paid_after), decimals),
        })
    }

    fn factory(&self) -> Result<CollateralFactory::CollateralFactoryInstance<DynProvider>> {
        let address = self.client.deployment().collateral.ok_or_else(|| missing("collateral"))?;
        Ok(CollateralFactory::new(address, self.client.provider().clone()))
    }

    fn morpho(&self) -> Result<Morpho::MorphoInstance<DynProvider>> {
        let address = self.client.deployment().morpho.ok_or_else(|| missing("morpho"))?;
        Ok(Morpho::new(address, self.client.provider().clone()))
    }

    /// The lease's stablecoin binding.
    fn coin(&self, c: &Collateral) -> DevStablecoin::DevStablecoinInstance<DynProvider> {
        DevStablecoin::new(c.stablecoin, self.client.provider().clone())
    }

    /// This account's balance of the lease's stablecoin just before sending `call` and at the
    /// block it was mined in.
    async fn balances_around<D: CallDecoder + Clone>(
        &self,
        c: &Collateral,
        call: CallBuilder<&DynProvider, D>,
    ) -> Result<(U256, U256)> {
        let coin = self.coin(c);
        let me = self.client.address();
        let before = coin.balanceOf(me).call().await?;
        let receipt = transact(call).await?;
        let at = receipt.block_number.map_or(BlockId::latest(), BlockId::number);
        Ok((before, coin.balanceOf(me).block(at).call().await?))
    }
}

/// The blocks just before and at a receipt's block.
fn around(block: Option<u64>) -> (BlockId, BlockId) {
    match block {
        Some(b) => (BlockId::number(b.saturating_sub(1)), BlockId::number(b)),
        None => (BlockId::latest(), BlockId::latest()),
    }
}

fn missing(field: &str) -> SdkError {
    SdkError::Invalid(format!(
        "this deployment has no {field} address (deployed before collateral existed): redeploy, \
         or add \"{field}\" to the deployment JSON"
    ))
}
