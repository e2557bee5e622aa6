//! `POST /api/v1/classify`: the routing agent's answer for a text, for any staff role.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::ApiJson;
use crate::agents::Classification;
use crate::app::AppState;
use crate::auth::extract::ApiAuth;
use crate::error::{AppError, AppResult, FieldErrors};

/// Longest text accepted (characters): a long email pasted whole, not a document.
pub const MAX_TEXT: usize = 4000;

/// Body of the request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    text: String,
}

/// Classifies `text` with the routing agent (the configured model, falling back to the
/// built-in engine).
pub async fn classify_post(
    State(state): State<AppState>,
    _auth: ApiAuth,
    ApiJson(body): ApiJson<ClassifyRequest>,
) -> AppResult<Json<Classification>> {
    let n = body.text.trim().chars().count();
    if n == 0 {
        return Err(AppError::Validation(FieldErrors::from([("text", "field.required")])));
    }
    if n > MAX_TEXT {
        return Err(AppError::Validation(FieldErrors::from([("text", "field.text_too_long")])));
    }
    Ok(Json(state.pipeline().classify(&body.text).await.0))
}
