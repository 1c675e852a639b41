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
    Owner, Reports, STABLECOIN_DECIMALS, Tenant, deploy, tx::transact,
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
            gpus,
            start_epoch,
            end_epoch: start_epoch + epochs,
            price_per_gpu_hour: Amount::parse("2.00", STABLECOIN_DECIMALS).expect("price"),
            billing: Billing::Reserved,
            sla_bps: 9_500,
            credit_bps: 5_000,
            total_shares: 1_000_000,
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
            .map(|&(lease_id, delivered)| DeliveryLeaf { lease_id, epoch, delivered })
            .collect();
        let tree = DeliveriesTree::new(leaves).expect("tree");
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
