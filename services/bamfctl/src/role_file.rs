//! Reading a role document (`roles create|update -f role.yaml`): YAML (JSON is
//! YAML too) into bamf-domain's [`RoleDocument`], validated with the server's
//! own rules so mistakes are reported against the file, with its line.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use bamf_domain::control::role_doc::RoleDocument;

/// The API's default body limit; a bigger role would be refused anyway.
pub const MAX_ROLE_FILE_BYTES: u64 = 64 * 1024;
/// `-f -` reads the document from stdin.
const STDIN: &str = "-";

/// Reads and checks the role document at `path` (`-` for stdin).
pub fn load(path: &Path) -> Result<RoleDocument> {
    let from_stdin = path.as_os_str() == STDIN;
    let origin = if from_stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let mut text = String::new();
    let read = if from_stdin {
        std::io::stdin()
            .lock()
            .take(MAX_ROLE_FILE_BYTES + 1)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_ROLE_FILE_BYTES + 1).read_to_string(&mut text))
    };
    read.with_context(|| format!("cannot read role document {origin}"))?;
    if text.len() as u64 > MAX_ROLE_FILE_BYTES {
        bail!("role document {origin} is larger than {MAX_ROLE_FILE_BYTES} bytes");
    }
    parse(&text, &origin)
}

/// Parses and validates; errors start with `origin` and say the line.
pub fn parse(text: &str, origin: &str) -> Result<RoleDocument> {
    let doc: RoleDocument = serde_yaml::from_str(text).map_err(|e| {
        // serde_yaml puts "at line L column C" in its message when it knows them.
        match e.location() {
            Some(_) => anyhow::anyhow!("{origin}: {e}"),
            None => anyhow::anyhow!("{origin}: {e} (no line known)"),
        }
    })?;
    doc.validate()
        .map_err(|e| anyhow::anyhow!("{origin}: role {:?}: {e}", doc.name))?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_document_parses() {
        let doc = parse(
            "name: dba\ndescription: database admins\nallow:\n  labels: {env: [dev, staging], team: \"*\"}\n  names: [orders-db]\ndeny:\n  labels: {env: prod}\n",
            "role.yaml",
        )
        .unwrap();
        assert_eq!(doc.name, "dba");
        assert_eq!(doc.allow.names, ["orders-db"]);
        // It goes to the server as JSON in the documented shape.
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            json["allow"]["labels"]["env"],
            serde_json::json!(["dev", "staging"])
        );
        assert_eq!(json["deny"]["labels"]["env"], "prod");
    }

    #[test]
    fn an_unknown_field_names_the_file_and_line() {
        let err = parse("name: dba\nallow:\n  lables: {env: dev}\n", "role.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("role.yaml: "), "{err}");
        assert!(err.contains("lables") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn broken_yaml_names_the_file_and_line() {
        let err = parse("name: dba\nallow: [\n", "r.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.yaml: ") && err.contains("line"), "{err}");
        let err = parse("name: [1, 2]\n", "r.yaml").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn a_rule_the_server_would_refuse_is_refused_here() {
        let err = parse("name: dba\nallow:\n  labels: {env: \"pr od\"}\n", "r.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("r.yaml: role \"dba\": in allow: label"),
            "{err}"
        );
        assert!(parse("name: \"Bad Name\"\n", "r.yaml").is_err());
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = load(Path::new("/nonexistent/role.yaml")).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/role.yaml"));
    }
}
