//! Test fixtures (feature `test-utils`): a fresh anvil started from the npm-installed binary,
//! a deployed market with a bonded cluster, its attestors and funded participants, and a
//! [`Proxy`] that makes the RPC stall or drop connections on demand. Tests and the examples build
//! on them.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use crate::{
    Amount, Billing, Client, ClusterSpec, DeployParams, Deployment, Investor, Keeper, LeaseOffer,
    Owner, Reports, STABLECOIN_DECIMALS, Tenant, Unit, deploy, tx::transact,
};
use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, B256, U256, aliases::U40, keccak256},
    providers::{DynProvider, Provider},
    signers::{SignerSync, local::PrivateKeySigner},
};
use compute_ledger_types::{DeliveriesTree, DeliveryLeaf, UsageReport, encode_signature};

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

    /// A provider that signs with `signer`, like a [`Client`]'s (default [`RpcOptions`]).
    ///
    /// [`RpcOptions`]: crate::RpcOptions
    pub fn provider_for(&self, signer: PrivateKeySigner) -> DynProvider {
        crate::client::signing_provider(self.anvil.endpoint_url(), signer, &Default::default())
            .expect("provider")
    }

    /// A client of `deployment` signing as funded key `index`.
    pub async fn client(&self, deployment: &Deployment, index: usize) -> Client {
        Client::connect(&self.anvil.endpoint(), deployment.clone(), self.signer(index))
            .await
            .expect("client")
    }

    /// Moves chain time forward by `seconds` and mines a block.
    pub async fn advance(&self, seconds: u64) {
        let provider = self.provider_for(self.signer(0));
        provider
            .raw_request::<_, i64>("evm_increaseTime".into(), (seconds,))
            .await
            .expect("evm_increaseTime");
        provider.raw_request::<_, String>("evm_mine".into(), ()).await.expect("evm_mine");
    }
}

/// Seconds per epoch of the fixture's cluster.
pub const EPOCH: u32 = 30;
/// Reporting window of the fixture's deployment.
pub const REPORT_WINDOW: u64 = 60;
/// Challenge window of the fixture's deployment.
pub const CHALLENGE_WINDOW: u64 = 15;
/// Seconds the fixture's arbiter has to rule on a challenge.
pub const RESOLUTION_WINDOW: u64 = 60;
/// Seconds after the challenge window before an unproven epoch may settle as unproven.
pub const PROOF_GRACE: u64 = 15;
/// GPUs in the fixture's cluster.
pub const CLUSTER_GPUS: u32 = 64;

/// A deployed market on a fresh anvil: governance (key 0, also the arbiter) funded the owner
/// (key 1), the tenant (key 2) and three investors (keys 3–5); the owner registered a cluster
/// attested 2-of-3 and bonded it.
#[derive(Debug)]
pub struct Market {
    /// The chain.
    pub devnet: Devnet,
    /// Its deployment.
    pub deployment: Deployment,
    /// Governance, issuer of the stablecoin, and arbiter.
    pub governance: Client,
    /// The cluster owner.
    pub owner: Owner,
    /// The tenant.
    pub tenant: Tenant,
    /// Three investors.
    pub investors: Vec<Investor>,
    /// A keeper (key 6).
    pub keeper: Keeper,
    /// A report relayer (key 7).
    pub reports: Reports,
    /// The cluster's attestor keys, ascending by address.
    pub attestors: Vec<PrivateKeySigner>,
    /// The registered cluster.
    pub cluster_id: u64,
}

impl Market {
    /// Deploys, funds everyone with `funds` each (whole dollars), registers and bonds a cluster.
    pub async fn start(funds: u64, bond: u64) -> Self {
        Self::start_with_report_window(funds, bond, REPORT_WINDOW).await
    }

