//! Contract bindings, generated from `contracts/out` (Foundry artifacts: ABI and bytecode).

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
    "../contracts/out/LeaseMarket.sol/LeaseMarket.json"
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
