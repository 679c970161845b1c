//! `audit search`: the audit trail from the API's `GET /audit` (the search
//! read model; bamfctl never talks to NATS), newest first, following
//! `next_cursor` until `--limit` records are printed.
//!
//! Times are RFC 3339 or an age (`15m`, `2h`, `7d`: now minus that). The
//! table shows one record per row; `--json` prints each record as the API
//! answered it, one JSON object per line, the stored record inside verbatim.
//! The records are kept as raw JSON throughout, so nothing is re-serialised.

use anyhow::{bail, Context, Result};
use clap::Args;
use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::client::ApiClient;
use crate::error::{ApiError, ClientError};
use crate::output::{write_stdout, Table};

/// Most records the API answers per page.
pub const MAX_PAGE: u32 = 1000;
/// What a refusal of the audit endpoints means.
const NEEDS_ROLE: &str = "the audit trail needs the admin or audit role";

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Records at or after this time: RFC 3339, or an age like 15m, 2h, 7d.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Records before this time: RFC 3339, or an age like 15m, 2h, 7d.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Records by this actor: a user, agent or bridge id, or a user's e-mail.
    #[arg(long, value_name = "ID|EMAIL")]
    pub actor: Option<String>,
    /// Records of this type (login.failed), or of an aggregate (session.*).
    #[arg(long, value_name = "TYPE")]
    pub action: Option<String>,
    /// Records about this resource.
    #[arg(long, value_name = "NAME")]
    pub resource: Option<String>,
    /// Only successes or only failures.
    #[arg(long, value_parser = ["success", "failure"])]
    pub outcome: Option<String>,
    /// How many records to print at most (newest first).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Print each record as a JSON line (the API's item) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// A page of `GET /audit`, each record kept as the API sent it.
#[derive(Debug, Deserialize)]
pub struct Page {
    pub records: Vec<Box<RawValue>>,
    pub next_cursor: Option<String>,
    pub as_of_seq: u64,
}

/// The fields of a record the table shows (anything else is ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct View {
    pub seq: u64,
    pub time: String,
    pub action: String,
    pub outcome: String,
    pub actor: ActorView,
    pub target: TargetView,
    pub resource: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActorView {
    pub kind: String,
    pub id: String,
    pub email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TargetView {
    pub kind: String,
    pub id: String,
}

impl View {
    /// Reads the table's fields from one record of the API.
    pub fn of(item: &RawValue) -> Result<View> {
        serde_json::from_str(item.get())
            .context("the API answered an audit record of another shape")
    }

    /// The actor: the e-mail, else `kind:id`.
    pub fn actor(&self) -> String {
        match &self.actor.email {
            Some(email) if !email.is_empty() => email.clone(),
            _ => format!("{}:{}", self.actor.kind, self.actor.id),
        }
    }

    pub fn target(&self) -> String {
        format!("{}:{}", self.target.kind, self.target.id)
    }

    /// The table's cells: time, outcome, action, actor, target, resource, reason.
    pub fn cells(&self) -> [String; 7] {
        [
            self.time.clone(),
            self.outcome.clone(),
            self.action.clone(),
            self.actor(),
            self.target(),
            self.resource.clone().unwrap_or_default(),
            self.reason.clone().unwrap_or_default(),
        ]
    }
}

/// The table of records, in the order given.
pub fn table(views: &[View]) -> Table {
    let mut t = Table::new([
        "TIME", "OUTCOME", "ACTION", "ACTOR", "TARGET", "RESOURCE", "REASON",
    ]);
    for v in views {
        t.row(v.cells());
    }
    t
}

/// Parses `--since`/`--until`: RFC 3339 (any offset), or an age before `now`
/// (`30s`, `15m`, `2h`, `7d`, `2w`). Answers the time in UTC.
pub fn parse_when(flag: &str, text: &str, now: OffsetDateTime) -> Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t.to_offset(time::UtcOffset::UTC));
    }
    let refused = || {
        anyhow::anyhow!(
            "{flag} {text:?} is neither an RFC 3339 time (2026-11-22T10:00:00Z) \
             nor an age like 15m, 2h or 7d"
        )
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(refused)?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| refused())?;
    let unit_secs: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(refused()),
    };
    let age = n
        .checked_mul(unit_secs)
        .map(time::Duration::seconds)
        .ok_or_else(refused)?;
    now.checked_sub(age).ok_or_else(refused)
}

/// RFC 3339 in UTC, for the query string.
fn rfc3339(t: OffsetDateTime) -> Result<String> {
    t.format(&Rfc3339)
        .context("cannot format a time as RFC 3339")
}

/// The query filters of `args` (times resolved against `now`).
pub fn filters(args: &SearchArgs, now: OffsetDateTime) -> Result<Vec<(&'static str, String)>> {
    let mut q = Vec::new();
    if let Some(t) = &args.since {
        q.push(("since", rfc3339(parse_when("--since", t, now)?)?));
    }
    if let Some(t) = &args.until {
        q.push(("until", rfc3339(parse_when("--until", t, now)?)?));
    }
    for (key, value) in [
        ("actor", &args.actor),
        ("action", &args.action),
        ("resource", &args.resource),
        ("outcome", &args.outcome),
    ] {
        if let Some(v) = value {
            q.push((key, v.clone()));
        }
    }
    Ok(q)
}

