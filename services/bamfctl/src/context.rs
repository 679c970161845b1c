//! What every command starts from: the API URL (resolved once, by the
//! documented precedence) and the saved login, and the clients made from them.

use anyhow::{bail, Result};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::client::{parse_api_url, ApiClient};
use crate::credentials::{Credentials, Store};

/// Where the API is when nothing else says.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8080";

/// `--api-url` / `BAMF_API_URL` (clap has already preferred the flag over the
/// variable, so they arrive as one value), else the URL saved at login, else
/// the default. Trailing slashes are dropped so URLs compare equal.
pub fn resolve_api_url(flag_or_env: Option<&str>, saved: Option<&str>) -> String {
    let url = [flag_or_env, saved]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|u| !u.is_empty())
        .unwrap_or(DEFAULT_API_URL);
    normalize(url)
}

fn normalize(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

/// The resolved API URL and the saved login.
pub struct Ctx {
    pub api_url: String,
    pub store: Store,
    pub creds: Option<Credentials>,
}

impl Ctx {
    /// Reads the credentials file (refusing one others can read) and resolves the URL.
    pub fn load(flag_or_env: Option<&str>) -> Result<Ctx> {
        let store = Store::from_env()?;
        let creds = store.load()?;
        let api_url = resolve_api_url(flag_or_env, creds.as_ref().map(|c| c.api_url.as_str()));
        parse_api_url(&api_url)?;
        Ok(Ctx {
            api_url,
            store,
            creds,
        })
    }

    /// A client without a token (login).
    pub fn anonymous_client(&self) -> Result<ApiClient> {
        ApiClient::new(&self.api_url, None)
    }

    /// A client carrying the saved token. Refuses when there is no login, when
    /// it has visibly expired, or when it was made for another API URL: the
    /// token is a bearer secret and is only ever sent where it came from.
    pub fn client(&self) -> Result<ApiClient> {
        let creds = self.login()?;
        ApiClient::new(&self.api_url, Some(creds.token.clone()))
    }

    /// The saved login, checked as [`Ctx::client`] describes.
    pub fn login(&self) -> Result<&Credentials> {
        let Some(creds) = &self.creds else {
            bail!("not logged in; run `bamfctl login`");
        };
        if normalize(&creds.api_url) != self.api_url {
            bail!(
                "logged in to {} but this command is for {}; run `bamfctl login --api-url {}`",
                creds.api_url,
                self.api_url,
                self.api_url
            );
        }
        if expired(&creds.expires_at, OffsetDateTime::now_utc()) {
            bail!(
                "login of {} expired at {}; run `bamfctl login`",
                creds.email,
                creds.expires_at
            );
        }
        Ok(creds)
    }
}

/// True when `expires_at` is a time at or before `now`. An unparsable value is
/// left for the server to judge.
pub fn expired(expires_at: &str, now: OffsetDateTime) -> bool {
    OffsetDateTime::parse(expires_at, &Rfc3339).is_ok_and(|t| t <= now)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_flag_or_variable_beats_the_saved_url_which_beats_the_default() {
        assert_eq!(
            resolve_api_url(Some("https://flag.example/"), Some("https://saved.example")),
            "https://flag.example"
        );
        assert_eq!(
            resolve_api_url(None, Some("https://saved.example/")),
            "https://saved.example"
        );
        assert_eq!(resolve_api_url(None, None), DEFAULT_API_URL);
        // An empty BAMF_API_URL= counts as unset.
        assert_eq!(
            resolve_api_url(Some(""), Some("https://saved.example")),
            "https://saved.example"
        );
    }

    fn ctx(saved_url: &str, url: &str, expires_at: &str) -> Ctx {
        Ctx {
            api_url: url.into(),
            store: Store::new("/nonexistent"),
            creds: Some(Credentials {
                api_url: saved_url.into(),
                token: "t".into(),
                email: "ada@example.com".into(),
                expires_at: expires_at.into(),
            }),
        }
    }

    #[test]
    fn the_token_goes_only_to_the_url_it_came_from() {
        let c = ctx(
            "https://a.example/",
            "https://a.example",
            "2999-01-01T00:00:00Z",
        );
        assert!(c.login().is_ok());
        let c = ctx(
            "https://a.example",
            "https://b.example",
            "2999-01-01T00:00:00Z",
        );
        let err = c.login().unwrap_err().to_string();
        assert!(
            err.contains("bamfctl login --api-url https://b.example"),
            "{err}"
        );
    }

    #[test]
    fn an_expired_login_is_caught_before_any_request() {
        let c = ctx(
            "https://a.example",
            "https://a.example",
            "2000-01-01T00:00:00Z",
        );
        assert!(c.login().unwrap_err().to_string().contains("expired"));
        let now = datetime!(2026-01-01 12:00 UTC);
        assert!(expired("2026-01-01T12:00:00Z", now));
        assert!(!expired("2026-01-01T12:00:00.000001Z", now));
        assert!(!expired("not a time", now));
    }

    #[test]
    fn no_login_says_how_to_log_in() {
        let c = Ctx {
            api_url: DEFAULT_API_URL.into(),
            store: Store::new("/nonexistent"),
            creds: None,
        };
        assert!(c.login().unwrap_err().to_string().contains("bamfctl login"));
    }
}
