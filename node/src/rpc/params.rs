//! Parameters of the `ledger_` methods: positional or by name, each checked with a reason that
//! says what was expected, returned as JSON-RPC error -32602.

use alloy::primitives::{Address, U256};
use jsonrpsee::types::{ErrorObjectOwned, Params, error::INVALID_PARAMS_CODE};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::openrpc::MethodDoc;

/// An invalid-params error with `reason`.
pub(crate) fn invalid(reason: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS_CODE, reason.into(), None::<()>)
}

/// A method's arguments, one slot per documented parameter.
#[derive(Debug)]
pub(crate) struct Args {
    method: &'static str,
    names: Vec<&'static str>,
    values: Vec<Option<Value>>,
}

impl Args {
    /// Reads `params` against `doc`: too many, unknown, or missing required ones are refused.
    pub(crate) fn read(params: &Params<'_>, doc: &MethodDoc) -> Result<Self, ErrorObjectOwned> {
        let names: Vec<&'static str> = doc.params.iter().map(|p| p.name).collect();
        let raw: Option<Value> = match params.as_str() {
            None => None,
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| invalid(format!("params are not valid JSON: {e}")))?,
            ),
        };
        let mut values = vec![None; names.len()];
        match raw {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                if items.len() > names.len() {
                    return Err(invalid(format!(
                        "{} takes at most {} params ({}), got {}",
                        doc.name,
                        names.len(),
                        names.join(", "),
                        items.len()
                    )));
                }
                for (slot, item) in values.iter_mut().zip(items) {
                    *slot = (!item.is_null()).then_some(item);
                }
            }
            Some(Value::Object(map)) => {
                for (key, item) in map {
                    let position = names.iter().position(|n| *n == key).ok_or_else(|| {
                        invalid(format!(
                            "{} has no param {key:?}; it takes {}",
                            doc.name,
                            names.join(", ")
                        ))
                    })?;
                    values[position] = (!item.is_null()).then_some(item);
                }
            }
            Some(other) => {
                return Err(invalid(format!("params must be an array or an object, got {other}")));
            }
        }
        for (param, value) in doc.params.iter().zip(&values) {
            if param.required && value.is_none() {
                return Err(invalid(format!("{} needs param {:?}", doc.name, param.name)));
            }
        }
        Ok(Self { method: doc.name, names, values })
    }

    fn bad(&self, index: usize, expected: &str, got: &Value) -> ErrorObjectOwned {
        invalid(format!(
            "{} param {:?}: expected {expected}, got {got}",
            self.method, self.names[index]
        ))
    }

    fn value(&self, index: usize) -> Option<&Value> {
        self.values.get(index).and_then(Option::as_ref)
    }

    /// An unsigned integer (JSON number or decimal string).
    pub(crate) fn u64(&self, index: usize) -> Result<Option<u64>, ErrorObjectOwned> {
        let Some(value) = self.value(index) else { return Ok(None) };
        let parsed = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| self.bad(index, "an unsigned 64-bit integer", value))
    }

    /// A required unsigned integer.
    pub(crate) fn need_u64(&self, index: usize) -> Result<u64, ErrorObjectOwned> {
        Ok(self.u64(index)?.expect("required params are checked in read"))
    }

    /// A lease id: a JSON number, a decimal string, or a 0x-hex string.
    pub(crate) fn lease_id(&self, index: usize) -> Result<U256, ErrorObjectOwned> {
        let value = self.value(index).expect("required params are checked in read");
        let parsed = match value {
            Value::Number(n) => n.as_u64().map(U256::from),
            Value::String(s) => match s.strip_prefix("0x") {
                Some(hex) => U256::from_str_radix(hex, 16).ok(),
                None => U256::from_str_radix(s, 10).ok(),
            },
            _ => None,
        };
        match parsed {
            Some(id) if !id.is_zero() => Ok(id),
            _ => Err(self.bad(index, "a lease id (a positive integer, decimal or 0x-hex)", value)),
        }
    }

    /// An address: 0x and 40 hex digits (checksum not required).
    pub(crate) fn address(&self, index: usize) -> Result<Address, ErrorObjectOwned> {
        let value = self.value(index).expect("required params are checked in read");
        value
            .as_str()
            .filter(|s| s.len() == 42 && s.starts_with("0x"))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.bad(index, "an address (0x and 40 hex digits)", value))
    }

    /// An object param decoded into `T` (unknown fields refused by `T`).
    pub(crate) fn object<T: DeserializeOwned + Default>(
        &self,
        index: usize,
        expected: &str,
    ) -> Result<T, ErrorObjectOwned> {
        match self.value(index) {
            None => Ok(T::default()),
            Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
                invalid(format!(
                    "{} param {:?}: expected {expected}: {e}",
                    self.method, self.names[index]
                ))
            }),
        }
    }
}