/// A 403 of the audit endpoints says which roles may read the trail.
pub fn explain_refusal(e: ClientError) -> ClientError {
    match e {
        ClientError::Api(api) if api.status == 403 => ClientError::Api(ApiError {
            message: NEEDS_ROLE.to_string(),
            ..api
        }),
        other => other,
    }
}

/// Up to `want` records, newest first, page by page; and the `as_of_seq` of
/// the first page (records after it were not searchable yet).
pub async fn fetch(
    client: &ApiClient,
    filters: &[(&str, String)],
    want: u32,
) -> Result<(Vec<Box<RawValue>>, u64)> {
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    let mut as_of = None;
    loop {
        let left = want.saturating_sub(u32::try_from(records.len()).unwrap_or(u32::MAX));
        let limit = left.clamp(1, MAX_PAGE).to_string();
        let mut query: Vec<(&str, &str)> = filters.iter().map(|(k, v)| (*k, v.as_str())).collect();
        query.push(("limit", &limit));
        if let Some(c) = &cursor {
            query.push(("cursor", c));
        }
        let page: Page = client
            .send_as(Method::GET, &["audit"], &query, None)
            .await
            .map_err(explain_refusal)
            .context("cannot search the audit trail")?;
        as_of.get_or_insert(page.as_of_seq);
        records.extend(page.records);
        if records.len() >= usize::try_from(want).unwrap_or(usize::MAX) {
            records.truncate(usize::try_from(want).unwrap_or(usize::MAX));
            break;
        }
        match page.next_cursor {
            Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            Some(_) => bail!("the API answered the same cursor twice"),
            None => break,
        }
    }
    Ok((records, as_of.unwrap_or(0)))
}

/// `audit search`.
pub async fn run(client: &ApiClient, args: SearchArgs) -> Result<()> {
    let filters = filters(&args, OffsetDateTime::now_utc())?;
    let (records, _) = fetch(client, &filters, args.limit).await?;
    if args.json {
        let mut out = String::new();
        for r in &records {
            out.push_str(r.get());
            out.push('\n');
        }
        return write_stdout(&out);
    }
    let views = records
        .iter()
        .map(|r| View::of(r))
        .collect::<Result<Vec<_>>>()?;
    table(&views).print()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

    #[test]
    fn times_are_rfc3339_or_an_age() {
        let at = |t: &str| parse_when("--since", t, NOW).unwrap();
        assert_eq!(at("2026-11-22T09:00:00Z"), datetime!(2026-11-22 09:00 UTC));
        assert_eq!(
            at("2026-11-22T09:00:00+01:00"),
            datetime!(2026-11-22 08:00 UTC)
        );
        assert_eq!(at("15m"), datetime!(2026-11-22 09:45 UTC));
        assert_eq!(at("2h"), datetime!(2026-11-22 08:00 UTC));
        assert_eq!(at("7d"), datetime!(2026-11-15 10:00 UTC));
        assert_eq!(at("1w"), datetime!(2026-11-15 10:00 UTC));
        assert_eq!(at("30s"), datetime!(2026-11-22 09:59:30 UTC));
        for bad in [
            "",
            "yesterday",
            "15",
            "m",
            "15y",
            "-5m",
            "1.5h",
            "99999999999999999999d",
        ] {
            let e = parse_when("--until", bad, NOW).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--until {bad:?} is neither")), "{e}");
        }
    }

    #[test]
    fn filters_become_query_parameters_in_utc() {
        let args = SearchArgs {
            since: Some("1h".into()),
            until: Some("2026-11-22T10:30:00+01:00".into()),
            actor: Some("alice@corp.example".into()),
            action: Some("session.*".into()),
            resource: None,
            outcome: Some("failure".into()),
            limit: 5,
            json: false,
        };
        assert_eq!(
            filters(&args, NOW).unwrap(),
            [
                ("since", "2026-11-22T09:00:00Z".to_string()),
                ("until", "2026-11-22T09:30:00Z".to_string()),
                ("actor", "alice@corp.example".to_string()),
                ("action", "session.*".to_string()),
                ("outcome", "failure".to_string()),
            ]
        );
    }

    #[test]
    fn a_row_shows_the_email_else_kind_and_id() {
        let raw = RawValue::from_string(
            r#"{"seq":3,"time":"t","action":"login.failed","outcome":"failure",
               "actor":{"kind":"system","id":"bamf"},"target":{"kind":"login","id":"x"},
               "reason":"wrong_password","record":{},"new_field":1}"#
                .to_string(),
        )
        .unwrap();
        let v = View::of(&raw).unwrap();
        assert_eq!(
            v.cells(),
            [
                "t",
                "failure",
                "login.failed",
                "system:bamf",
                "login:x",
                "",
                "wrong_password"
            ]
        );
        let mut v = v;
        v.actor.email = Some("a@corp.example".into());
        assert_eq!(v.actor(), "a@corp.example");
    }

    #[test]
    fn a_refusal_names_the_roles() {
        let api = |status| {
            ClientError::Api(ApiError {
                status,
                code: "forbidden".into(),
                message: "x needs the admin or audit role".into(),
                request_id: Some("r".into()),
                retry_after: None,
            })
        };
        match explain_refusal(api(403)) {
            ClientError::Api(a) => {
                assert_eq!(a.message, NEEDS_ROLE);
                assert_eq!(a.request_id.as_deref(), Some("r"));
            }
            other => panic!("{other:?}"),
        }
        match explain_refusal(api(400)) {
            ClientError::Api(a) => assert_ne!(a.message, NEEDS_ROLE),
            other => panic!("{other:?}"),
        }
    }
}
