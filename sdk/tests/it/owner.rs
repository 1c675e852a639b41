//! The owner role on anvil: register a cluster, bond it; failures come back as decoded contract
//! errors and spend no nonce (the next transaction still goes through).

use alloy::primitives::{Address, U256, keccak256};
use compute_ledger_sdk::{
    Amount, Client, ClusterSpec, DeployParams, Owner, SdkError, deploy, test_utils::Devnet,
};

#[tokio::test]
async fn owner_registers_and_bonds_a_cluster() {
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
        metadata_uri: String::new(),
    };
    let deployment =
        deploy(&devnet.provider_for(governance.clone()), &params).await.expect("deploy");
    let owner_key = devnet.signer(1);
    let gov = Client::connect(&devnet.anvil.endpoint(), deployment.clone(), governance)
        .await
        .expect("gov");
    let bond = Amount::parse("2500.00", 6).expect("amount");
    gov.stablecoin()
        .mint(owner_key.address(), bond.base())
        .send()
        .await
        .expect("mint")
        .get_receipt()
        .await
        .expect("mined");

    let owner = Owner::new(
        Client::connect(&devnet.anvil.endpoint(), deployment, owner_key).await.expect("owner"),
    );
    let spec = ClusterSpec {
        metadata_uri: "ipfs://nordic-hydro".into(),
        metadata_hash: keccak256("512x H100"),
        epoch_length: 30,
        attestors: vec![Address::repeat_byte(1), Address::repeat_byte(2)],
        threshold: 2,
    };

    // A bad spec is refused with the contract's reason, and spends no nonce.
    let err = owner
        .register_cluster(&ClusterSpec { threshold: 3, ..spec.clone() })
        .await
        .expect_err("3 of 2");
    assert!(matches!(&err, SdkError::Contract(r) if r.name == "InvalidAttestorSet"), "{err}");

    assert_eq!(owner.register_cluster(&spec).await.expect("register"), 1);
    assert_eq!(owner.register_cluster(&spec).await.expect("register again"), 2);

    owner.deposit_bond(1, bond).await.expect("bond");
    let posted = owner.bond(1).await.expect("bond");
    assert_eq!((posted.total, posted.locked.base(), posted.free()), (bond, U256::ZERO, bond));

    // No stablecoin left: the approval passes, the deposit reverts with the token's error.
    let err =
        owner.deposit_bond(2, Amount::parse("1", 6).expect("amount")).await.expect_err("no funds");
    assert!(matches!(&err, SdkError::Contract(r) if r.name == "ERC20InsufficientBalance"), "{err}");
    assert!(err.to_string().contains("balance is too low"), "{err}");
}
