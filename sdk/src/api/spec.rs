//! The catalogue of the `ledger_` methods: each one's params (name, whether required, what is
//! expected, JSON Schema, a check that decodes it into its Rust type) and result type. The node
//! checks every call against it before the typed handler runs (so a bad param is refused with a
//! reason naming it), and `rpc.discover` answers with [`openrpc`], built from the same types.
//! The node's tests check that the catalogue and the served methods agree.

use std::sync::OnceLock;

use alloy::primitives::Address;
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{
    Claimable, ClusterView, CurtailmentRow, DeliveryProof, EpochPage, LeaseDetail, LeaseFilter,
    LeaseId, LeaseRow, Live, MarketTotals, MegawattEconomicsView, NodeStatus, OrderBook, OrderRow,
    Page, PageRequest, PositionView, QuoteRow, ReportRow, SettlementRow, SiteInputsParam, TradeRow,
    schema,
};

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;
type CheckFn = fn(&Value) -> Result<(), String>;

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// Name (the key when params are passed by name).
    pub name: &'static str,
    /// Whether it must be given (`null` counts as absent).
    pub required: bool,
    /// What a valid value is, in words (for error messages).
    pub expected: &'static str,
    /// What it is.
    pub description: &'static str,
    schema: SchemaFn,
    check: CheckFn,
}

/// How a method answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// One result.
    Call,
    /// A subscription id, then notifications.
    Subscription {
        /// The notifications' method name.
        notification: &'static str,
        /// The method that ends the subscription.
        unsubscribe: &'static str,
    },
}

/// One method.
#[derive(Debug, Clone)]
pub struct MethodSpec {
    /// Full method name (`ledger_...`).
    pub name: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Its parameters, in positional order.
    pub params: Vec<ParamSpec>,
    /// How it answers.
    pub kind: MethodKind,
    /// The result's name in the document.
    pub result_name: &'static str,
    result: SchemaFn,
}

fn param<T: JsonSchema + DeserializeOwned>(
    name: &'static str,
    required: bool,
    expected: &'static str,
    description: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        required,
        expected,
        description,
        schema: |generator| generator.subschema_for::<T>(),
        check: |value| decodes::<T>(value),
    }
}

fn decodes<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    T::deserialize(value).map(drop).map_err(|e| e.to_string())
}

fn address(description: &'static str) -> ParamSpec {
    ParamSpec {
        name: "address",
        required: true,
        expected: "an address (0x and 40 hex digits)",
        description,
        schema: schema::address,
        check: |value| match value.as_str() {
            Some(text) if text.len() == 42 && text.starts_with("0x") => decodes::<Address>(value),
            _ => Err(format!("got {value}")),
        },
    }
}

fn lease_id() -> ParamSpec {
    param::<LeaseId>(
        "leaseId",
        true,
        "a lease id (a positive integer, decimal or 0x-hex)",
        "Lease id (also the ERC-1155 token id).",
    )
}

fn cluster_id() -> ParamSpec {
    param::<u64>("clusterId", true, "an unsigned 64-bit integer", "Cluster id.")
}

fn page() -> ParamSpec {
    param::<PageRequest>(
        "page",
        false,
        "{cursor?, limit?}",
        "Paging: start after `cursor` (the previous page's `nextCursor`), at most `limit` items \
         (default and maximum: the server's page size).",
    )
}

fn call<T: JsonSchema>(
    name: &'static str,
    summary: &'static str,
    params: Vec<ParamSpec>,
    result_name: &'static str,
) -> MethodSpec {
    MethodSpec {
        name,
        summary,
        params,
        kind: MethodKind::Call,
        result_name,
        result: |generator| generator.subschema_for::<T>(),
    }
}

fn subscription<T: JsonSchema>(
    name: &'static str,
    summary: &'static str,
    params: Vec<ParamSpec>,
    notification: &'static str,
    unsubscribe: &'static str,
) -> MethodSpec {
    MethodSpec {
        name,
        summary,
        params,
        kind: MethodKind::Subscription { notification, unsubscribe },
        result_name: "Notification",
        result: |generator| generator.subschema_for::<Live<T>>(),
    }
}

