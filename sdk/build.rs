//! The bindings are generated from the Foundry artifacts at compile time, so they cannot drift
//! from the contracts; this script says how to produce the artifacts when they are missing and
//! rebuilds the bindings whenever they change.

const ARTIFACTS: [&str; 3] = [
    "../contracts/out/ClusterRegistry.sol/ClusterRegistry.json",
    "../contracts/out/LeaseMarket.sol/LeaseMarket.json",
    "../contracts/out/DevStablecoin.sol/DevStablecoin.json",
];

fn main() {
    for artifact in ARTIFACTS {
        println!("cargo:rerun-if-changed={artifact}");
        assert!(
            std::path::Path::new(artifact).exists(),
            "{artifact} is missing: build the contracts first (`make contracts-build`, or `make test`)"
        );
    }
}
