//! Replay of a JSON-lines recording in the audit-log format the oracle writes.

use std::{collections::BTreeMap, path::Path};

use crate::{OracleError, Result, SampleRecord};

/// Serves recorded seconds; a second not in the recording has no samples.
#[derive(Debug, Clone, Default)]
pub struct ReplaySource {
    records: BTreeMap<u64, SampleRecord>,
}

impl ReplaySource {
    /// Loads a recording; a malformed line is an error naming its line number.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| OracleError::io(path, e))?;
        let mut records = BTreeMap::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let record: SampleRecord =
                serde_json::from_str(line).map_err(|e| OracleError::BadTelemetry {
                    source_name: path.display().to_string(),
                    reason: format!("line {}: {e}", n + 1),
                })?;
            records.insert(record.t, record);
        }
        Ok(Self { records })
    }

    /// The recorded second `t`, or an empty record.
    pub fn sample(&self, t: u64) -> SampleRecord {
        self.records.get(&t).cloned().unwrap_or(SampleRecord {
            t,
            gpus: vec![],
            facility_mj: None,
            racks: vec![],
        })
    }

    /// First and last recorded seconds.
    pub fn span(&self) -> Option<(u64, u64)> {
        Some((*self.records.keys().next()?, *self.records.keys().next_back()?))
    }
}
