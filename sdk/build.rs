//! The bindings are generated from the Foundry artifacts at compile time, so they cannot drift
//! from the contracts. This script says how to produce the artifacts when they are missing,
//! rebuilds the bindings when they change, and turns the `@notice Thrown when …` line of every
//! custom error in `Errors.sol` into the SDK's human message for that error.

use std::{env, fmt::Write, fs, path::Path};

const ARTIFACTS: [&str; 3] = [
    "../contracts/out/ClusterRegistry.sol/ClusterRegistry.json",
    "../contracts/out/LeaseMarket.sol/LeaseMarket.json",
    "../contracts/out/DevStablecoin.sol/DevStablecoin.json",
];
const ERRORS: &str = "../contracts/src/libraries/Errors.sol";

fn main() {
    for artifact in ARTIFACTS {
        println!("cargo:rerun-if-changed={artifact}");
        assert!(
            Path::new(artifact).exists(),
            "{artifact} is missing: build the contracts first (`make contracts-build`, or `make test`)"
        );
    }
    println!("cargo:rerun-if-changed={ERRORS}");
    let source = fs::read_to_string(ERRORS).expect("Errors.sol");
    let mut table =
        String::from("/// (error name, human message) from the NatSpec of `Errors.sol`.\n");
    table.push_str("pub(crate) const ERROR_MESSAGES: &[(&str, &str)] = &[\n");
    let mut notice = String::new();
    for line in source.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("/// @notice ") {
            notice = text.to_string();
        } else if let Some(text) = line.strip_prefix("/// ") {
            notice.push(' ');
            notice.push_str(text);
        } else if let Some(decl) = line.strip_prefix("error ") {
            let name = decl.split('(').next().expect("error name");
            let message =
                notice.strip_prefix("Thrown when ").unwrap_or(&notice).trim_end_matches('.');
            writeln!(table, "    ({name:?}, {message:?}),").expect("write");
            notice.clear();
        }
    }
    table.push_str("];\n");
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("error_messages.rs");
    fs::write(out, table).expect("write table");
}
