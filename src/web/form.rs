//! The form extractor of the pages: axum's `Form`, refusing a body that holds the NUL
//! character (`%00`) with the error page (422 `invalid_text`). No field accepts NUL
//! and PostgreSQL cannot store it, so it is turned away before any handler looks.
//! The sign-in form keeps axum's own `Form`: every unknown name gets the same answer.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A URL-encoded form body read as `T`.
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if crate::text::url_encoded_nul(&bytes) {
            return Err(AppError::NulCharacter.into_response());
        }
        let req = Request::from_parts(parts, Body::from(bytes));
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(value)| Self(value))
            .map_err(IntoResponse::into_response)
    }
}
