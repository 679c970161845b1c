//! What commands print: aligned tables for people (headers, no borders), the
//! server's JSON for scripts (`--json`), and small formatters for cells.

use std::collections::BTreeMap;
use std::io::{self, Write};

use anyhow::Result;
use clap::Args;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Space between columns.
const GAP: usize = 2;
/// What an empty cell shows, so columns stay readable.
const EMPTY: &str = "-";

/// `--json`, on every listing and get.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct JsonFlag {
    /// Print the server's JSON (an array for listings, an object otherwise) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Rows under headers, columns padded to their widest cell.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(headers: [&str; N]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells show as `-`, extra ones are dropped.
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) -> &mut Self {
        let mut row: Vec<String> = cells
            .into_iter()
            .map(|c| {
                // A newline or tab in a value would break the alignment.
                let c = c.replace(['\n', '\r', '\t'], " ");
                if c.is_empty() {
                    EMPTY.to_string()
                } else {
                    c
                }
            })
            .take(self.headers.len())
            .collect();
        row.resize(self.headers.len(), EMPTY.to_string());
        self.rows.push(row);
        self
    }

    /// The table as text, one line per row; the last column is not padded.
    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&self.headers).chain(&self.rows) {
            let last = line.len().saturating_sub(1);
            for (i, (cell, w)) in line.iter().zip(&widths).enumerate() {
                out.push_str(cell);
                if i < last {
                    out.extend(std::iter::repeat_n(' ', w - width(cell) + GAP));
                }
            }
            out.push('\n');
        }
        out
    }

    pub fn print(&self) -> Result<()> {
        write_stdout(&self.render())
    }
}

/// Pretty JSON on stdout.
pub fn print_json(value: &Value) -> Result<()> {
    // A Value always serializes.
    let mut text = serde_json::to_string_pretty(value).expect("JSON value serializes");
    text.push('\n');
    write_stdout(&text)
}

/// Writes to stdout; a closed pipe (`bamfctl users ls | head -1`) is not an error.
pub fn write_stdout(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// `key: value` lines with the values aligned (for `get`).
pub fn render_fields(fields: &[(&str, String)]) -> String {
    let key_width = fields
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in fields {
        let v = if v.is_empty() { EMPTY } else { v.as_str() };
        let pad = key_width - k.chars().count() + GAP;
        out.push_str(k);
        out.push(':');
        out.extend(std::iter::repeat_n(' ', pad));
        out.push_str(v);
        out.push('\n');
    }
    out
}

/// `env=prod,team=db`, keys sorted.
pub fn labels_cell(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `2026-05-01T20:00:00Z (in 11h 59m)`, or `(expired)`; a value that is not
/// RFC 3339 is shown as it is.
pub fn until(expires_at: &str, now: OffsetDateTime) -> String {
    let Ok(at) = OffsetDateTime::parse(expires_at, &Rfc3339) else {
        return expires_at.to_string();
    };
    let left = at - now;
    if left <= time::Duration::ZERO {
        return format!("{expires_at} (expired)");
    }
    let mins = left.whole_minutes();
    let (d, h, m) = (mins / (24 * 60), mins / 60 % 24, mins % 60);
    let span = match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    };
    format!("{expires_at} (in {span})")
}

pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell_and_the_last_is_not_padded() {
        let mut t = Table::new(["ID", "EMAIL", "ROLES"]);
        t.row(["u1".into(), "ada@example.com".into(), "admin".into()]);
        t.row(["user-22".into(), "b@x".into(), String::new()]);
        assert_eq!(
            t.render(),
            "ID       EMAIL            ROLES\n\
             u1       ada@example.com  admin\n\
             user-22  b@x              -\n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header_and_widths_count_characters() {
        assert_eq!(Table::new(["NAME", "TYPE"]).render(), "NAME  TYPE\n");
        let mut t = Table::new(["N", "X"]);
        t.row(["café".into(), "1".into()]);
        t.row(["a\tb".into()]);
        assert_eq!(t.render(), "N     X\ncafé  1\na b   -\n");
    }

    #[test]
    fn fields_align_their_keys() {
        assert_eq!(
            render_fields(&[("E-mail", "ada@x".into()), ("Roles", String::new())]),
            "E-mail:  ada@x\nRoles:   -\n"
        );
    }

    #[test]
    fn expiry_shows_the_time_left() {
        let now = time::macros::datetime!(2026-05-01 08:00 UTC);
        assert_eq!(
            until("2026-05-01T20:01:00Z", now),
            "2026-05-01T20:01:00Z (in 12h 1m)"
        );
        assert_eq!(
            until("2026-05-01T08:00:59Z", now),
            "2026-05-01T08:00:59Z (in 0m)"
        );
        assert_eq!(
            until("2026-05-03T09:00:00Z", now),
            "2026-05-03T09:00:00Z (in 2d 1h)"
        );
        assert_eq!(
            until("2026-05-01T07:00:00Z", now),
            "2026-05-01T07:00:00Z (expired)"
        );
        assert_eq!(until("soon", now), "soon");
    }

    #[test]
    fn labels_print_sorted() {
        let l = BTreeMap::from([
            ("team".to_string(), "db".to_string()),
            ("env".into(), "prod".into()),
        ]);
        assert_eq!(labels_cell(&l), "env=prod,team=db");
    }
}
