//! Parameters of the `ledger_` methods.

use std::fmt;

use alloy::primitives::{Address, U256};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::{LeaseStatus, schema};

/// A lease id (also the ERC-1155 token id): read from a JSON number, a decimal string or a
/// 0x-hex string, never zero; written as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseId(pub U256);

impl From<U256> for LeaseId {
    fn from(id: U256) -> Self {
        Self(id)
    }
}

impl From<u64> for LeaseId {
    fn from(id: u64) -> Self {
        Self(U256::from(id))
    }
}

impl Serialize for LeaseId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for LeaseId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LeaseIdVisitor)
    }
}

struct LeaseIdVisitor;

impl LeaseIdVisitor {
    fn positive<E: de::Error>(id: U256, got: &dyn fmt::Display) -> Result<LeaseId, E> {
        if id.is_zero() {
            Err(E::custom(format!("lease ids start at 1, got {got}")))
        } else {
            Ok(LeaseId(id))
        }
    }
}

impl de::Visitor<'_> for LeaseIdVisitor {
    type Value = LeaseId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a lease id (a positive integer, decimal or 0x-hex)")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LeaseId, E> {
        Self::positive(U256::from(v), &v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<LeaseId, E> {
        let parsed = match v.strip_prefix("0x") {
            Some(hex) => U256::from_str_radix(hex, 16),
            None => U256::from_str_radix(v, 10),
        };
        let id = parsed.map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))?;
        Self::positive(id, &format!("{v:?}"))
    }
}

impl JsonSchema for LeaseId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LeaseId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Lease id (also the ERC-1155 token id): a number, a decimal string or 0x-hex.",
            "oneOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string", "pattern": "^(0x[0-9a-fA-F]+|[0-9]+)$" }
            ]
        })
    }
}

/// Which page of a listing: start after `cursor` (a `nextCursor` from the previous page; absent:
/// from the start), at most `limit` items (default and maximum: the server's page size).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PageRequest {
    /// Where to continue: the previous page's `nextCursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Items wanted (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
}

/// Which reports: from `fromEpoch` (default 0), at most `limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EpochPage {
    /// First epoch wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_epoch: Option<u64>,
    /// Reports wanted (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
}

/// Filters of `ledger_leases` (all optional; given ones must all match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaseFilter {
    /// Only this cluster's leases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<u64>,
    /// Only this tenant's leases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_address")]
    pub tenant: Option<Address>,
    /// Only leases in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LeaseStatus>,
}

fn optional_address(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({ "oneOf": [schema::address(generator), { "type": "null" }] })
}

/// A site owner's inputs to `ledger_megawattEconomics`: what the ledger cannot know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteInputsParam {
    /// Critical-IT power the site can deliver, kW (at least 1).
    #[schemars(range(min = 1))]
    pub energized_kw: u64,
    /// What a miner earns now, stablecoin per PH/s per day, as a decimal (`"48.50"`).
    pub hashprice_per_ph_day: String,
    /// The fleet's efficiency, joules per terahash (at least 1).
    #[schemars(range(min = 1))]
    pub fleet_j_per_th: u32,
    /// What the site pays per kWh, as a decimal (`"0.045"`).
    pub energy_price_per_kwh: String,
}
