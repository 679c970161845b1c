//! `/roles` and `/role-bindings`. Roles are documents (YAML in `bamfctl`,
//! JSON here); built-in roles are listed but can't be changed. Bindings are
//! keyed by (provider, e-mail, role).

use axum::http::StatusCode;
use axum::Json;
use bamf_domain::control::bindings::{
    BindingCommand, BindingDecider, BindingRejection, LOCAL_PROVIDER,
};
use bamf_domain::control::rbac::AdminAccess;
use bamf_domain::control::role_doc::{RoleDocument, RuleDocument};
use bamf_domain::control::roles::{
    RoleCommand, RoleDecider, RoleRejection, ADMIN, AUDIT, EVERYONE,
};
use bamf_domain::control::{ControlView, Decider};

use crate::app::Api;
use crate::dto;
use crate::error::ApiError;
use crate::http::{Caller, JsonBody, PathArg, QueryArgs, RequestContext};

fn rejected(r: RoleRejection) -> ApiError {
    match r {
        RoleRejection::Invalid(_) => ApiError::invalid_argument(r.to_string()),
        RoleRejection::BuiltIn(_) | RoleRejection::RoleExists(_) => {
            ApiError::conflict(r.to_string())
        }
        RoleRejection::NoSuchRole(_) => ApiError::not_found(r.to_string()),
    }
}

fn binding_rejected(r: BindingRejection) -> ApiError {
    match r {
        BindingRejection::AlreadyBound { .. } => ApiError::conflict(r.to_string()),
        BindingRejection::NotBound { .. } => ApiError::not_found(r.to_string()),
        _ => ApiError::invalid_argument(r.to_string()),
    }
}

const BUILT_IN: &[(&str, &str)] = &[
    (
        ADMIN,
        "full access: every resource and every administrative action",
    ),
    (
        AUDIT,
        "read-only: sees every resource, user and record; connects to nothing",
    ),
    (
        EVERYONE,
        "held by every user; grants nothing unless defined as a custom role",
    ),
];

fn role_body(view: &ControlView, name: &str) -> Option<dto::Role> {
    if let Some(def) = view.assignments.roles.defs.get(name) {
        let doc = RoleDocument::from_rules(name, &def.description, &def.allow, &def.deny);
        return Some(dto::Role {
            name: doc.name,
            description: doc.description,
            built_in: name == EVERYONE,
            allow: doc.allow,
            deny: doc.deny,
        });
    }
    BUILT_IN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, d)| dto::Role {
            name: n.to_string(),
            description: d.to_string(),
            built_in: true,
            // admin reads as what it is: every resource, by any name.
            allow: RuleDocument {
                names: if *n == ADMIN {
                    vec!["*".to_string()]
                } else {
                    vec![]
                },
                ..RuleDocument::default()
            },
            deny: RuleDocument::default(),
        })
}

/// `GET /roles`.
pub async fn list(Api(app): Api, _caller: Caller) -> Json<dto::Roles> {
    let roles = app.control.read(|view| {
        let mut names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        names.extend(view.assignments.roles.defs.keys().map(String::as_str));
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter_map(|n| role_body(view, n))
            .collect()
    });
    Json(dto::Roles { roles })
}

/// `GET /roles/{name}`.
pub async fn get(
    Api(app): Api,
    _caller: Caller,
    PathArg(name): PathArg<String>,
) -> Result<Json<dto::Role>, ApiError> {
    app.control
        .read(|view| role_body(view, &name))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no such role {name:?}")))
}

/// `POST /roles`.
pub async fn create(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    JsonBody(doc): JsonBody<RoleDocument>,
) -> Result<(StatusCode, Json<dto::Role>), ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Write, "roles.create", &doc.name)
        .await?;
    let name = doc.name.clone();
    let command = RoleCommand::Create(doc);
    app.execute(&ctx, &caller.actor(), |view| {
        RoleDecider::decide(&view.assignments.roles, &command)
    })
    .await?
    .map_err(rejected)?;
    let body = app.control.read(|view| role_body(view, &name));
    body.map(|b| (StatusCode::CREATED, Json(b)))
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("role {name} missing after create")))
}

