//! `users ls|get|create|update|disable|rm`: local user accounts.

use anyhow::{Context, Result};
use clap::{ArgGroup, Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::{fetch_list, show_list};
use crate::context::Ctx;
use crate::output::{print_json, render_fields, write_stdout, yes_no, JsonFlag, Table};
use crate::password;
use crate::types::{parse, User};

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// List users.
    #[command(
        after_help = "Examples:\n  bamfctl users ls\n  bamfctl users ls --json | jq -r '.[].email'"
    )]
    Ls {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one user, by id or e-mail.
    #[command(after_help = "Example:\n  bamfctl users get ada@example.com")]
    Get {
        /// User id or e-mail address.
        user: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Create a local user; with --generate-password the password is printed once.
    #[command(after_help = "Examples:\n  \
        bamfctl users create bob@example.com --name 'Bob Lee' --role dev --generate-password\n  \
        printf '%s\\n' \"$PASSWORD\" | bamfctl users create ci@example.com --password-stdin")]
    Create(CreateArgs),
    /// Change a user's e-mail, display name or password.
    #[command(after_help = "Example:\n  bamfctl users update bob@example.com --name 'Robert Lee'")]
    Update(UpdateArgs),
    /// Disable a user; their logins end at once.
    #[command(
        after_help = "Example:\n  bamfctl users disable bob@example.com --reason 'left the company'"
    )]
    Disable {
        /// User id or e-mail address.
        user: String,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Delete a user.
    #[command(after_help = "Example:\n  bamfctl users rm bob@example.com")]
    Rm {
        /// User id or e-mail address.
        user: String,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// E-mail address of the new user.
    pub email: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// A role to bind to the user (repeat for several).
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// Read the password from the first line of stdin.
    #[arg(long, conflicts_with = "generate_password")]
    pub password_stdin: bool,
    /// Make a random password and print it once (with --json, as the field "password").
    #[arg(long)]
    pub generate_password: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)))]
pub struct UpdateArgs {
    /// User id or e-mail address.
    pub user: String,
    /// New e-mail address.
    #[arg(long, group = "change")]
    pub email: Option<String>,
    /// New display name.
    #[arg(long, group = "change")]
    pub name: Option<String>,
    /// Read a new password from the first line of stdin.
    #[arg(long, group = "change")]
    pub password_stdin: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

pub async fn run(ctx: &Ctx, cmd: UsersCommand) -> Result<()> {
    let client = ctx.client()?;
    match cmd {
        UsersCommand::Ls { out } => {
            let items = fetch_list(&client, &["users"], "users").await?;
            show_list(items, out.json, "user", |users: Vec<User>| {
                let mut t = Table::new(["ID", "EMAIL", "NAME", "ROLES", "DISABLED"]);
                for u in users {
                    t.row([
                        u.id,
                        u.email,
                        u.display_name.unwrap_or_default(),
                        u.roles.join(","),
                        yes_no(u.disabled),
                    ]);
                }
                t.print()
            })
        }
        UsersCommand::Get { user, out } => {
            let answer = client
                .get(&["users", &user])
                .await
                .with_context(|| format!("cannot get user {user}"))?;
            show_user(&answer, out)
        }
        UsersCommand::Create(args) => create(&client, args).await,
        UsersCommand::Update(args) => {
            let mut body = Map::new();
            if let Some(email) = args.email {
                body.insert("email".into(), email.into());
            }
            if let Some(name) = args.name {
                body.insert("display_name".into(), name.into());
            }
            if args.password_stdin {
                body.insert("password".into(), password::obtain(true, "")?.into());
            }
            let answer = client
                .send(
                    Method::PATCH,
                    &["users", &args.user],
                    &[],
                    Some(&Value::Object(body)),
                )
                .await
                .with_context(|| format!("cannot update user {}", args.user))?;
            if args.out.json {
                return print_json(&answer);
            }
            let u: User = parse(&answer, "user")?;
            write_stdout(&format!("Updated user {} ({}).\n", u.email, u.id))
        }
        UsersCommand::Disable { user, reason, out } => {
            let body = match reason {
                Some(r) => json!({ "reason": r }),
                None => json!({}),
            };
            let answer = client
                .post(&["users", &user, "disable"], &body)
                .await
                .with_context(|| format!("cannot disable user {user}"))?;
            if out.json {
                return print_json(&answer);
            }
            let u: User = parse(&answer, "user")?;
            write_stdout(&format!(
                "Disabled user {}; their logins have ended.\n",
                u.email
            ))
        }
        UsersCommand::Rm { user } => {
            client
                .delete(&["users", &user], &[])
                .await
                .with_context(|| format!("cannot delete user {user}"))?;
            write_stdout(&format!("Deleted user {user}.\n"))
        }
    }
}

async fn create(client: &crate::client::ApiClient, args: CreateArgs) -> Result<()> {
    let password = if args.generate_password {
        Some(password::generate())
    } else if args.password_stdin {
        Some(password::obtain(true, "")?)
    } else {
        None
    };
    let mut body = json!({ "email": args.email });
    if let Some(name) = args.name {
        body["display_name"] = name.into();
    }
    if let Some(p) = &password {
        body["password"] = p.clone().into();
    }
    if !args.roles.is_empty() {
        body["roles"] = args.roles.into();
    }
    let mut answer = client
        .post(&["users"], &body)
        .await
        .with_context(|| format!("cannot create user {}", args.email))?;
    let generated = password.filter(|_| args.generate_password);
    if args.out.json {
        if let (Some(p), Some(obj)) = (generated, answer.as_object_mut()) {
            obj.insert("password".into(), p.into());
        }
        return print_json(&answer);
    }
    let u: User = parse(&answer, "user")?;
    let mut text = format!("Created user {} ({}).\n", u.email, u.id);
    if let Some(p) = generated {
        text.push_str(&format!(
            "Password (shown only now; it cannot be retrieved later):\n\n  {p}\n"
        ));
    }
    write_stdout(&text)
}

fn show_user(answer: &Value, out: JsonFlag) -> Result<()> {
    if out.json {
        return print_json(answer);
    }
    let u: User = parse(answer, "user")?;
    let mut fields = vec![
        ("Id", u.id),
        ("E-mail", u.email),
        ("Name", u.display_name.unwrap_or_default()),
        ("Roles", u.roles.join(", ")),
        ("Disabled", yes_no(u.disabled)),
    ];
    // Optional in the contract, and not sent by every server: no line
    // rather than a "-" that reads like an unknown date.
    if let Some(created) = u.created_at {
        fields.push(("Created", created));
    }
    write_stdout(&render_fields(&fields))
}
