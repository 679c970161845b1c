//! `resources`: what the caller may reach, filtered here by type and labels.

use anyhow::Result;
use clap::Args;

use super::{fetch_list, show_list};
use crate::context::Ctx;
use crate::labels::{into_map, matches, parse_label};
use crate::output::{labels_cell, JsonFlag, Table};
use crate::types::{parse, Resource};

#[derive(Args, Debug)]
pub struct ResourcesArgs {
    /// Only resources of this type (ssh, postgres, tcp, …).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Only resources with this label, key=value (repeat: all must match).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    #[command(flatten)]
    pub out: JsonFlag,
}

pub async fn run(ctx: &Ctx, args: ResourcesArgs) -> Result<()> {
    let selector = into_map(args.labels)?;
    let client = ctx.client()?;
    let items = fetch_list(&client, &["resources"], "resources").await?;
    // Filter the JSON items too, so --json and the table agree.
    let mut kept = Vec::new();
    for item in items {
        let r: Resource = parse(&item, "resource")?;
        let type_ok = args.kind.as_ref().is_none_or(|k| &r.kind == k);
        if type_ok && matches(&r.labels, &selector) {
            kept.push(item);
        }
    }
    show_list(
        kept,
        args.out.json,
        "resource",
        |resources: Vec<Resource>| {
            let mut t = Table::new(["NAME", "TYPE", "AGENT", "LABELS"]);
            for r in resources {
                t.row([
                    r.name,
                    r.kind,
                    r.agent_name.or(r.agent_id).unwrap_or_default(),
                    labels_cell(&r.labels),
                ]);
            }
            t.print()
        },
    )
}
