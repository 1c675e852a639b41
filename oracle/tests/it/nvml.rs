//! NVML compiles everywhere and, without an NVIDIA driver, fails naming the missing library.

use compute_ledger_oracle::{NvmlSource, OracleError};

#[test]
fn without_a_driver_nvml_fails_clearly() {
    match NvmlSource::init() {
        Err(OracleError::NvmlUnavailable(reason)) => {
            let msg = OracleError::NvmlUnavailable(reason).to_string();
            assert!(msg.contains("libnvidia-ml"), "{msg}");
            assert!(
                msg.contains("dcgm") && msg.contains("simulator"),
                "names the alternatives: {msg}"
            );
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(nvml) => {
            // A machine with a driver: every GPU answers with a UUID.
            let gpus = nvml.sample().expect("sample");
            assert!(gpus.iter().all(|g| g.uuid.starts_with("GPU-")));
        }
    }
}
