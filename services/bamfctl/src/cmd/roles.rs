//! `roles ls|get|create|update|rm|bind|unbind|bindings`: role documents and
//! role bindings (who holds which role).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use super::{fetch_list, show_list};
use crate::context::Ctx;
use crate::output::{print_json, write_stdout, yes_no, JsonFlag, Table};
use crate::role_file;
use crate::types::{parse, Binding, Role};

/// The identity provider of local users.
const LOCAL_PROVIDER: &str = "local";

#[derive(Subcommand, Debug)]
pub enum RolesCommand {
    /// List roles, built-in and custom.
    #[command(after_help = "Example:\n  bamfctl roles ls")]
    Ls {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show a role as a role document (YAML) that `roles update -f` takes back.
    #[command(after_help = "Example:\n  bamfctl roles get dba > dba.yaml")]
    Get {
        /// Role name.
        name: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Create a role from a role document (YAML or JSON file, `-` for stdin).
    #[command(after_help = "Example:\n  bamfctl roles create -f dba.yaml\n\n\
        A role document:\n  \
        name: dba\n  \
        description: database admins\n  \
        allow:\n    \
          labels: {env: [dev, staging]}\n    \
          names: [orders-db]\n  \
        deny:\n    \
          labels: {env: prod}")]
    Create(FileArgs),
    /// Replace a role with a role document (the name in the file picks the role).
    #[command(
        after_help = "Example:\n  bamfctl roles get dba > dba.yaml && $EDITOR dba.yaml && bamfctl roles update -f dba.yaml"
    )]
    Update(FileArgs),
    /// Delete a custom role.
    #[command(after_help = "Example:\n  bamfctl roles rm dba")]
    Rm {
        /// Role name.
        name: String,
    },
    /// Give a user a role.
    #[command(after_help = "Example:\n  bamfctl roles bind bob@example.com dba")]
    Bind(BindArgs),
    /// Take a role from a user.
    #[command(after_help = "Example:\n  bamfctl roles unbind bob@example.com dba")]
    Unbind(BindArgs),
    /// List role bindings.
    #[command(after_help = "Example:\n  bamfctl roles bindings --json")]
    Bindings {
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Args, Debug)]
pub struct FileArgs {
    /// The role document: YAML (or JSON), `-` for stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Args, Debug)]
pub struct BindArgs {
    /// The user's e-mail address.
    pub email: String,
    /// Role name.
    pub role: String,
    /// The identity provider the e-mail comes from.
    #[arg(long, default_value = LOCAL_PROVIDER)]
    pub provider: String,
}

/// `roles get` output: a role document, name first.
#[derive(Serialize)]
struct RoleYaml<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    allow: &'a Value,
    deny: &'a Value,
}

