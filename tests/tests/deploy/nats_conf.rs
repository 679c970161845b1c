//! The settings of deploy/nats/nats-server.conf the other files must agree
//! with. The file is nats-server's own format; nats-server itself checks it
//! (`-t`), this only reads the few `key: value` lines others refer to.

use std::collections::BTreeMap;

pub struct NatsConf {
    /// Client port (`listen`).
    pub listen_port: u16,
    /// Monitoring port (`http`).
    pub http_port: u16,
    /// `max_payload`, `jetstream.max_file_store`, … as written.
    pub values: BTreeMap<String, String>,
}

pub fn read() -> NatsConf {
    let path = bamf_testkit::repo_root().join("deploy/nats/nats-server.conf");
    let text = std::fs::read_to_string(&path).expect("nats-server.conf reads");
    let mut values = BTreeMap::new();
    let mut block: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_suffix('{') {
            block.push(name.trim().to_string());
        } else if line == "}" {
            block.pop();
        } else if let Some((key, value)) = line.split_once(':').or_else(|| line.split_once('=')) {
            let mut path = block.clone();
            path.push(key.trim().to_string());
            values.insert(path.join("."), value.trim().trim_matches('"').to_string());
        }
    }
    let port = |key: &str| -> u16 {
        let value = values
            .get(key)
            .unwrap_or_else(|| panic!("nats-server.conf sets no {key}"));
        value
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("nats-server.conf: {key} {value:?} has no port"))
    };
    NatsConf {
        listen_port: port("listen"),
        http_port: port("http"),
        values,
    }
}

/// Bytes of a NATS size (`10GB`, `256MB`: powers of 1024, as nats-server
/// reads them) or a Kubernetes quantity (`12Gi`).
pub fn bytes(size: &str) -> u64 {
    let digits: String = size.chars().take_while(char::is_ascii_digit).collect();
    let number: u64 = digits.parse().unwrap_or_else(|_| panic!("size {size:?}"));
    let unit = size[digits.len()..].to_ascii_uppercase();
    let power = match unit.trim_end_matches('B').trim_end_matches('I') {
        "" => 0,
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        other => panic!("size {size:?}: unit {other:?}"),
    };
    number * 1024u64.pow(power)
}
