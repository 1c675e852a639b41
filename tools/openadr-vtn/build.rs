//! Embeds the migrations of the exact `openleadr-vtn` this package locks, so that the binary can
//! apply them itself on PostgreSQL 15 (see `src/main.rs`).
use std::{env, fs, path::PathBuf, process::Command};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--manifest-path"])
        .arg(manifest_dir.join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let vtn_manifest = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|package| package["name"] == "openleadr-vtn")
        .and_then(|package| package["manifest_path"].as_str())
        .expect("openleadr-vtn in the dependency graph");
    let migrations_dir =
        PathBuf::from(vtn_manifest).parent().expect("crate dir").join("migrations");
    let mut files: Vec<PathBuf> = fs::read_dir(&migrations_dir)
        .expect("openleadr-vtn ships its migrations")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    let mut code = String::from(
        "/// `(file stem, SQL)` of each openleadr-vtn migration, in order.\npub const MIGRATIONS: &[(&str, &str)] = &[\n",
    );
    for path in &files {
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("utf-8 name");
        code.push_str(&format!(
            "    ({stem:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("migrations.rs");
    fs::write(out, code).expect("write migrations.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
}