pub async fn run(ctx: &Ctx, cmd: RolesCommand) -> Result<()> {
    // Made per command: `create`/`update` check their file before needing a login.
    let client = || ctx.client();
    match cmd {
        RolesCommand::Ls { out } => {
            let items = fetch_list(&client()?, &["roles"], "roles").await?;
            show_list(items, out.json, "role", |roles: Vec<Role>| {
                let mut t = Table::new(["NAME", "BUILT-IN", "DESCRIPTION"]);
                for r in roles {
                    t.row([r.name, yes_no(r.built_in), r.description]);
                }
                t.print()
            })
        }
        RolesCommand::Get { name, out } => {
            let answer = client()?
                .get(&["roles", &name])
                .await
                .with_context(|| format!("cannot get role {name}"))?;
            if out.json {
                return print_json(&answer);
            }
            write_stdout(&role_yaml(&answer)?)
        }
        RolesCommand::Rm { name } => {
            client()?
                .delete(&["roles", &name], &[])
                .await
                .with_context(|| format!("cannot delete role {name}"))?;
            write_stdout(&format!("Deleted role {name}.\n"))
        }
        RolesCommand::Bind(b) => {
            let body = json!({ "provider": b.provider, "email": b.email, "role": b.role });
            let answer = client()?
                .post(&["role-bindings"], &body)
                .await
                .with_context(|| format!("cannot bind role {} to {}", b.role, b.email))?;
            // The server's binding, with the e-mail as it keeps it (normalised).
            let bound: Binding = parse(&answer, "role binding")?;
            write_stdout(&format!(
                "Bound role {} to {} ({}).\n",
                bound.role,
                bound.email,
                bound.provider.unwrap_or(b.provider)
            ))
        }
        RolesCommand::Unbind(b) => {
            let query = [
                ("provider", b.provider.as_str()),
                ("email", b.email.as_str()),
                ("role", b.role.as_str()),
            ];
            client()?
                .delete(&["role-bindings"], &query)
                .await
                .with_context(|| format!("cannot unbind role {} from {}", b.role, b.email))?;
            write_stdout(&format!(
                "Unbound role {} from {} ({}).\n",
                b.role, b.email, b.provider
            ))
        }
        RolesCommand::Create(args) => apply(ctx, args, Apply::Create).await,
        RolesCommand::Update(args) => apply(ctx, args, Apply::Update).await,
        RolesCommand::Bindings { out } => {
            let items = fetch_list(&client()?, &["role-bindings"], "bindings").await?;
            show_list(items, out.json, "role binding", |bindings: Vec<Binding>| {
                let mut t = Table::new(["PROVIDER", "EMAIL", "ROLE"]);
                for b in bindings {
                    t.row([b.provider.unwrap_or_default(), b.email, b.role]);
                }
                t.print()
            })
        }
    }
}

/// Whether `-f` makes a new role or replaces one.
#[derive(Clone, Copy)]
enum Apply {
    Create,
    Update,
}

/// `roles create|update -f FILE`.
async fn apply(ctx: &Ctx, args: FileArgs, mode: Apply) -> Result<()> {
    let doc = role_file::load(&args.file)?;
    let body = serde_json::to_value(&doc).context("cannot encode the role document")?;
    let client = ctx.client()?;
    let (sent, verb, done) = match mode {
        Apply::Create => (client.post(&["roles"], &body).await, "create", "Created"),
        Apply::Update => (
            client
                .send(Method::PUT, &["roles", &doc.name], &[], Some(&body))
                .await,
            "update",
            "Updated",
        ),
    };
    let answer = sent.with_context(|| format!("cannot {verb} role {}", doc.name))?;
    if args.out.json {
        return print_json(&answer);
    }
    write_stdout(&format!("{done} role {}.\n", doc.name))
}

/// A role answer as the YAML role document it came from; built-in roles get
/// a comment, since they cannot be changed.
fn role_yaml(answer: &Value) -> Result<String> {
    let role: Role = parse(answer, "role")?;
    let empty = json!({});
    let doc = RoleYaml {
        name: &role.name,
        description: &role.description,
        allow: answer.get("allow").unwrap_or(&empty),
        deny: answer.get("deny").unwrap_or(&empty),
    };
    let yaml = serde_yaml::to_string(&doc).context("cannot write the role as YAML")?;
    let header = if role.built_in {
        "# built-in role (read-only)\n"
    } else {
        ""
    };
    Ok(format!("{header}{yaml}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_prints_as_a_document_that_parses_back() {
        let answer = json!({
            "name": "dba", "description": "database admins", "built_in": false,
            "allow": {"labels": {"env": ["dev", "staging"]}, "names": ["orders-db"]},
            "deny": {"labels": {"env": "prod"}},
            "created_at": "2026-01-01T00:00:00Z"
        });
        let yaml = role_yaml(&answer).unwrap();
        assert!(yaml.starts_with("name: dba\n"), "{yaml}");
        let doc = role_file::parse(&yaml, "out").unwrap();
        assert_eq!(
            serde_json::to_value(&doc).unwrap()["allow"],
            answer["allow"]
        );
    }

    #[test]
    fn built_in_roles_say_so() {
        let yaml =
            role_yaml(&json!({"name": "admin", "built_in": true, "allow": {"labels": {"*": "*"}}}))
                .unwrap();
        assert!(
            yaml.starts_with("# built-in role (read-only)\nname: admin\n"),
            "{yaml}"
        );
        assert!(role_file::parse(&yaml, "out").is_ok());
    }
}
