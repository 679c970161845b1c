//! `--label key=value` arguments, checked with the same syntax rules the
//! server applies (bamf-domain), so a typo fails before any request.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use bamf_domain::control::labels::{validate_label_key, validate_label_value};

/// One `key=value` (clap value parser). The value may be empty (`key=`).
pub fn parse_label(arg: &str) -> Result<(String, String), String> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(format!("{arg:?} is not key=value"));
    };
    validate_label_key(key).map_err(|e| format!("label key {key:?} {e}"))?;
    validate_label_value(value).map_err(|e| format!("label {key:?} value {value:?} {e}"))?;
    Ok((key.to_string(), value.to_string()))
}

/// The labels as a map; a key given twice is refused rather than one silently winning.
pub fn into_map(labels: Vec<(String, String)>) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for (k, v) in labels {
        if let Some(old) = map.insert(k.clone(), v.clone()) {
            if old != v {
                bail!("label {k:?} given twice ({old:?} and {v:?})");
            }
        }
    }
    Ok(map)
}

/// True when `labels` has every `key=value` of `selector`.
pub fn matches(labels: &BTreeMap<String, String>, selector: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_labels_parse() {
        assert_eq!(parse_label("env=prod"), Ok(("env".into(), "prod".into())));
        assert_eq!(
            parse_label("example.com/team=db-1"),
            Ok(("example.com/team".into(), "db-1".into()))
        );
        assert_eq!(parse_label("env="), Ok(("env".into(), String::new())));
    }

    #[test]
    fn bad_forms_are_refused_with_a_reason() {
        for bad in [
            "env",
            "=prod",
            "env=pr od",
            "-env=prod",
            "env=prod=x",
            "Bad_/x=y",
            "",
        ] {
            assert!(parse_label(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_label("env").unwrap_err().contains("not key=value"));
        assert!(parse_label("=x").unwrap_err().contains("is empty"));
    }

    #[test]
    fn a_key_given_twice_with_different_values_is_refused() {
        let l = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert!(into_map(vec![l("env", "a"), l("env", "b")]).is_err());
        assert_eq!(
            into_map(vec![l("env", "a"), l("env", "a")]).unwrap().len(),
            1
        );
    }

    #[test]
    fn a_selector_needs_every_pair() {
        let labels = BTreeMap::from([
            ("env".to_string(), "prod".to_string()),
            ("team".into(), "db".into()),
        ]);
        let sel = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(matches(&labels, &sel(&[])));
        assert!(matches(&labels, &sel(&[("env", "prod")])));
        assert!(!matches(&labels, &sel(&[("env", "prod"), ("team", "web")])));
        assert!(!matches(&labels, &sel(&[("zone", "a")])));
    }
}
