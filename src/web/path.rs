//! Path parameters for browser routes.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// `Path<T>` for pages: a path that does not parse (`/calls/abc`, `/users/1x`) names
/// nothing that exists, so it is the app's 404 page, in the user's language, rather
/// than axum's plain-text 400. (The API keeps its JSON 400, see `web::errors`.)
#[derive(Debug)]
pub struct WebPath<T>(pub T);

impl<T, S> FromRequestParts<S> for WebPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(_) => Err(AppError::NotFound),
        }
    }
}
