//! The control plane's pure decisions (ARCHITECTURE §2 "decide, then append"):
//! users, logins, roles and RBAC, role bindings, join tokens, agents and the
//! resource catalog. Each aggregate is a [`Decider`]: `decide` over folded
//! state and a command (time, ids and digests are fields of the command),
//! `evolve` to fold events. Nothing here does I/O or reads the clock.
//!
//! Layout: [`decider`] (the trait and the given/when/then harness),
//! [`identity`] (e-mail, display names), [`users`], [`login`], [`throttle`]
//! (failed-login limits), [`labels`] (label/name syntax, globs), [`role_doc`]
//! (the YAML/JSON role document), [`roles`], [`bindings`], [`rbac`]
//! (evaluation, admin permissions), [`join_token`], [`agents`], [`catalog`].

pub mod agents;
pub mod bindings;
pub mod catalog;
pub mod decider;
pub mod heartbeats;
pub mod identity;
pub mod join_token;
pub mod labels;
pub mod login;
pub mod rbac;
pub mod role_doc;
pub mod roles;
pub mod throttle;
pub mod users;
pub mod view;

pub use decider::{given, Decider, Emitted};
pub use view::ControlView;
