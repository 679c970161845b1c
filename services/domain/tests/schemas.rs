//! The checked-in `schemas/` must equal what the types generate. On drift this
//! fails and lists the files; `BAMF_BLESS=1 cargo test -p bamf-domain --test
//! schemas` rewrites them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// Generated files present on disk (json only; README.md is hand-written).
fn on_disk(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for sub in ["", "events", "audit"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".json") {
                found.insert(if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    found
}

#[test]
fn checked_in_schemas_match_the_types() {
    let dir = schemas_dir();
    let generated = bamf_domain::schema::generate();
    if std::env::var_os("BAMF_BLESS").is_some() {
        for stale in on_disk(&dir) {
            if !generated.contains_key(&stale) {
                std::fs::remove_file(dir.join(&stale)).unwrap();
            }
        }
        for (path, text) in &generated {
            let full = dir.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        return;
    }
    let mut drifted = Vec::new();
    for (path, text) in &generated {
        match std::fs::read_to_string(dir.join(path)) {
            Ok(current) if current == *text => {}
            Ok(_) => drifted.push(format!("changed: schemas/{path}")),
            Err(_) => drifted.push(format!("missing: schemas/{path}")),
        }
    }
    for path in on_disk(&dir) {
        if !generated.contains_key(&path) {
            drifted.push(format!("stale:   schemas/{path}"));
        }
    }
    assert!(
        drifted.is_empty(),
        "schemas/ has drifted from the Rust types; review, then regenerate with \
         `BAMF_BLESS=1 cargo test -p bamf-domain --test schemas`:\n  {}",
        drifted.join("\n  ")
    );
}
