//! HTTP plumbing shared by every `/api/v1` handler: the request context
//! (request id, peer address) added by [`context::layer`], the strict JSON
//! body extractor [`body::JsonBody`], and the authenticated [`auth::Caller`].

pub mod auth;
pub mod body;
pub mod context;
pub mod extract;

pub use auth::Caller;
pub use body::JsonBody;
pub use context::RequestContext;
pub use extract::{PathArg, QueryArgs};