    /// As [`Market::start`], with reports accepted for `report_window` seconds after each epoch
    /// (fault drills outlast the default window).
    pub async fn start_with_report_window(funds: u64, bond: u64, report_window: u64) -> Self {
        let devnet = Devnet::spawn();
        let governance_key = devnet.signer(0);
        let params = DeployParams {
            governance: governance_key.address(),
            arbiter: governance_key.address(),
            report_window,
            challenge_window: CHALLENGE_WINDOW,
            resolution_window: RESOLUTION_WINDOW,
            proof_grace: PROOF_GRACE,
            challenge_bond_bps: 1_000,
            metadata_uri: "http://127.0.0.1:8645/metadata/{id}.json".into(),
        };
        let deployment =
            deploy(&devnet.provider_for(governance_key), &params).await.expect("deploy");
        let governance = devnet.client(&deployment, 0).await;
        for index in 1..=5 {
            let to = devnet.signer(index).address();
            mint(&governance, to, dollars(funds)).await;
        }
        let owner = Owner::new(devnet.client(&deployment, 1).await);
        let tenant = Tenant::new(devnet.client(&deployment, 2).await);
        let mut investors = Vec::new();
        for index in 3..=5 {
            investors.push(Investor::new(devnet.client(&deployment, index).await));
        }
        let keeper = Keeper::new(devnet.client(&deployment, 6).await);
        let reports = Reports::new(devnet.client(&deployment, 7).await);

        let mut attestors: Vec<PrivateKeySigner> =
            (0..3).map(|_| PrivateKeySigner::random()).collect();
        attestors.sort_by_key(PrivateKeySigner::address);
        let spec = ClusterSpec {
            metadata_uri: "ipfs://nordic-hydro-h100".into(),
            metadata_hash: keccak256("64x H100, Nordic hydro, PUE 1.1"),
            epoch_length: EPOCH,
            attestors: attestors.iter().map(PrivateKeySigner::address).collect(),
            threshold: 2,
        };
        let cluster_id = owner.register_cluster(&spec).await.expect("register");
        owner.deposit_bond(cluster_id, dollars(bond)).await.expect("bond");
        Self {
            devnet,
            deployment,
            governance,
            owner,
            tenant,
            investors,
            keeper,
            reports,
            attestors,
            cluster_id,
        }
    }

    /// A fresh client of the report relayer's key (key 7).
    pub async fn reports_client(&self) -> Client {
        self.devnet.client(&self.deployment, 7).await
    }

    /// The cluster's current epoch by chain time.
    pub async fn current_epoch(&self) -> u64 {
        self.governance.registry().currentEpoch(self.cluster_id).call().await.expect("epoch")
    }

    /// Moves chain time to `seconds` past the end of `epoch`.
    pub async fn advance_past_epoch(&self, epoch: u64, seconds: u64) {
        let info =
            self.governance.registry().clusterInfo(self.cluster_id).call().await.expect("info");
        let target = info.genesis + (epoch + 1) * u64::from(EPOCH) + seconds;
        let now = self.governance.chain_time().await.expect("time");
        if target > now {
            self.devnet.advance(target - now).await;
        }
    }

    /// A lease of `gpus` GPUs for the tenant from `start_epoch` for `epochs` epochs at $2.00 per
    /// GPU-hour, reserved billing, SLA 95 % with a 50 % credit, 1,000,000 shares.
    pub fn lease_offer(&self, gpus: u32, start_epoch: u64, epochs: u64) -> LeaseOffer {
        LeaseOffer {
            cluster_id: self.cluster_id,
            tenant: self.tenant.address(),
            unit: Unit::Gpu,
            units: gpus,
            start_epoch,
            end_epoch: start_epoch + epochs,
            price_per_unit_hour: Amount::parse("2.00", STABLECOIN_DECIMALS).expect("price"),
            billing: Billing::Reserved,
            sla_bps: 9_500,
            credit_bps: 5_000,
            total_shares: 1_000_000,
            energy_price_per_kwh: Amount::zero(STABLECOIN_DECIMALS),
        }
    }

    /// Creates `offer` as the owner and funds its full-term escrow as the tenant (approval, then
    /// `fund`); returns the lease id.
    pub async fn funded_lease(&self, offer: &LeaseOffer) -> U256 {
        let lease = self.owner.create_lease(offer).await.expect("create lease");
        self.tenant.approve_escrow(lease).await.expect("approve escrow");
        self.tenant.fund(lease).await.expect("fund escrow");
        lease
    }

    /// Builds the cluster's report of `epoch` with these (lease, delivered GPU-seconds), signs
    /// it with the first two attestors and relays it. Returns the deliveries tree (for proofs).
    pub async fn report(&self, epoch: u64, deliveries: &[(U256, u64)]) -> DeliveriesTree {
        let report = self.signed_report(epoch, deliveries);
        self.reports.submit(&report.0, report.1).await.expect("report accepted");
        report.2
    }

