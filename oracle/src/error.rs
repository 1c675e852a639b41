//! The error type of the oracle crate.

use std::path::PathBuf;

/// Everything that can go wrong between a GPU and a signed report. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// NVML could not be loaded or initialised (no NVIDIA driver on this machine).
    #[error(
        "NVML unavailable: {0}. The NVML source needs the NVIDIA driver's libnvidia-ml.so.1; \
         install the driver, or use the `dcgm`, `prometheus`, `simulator` or `replay` source"
    )]
    NvmlUnavailable(String),
    /// An NVML query failed on a machine that has the driver.
    #[error("NVML query failed: {0}")]
    Nvml(String),
    /// An HTTP telemetry endpoint could not be reached or answered with an error.
    #[error("telemetry endpoint {url} failed: {reason}")]
    Http {
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A metrics payload is malformed or lacks a required series.
    #[error("telemetry from {source_name} is unusable: {reason}")]
    BadTelemetry {
        /// Where it came from.
        source_name: String,
        /// What is wrong, and how to fix it.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("invalid oracle configuration: {0}")]
    Config(String),
    /// A demand-response event could not be measured on the facility meter (it is not attested).
    #[error("event {event}: {reason}")]
    Unmeasurable {
        /// The event id.
        event: String,
        /// Which reading is missing or wrong.
        reason: String,
    },
    /// A value does not fit the report's field.
    #[error("{field} = {value} does not fit the report (max {max})")]
    MetricOutOfRange {
        /// The report field.
        field: &'static str,
        /// The value computed.
        value: u64,
        /// Its maximum.
        max: u64,
    },
    /// A live source did not answer within the per-second bound; the second counts as unavailable.
    #[error(
        "telemetry source {source_name} did not answer within {after_ms} ms; the second counts as \
         unavailable (is the exporter hung?)"
    )]
    SampleTimeout {
        /// The source.
        source_name: &'static str,
        /// The bound, milliseconds.
        after_ms: u64,
    },
    /// Pruning was asked for an epoch this oracle has not finalized yet.
    #[error(
        "epoch {epoch} is not finalized yet (last finalized: {last_finalized:?}); prune an epoch \
         only after it is reported and settled"
    )]
    NotFinalized {
        /// The epoch asked.
        epoch: u64,
        /// The latest finalized epoch.
        last_finalized: Option<u64>,
    },
    /// A sample was offered for a second already ingested or outside the epoch.
    #[error("sample at t={t} is outside epoch {epoch} or not after the last sample")]
    SampleOutOfOrder {
        /// The sample's timestamp.
        t: u64,
        /// The epoch being accumulated.
        epoch: u64,
    },
    /// Co-signatures were combined for different reports, or a signature does not match.
    #[error("signature mismatch: {0}")]
    Signature(String),
    /// A keystore could not be read, decrypted or written.
    #[error("keystore {path}: {reason}")]
    Keystore {
        /// The keystore file or directory.
        path: PathBuf,
        /// What went wrong (never the password).
        reason: String,
    },
    /// The local sample store failed.
    #[error("sample store: {0}")]
    Store(#[from] sled::Error),
    /// A blocking store task (flush) could not complete.
    #[error("sample store task failed: {0}")]
    StoreTask(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Stored or replayed JSON is malformed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A protocol-type error (deliveries tree, signature encoding).
    #[error(transparent)]
    Types(#[from] compute_ledger_types::Error),
}

/// Result alias of the oracle crate.
pub type Result<T> = std::result::Result<T, OracleError>;

impl OracleError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