/// Every `ledger_` method the node serves (the unsubscribe methods are named by their
/// subscriptions).
pub fn methods() -> &'static [MethodSpec] {
    static METHODS: OnceLock<Vec<MethodSpec>> = OnceLock::new();
    METHODS.get_or_init(|| {
        vec![
            call::<Page<ClusterView>>(
                "ledger_clusters",
                "Registered clusters in id order, with running totals and the latest report.",
                vec![page()],
                "Page of Cluster",
            ),
            call::<ClusterView>(
                "ledger_cluster",
                "One cluster: owner, attestors, bonds, latest report, utilization, availability, \
                 PUE, Wh per GPU-hour, rent settled and revenue per kWh.",
                vec![cluster_id()],
                "Cluster",
            ),
            call::<QuoteRow>(
                "ledger_quote",
                "A cluster's quote for new leases (stablecoin base units per GPU-hour) with its \
                 inputs: the attested utilization of the last reported epoch applied, the adapted \
                 price at target, the owner's reference and floor, and the curve's target, \
                 steepness and speed.",
                vec![cluster_id()],
                "Quote",
            ),
            call::<Vec<ReportRow>>(
                "ledger_reports",
                "A cluster's accepted reports in epoch order.",
                vec![
                    cluster_id(),
                    param::<EpochPage>(
                        "page",
                        false,
                        "{fromEpoch?, limit?}",
                        "First epoch (default 0) and limit (default and maximum: the server's \
                         page size).",
                    ),
                ],
                "Reports",
            ),
            call::<LeaseDetail>(
                "ledger_lease",
                "One lease: terms, status, escrow, rent and credits so far, disputes, the first \
                 page of its settlements and the epochs ended but unsettled.",
                vec![lease_id()],
                "Lease",
            ),
            call::<Page<SettlementRow>>(
                "ledger_settlements",
                "A lease's settlements in epoch order, one page at a time.",
                vec![lease_id(), page()],
                "Page of Settlement",
            ),
            call::<Page<LeaseRow>>(
                "ledger_leases",
                "Leases in id order, filtered by cluster, tenant and status (each read through \
                 its own index key: a page costs its size, not the table's).",
                vec![
                    param::<LeaseFilter>(
                        "filter",
                        false,
                        "{clusterId?, tenant?, status?}",
                        "Filters; every given one must match.",
                    ),
                    page(),
                ],
                "Page of Lease",
            ),
            call::<Page<PositionView>>(
                "ledger_positions",
                "The positions an address has or had, with claimable rent, in lease id order, \
                 one page at a time.",
                vec![address("The holder."), page()],
                "Page of Position",
            ),
            call::<Claimable>(
                "ledger_claimable",
                "Rent an address may claim, in total and per lease.",
                vec![address("The holder.")],
                "Claimable",
            ),
            call::<OrderBook>(
                "ledger_orderBook",
                "A lease's order book on the share exchange: open asks (lowest price first) and \
                 bids (highest first), with its fills, volume and last price.",
                vec![
                    lease_id(),
                    param::<u32>(
                        "depth",
                        false,
                        "an unsigned integer of at least 1",
                        "Orders per side (default and maximum: the server's page size).",
                    ),
                ],
                "OrderBook",
            ),
            call::<Page<TradeRow>>(
                "ledger_trades",
                "A lease's fills on the share exchange in chain order, one page at a time.",
                vec![lease_id(), page()],
                "Page of Trade",
            ),
            call::<Page<OrderRow>>(
                "ledger_orders",
                "The orders an address placed on the share exchange (open, filled and \
                 cancelled), in id order, one page at a time.",
                vec![address("The maker."), page()],
                "Page of Order",
            ),
            call::<DeliveryProof>(
                "ledger_deliveryProof",
                "The Merkle proof of a lease's delivered GPU-seconds in one epoch, from this \
                 node's oracle archive.",
                vec![
                    lease_id(),
                    param::<u64>("epoch", true, "an unsigned 64-bit integer", "The epoch."),
                ],
                "DeliveryProof",
            ),
            call::<MarketTotals>(
                "ledger_market",
                "Market-wide totals: clusters, leases by status, escrow funded, rent settled, \
                 credits and compensation (kept as ranges are indexed, not recounted).",
                vec![],
                "MarketTotals",
            ),
            call::<NodeStatus>(
                "ledger_syncStatus",
                "Where the indexer stands (indexed block, head, lag, reorgs) and this node's \
                 oracles.",
                vec![],
                "SyncStatus",
            ),
            call::<String>("ledger_ping", "Liveness probe: \"pong\".", vec![], "Pong"),
            call::<Page<CurtailmentRow>>(
                "ledger_curtailments",
                "A site's demand-response events in id order: window, committed Wh, whether the \
                 site acknowledged it, the attested curtailment, payout and penalty.",
                vec![cluster_id(), page()],
                "Page of Curtailment",
            ),
            call::<MegawattEconomicsView>(
                "ledger_megawattEconomics",
                "Mine or lease, per MW-hour: the site's settled powered-shell rent, GPU rent \
                 after energy and demand-response payouts, against mining the same MW at the \
                 owner's hashprice and fleet efficiency; occupancy and the best use of the next \
                 megawatt.",
                vec![
                    cluster_id(),
                    param::<SiteInputsParam>(
                        "inputs",
                        true,
                        "{energizedKw, hashpricePerPhDay, fleetJPerTh, energyPricePerKwh}",
                        "The owner's inputs: energized kW, hashprice (stablecoin per PH/s per \
                         day), fleet J/TH and energy price per kWh (decimals).",
                    ),
                ],
                "MegawattEconomics",
            ),
            subscription::<ReportRow>(
                "ledger_subscribeReports",
                "Accepted reports as they are indexed.",
                vec![],
                "ledger_report",
                "ledger_unsubscribeReports",
            ),
            subscription::<SettlementRow>(
                "ledger_subscribeSettlements",
                "Settlements as they are indexed.",
                vec![],
                "ledger_settlement",
                "ledger_unsubscribeSettlements",
            ),
            subscription::<PositionView>(
                "ledger_subscribePositions",
                "An address's positions as they change (only that holder's updates).",
                vec![address("The holder.")],
                "ledger_position",
                "ledger_unsubscribePositions",
            ),
        ]
    })
}