    /// The report of `epoch` and its two attestor signatures, without submitting it.
    pub fn signed_report(
        &self,
        epoch: u64,
        deliveries: &[(U256, u64)],
    ) -> (UsageReport, Vec<alloy::primitives::Bytes>, DeliveriesTree) {
        let leaves = deliveries
            .iter()
            .map(|&(lease_id, delivered)| DeliveryLeaf { lease_id, epoch, delivered, energy_wh: 0 })
            .collect();
        self.signed_tree(epoch, DeliveriesTree::new(leaves).expect("tree"))
    }

    /// Reports `epoch` with `tree` as its deliveries tree (lease and curtailment leaves), signed
    /// by the first two attestors; returns the tree.
    pub async fn report_tree(&self, epoch: u64, tree: DeliveriesTree) -> DeliveriesTree {
        let report = self.signed_tree(epoch, tree);
        self.reports.submit(&report.0, report.1).await.expect("report accepted");
        report.2
    }

    fn signed_tree(
        &self,
        epoch: u64,
        tree: DeliveriesTree,
    ) -> (UsageReport, Vec<alloy::primitives::Bytes>, DeliveriesTree) {
        let capacity = u64::from(CLUSTER_GPUS) * u64::from(EPOCH);
        let report = UsageReport {
            clusterId: self.cluster_id,
            epoch,
            gpusInstalled: CLUSTER_GPUS,
            gpusHealthy: CLUSTER_GPUS,
            gpuSecondsAvailable: U40::from(capacity),
            gpuSecondsBusy: U40::from(capacity * 9 / 10),
            itEnergyWh: U40::from(capacity * 700 / 3_600),
            facilityEnergyWh: U40::from(capacity * 770 / 3_600),
            deliveriesRoot: tree.root(),
            telemetryRoot: B256::repeat_byte(0x7e),
        };
        let digest = report.signing_hash(&self.reports.domain());
        let signatures = self.attestors[..2]
            .iter()
            .map(|key| encode_signature(&key.sign_hash_sync(&digest).expect("sign")))
            .collect();
        (report, signatures, tree)
    }
}

/// Whole dollars of the stablecoin.
pub fn dollars(amount: u64) -> Amount {
    Amount::from_base(U256::from(amount) * U256::from(1_000_000u64), STABLECOIN_DECIMALS)
}

/// Governance mints `amount` of the stablecoin to `to`.
pub async fn mint(governance: &Client, to: Address, amount: Amount) {
    let stablecoin = governance.stablecoin();
    transact(stablecoin.mint(to, amount.base())).await.expect("mint");
}

/// Polls `done` until it holds, panicking with `what` after `deadline` (for waiting on observed
/// state, never on time).
pub async fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < give_up, "gave up after {deadline:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub use crate::drill::Proxy;

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::bind(upstream).await.expect("bind the proxy")
    }

    /// A proxy in front of `devnet`'s anvil.
    pub async fn for_devnet(devnet: &Devnet) -> Self {
        Self::start(SocketAddr::from(([127, 0, 0, 1], devnet.anvil.port()))).await
    }
}

// ------------------------------------------------------------------ market-scale history

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    #[allow(missing_docs)]
    MarketHistory,
    "../contracts/out/MarketHistory.sol/MarketHistory.json"
);

/// Gas of one fixture lease: create, fund, mint its shares to the fixture. With the transfers
/// below, nine holders come to 818,000; `MarketHistory.t.sol` measures about 790,000.
const GAS_PER_LEASE: u64 = 260_000;
/// Gas of one share transfer to a fresh holder (two new checkpoints and a balance).
const GAS_PER_TRANSFER: u64 = 62_000;
/// Gas of one fixture cluster: register, faucet and bond.
const GAS_PER_CLUSTER: u64 = 330_000;
/// Transactions of the history in flight at once (keeps anvil busy between receipts).
const IN_FLIGHT: usize = 4;
/// How long a history transaction may wait for its block before anvil is asked to mine one.
const MINE_NUDGE_AFTER: Duration = Duration::from_secs(2);
/// How long a history transaction may take to be mined in all.
const HISTORY_TX_TIMEOUT: Duration = Duration::from_secs(600);

