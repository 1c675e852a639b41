//! The chain client under a misbehaving RPC (a proxy in front of anvil that stalls or cuts
//! connections), nonces shared by clients of one key, and the stablecoin's decimals read from the
//! token.

use std::time::{Duration, Instant};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use compute_ledger_sdk::{
    Amount, Client, DeployParams, Deployment, Issuer, RpcOptions, SdkError, deploy,
    test_utils::{Devnet, Proxy, wait_until},
};

/// Generous bound on anything a test waits for: reached only when the code under test hangs.
const DEADLINE: Duration = Duration::from_secs(120);

async fn deployed() -> (Devnet, Deployment) {
    let devnet = Devnet::spawn();
    let governance = devnet.signer(0);
    let params = DeployParams {
        governance: governance.address(),
        arbiter: governance.address(),
        report_window: 60,
        challenge_window: 15,
        resolution_window: 60,
        proof_grace: 30,
        challenge_bond_bps: 1_000,
        metadata_uri: "http://127.0.0.1:8645/metadata/{id}.json".into(),
    };
    let deployment = deploy(&devnet.provider_for(governance), &params).await.expect("deploy");
    (devnet, deployment)
}

async fn connect(
    url: &str,
    deployment: &Deployment,
    key: PrivateKeySigner,
    options: &RpcOptions,
) -> Client {
    Client::connect_with(url, deployment.clone(), key, options).await.expect("connect")
}

fn quick_retries(request_timeout: Duration, max_retries: u32) -> RpcOptions {
    RpcOptions {
        request_timeout,
        max_retries,
        backoff: Duration::from_millis(50),
        ..RpcOptions::default()
    }
}

async fn balance(client: &Client, of: Address) -> U256 {
    client.stablecoin().balanceOf(of).call().await.expect("balance")
}

