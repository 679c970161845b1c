//! Query-string and path extractors whose rejections are our JSON errors
//! (axum's own answer in plain text).

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A query string of type `T` (400 `invalid_request` when it does not parse).
pub struct QueryArgs<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| QueryArgs(q))
            .map_err(|e| ApiError::invalid_request(e.body_text()))
    }
}

/// A path parameter of type `T` (400 `invalid_request` when it does not parse).
pub struct PathArg<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathArg<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| PathArg(p))
            .map_err(|e| ApiError::invalid_request(e.body_text()))
    }
}