/// How large a [`History`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySize {
    /// Clusters, owned and bonded by the fixture contract.
    pub clusters: u64,
    /// Leases, funded by the fixture contract (their tenant), round-robin over the clusters.
    pub leases: u64,
    /// Holders each lease's shares are spread to (the fixture keeps one holder's worth too).
    pub holders_per_lease: u64,
    /// Distinct holder addresses, used round-robin (fewer than the transfers: a holder has
    /// several positions).
    pub holder_pool: u64,
    /// Every `due_every`-th lease falls due two epochs after it is made (0: none do).
    pub due_every: u64,
}

impl HistorySize {
    /// The small history the tests index: 10 clusters, 1,000 leases, 10,000 positions
    /// (9,000 of them held by 1,000 holders, 9 each), 10 leases due.
    pub const SMALL: Self = Self {
        clusters: 10,
        leases: 1_000,
        holders_per_lease: 9,
        holder_pool: 1_000,
        due_every: 100,
    };

    /// The market-scale shape for `leases` leases: one cluster per 100 leases, ten positions per
    /// lease, a holder per lease (ten positions each), 1 % of the leases due. At 100,000 leases:
    /// 1,000 clusters and 1,000,000 positions.
    pub fn market_scale(leases: u64) -> Self {
        Self {
            clusters: (leases / 100).max(1),
            leases,
            holders_per_lease: 9,
            holder_pool: leases.max(9),
            due_every: 100,
        }
    }

    /// Share positions the history makes: the holders' and the fixture's own, per lease.
    pub fn positions(&self) -> u64 {
        self.leases * (self.holders_per_lease + 1)
    }

    /// Leases that fall due.
    pub fn due_leases(&self) -> u64 {
        match self.due_every {
            0 => 0,
            every => self.leases.div_ceil(every),
        }
    }
}

/// How far a [`History::build`] has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryProgress {
    /// Leases made so far.
    pub leases_done: u64,
    /// Leases to make.
    pub leases_total: u64,
}

/// A large market history made by the `MarketHistory` fixture contract (see
/// `contracts/test/fixtures/MarketHistory.sol`) in few, large transactions: clusters it owns and
/// bonds, leases it creates and funds (as their tenant), each lease's shares spread to many
/// holders. Each lease lasts one hour-long epoch; the due ones start at the next epoch, the others
/// 1,000 epochs later.
#[derive(Debug, Clone)]
pub struct History {
    /// The fixture contract.
    pub fixture: Address,
    /// What it made.
    pub size: HistorySize,
    /// The first of its clusters (ids are consecutive).
    pub first_cluster: u64,
    /// The first of its leases (ids are consecutive).
    pub first_lease: U256,
    /// Block of the fixture's deployment (the history lies after it).
    pub from_block: u64,
}

impl History {
    /// Deploys the fixture on `devnet` for `deployment` and builds `size` with funded key 8,
    /// reporting progress after every transaction. Transactions are sized to the block gas limit.
    pub async fn build(
        devnet: &Devnet,
        deployment: &Deployment,
        size: HistorySize,
        mut progress: impl FnMut(HistoryProgress),
    ) -> Self {
        let provider = devnet.provider_for(devnet.signer(8));
        let from_block = provider.get_block_number().await.expect("head");
        let fixture = MarketHistory::deploy(
            provider.clone(),
            deployment.registry,
            deployment.market,
            deployment.stablecoin,
            U256::from(size.holder_pool),
        )
        .await
        .expect("deploy the MarketHistory fixture");
        let registry = crate::bindings::ClusterRegistry::new(deployment.registry, &provider);
        let first_cluster = registry.clusterCount().call().await.expect("clusterCount") + 1;
        let market = crate::bindings::LeaseMarket::new(deployment.market, &provider);
        let first_lease = market.leaseCount().call().await.expect("leaseCount") + U256::from(1);

        let gas_limit = provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .expect("latest block")
            .expect("a latest block")
            .header
            .gas_limit;
        // Under half the block: a fuller block would raise the base fee (EIP-1559), compounding
        // over the thousands of blocks of a large history.
        let budget = gas_limit / 100 * 45;

        let per_tx = (budget / GAS_PER_CLUSTER).max(1);
        let mut calls = Vec::new();
        let mut left = size.clusters;
        while left > 0 {
            let n = left.min(per_tx);
            calls.push((fixture.addClusters(U256::from(n)).gas(gas_limit), 0));
            left -= n;
        }
        send_all(calls, |_| {}).await;

        let per_lease = GAS_PER_LEASE + GAS_PER_TRANSFER * size.holders_per_lease;
        let per_tx = (budget / per_lease).max(1);
        let mut calls = Vec::new();
        let mut left = size.leases;
        while left > 0 {
            let n = left.min(per_tx);
            let call = fixture.addLeases(
                U256::from(n),
                U256::from(size.holders_per_lease),
                U256::from(size.due_every),
            );
            calls.push((call.gas(gas_limit), n));
            left -= n;
        }
        let mut leases_done = 0;
        send_all(calls, |n| {
            leases_done += n;
            progress(HistoryProgress { leases_done, leases_total: size.leases });
        })
        .await;

        let made = fixture.leasesCreated().call().await.expect("leasesCreated");
        assert_eq!(made, U256::from(size.leases), "the fixture made every lease");
        Self { fixture: *fixture.address(), size, first_cluster, first_lease, from_block }
    }

