//! The bindings are generated from the Foundry artifacts at compile time, so they cannot drift
//! from the contracts. This script says how to produce the artifacts when they are missing,
//! rebuilds the bindings when they change, and turns the `@notice Thrown when …` line of every
//! custom error in `Errors.sol` into a documented `ErrorKind` variant with a human message.

use std::{env, fmt::Write, fs, path::Path};

const ARTIFACTS: [&str; 10] = [
    "../contracts/out/CapacityPricer.sol/CapacityPricer.json",
    "../contracts/out/ShareExchange.sol/ShareExchange.json",
    "../contracts/out/CollateralFactory.sol/CollateralFactory.json",
    "../contracts/out/LeaseShareToken.sol/LeaseShareToken.json",
    "../contracts/out/LeaseNavOracle.sol/LeaseNavOracle.json",
    "../contracts/out-morpho/Morpho.sol/Morpho.json",
    "../contracts/out/ClusterRegistry.sol/ClusterRegistry.json",
    "../contracts/out/LeaseMarket.sol/LeaseMarket.json",
    "../contracts/out/DisputeDesk.sol/DisputeDesk.json",
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
    let mut errors: Vec<(String, String)> = Vec::new();
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
            assert!(
                !message.is_empty(),
                "error {name} in Errors.sol needs a `/// @notice Thrown when …`"
            );
            errors.push((name.to_string(), message.to_string()));
            notice.clear();
        }
    }
    let ledger_errors = errors.len();
    errors.extend(OPENZEPPELIN.iter().map(|(n, m)| ((*n).to_string(), (*m).to_string())));

    let mut code = String::new();
    code.push_str(
        "/// Every custom error a ledger contract can revert with: the ledger's own (documented from\n\
         /// `Errors.sol`) and the OpenZeppelin errors a user can meet through it.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\n#[non_exhaustive]\npub enum ErrorKind {\n",
    );
    for (i, (name, message)) in errors.iter().enumerate() {
        let doc = if i < ledger_errors {
            format!("Reverted when {message}.")
        } else {
            format!("OpenZeppelin: {message}.")
        };
        writeln!(code, "    /// {doc}\n    {name},").expect("write");
    }
    code.push_str(
        "    /// An error of the contracts' dependencies without an entry here; see `Revert::name`.\n    Unlisted,\n}\n\n",
    );
    code.push_str(
        "impl ErrorKind {\n    /// (kind, Solidity name, human message) of every listed error.\n",
    );
    code.push_str("    pub const ALL: &[(Self, &'static str, &'static str)] = &[\n");
    for (name, message) in &errors {
        writeln!(code, "        (Self::{name}, {name:?}, {message:?}),").expect("write");
    }
    code.push_str("    ];\n}\n");
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("error_kinds.rs");
    fs::write(out, code).expect("write error kinds");
}

/// Messages for the OpenZeppelin errors a user can meet through the ledger.
const OPENZEPPELIN: &[(&str, &str)] = &[
    ("OwnableUnauthorizedAccount", "only governance may call this"),
    ("EnforcedPause", "the stablecoin issuer has paused all transfers; retry after it unpauses"),
    ("ERC20InsufficientBalance", "the sender's stablecoin balance is too low"),
    (
        "ERC20InsufficientAllowance",
        "the stablecoin allowance is too low: approve first, or use a permit",
    ),
    ("ERC1155InsufficientBalance", "the holder has fewer lease shares than requested"),
    ("ERC1155MissingApprovalForAll", "the operator is not approved for the holder's lease shares"),
    ("ERC1155InvalidReceiver", "the receiving contract does not accept ERC-1155 shares"),
    ("ERC1155InvalidSender", "shares cannot come from the zero address"),
    ("ERC1155InvalidApprover", "the zero address cannot approve an operator"),
    (
        "ERC1155InvalidOperator",
        "the operator is not valid (the zero address, or the holder itself)",
    ),
    ("ERC1155InvalidArrayLength", "the ids and amounts of a batch transfer differ in length"),
    ("ERC20InvalidSender", "stablecoin cannot come from the zero address"),
    ("ERC20InvalidReceiver", "stablecoin cannot go to the zero address"),
    ("ERC20InvalidApprover", "the zero address cannot approve a spender"),
    ("ERC20InvalidSpender", "the zero address cannot be approved as a spender"),
    ("ExpectedPause", "the stablecoin is not paused, so it cannot be unpaused"),
    ("InvalidAccountNonce", "a permit's nonce was already used"),
    ("OwnableInvalidOwner", "governance cannot pass to the zero address"),
    ("SafeERC20FailedOperation", "the stablecoin refused a transfer without saying why"),
    ("InvalidShortString", "a token name is malformed"),
    ("StringTooLong", "a token name is too long"),
    ("ECDSAInvalidSignature", "a signature is malformed or recovers to no address"),
    ("ECDSAInvalidSignatureLength", "a signature is not 65 bytes"),
    ("ECDSAInvalidSignatureS", "a signature is malleable (high s)"),
    ("ERC2612ExpiredSignature", "the permit's deadline has passed"),
    ("ERC2612InvalidSigner", "the permit was not signed by the token owner"),
    ("ReentrancyGuardReentrantCall", "a callback tried to re-enter the market"),
    ("SafeCastOverflowedUintDowncast", "an amount is too large for the ledger's storage"),
];
