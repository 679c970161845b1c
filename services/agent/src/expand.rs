//! `${VAR}` and `${VAR:-default}` in `agent.yaml` values, as the Go/Python
//! BAMF agent reads them. Expansion happens on the parsed YAML, value by
//! value, so an error names the key it was found under; `$$` is a literal `$`.
//! A value that is one whole reference (`port: ${PG_PORT}`) is re-read as a
//! YAML scalar afterwards, so a number or a boolean keeps its type.

use serde_yaml::Value;

/// Why a value could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("environment variable {var} is not set (and has no default)")]
    Unset { var: String },
    #[error("unterminated \"${{\"")]
    Unterminated,
    #[error("invalid environment variable name {0:?}")]
    BadName(String),
}

/// An expansion error and the dotted key of the value it was in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedError {
    pub key: String,
    pub error: ExpandError,
}

/// Expands every string scalar in `value` (map keys are left alone).
pub fn expand_value(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), KeyedError> {
    walk(value, &mut Vec::new(), lookup)
}

fn walk(
    value: &mut Value,
    path: &mut Vec<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), KeyedError> {
    match value {
        Value::String(text) if text.contains('$') => {
            let expanded = expand_str(text, lookup).map_err(|error| KeyedError {
                key: path.join("."),
                error,
            })?;
            let whole =
                text.starts_with("${") && text.ends_with('}') && text.matches("${").count() == 1;
            *value = match serde_yaml::from_str::<Value>(&expanded) {
                Ok(typed @ (Value::Number(_) | Value::Bool(_))) if whole => typed,
                _ => Value::String(expanded),
            };
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                walk(item, path, lookup)?;
                path.pop();
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                path.push(match key {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                });
                walk(item, path, lookup)?;
                path.pop();
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, lookup)?,
        _ => {}
    }
    Ok(())
}

/// Expands `${VAR}`, `${VAR:-default}` and `$$` in one string.
pub fn expand_str(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or(ExpandError::Unterminated)?;
            let reference = &body[..end];
            let (var, default) = match reference.split_once(":-") {
                Some((var, default)) => (var, Some(default)),
                None => (reference, None),
            };
            let name_ok = !var.is_empty()
                && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !var.as_bytes()[0].is_ascii_digit();
            if !name_ok {
                return Err(ExpandError::BadName(var.to_string()));
            }
            // Like the shell's `:-`: an empty variable takes the default too.
            match (lookup(var).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) if lookup(var).is_some() => {}
                (None, None) => {
                    return Err(ExpandError::Unset {
                        var: var.to_string(),
                    })
                }
            }
            rest = &body[end + 1..];
        } else {
            // A lone `$` not followed by `{` is kept as written.
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        match var {
            "HOST" => Some("db.internal".into()),
            "PORT" => Some("5432".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn references_defaults_and_escapes_expand() {
        assert_eq!(
            expand_str("${HOST}:${PORT}", &env).unwrap(),
            "db.internal:5432"
        );
        assert_eq!(expand_str("${NOPE:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(expand_str("${EMPTY:-x}", &env).unwrap(), "x");
        assert_eq!(expand_str("${EMPTY}", &env).unwrap(), "");
        assert_eq!(
            expand_str("cost $5 and $${HOST}", &env).unwrap(),
            "cost $5 and ${HOST}"
        );
    }

    #[test]
    fn unset_unterminated_and_bad_names_are_errors() {
        assert_eq!(
            expand_str("${NOPE}", &env),
            Err(ExpandError::Unset { var: "NOPE".into() })
        );
        assert_eq!(expand_str("${HOST", &env), Err(ExpandError::Unterminated));
        assert_eq!(
            expand_str("${1X}", &env),
            Err(ExpandError::BadName("1X".into()))
        );
    }

    #[test]
    fn an_error_names_the_key_and_whole_references_keep_their_type() {
        let mut doc: Value = serde_yaml::from_str(
            "resources:\n  - name: db\n    port: ${PORT}\n    host: ${HOST}\n",
        )
        .unwrap();
        expand_value(&mut doc, &env).unwrap();
        assert_eq!(doc["resources"][0]["port"], Value::from(5432));
        assert_eq!(doc["resources"][0]["host"], Value::from("db.internal"));

        let mut bad: Value = serde_yaml::from_str("resources:\n  - host: ${MISSING}\n").unwrap();
        let err = expand_value(&mut bad, &env).unwrap_err();
        assert_eq!(err.key, "resources.0.host");
        assert_eq!(
            err.error,
            ExpandError::Unset {
                var: "MISSING".into()
            }
        );
    }
}
