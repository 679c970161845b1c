//! Config loading: defaults, then an optional file, then the environment.
//!
//! Each program owns a config struct (`Serialize + Deserialize + Default`, with
//! `#[serde(deny_unknown_fields, default)]`) and loads it once at start with
//! [`load`]. Precedence, lowest first:
//!
//! 1. the struct's `Default`;
//! 2. the file given with `--config` (`.toml`, `.yaml` or `.yml`);
//! 3. environment variables `<PREFIX><KEY>`, e.g. `BAMF_API_LISTEN`, with `__`
//!    between the parts of a nested key (`BAMF_API_LIMITS__MAX_BODY`).
//!
//! Errors come back as [`ConfigError`], which names the offending key and where
//! the value came from, so `main` can print one clear line and exit with
//! [`crate::cli::EXIT_CONFIG`].

use std::fmt;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml, Yaml};
use figment::{Figment, Source};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a program's config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named with `--config` could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file's extension says neither TOML nor YAML.
    #[error("config file {}: unknown format; name it *.toml, *.yaml or *.yml", path.display())]
    Format { path: PathBuf },
    /// A value is missing, unknown, or does not parse.
    #[error("{}", InvalidDisplay(self))]
    Invalid {
        /// The dotted key, e.g. `listen` or `limits.max_body`; `None` when the
        /// whole source is unreadable (a file with a syntax error).
        key: Option<String>,
        /// Where the value came from, e.g. `environment variable BAMF_API_LISTEN`.
        origin: Option<String>,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// The offending key, when the error is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => key.as_deref(),
            _ => None,
        }
    }
}

struct InvalidDisplay<'a>(&'a ConfigError);

impl fmt::Display for InvalidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ConfigError::Invalid {
            key,
            origin,
            message,
        } = self.0
        else {
            return Ok(());
        };
        match (key, origin) {
            (Some(key), Some(origin)) => write!(f, "key \"{key}\": {message} (from {origin})"),
            (Some(key), None) => write!(f, "key \"{key}\": {message}"),
            (None, Some(origin)) => write!(f, "{origin}: {message}"),
            (None, None) => f.write_str(message),
        }
    }
}

/// Where one program's config comes from.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    /// Prefix of the program's environment variables, e.g. `BAMF_API_`.
    pub env_prefix: &'a str,
    /// Keys under the prefix that belong to something else and are skipped,
    /// e.g. `url` for bamf-api, because `BAMF_API_URL` is bamfctl's setting.
    pub env_ignore: &'a [&'a str],
    /// The file from `--config`, if any.
    pub file: Option<&'a Path>,
}

/// Loads `T` from its defaults, the optional file and the environment.
pub fn load<T>(sources: &Sources<'_>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = sources.file {
        // Figment treats a missing file as empty; a file the user named must exist.
        std::fs::metadata(path).map_err(|source| ConfigError::File {
            path: path.to_path_buf(),
            source,
        })?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        figment = match ext.to_ascii_lowercase().as_str() {
            "toml" => figment.merge(Toml::file_exact(path)),
            "yaml" | "yml" => figment.merge(Yaml::file_exact(path)),
            _ => {
                return Err(ConfigError::Format {
                    path: path.to_path_buf(),
                })
            }
        };
    }
    let env = Env::prefixed(sources.env_prefix)
        .split("__")
        .ignore(sources.env_ignore);
    figment
        .merge(env)
        .extract()
        .map_err(|error| from_figment(error, sources.env_prefix, None))
}

/// A figment error as a [`ConfigError`] naming the key and where the value
/// came from. `text_origin` names a configuration that was read from a string
/// (e.g. a file a program expanded before parsing) rather than from a file.
pub fn from_figment(
    error: figment::Error,
    env_prefix: &str,
    text_origin: Option<&str>,
) -> ConfigError {
    use figment::error::Kind;
    let mut path = error.path.clone();
    // Figment's path usually ends with the field already; add it when not.
    let mut with_field = |field: &str| {
        if path.last().map(String::as_str) != Some(field) {
            path.push(field.to_string());
        }
    };
    let message = match &error.kind {
        Kind::UnknownField(field, expected) => {
            with_field(field);
            format!("unknown key; expected one of: {}", expected.join(", "))
        }
        Kind::MissingField(field) => {
            with_field(field);
            "missing; it has no default and must be set".to_string()
        }
        kind => kind.to_string(),
    };
    let origin = error.metadata.as_ref().and_then(|metadata| {
        match &metadata.source {
            Some(Source::File(file)) => Some(file.display().to_string()),
            // Defaults are ours: an error there is a bug, not the user's doing.
            _ if metadata.name.contains("environment") && !path.is_empty() => Some(format!(
                "environment variable {env_prefix}{}",
                path.join("__").to_uppercase()
            )),
            // Parsed from text (not a file): the caller says where it came from.
            _ if metadata.name.contains("YAML") || metadata.name.contains("TOML") => {
                text_origin.map(str::to_string)
            }
            _ => None,
        }
    });
    ConfigError::Invalid {
        key: (!path.is_empty()).then(|| path.join(".")),
        origin,
        message,
    }
}
