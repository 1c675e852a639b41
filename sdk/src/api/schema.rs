//! JSON Schemas of the wire encodings serde gives alloy's types here: 256-bit numbers as decimal
//! strings, addresses and hashes as 0x-hex strings.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// A 256-bit unsigned number as a decimal string (no JavaScript client loses precision).
pub fn decimal(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": "^[0-9]+$",
        "description": "Unsigned 256-bit integer as a decimal string."
    })
}

/// An address: 0x and 40 hex digits.
pub fn address(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": "^0x[0-9a-fA-F]{40}$" })
}

/// A 32-byte hash: 0x and 64 hex digits.
pub fn hash(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": "^0x[0-9a-fA-F]{64}$" })
}

/// Optional hash (`null` when absent).
pub fn optional_hash(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({ "oneOf": [hash(generator), { "type": "null" }] })
}

/// Hashes (a Merkle proof).
pub fn hashes(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array", "items": hash(generator) })
}

/// Optional decimal (`null` when absent).
pub fn optional_decimal(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({ "oneOf": [decimal(generator), { "type": "null" }] })
}

/// Addresses.
pub fn addresses(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array", "items": address(generator) })
}

/// A cluster's bonds by stablecoin address.
pub fn bonds(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "propertyNames": address(generator),
        "additionalProperties": generator.subschema_for::<super::model::BondRow>()
    })
}

/// 0x-hex 256-bit numbers keyed by epoch (JSON object keys are strings).
pub fn hex_by_epoch(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "propertyNames": { "pattern": "^[0-9]+$" },
        "additionalProperties": { "type": "string", "pattern": "^0x[0-9a-fA-F]+$" }
    })
}

/// `[epoch, balance]` pairs (the balance 0x-hex).
pub fn boundaries(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "array",
            "prefixItems": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^0x[0-9a-fA-F]+$" }
            ],
            "minItems": 2,
            "maxItems": 2
        }
    })
}

/// The schema of `compute_ledger_types::Efficiency` (flattened into reports). A unit test checks
/// it names exactly the fields `Efficiency` serializes.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) struct EfficiencySchema {
    /// Busy / available GPU-seconds, basis points.
    utilization_bps: u64,
    /// Available / installed GPU-seconds, basis points.
    availability_bps: u64,
    /// Facility / IT energy × 1000 (power usage effectiveness); `null` without IT energy.
    pue_milli: Option<u64>,
    /// Facility watt-hours per busy GPU-hour; `null` without busy time.
    wh_per_gpu_hour: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efficiency_schema_names_every_serialized_field() {
        let value =
            serde_json::to_value(compute_ledger_types::Efficiency::default()).expect("serializes");
        let serialized: Vec<&String> = value.as_object().expect("object").keys().collect();
        let schema = schemars::schema_for!(EfficiencySchema);
        let properties = schema.get("properties").and_then(|p| p.as_object()).expect("props");
        let described: Vec<&String> = properties.keys().collect();
        assert_eq!(serialized.len(), described.len());
        for key in serialized {
            assert!(properties.contains_key(key), "{key} has no schema");
        }
    }
}
