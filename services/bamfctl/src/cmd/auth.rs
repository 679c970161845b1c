//! `login`, `logout` and `status`: the saved login's life cycle.

use anyhow::{Context, Result};
use clap::Args;
use reqwest::Method;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::client::{is_cleartext_remote, parse_api_url, ApiClient};
use crate::context::{expired, Ctx};
use crate::credentials::Credentials;
use crate::output::{print_json, render_fields, until, write_stdout, JsonFlag};
use crate::password;
use crate::types::{parse, LoginAnswer, WhoAmI};

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Your e-mail address (asked for on the terminal when not given).
    #[arg(long)]
    pub email: Option<String>,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long, requires = "email")]
    pub password_stdin: bool,
    /// How long the login lasts, like 30m or 12h [default: the server's login_ttl].
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub out: JsonFlag,
}

pub async fn login(ctx: &Ctx, args: LoginArgs) -> Result<()> {
    let email = match args.email {
        Some(e) => e,
        None => password::prompt_line("E-mail: ", "--email")?,
    };
    let password = password::obtain(args.password_stdin, "Password: ")?;
    if is_cleartext_remote(&parse_api_url(&ctx.api_url)?) {
        eprintln!(
            "warning: {} is plain http: the password and the token cross the network unencrypted",
            ctx.api_url
        );
    }
    let mut body = json!({ "email": email, "password": password });
    if let Some(ttl) = args.ttl {
        body["ttl"] = Value::String(ttl);
    }
    let answer = ctx
        .anonymous_client()?
        .post(&["auth", "local", "login"], &body)
        .await
        .with_context(|| format!("cannot log in as {email}"))?;
    let answer: LoginAnswer = parse(&answer, "login answer")?;
    let creds = Credentials {
        api_url: ctx.api_url.clone(),
        token: answer.token,
        email: answer.user.email,
        expires_at: answer.expires_at,
    };
    ctx.store.save(&creds)?;
    write_stdout(&format!(
        "Logged in as {} until {}.\n",
        creds.email, creds.expires_at
    ))
}

pub async fn logout(ctx: &Ctx) -> Result<()> {
    let Some(creds) = &ctx.creds else {
        return write_stdout("Not logged in.\n");
    };
    // The token is only ever sent to the API that issued it, whatever --api-url says.
    let note = if expired(&creds.expires_at, OffsetDateTime::now_utc()) {
        " (the login had already expired)"
    } else {
        let client = ApiClient::new(&creds.api_url, Some(creds.token.clone()))?;
        match client
            .send(Method::POST, &["auth", "logout"], &[], None)
            .await
        {
            Ok(_) => "",
            // Already revoked or expired on the server: nothing left to end there.
            Err(e) if e.api().is_some_and(|a| a.is_unauthenticated()) => {
                " (the server had already ended the login)"
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot log out of {}; the credentials file is kept so you can retry",
                    creds.api_url
                )))
            }
        }
    };
    ctx.store.remove()?;
    write_stdout(&format!("Logged out {}{note}.\n", creds.email))
}

pub async fn status(ctx: &Ctx, args: StatusArgs) -> Result<()> {
    let answer = ctx
        .client()?
        .get(&["auth", "whoami"])
        .await
        .context("cannot check the login")?;
    if args.out.json {
        return print_json(&answer);
    }
    let who: WhoAmI = parse(&answer, "whoami answer")?;
    let expires = who
        .expires_at
        .or_else(|| ctx.creds.as_ref().map(|c| c.expires_at.clone()))
        .unwrap_or_default();
    write_stdout(&render_fields(&[
        ("API URL", ctx.api_url.clone()),
        ("E-mail", who.user.email),
        ("Name", who.user.display_name.unwrap_or_default()),
        ("Roles", who.user.roles.join(", ")),
        ("Expires", until(&expires, OffsetDateTime::now_utc())),
        ("Login id", who.login_id.unwrap_or_default()),
    ]))
}
