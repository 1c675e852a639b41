//! Deploying on anvil, the deployment JSON, and the client's chain-id check.

use alloy::primitives::Address;
use compute_ledger_sdk::{Client, DeployParams, Deployment, SdkError, deploy, test_utils::Devnet};

#[tokio::test]
async fn deploys_links_and_refuses_the_wrong_chain() {
    let devnet = Devnet::spawn();
    let anvil = &devnet.anvil;
    let governance = devnet.signer(0);
    let provider = devnet.provider_for(governance.clone());
    let arbiter = Address::repeat_byte(0xab);
    let params = DeployParams {
        governance: governance.address(),
        arbiter,
        report_window: 60,
        challenge_window: 15,
        resolution_window: 60,
        proof_grace: 30,
        challenge_bond_bps: 1_000,
        metadata_uri: "http://127.0.0.1:8645/metadata/{id}.json".into(),
    };
    let deployment = deploy(&provider, &params).await.expect("deploy");
    assert_eq!(deployment.chain_id, anvil.chain_id());
    assert!(deployment.deploy_block >= 1);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deployment.json");
    deployment.save(&path).expect("save");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains("\"chainId\"") && text.contains("\"deployBlock\""), "{text}");
    assert_eq!(Deployment::load(&path).expect("load"), deployment);

    let client = Client::connect(&anvil.endpoint(), deployment.clone(), governance.clone())
        .await
        .expect("connect");
    let market = client.market();
    assert_eq!(market.registry().call().await.expect("registry"), deployment.registry);
    assert_eq!(market.disputes().call().await.expect("desk"), deployment.disputes);
    assert_eq!(client.disputes().arbiter().call().await.expect("arbiter"), arbiter);
    assert!(market.stablecoinAllowed(deployment.stablecoin).call().await.expect("allowlist"));
    assert_eq!(client.registry().market().call().await.expect("market"), deployment.market);
    assert_eq!(client.stablecoin().decimals().call().await.expect("decimals"), 6);

    // Nothing listens on port 1: a transport error that names the problem.
    let err = Client::connect("http://127.0.0.1:1", deployment.clone(), governance.clone())
        .await
        .expect_err("unreachable");
    assert!(matches!(err, SdkError::Transport(_)), "{err:?}");
    let err = Client::connect("not a url", deployment.clone(), governance.clone())
        .await
        .expect_err("bad url");
    assert!(err.to_string().contains("bad RPC URL"), "{err}");

    let deployment_disputes = deployment.disputes;
    let elsewhere = Deployment { chain_id: 1, ..deployment };
    match Client::connect(&anvil.endpoint(), elsewhere, governance).await {
        Err(SdkError::WrongChain { expected: 1, actual }) => assert_eq!(actual, anvil.chain_id()),
        other => panic!("expected WrongChain, got {other:?}"),
    }

    // Reverts come back as the contracts' custom errors with their NatSpec message.
    let err = SdkError::from(
        client
            .registry()
            .registerCluster(String::new(), Default::default(), 5, vec![arbiter], 1)
            .call()
            .await
            .expect_err("epoch too short"),
    );
    match &err {
        SdkError::Contract(revert) => {
            assert_eq!(revert.name, "InvalidEpochLength");
            assert!(revert.message.contains("epoch length is outside the accepted range"), "{err}");
        }
        other => panic!("expected a decoded contract error, got {other:?}"),
    }
    let stranger = devnet.provider_for(devnet.signer(1));
    let desk_as_stranger =
        compute_ledger_sdk::bindings::DisputeDesk::new(deployment_disputes, stranger);
    let err = SdkError::from(
        desk_as_stranger.setArbiter(arbiter).call().await.expect_err("not governance"),
    );
    assert!(
        matches!(&err, SdkError::Contract(r) if r.name == "OwnableUnauthorizedAccount"),
        "{err}"
    );
    assert!(err.to_string().contains("only governance"), "{err}");

    std::fs::write(&path, "{ not json").expect("write");
    let err = Deployment::load(&path).expect_err("corrupt");
    assert!(err.to_string().contains("deployment.json"), "{err}");
}
