//! The method catalogue: one entry per served method, used both to read params and to answer
//! `rpc.discover` with an OpenRPC document, so the two cannot disagree.

use serde_json::{Value, json};

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub struct ParamDoc {
    /// Name (also the key when params are passed by name).
    pub name: &'static str,
    /// JSON Schema of the value.
    pub schema: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// What it is.
    pub description: &'static str,
}

/// One method.
#[derive(Debug, Clone, Copy)]
pub struct MethodDoc {
    /// Method name.
    pub name: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Its parameters, in positional order.
    pub params: &'static [ParamDoc],
    /// What it returns.
    pub result: &'static str,
}

const fn param(
    name: &'static str,
    schema: &'static str,
    required: bool,
    description: &'static str,
) -> ParamDoc {
    ParamDoc { name, schema, required, description }
}

const CLUSTER_ID: ParamDoc =
    param("clusterId", r#"{"type":"integer","minimum":0}"#, true, "Cluster id.");
const LEASE_ID: ParamDoc = param(
    "leaseId",
    r#"{"oneOf":[{"type":"integer","minimum":1},{"type":"string","pattern":"^(0x[0-9a-fA-F]+|[0-9]+)$"}]}"#,
    true,
    "Lease id (also the ERC-1155 token id), as a number, a decimal string or 0x-hex.",
);
const ADDRESS: ParamDoc = param(
    "address",
    r#"{"type":"string","pattern":"^0x[0-9a-fA-F]{40}$"}"#,
    true,
    "Account address.",
);
const PAGE: ParamDoc = param(
    "page",
    r#"{"type":"object","properties":{"offset":{"type":"integer","minimum":0},"limit":{"type":"integer","minimum":1}},"additionalProperties":false}"#,
    false,
    "Paging: offset (default 0) and limit (default and maximum: the server's page size).",
);

/// Every method the server answers, besides `rpc.discover`.
pub const METHODS: &[MethodDoc] = &[
    MethodDoc {
        name: "ledger_clusters",
        summary: "Registered clusters in id order, with running totals and the latest report.",
        params: &[PAGE],
        result: "Page of Cluster",
    },
    MethodDoc {
        name: "ledger_cluster",
        summary: "One cluster: owner, attestors, bonds, latest report, utilization, availability, PUE, Wh per GPU-hour, rent settled and revenue per kWh.",
        params: &[CLUSTER_ID],
        result: "Cluster",
    },
    MethodDoc {
        name: "ledger_reports",
        summary: "A cluster's accepted reports in epoch order.",
        params: &[
            CLUSTER_ID,
            param(
                "page",
                r#"{"type":"object","properties":{"fromEpoch":{"type":"integer","minimum":0},"limit":{"type":"integer","minimum":1}},"additionalProperties":false}"#,
                false,
                "First epoch (default 0) and limit.",
            ),
        ],
        result: "Report[]",
    },
    MethodDoc {
        name: "ledger_lease",
        summary: "One lease: terms, state, escrow, rent settled, credits, accumulator, offer and settlements.",
        params: &[LEASE_ID],
        result: "Lease",
    },
    MethodDoc {
        name: "ledger_leases",
        summary: "Leases in id order, filtered by cluster, tenant and state.",
        params: &[
            param(
                "filter",
                r#"{"type":"object","properties":{"clusterId":{"type":"integer"},"tenant":{"type":"string"},"status":{"enum":["offered","active","ended","cancelled"]}},"additionalProperties":false}"#,
                false,
                "Filters; all optional.",
            ),
            PAGE,
        ],
        result: "Page of Lease",
    },
    MethodDoc {
        name: "ledger_positions",
        summary: "An account's lease-share positions with claimable rent, claimed rent and cost.",
        params: &[ADDRESS],
        result: "Position[]",
    },
    MethodDoc {
        name: "ledger_claimable",
        summary: "Rent an account can claim now, per lease and in total (equal to LeaseMarket.claimable).",
        params: &[ADDRESS],
        result: "Claimable",
    },
    MethodDoc {
        name: "ledger_deliveryProof",
        summary: "The Merkle proof of a lease's attested delivery in an epoch, from this node's deliveries archive (an unreadable archive is -32603, not a missing proof).",
        params: &[LEASE_ID, param("epoch", r#"{"type":"integer","minimum":0}"#, true, "Epoch.")],
        result: "DeliveryProof",
    },
    MethodDoc {
        name: "ledger_syncStatus",
        summary: "Indexed block, head block, lag, confirmations and reorgs seen.",
        params: &[],
        result: "SyncStatus",
    },
    MethodDoc {
        name: "ledger_ping",
        summary: "Answers \"pong\" without touching the index (liveness; the load tool's baseline).",
        params: &[],
        result: "string",
    },
    MethodDoc {
        name: "ledger_subscribeReports",
        summary: "Subscription: each newly indexed report (notification ledger_report). Every subscription also receives {\"rolledBack\":{\"fromBlock\",\"toBlock\"}} when a reorg removes indexed blocks; it is closed with an error if it falls too far behind.",
        params: &[],
        result: "subscription id",
    },
    MethodDoc {
        name: "ledger_unsubscribeReports",
        summary: "Ends a reports subscription.",
        params: &[param("subscription", r#"{"type":"string"}"#, true, "Subscription id.")],
        result: "boolean",
    },
    MethodDoc {
        name: "ledger_subscribeSettlements",
        summary: "Subscription: each newly indexed settlement (notification ledger_settlement). Every subscription also receives {\"rolledBack\":{\"fromBlock\",\"toBlock\"}} when a reorg removes indexed blocks; it is closed with an error if it falls too far behind.",
        params: &[],
        result: "subscription id",
    },
    MethodDoc {
        name: "ledger_unsubscribeSettlements",
        summary: "Ends a settlements subscription.",
        params: &[param("subscription", r#"{"type":"string"}"#, true, "Subscription id.")],
        result: "boolean",
    },
    MethodDoc {
        name: "ledger_subscribePositions",
        summary: "Subscription: an account's position whenever it changes (notification ledger_position). Every subscription also receives {\"rolledBack\":{\"fromBlock\",\"toBlock\"}} when a reorg removes indexed blocks; it is closed with an error if it falls too far behind.",
        params: &[ADDRESS],
        result: "subscription id",
    },
    MethodDoc {
        name: "ledger_unsubscribePositions",
        summary: "Ends a positions subscription.",
        params: &[param("subscription", r#"{"type":"string"}"#, true, "Subscription id.")],
        result: "boolean",
    },
];

/// The catalogue entry of `name`.
pub(crate) fn doc(name: &str) -> &'static MethodDoc {
    METHODS.iter().find(|m| m.name == name).expect("every served method is in METHODS")
}

/// The OpenRPC document `rpc.discover` returns.
pub fn document() -> Value {
    let methods: Vec<Value> = METHODS
        .iter()
        .map(|m| {
            let params: Vec<Value> = m
                .params
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "required": p.required,
                        "description": p.description,
                        "schema": serde_json::from_str::<Value>(p.schema).expect("schema is JSON"),
                    })
                })
                .collect();
            json!({
                "name": m.name,
                "summary": m.summary,
                "paramStructure": "either",
                "params": params,
                "result": { "name": "result", "schema": { "description": m.result } },
            })
        })
        .collect();
    json!({
        "openrpc": "1.2.6",
        "info": {
            "title": "compute-ledger wallet API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The sled index of compute-ledger over JSON-RPC: clusters, reports, leases, positions and claimable rent. Errors: -32602 invalid params (with the reason), -32001 not found, -32603 internal.",
        },
        "methods": methods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_is_json_and_names_are_unique() {
        let doc = document();
        let names: std::collections::BTreeSet<&str> = METHODS.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), METHODS.len());
        assert_eq!(doc["methods"].as_array().expect("methods").len(), METHODS.len());
    }
}
