//! First-start work that needs the event log: the internal CA (created with
//! its key at 0600 in `data_dir`, or loaded), and the first admin — created
//! when no user exists, from `admin_email` / `admin_password`, or with a
//! generated password printed once on standard output (never logged).
//!
//! Both are safe when replicas start together: the CA files are created
//! exclusively (the loser loads the winner's), and the admin's creation is an
//! append guarded on the whole `user` kind, so exactly one replica creates it.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use bamf_domain::control::roles::ADMIN;
use bamf_domain::control::users::{UserCommand, UserDecider, UserRejection};
use bamf_domain::control::Decider;
use bamf_domain::Actor;
use bamf_pki::{Ca, CaConfig, PkiError};
use tracing::info;

use crate::app::{new_id, App};
use crate::handlers::users::set_password;
use crate::http::RequestContext;
use crate::secrets;

/// File names of the CA in `data_dir`.
pub const CA_CERT_FILE: &str = "ca.crt";
pub const CA_KEY_FILE: &str = "ca.key";

/// Loads the CA from `data_dir`, creating it on first start.
pub fn load_ca(data_dir: &Path) -> anyhow::Result<Ca> {
    let (cert, key) = (data_dir.join(CA_CERT_FILE), data_dir.join(CA_KEY_FILE));
    match Ca::load_or_init(&cert, &key, &CaConfig::default(), SystemTime::now()) {
        Ok((ca, created)) => {
            if created {
                info!(cert = %cert.display(), "internal CA created");
            }
            Ok(ca)
        }
        // Another replica sharing data_dir created it between our check and ours.
        Err(PkiError::AlreadyExists { .. }) => {
            Ca::load(&cert, &key).context("cannot load the internal CA")
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "cannot load or create the internal CA in {}",
            data_dir.display()
        ))),
    }
}

/// Creates the first admin if there is no user at all.
pub async fn first_admin(app: &App) -> anyhow::Result<()> {
    app.catch_up()
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    if app.control.read(|view| !view.logins.users.by_id.is_empty()) {
        return Ok(());
    }
    let ctx = RequestContext {
        request_id: format!("bootstrap-{}", ulid::Ulid::new().to_string().to_lowercase()),
        ip: None,
    };
    let actor = Actor::system();
    let user_id = new_id();
    let (password, generated) = match app.config.admin_password.as_str() {
        "" => (secrets::new_password(), true),
        given => (given.to_string(), false),
    };
    let command = UserCommand::Create {
        user_id: user_id.clone(),
        email: app.config.admin_email.clone(),
        display_name: "Administrator".to_string(),
        roles: vec![ADMIN.to_string()],
    };
    set_password(app, &ctx, &actor, &user_id, password.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot store the first admin's password: {}", e.message()))?;
    let outcome = app
        .execute(&ctx, &actor, |view| {
            if !view.logins.users.by_id.is_empty() {
                return Ok(vec![]); // another replica won
            }
            UserDecider::decide(&view.logins.users, &command)
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the first admin: {}", e.message()))?;
    match outcome {
        Ok(c) if c.events == 0 => Ok(()),
        Ok(_) => {
            info!(email = %app.config.admin_email, "first admin created");
            if generated {
                // Printed once, to the terminal or container log of the first
                // start, not through the logger (secrets never reach logs).
                println!(
                    "\n  bamf: first admin created\n    e-mail:   {}\n    password: {password}\n  Log in with: bamfctl login --email {}\n  This password is shown only once.\n",
                    app.config.admin_email, app.config.admin_email
                );
            }
            Ok(())
        }
        Err(UserRejection::UserExists { .. }) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("cannot create the first admin: {e}")),
    }
}