#[tokio::test]
async fn a_stalled_rpc_gives_a_timeout_error_instead_of_hanging() {
    let (devnet, deployment) = deployed().await;
    let proxy = Proxy::for_devnet(&devnet).await;
    let timeout = Duration::from_secs(1);
    let client =
        connect(&proxy.url(), &deployment, devnet.signer(0), &quick_retries(timeout, 1)).await;

    proxy.stall();
    let started = Instant::now();
    let result = tokio::time::timeout(DEADLINE, client.chain_time()).await.expect("the call hung");
    let err = result.expect_err("nothing was forwarded");
    assert!(matches!(err, SdkError::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("timed out"), "the error says why: {err}");
    // Two attempts, each waited out in full.
    assert!(started.elapsed() >= 2 * timeout, "failed early: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_call_made_during_a_stall_succeeds_once_the_rpc_resumes() {
    let (devnet, deployment) = deployed().await;
    let proxy = Proxy::for_devnet(&devnet).await;
    let client = connect(
        &proxy.url(),
        &deployment,
        devnet.signer(0),
        &quick_retries(Duration::from_secs(20), 5),
    )
    .await;

    proxy.stall();
    let call = tokio::spawn(async move { client.chain_time().await });
    wait_until("the proxy holds the request", DEADLINE, || proxy.held_requests() > 0).await;
    proxy.resume();
    let time = tokio::time::timeout(DEADLINE, call).await.expect("hung").expect("task");
    assert!(time.expect("answered after the resume") > 0);
}

#[tokio::test]
async fn dropped_connections_are_retried_for_reads_and_sends() {
    let (devnet, deployment) = deployed().await;
    let proxy = Proxy::for_devnet(&devnet).await;
    let options = quick_retries(Duration::from_secs(20), 3);
    let governance = connect(&proxy.url(), &deployment, devnet.signer(0), &options).await;
    let to = devnet.signer(1).address();

    proxy.drop_requests("eth_chainId", 2);
    assert_eq!(governance.provider().get_chain_id().await.expect("read"), devnet.anvil.chain_id());
    assert_eq!(proxy.dropped_requests(), 2, "both cut attempts were retried");

    proxy.drop_requests("eth_sendRawTransaction", 2);
    let issuer = Issuer::new(governance.clone());
    issuer.mint(to, governance.amount(U256::from(5u8))).await.expect("mint despite two cuts");
    assert_eq!(proxy.dropped_requests(), 4);
    assert_eq!(balance(&governance, to).await, U256::from(5u8), "minted exactly once");

    proxy.drop_connections();
    issuer.mint(to, governance.amount(U256::from(1u8))).await.expect("mint after a drop");
    assert_eq!(balance(&governance, to).await, U256::from(6u8));

    // The node took the transaction but its answer was lost: the retry is refused as already
    // known, yet the send did happen, so it is reported as sent, and mined once.
    proxy.drop_responses("eth_sendRawTransaction", 1);
    issuer.mint(to, governance.amount(U256::from(1u8))).await.expect("mint with a lost answer");
    assert_eq!(proxy.dropped_requests(), 5);
    assert_eq!(balance(&governance, to).await, U256::from(7u8));
    issuer.mint(to, governance.amount(U256::from(1u8))).await.expect("the next nonce is right");
    assert_eq!(balance(&governance, to).await, U256::from(8u8));
}

#[tokio::test]
async fn two_clients_of_one_key_send_concurrently_without_nonce_clashes() {
    let (devnet, deployment) = deployed().await;
    let endpoint = devnet.anvil.endpoint();
    let options = RpcOptions::default();
    let first = Issuer::new(connect(&endpoint, &deployment, devnet.signer(0), &options).await);
    let second_client = connect(&endpoint, &deployment, devnet.signer(0), &options).await;
    let second = Issuer::new(second_client.clone());
    let to = devnet.signer(1).address();
    let one = Amount::from_base(U256::from(1u8), 6);

    let sends = (0..20).flat_map(|_| [first.mint(to, one), second.mint(to, one)]);
    let results =
        tokio::time::timeout(DEADLINE, futures::future::join_all(sends)).await.expect("sends hung");
    for (i, result) in results.into_iter().enumerate() {
        result.unwrap_or_else(|e| panic!("send {i} failed: {e}"));
    }
    assert_eq!(balance(&second_client, to).await, U256::from(40u8));
}

#[tokio::test]
async fn a_failed_send_leaves_no_nonce_gap() {
    let (devnet, deployment) = deployed().await;
    let proxy = Proxy::for_devnet(&devnet).await;
    let client = connect(
        &proxy.url(),
        &deployment,
        devnet.signer(0),
        &quick_retries(Duration::from_secs(20), 1),
    )
    .await;
    let issuer = Issuer::new(client.clone());
    let to = devnet.signer(1).address();
    let one = client.amount(U256::from(1u8));

    // Every attempt of the send is cut: it fails after its retry.
    proxy.drop_requests("eth_sendRawTransaction", usize::MAX);
    issuer.mint(to, one).await.expect_err("every attempt was cut");
    assert!(proxy.dropped_requests() > 0);
    proxy.drop_requests("eth_sendRawTransaction", 0);
    // The next one reuses the nonce instead of queueing behind a gap until its receipt times out.
    tokio::time::timeout(DEADLINE, issuer.mint(to, one)).await.expect("hung").expect("mined");

    // Another process sends with the key: the node rejects our stale nonce once, then we re-sync.
    let nonce = client.provider().get_transaction_count(client.address()).await.expect("nonce");
    devnet
        .provider_for(devnet.signer(0))
        .raw_request::<_, ()>("anvil_setNonce".into(), (client.address(), U256::from(nonce + 3)))
        .await
        .expect("set nonce");
    let err = issuer.mint(to, one).await.expect_err("nonce too low");
    assert!(matches!(err, SdkError::Rejected(_)), "{err:?}");
    assert!(err.to_string().contains("nonce too low"), "{err}");
    tokio::time::timeout(DEADLINE, issuer.mint(to, one)).await.expect("hung").expect("mined");
    assert_eq!(balance(&client, to).await, U256::from(2u8));
}

#[tokio::test]
async fn amounts_use_the_decimals_the_token_reports() {
    let (devnet, deployment) = deployed().await;
    let endpoint = devnet.anvil.endpoint();
    let options = RpcOptions::default();
    let client = connect(&endpoint, &deployment, devnet.signer(0), &options).await;
    assert_eq!(client.decimals(), 6, "DevStablecoin has 6");
    assert_eq!(client.amount(U256::from(1_500_000u64)).to_string(), "1.50");

    // A token with 18 decimals: runtime code that answers 18 to any call.
    let token = Address::repeat_byte(0x18);
    let answers_18 = "0x601260005260206000f3";
    devnet
        .provider_for(devnet.signer(0))
        .raw_request::<_, ()>("anvil_setCode".into(), (token, answers_18))
        .await
        .expect("set code");
    let wad = Deployment { stablecoin: token, ..deployment.clone() };
    let client = connect(&endpoint, &wad, devnet.signer(0), &options).await;
    assert_eq!(client.decimals(), 18);
    let one = U256::from(10u8).pow(U256::from(18u8));
    assert_eq!(client.amount(one).to_string(), "1.00");
    assert_eq!(client.parse_amount("1").expect("parse").base(), one);

    // No code at the address: a clear error, not a wrong amount later.
    let nothing = Deployment { stablecoin: Address::repeat_byte(0x77), ..deployment };
    let err = Client::connect_with(&endpoint, nothing, devnet.signer(0), &options)
        .await
        .expect_err("no token there");
    assert!(matches!(err, SdkError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("decimals()"), "{err}");
}

#[tokio::test]
async fn a_client_rides_out_its_rpc_restarting() {
    let (devnet, deployment) = deployed().await;
    let proxy = Proxy::for_devnet(&devnet).await;
    let options = quick_retries(Duration::from_secs(2), 2);
    let client = connect(&proxy.url(), &deployment, devnet.signer(0), &options).await;
    let holder = devnet.signer(1).address();
    let before = balance(&client, holder).await;

    // Down: a call fails within the retry budget with a transport error, never hangs.
    proxy.go_down();
    let started = Instant::now();
    let refused = client.stablecoin().balanceOf(holder).call().await;
    assert!(refused.is_err(), "nothing listens: {refused:?}");
    assert!(started.elapsed() < DEADLINE, "the call gave up instead of hanging");

    // Back on the same address: the same client reads and sends again (its pooled connections
    // died with the old listener; the nonce sequence is intact).
    proxy.come_back().await.expect("listen again");
    assert_eq!(balance(&client, holder).await, before);
    let paid = Amount::from_base(U256::from(5), 6);
    Issuer::new(client.clone()).mint(holder, paid).await.expect("mint after the restart");
    assert_eq!(balance(&client, holder).await, before + U256::from(5));
}

#[tokio::test]
async fn a_log_range_whose_answer_never_comes_is_halved_not_given_up() {
    use compute_ledger_sdk::{LedgerEvents, read_provider_with};

    let (devnet, deployment) = deployed().await;
    let head = devnet.provider_for(devnet.signer(0)).get_block_number().await.expect("head");
    let direct = LedgerEvents::new(devnet.provider_for(devnet.signer(0)), deployment.clone())
        .fetch(deployment.deploy_block, head)
        .await
        .expect("direct");
    assert!(!direct.is_empty(), "the deployment emitted events");

    // A range so dense its answer never arrives in time (here: cut, on every retry too): the
    // reader asks for half the range instead of failing for good.
    let proxy = Proxy::for_devnet(&devnet).await;
    let options = quick_retries(Duration::from_secs(20), 2);
    let provider = read_provider_with(&proxy.url(), &deployment, &options).await.expect("rpc");
    proxy.drop_responses("eth_getLogs", 3);
    let fetched = LedgerEvents::new(provider, deployment.clone())
        .fetch(deployment.deploy_block, head)
        .await
        .expect("fetched in smaller ranges");
    assert_eq!(proxy.dropped_requests(), 3, "the first range and both its retries were cut");
    let key = |l: &compute_ledger_sdk::LedgerLog| (l.block_number, l.log_index, l.tx_hash);
    assert_eq!(
        fetched.iter().map(key).collect::<Vec<_>>(),
        direct.iter().map(key).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_transaction_sent_again_after_a_reorg_waits_for_its_own_receipt() {
    let (devnet, deployment) = deployed().await;
    let client =
        connect(&devnet.anvil.endpoint(), &deployment, devnet.signer(0), &RpcOptions::default())
            .await;
    let issuer = Issuer::new(client.clone());
    let to = devnet.signer(1).address();
    let one = client.amount(U256::from(1u8));
    let anvil = devnet.provider_for(devnet.signer(0));

    // A first send starts the client's block poller; the second is mined, then reorged out: the
    // client has seen a block holding it.
    issuer.mint(to, one).await.expect("mined");
    let snapshot: U256 = anvil.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    issuer.mint(to, one).await.expect("mined");
    // Let the client's block poller see that block (the pass never depends on this wait; the
    // failure it guards against needs the poller to have seen it).
    tokio::time::sleep(client.provider().client().poll_interval() * 8).await;
    let reverted: bool = anvil.raw_request("evm_revert".into(), (snapshot,)).await.expect("revert");
    assert!(reverted);
    client.resync_nonce();

    // The same transaction (same nonce, same bytes, same hash) sent again sits in the pool: the
    // send waits for its own receipt instead of trusting the block it saw before the reorg.
    anvil.raw_request::<_, ()>("evm_setAutomine".into(), (false,)).await.expect("automine off");
    let again = tokio::spawn({
        let issuer = issuer.clone();
        async move { issuer.mint(to, one).await }
    });
    let give_up = Instant::now() + DEADLINE;
    loop {
        let status: serde_json::Value =
            anvil.raw_request("txpool_status".into(), ()).await.expect("txpool");
        if status["pending"].as_str().is_some_and(|n| n != "0x0") {
            break;
        }
        assert!(Instant::now() < give_up, "the transaction never reached the pool");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anvil.raw_request::<_, String>("evm_mine".into(), ()).await.expect("mine");
    tokio::time::timeout(DEADLINE, again).await.expect("hung").expect("task").expect("mined");
    assert_eq!(balance(&client, to).await, U256::from(2u8));
}