/// `PUT /roles/{name}`: replaces the whole definition.
pub async fn update(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    PathArg(name): PathArg<String>,
    JsonBody(doc): JsonBody<RoleDocument>,
) -> Result<Json<dto::Role>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Write, "roles.update", &name)
        .await?;
    if doc.name != name {
        return Err(ApiError::invalid_argument(format!(
            "the document names role {:?} but the path names {name:?}",
            doc.name
        )));
    }
    let command = RoleCommand::Update(doc);
    app.execute(&ctx, &caller.actor(), |view| {
        RoleDecider::decide(&view.assignments.roles, &command)
    })
    .await?
    .map_err(rejected)?;
    app.control
        .read(|view| role_body(view, &name))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no such role {name:?}")))
}

/// `DELETE /roles/{name}`.
pub async fn delete(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> Result<StatusCode, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Write, "roles.delete", &name)
        .await?;
    let command = RoleCommand::Delete { name };
    app.execute(&ctx, &caller.actor(), |view| {
        RoleDecider::decide(&view.assignments.roles, &command)
    })
    .await?
    .map_err(rejected)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /role-bindings`.
pub async fn bindings(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
) -> Result<Json<dto::Bindings>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Read, "role_bindings.list", "")
        .await?;
    let bindings = app.control.read(|view| {
        view.assignments
            .bound
            .iter()
            .flat_map(|((provider, email), roles)| {
                roles.iter().map(move |role| dto::Binding {
                    provider: provider.clone(),
                    email: email.clone(),
                    role: role.clone(),
                })
            })
            .collect()
    });
    Ok(Json(dto::Bindings { bindings }))
}

/// `POST /role-bindings`.
pub async fn bind(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    JsonBody(body): JsonBody<dto::BindingRequest>,
) -> Result<(StatusCode, Json<dto::Binding>), ApiError> {
    caller
        .require(
            &app,
            &ctx,
            AdminAccess::Write,
            "role_bindings.create",
            &body.email,
        )
        .await?;
    let command = BindingCommand::Bind {
        provider: body.provider.unwrap_or_else(|| LOCAL_PROVIDER.to_string()),
        email: body.email,
        role: body.role,
    };
    binding_command(&app, &ctx, &caller, &command)
        .await
        .map(|b| (StatusCode::CREATED, Json(b)))
}

/// `DELETE /role-bindings?provider=&email=&role=`.
pub async fn unbind(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    QueryArgs(query): QueryArgs<dto::BindingQuery>,
) -> Result<StatusCode, ApiError> {
    caller
        .require(
            &app,
            &ctx,
            AdminAccess::Write,
            "role_bindings.delete",
            &query.email,
        )
        .await?;
    let provider = query.provider.unwrap_or_else(|| LOCAL_PROVIDER.to_string());
    let own = provider == caller.provider
        && bamf_domain::control::identity::normalize_email(&query.email).as_deref()
            == Ok(caller.email.as_str());
    if own && query.role == ADMIN {
        // Like disabling oneself: the way every installation loses its last admin.
        return Err(ApiError::conflict(
            "you can't remove your own admin role; ask another admin",
        ));
    }
    let command = BindingCommand::Unbind {
        provider,
        email: query.email,
        role: query.role,
    };
    binding_command(&app, &ctx, &caller, &command).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn binding_command(
    app: &crate::app::App,
    ctx: &RequestContext,
    caller: &Caller,
    command: &BindingCommand,
) -> Result<dto::Binding, ApiError> {
    app.execute(ctx, &caller.actor(), |view| {
        BindingDecider::decide(&view.assignments, command)
    })
    .await?
    .map_err(binding_rejected)?;
    let (BindingCommand::Bind {
        provider,
        email,
        role,
    }
    | BindingCommand::Unbind {
        provider,
        email,
        role,
    }) = command;
    Ok(dto::Binding {
        provider: provider.clone(),
        email: bamf_domain::control::identity::normalize_email(email)
            .unwrap_or_else(|_| email.clone()),
        role: role.clone(),
    })
}
