//! Attestor keys (encrypted eth keystore v3) and co-signed reports.
//!
//! A report needs M-of-N attestor signatures. Each attestor's node signs the same
//! [`UsageReport`] with [`SignedReport::sign`]; [`SignedReport::merge`] combines them, and
//! [`SignedReport::ordered_signatures`] returns them in the ascending-signer order the registry
//! requires. Passwords come from a file or an environment variable and are never logged.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use alloy::{
    primitives::{Address, Bytes},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::Eip712Domain,
};
use compute_ledger_types::{UsageReport, encode_signature, recover_signer};
use serde::{Deserialize, Serialize};

use crate::{OracleError, Result};

/// Where an attestor key lives and how to unlock it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Encrypted keystore file (eth keystore v3, scrypt).
    pub keystore: PathBuf,
    /// File whose first line is the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
}

impl KeyConfig {
    /// Reads the password from the configured file or variable.
    pub fn password(&self) -> Result<String> {
        let keystore_error =
            |reason: String| OracleError::Keystore { path: self.keystore.clone(), reason };
        match (&self.password_file, &self.password_env) {
            (Some(file), None) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    keystore_error(format!("password file {}: {e}", file.display()))
                })?;
                Ok(text.lines().next().unwrap_or_default().to_string())
            }
            (None, Some(var)) => std::env::var(var)
                .map_err(|_| keystore_error(format!("password variable {var} is not set"))),
            _ => Err(keystore_error("set exactly one of password_file or password_env".into())),
        }
    }

    /// Decrypts the key.
    pub fn load(&self) -> Result<PrivateKeySigner> {
        load_keystore(&self.keystore, &self.password()?)
    }
}

/// Decrypts a keystore file.
pub fn load_keystore(path: &Path, password: &str) -> Result<PrivateKeySigner> {
    PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| OracleError::Keystore {
        path: path.to_path_buf(),
        reason: format!("cannot decrypt (wrong password or not a v3 keystore): {e}"),
    })
}

/// Creates a new random key, encrypted with `password`, as `dir/name`.
pub fn create_keystore(dir: &Path, name: &str, password: &str) -> Result<(Address, PathBuf)> {
    std::fs::create_dir_all(dir).map_err(|e| OracleError::io(dir, e))?;
    let path = dir.join(name);
    if path.exists() {
        return Err(OracleError::Keystore {
            path,
            reason: "already exists; choose another name".into(),
        });
    }
    let (signer, _uuid) =
        PrivateKeySigner::new_keystore(dir, &mut rand::thread_rng(), password, Some(name))
            .map_err(|e| OracleError::Keystore {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            })?;
    Ok((signer.address(), path))
}

/// A report and its attestor signatures, keyed (and so ordered) by signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReport {
    /// The report.
    pub report: UsageReport,
    /// 65-byte signatures by signer address.
    pub signatures: BTreeMap<Address, Bytes>,
}

impl SignedReport {
    /// An unsigned report.
    pub fn new(report: UsageReport) -> Self {
        Self { report, signatures: BTreeMap::new() }
    }

    /// Adds `signer`'s signature over the report's EIP-712 digest in `domain`.
    pub fn sign(&mut self, signer: &PrivateKeySigner, domain: &Eip712Domain) -> Result<()> {
        let digest = self.report.signing_hash(domain);
        let signature =
            signer.sign_hash_sync(&digest).map_err(|e| OracleError::Signature(e.to_string()))?;
        self.signatures.insert(signer.address(), encode_signature(&signature));
        Ok(())
    }

    /// Adds a co-signer's signatures; both must be over the same report.
    pub fn merge(&mut self, other: SignedReport) -> Result<()> {
        if other.report != self.report {
            return Err(OracleError::Signature(format!(
                "co-signer signed a different report for cluster {} epoch {}",
                other.report.clusterId, other.report.epoch
            )));
        }
        self.signatures.extend(other.signatures);
        Ok(())
    }

    /// Checks that every signature recovers to the address it is filed under.
    pub fn verify(&self, domain: &Eip712Domain) -> Result<()> {
        let digest = self.report.signing_hash(domain);
        for (claimed, signature) in &self.signatures {
            let recovered = recover_signer(digest, signature)?;
            if recovered != *claimed {
                return Err(OracleError::Signature(format!(
                    "signature filed under {claimed} was made by {recovered}"
                )));
            }
        }
        Ok(())
    }

    /// Signatures in ascending signer order, as `submitReport` requires.
    pub fn ordered_signatures(&self) -> Vec<Bytes> {
        self.signatures.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;
    use compute_ledger_types::report_domain;

    fn report() -> UsageReport {
        UsageReport {
            clusterId: 1,
            epoch: 9,
            gpusInstalled: 8,
            gpusHealthy: 8,
            ..Default::default()
        }
    }

    #[test]
    fn co_signatures_merge_verify_and_sort() {
        let domain = report_domain(31_337, address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"));
        let (owner, auditor) = (PrivateKeySigner::random(), PrivateKeySigner::random());
        let mut a = SignedReport::new(report());
        a.sign(&owner, &domain).expect("sign");
        let mut b = SignedReport::new(report());
        b.sign(&auditor, &domain).expect("sign");
        a.merge(b).expect("same report");
        a.verify(&domain).expect("valid");
        let signers: Vec<Address> = a.signatures.keys().copied().collect();
        assert!(signers.windows(2).all(|w| w[0] < w[1]), "ascending, as the registry requires");
        assert_eq!(a.ordered_signatures().len(), 2);

        let mut other = SignedReport::new(UsageReport { epoch: 10, ..report() });
        other.sign(&auditor, &domain).expect("sign");
        assert!(a.merge(other).is_err(), "cannot combine signatures over different reports");

        // A signature filed under the wrong signer is caught.
        let sig = a.signatures[&owner.address()].clone();
        a.signatures.insert(auditor.address(), sig);
        assert!(a.verify(&domain).is_err());
    }

    #[test]
    fn keystore_round_trip_and_wrong_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (address, path) =
            create_keystore(dir.path(), "attestor", "correct horse").expect("create");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("\"crypto\""), "v3 keystore JSON");
        assert_eq!(load_keystore(&path, "correct horse").expect("decrypt").address(), address);
        let err = load_keystore(&path, "wrong").expect_err("wrong password");
        assert!(!err.to_string().contains("wrong\""), "password never echoed");
        assert!(err.to_string().contains("cannot decrypt"), "{err}");

        let pw = dir.path().join("pw");
        std::fs::write(&pw, "correct horse\n").expect("write");
        let config =
            KeyConfig { keystore: path.clone(), password_file: Some(pw), password_env: None };
        assert_eq!(config.load().expect("from file").address(), address);
        let neither = KeyConfig { keystore: path, password_file: None, password_env: None };
        assert!(neither.load().is_err());
    }
}
