//! Contract bindings, generated from `contracts/out` (Foundry artifacts: ABI and bytecode);
//! LeaseMarket from `contracts/out-market`, its via-IR build (see `contracts/foundry.toml`).

// Generated code: its items mirror the contracts (documented by their NatSpec), and the permit
// function has the eight arguments EIP-2612 defines.
#![allow(missing_docs, clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    ClusterRegistry,
    "../contracts/out/ClusterRegistry.sol/ClusterRegistry.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    LeaseMarket,
    "../contracts/out-market/LeaseMarket.sol/LeaseMarket.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    DisputeDesk,
    "../contracts/out/DisputeDesk.sol/DisputeDesk.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    ShareExchange,
    "../contracts/out/ShareExchange.sol/ShareExchange.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    DevStablecoin,
    "../contracts/out/DevStablecoin.sol/DevStablecoin.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    CollateralFactory,
    "../contracts/out/CollateralFactory.sol/CollateralFactory.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    NavOracleDeployer,
    "../contracts/out/CollateralFactory.sol/NavOracleDeployer.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    LeaseShareToken,
    "../contracts/out/LeaseShareToken.sol/LeaseShareToken.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    LeaseNavOracle,
    "../contracts/out/LeaseNavOracle.sol/LeaseNavOracle.json"
);

// Morpho Blue as published on npm, built by solc 0.8.19 (contracts/foundry.toml, profile morpho).
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Morpho,
    "../contracts/out-morpho/Morpho.sol/Morpho.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    CapacityPricer,
    "../contracts/out/CapacityPricer.sol/CapacityPricer.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    DemandResponse,
    "../contracts/out/DemandResponse.sol/DemandResponse.json"
);
