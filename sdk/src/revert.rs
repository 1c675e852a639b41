//! Reverts decoded into the contracts' custom errors, each a documented [`ErrorKind`] with a
//! human message.

use alloy::sol_types::SolInterface;

use crate::bindings::{
    CapacityPricer, ClusterRegistry, CollateralFactory, DemandResponse, DevStablecoin, DisputeDesk,
    LeaseMarket, LeaseNavOracle, LeaseShareToken, ShareExchange,
};

include!(concat!(env!("OUT_DIR"), "/error_kinds.rs"));

impl ErrorKind {
    /// The kind of the Solidity error called `name`.
    pub fn from_name(name: &str) -> Self {
        Self::ALL.iter().find(|(_, n, _)| *n == name).map_or(Self::Unlisted, |(kind, _, _)| *kind)
    }

    /// What the error means, in plain words.
    pub fn message(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(kind, _, _)| *kind == self)
            .map_or("the contract rejected the call", |(_, _, message)| message)
    }
}

/// A contract revert: which custom error, its arguments, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert {
    /// The error, to match on.
    pub kind: ErrorKind,
    /// The custom error's Solidity name, e.g. `NotAttestor`.
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
    } else if let Ok(e) = DisputeDesk::DisputeDeskErrors::abi_decode(data) {
        format!("{e:?}")
    } else if let Ok(e) = ShareExchange::ShareExchangeErrors::abi_decode(data) {
        format!("{e:?}")
    } else if let Ok(e) = CapacityPricer::CapacityPricerErrors::abi_decode(data) {
        format!("{e:?}")
    } else if let Ok(e) = LeaseShareToken::LeaseShareTokenErrors::abi_decode(data) {
        format!("{e:?}")
    } else if let Ok(e) = LeaseNavOracle::LeaseNavOracleErrors::abi_decode(data) {
        format!("{e:?}")
    } else if let Ok(e) = CollateralFactory::CollateralFactoryErrors::abi_decode(data) {
        format!("{e:?}")
    } else if let Ok(e) = DemandResponse::DemandResponseErrors::abi_decode(data) {
        format!("{e:?}")
    } else if let Ok(e) = DevStablecoin::DevStablecoinErrors::abi_decode(data) {
        format!("{e:?}")
    } else {
        return None;
    };
    // Debug form is `Variant(Variant { fields })`: the variant name is the error's name.
    let name = detail.split('(').next().unwrap_or_default().to_string();
    let kind = ErrorKind::from_name(&name);
    Some(Revert { kind, name, detail, message: kind.message().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_error_has_a_kind_and_a_message() {
        assert!(ErrorKind::ALL.len() >= 50, "table built from Errors.sol and OpenZeppelin");
        for (kind, name, message) in ErrorKind::ALL {
            assert!(!message.is_empty() && !message.starts_with("Thrown"), "{name}: {message:?}");
            assert_eq!(ErrorKind::from_name(name), *kind);
        }
        assert!(ErrorKind::NotAttestor.message().contains("attestor set"));
        assert_eq!(ErrorKind::from_name("SomethingElse"), ErrorKind::Unlisted);

        // Every error in the contracts' ABIs decodes to a listed kind, so none reaches a user
        // as "Unlisted" unless it comes from a dependency we never call.
        for selectors in [
            ClusterRegistry::ClusterRegistryErrors::SELECTORS,
            LeaseMarket::LeaseMarketErrors::SELECTORS,
            DisputeDesk::DisputeDeskErrors::SELECTORS,
            ShareExchange::ShareExchangeErrors::SELECTORS,
            CapacityPricer::CapacityPricerErrors::SELECTORS,
            LeaseShareToken::LeaseShareTokenErrors::SELECTORS,
            LeaseNavOracle::LeaseNavOracleErrors::SELECTORS,
            CollateralFactory::CollateralFactoryErrors::SELECTORS,
            DemandResponse::DemandResponseErrors::SELECTORS,
            DevStablecoin::DevStablecoinErrors::SELECTORS,
        ] {
            for selector in selectors {
                let mut data = selector.to_vec();
                data.resize(4 + 32 * 8, 0);
                if let Some(revert) = decode_revert(&data) {
                    assert_ne!(revert.kind, ErrorKind::Unlisted, "{}", revert.name);
                }
            }
        }
    }
}
