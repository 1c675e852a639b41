//! Reverts decoded into the contracts' custom errors, with a human message for each.

use alloy::sol_types::SolInterface;

use crate::bindings::{ClusterRegistry, DevStablecoin, LeaseMarket};

include!(concat!(env!("OUT_DIR"), "/error_messages.rs"));

/// Messages for the OpenZeppelin errors a user can meet through the ledger.
const OPENZEPPELIN_MESSAGES: &[(&str, &str)] = &[
    ("OwnableUnauthorizedAccount", "only governance may call this"),
    ("EnforcedPause", "the stablecoin issuer has paused all transfers; retry after it unpauses"),
    ("ERC20InsufficientBalance", "the sender's stablecoin balance is too low"),
    (
        "ERC20InsufficientAllowance",
        "the stablecoin allowance is too low: approve first, or use a permit",
    ),
    ("ERC1155InsufficientBalance", "the holder has fewer lease shares than requested"),
    ("ERC1155MissingApprovalForAll", "the operator is not approved for the holder's lease shares"),
    ("ECDSAInvalidSignature", "a signature is malformed or recovers to no address"),
    ("ECDSAInvalidSignatureLength", "a signature is not 65 bytes"),
    ("ECDSAInvalidSignatureS", "a signature is malleable (high s)"),
    ("ERC2612ExpiredSignature", "the permit's deadline has passed"),
    ("ERC2612InvalidSigner", "the permit was not signed by the token owner"),
    ("ReentrancyGuardReentrantCall", "a callback tried to re-enter the market"),
    ("SafeCastOverflowedUintDowncast", "an amount is too large for the ledger's storage"),
];

/// A contract revert: which custom error, its arguments, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert {
    /// The custom error's name, e.g. `NotAttestor`.
    pub name: String,
    /// The decoded error with its arguments (debug form).
    pub detail: String,
    /// What it means, from the contract's NatSpec.
    pub message: String,
}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.name, self.message, self.detail)
    }
}

/// Decodes revert data against every ledger contract's errors.
pub fn decode_revert(data: &[u8]) -> Option<Revert> {
    let detail = if let Ok(e) = ClusterRegistry::ClusterRegistryErrors::abi_decode(data) {
        format!("{e:?}")
    } else if let Ok(e) = LeaseMarket::LeaseMarketErrors::abi_decode(data) {
        format!("{e:?}")
    } else if let Ok(e) = DevStablecoin::DevStablecoinErrors::abi_decode(data) {
        format!("{e:?}")
    } else {
        return None;
    };
    // Debug form is `Variant(Variant { fields })`: the variant name is the error's name.
    let name = detail.split('(').next().unwrap_or_default().to_string();
    let message = ERROR_MESSAGES
        .iter()
        .chain(OPENZEPPELIN_MESSAGES)
        .find(|(n, _)| *n == name)
        .map_or_else(|| "the contract rejected the call".to_string(), |(_, m)| (*m).to_string());
    Some(Revert { name, detail, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ledger_error_has_a_message() {
        assert!(ERROR_MESSAGES.len() >= 40, "table built from Errors.sol");
        for (name, message) in ERROR_MESSAGES {
            assert!(!message.is_empty() && !message.starts_with("Thrown"), "{name}: {message:?}");
        }
        assert!(
            ERROR_MESSAGES.iter().any(|(n, m)| *n == "NotAttestor" && m.contains("attestor set"))
        );
    }
}