    /// Holder number `index` of the fixture's pool.
    pub async fn holder(&self, provider: &DynProvider, index: u64) -> Address {
        MarketHistory::new(self.fixture, provider)
            .holder(U256::from(index))
            .call()
            .await
            .expect("holder")
    }

    /// The fixture's leases, in id order.
    pub fn leases(&self) -> impl Iterator<Item = U256> + '_ {
        (0..self.size.leases).map(|i| self.first_lease + U256::from(i))
    }
}

/// Sends `calls` in order, at most [`IN_FLIGHT`] awaiting their receipts, and calls `done` with
/// each call's weight once it is mined; panics on a revert (the fixture's sizes are wrong).
async fn send_all<D: alloy::contract::CallDecoder>(
    calls: Vec<(alloy::contract::CallBuilder<&DynProvider, D>, u64)>,
    mut done: impl FnMut(u64),
) {
    let mut pending = std::collections::VecDeque::new();
    for (call, weight) in calls {
        if pending.len() == IN_FLIGHT {
            wait_mined(&mut pending, &mut done).await;
        }
        let tx = call.send().await.expect("send a history transaction");
        pending.push_back((tx, weight));
    }
    while !pending.is_empty() {
        wait_mined(&mut pending, &mut done).await;
    }
}

async fn wait_mined(
    pending: &mut std::collections::VecDeque<(
        alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
        u64,
    )>,
    done: &mut impl FnMut(u64),
) {
    let (tx, weight) = pending.pop_front().expect("a pending transaction");
    let (provider, hash) = (tx.provider(), *tx.tx_hash());
    let deadline = std::time::Instant::now() + HISTORY_TX_TIMEOUT;
    let receipt = loop {
        let e = match crate::tx::receipt_within(provider, hash, MINE_NUDGE_AFTER).await {
            Ok(receipt) => break receipt,
            Err(e) => e,
        };
        if std::time::Instant::now() < deadline {
            // Each transaction's gas limit is a whole block, so anvil's automine, which mines
            // when a transaction arrives, can leave the last one in its pool with nothing
            // arriving after it. Asking for a block mines it (and is harmless otherwise).
            provider.raw_request::<_, String>("evm_mine".into(), ()).await.expect("evm_mine");
            continue;
        }
        // Say why: a transaction never mined usually waits behind a nonce gap.
        let sent = provider.get_transaction_by_hash(hash).await.ok().flatten();
        let nonce = sent.as_ref().map(alloy::consensus::Transaction::nonce);
        let from = sent.as_ref().map(|t| t.inner.signer());
        let on_chain = match from {
            Some(from) => provider.get_transaction_count(from).await.ok(),
            None => None,
        };
        panic!(
            "history transaction {hash} not mined: {e} (its nonce {nonce:?}, the sender's next \
             nonce on chain {on_chain:?})"
        )
    };
    assert!(receipt.status(), "history transaction {} reverted", receipt.transaction_hash);
    done(weight);
}