/// The catalogue entry of `method`.
pub fn find(method: &str) -> Option<&'static MethodSpec> {
    methods().iter().find(|m| m.name == method)
}

impl MethodSpec {
    /// Checks raw JSON `params` (array, object or absent): too many, unknown, missing required
    /// or undecodable params are refused with a reason naming the param and what was expected.
    pub fn check(&self, params: Option<&str>) -> Result<(), String> {
        let names: Vec<&str> = self.params.iter().map(|p| p.name).collect();
        let raw: Value = match params {
            None => Value::Null,
            Some(text) => {
                serde_json::from_str(text).map_err(|e| format!("params are not valid JSON: {e}"))?
            }
        };
        let mut values: Vec<Option<Value>> = vec![None; names.len()];
        match raw {
            Value::Null => {}
            Value::Array(items) => {
                if items.len() > names.len() {
                    return Err(format!(
                        "{} takes at most {} params ({}), got {}",
                        self.name,
                        names.len(),
                        names.join(", "),
                        items.len()
                    ));
                }
                for (slot, item) in values.iter_mut().zip(items) {
                    *slot = (!item.is_null()).then_some(item);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let position = names.iter().position(|n| *n == key).ok_or_else(|| {
                        format!("{} has no param {key:?}; it takes {}", self.name, names.join(", "))
                    })?;
                    values[position] = (!item.is_null()).then_some(item);
                }
            }
            other => return Err(format!("params must be an array or an object, got {other}")),
        }
        for (param, value) in self.params.iter().zip(&values) {
            match value {
                None if param.required => {
                    return Err(format!("{} needs param {:?}", self.name, param.name));
                }
                None => {}
                Some(value) => (param.check)(value).map_err(|e| {
                    format!(
                        "{} param {:?}: expected {}: {e}",
                        self.name, param.name, param.expected
                    )
                })?,
            }
        }
        Ok(())
    }
}

/// The OpenRPC document of the `ledger_` methods, with param and result schemas generated from
/// the Rust types (shared schemas under `components.schemas`). Subscriptions carry
/// `x-notification` (the notification method; `result` is its item) and `x-unsubscribe`.
pub fn openrpc() -> Value {
    let settings = SchemaSettings::draft07().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut generator = SchemaGenerator::new(settings);
    let mut methods = Vec::new();
    for method in self::methods() {
        let params: Vec<Value> = method
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "required": p.required,
                    "description": p.description,
                    "schema": (p.schema)(&mut generator),
                })
            })
            .collect();
        let mut entry = json!({
            "name": method.name,
            "summary": method.summary,
            "params": params,
            "result": { "name": method.result_name, "schema": (method.result)(&mut generator) },
        });
        if let MethodKind::Subscription { notification, unsubscribe } = method.kind {
            entry["x-notification"] = json!(notification);
            entry["x-unsubscribe"] = json!(unsubscribe);
            methods.push(entry);
            methods.push(json!({
                "name": unsubscribe,
                "summary": format!("Ends a {} subscription.", method.name),
                "params": [{
                    "name": "subscriptionId",
                    "required": true,
                    "description": "The id the subscription returned.",
                    "schema": { "type": ["string", "integer"] },
                }],
                "result": { "name": "Unsubscribed", "schema": { "type": "boolean" } },
            }));
        } else {
            methods.push(entry);
        }
    }
    let schemas: Map<String, Value> = generator.take_definitions(true);
    json!({
        "openrpc": "1.2.6",
        "info": {
            "title": "compute-ledger wallet API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read-only view of the ledger from the node's index. Amounts and \
                            other 256-bit numbers are decimal strings; addresses and hashes \
                            0x-hex strings. Errors: -32602 invalid params (the message names \
                            the param), -32001 not found.",
        },
        "methods": methods,
        "components": { "schemas": schemas },
    })
}
