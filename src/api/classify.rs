//! `POST /api/v1/classify`: the routing agent's answer for a text, for any staff role.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::ApiJson;
use crate::agents::Classification;
use crate::app::AppState;
use crate::auth::extract::ApiAuth;
use crate::error::{AppError, AppResult, ErrorBody, FieldErrors};

/// Longest text accepted (characters): a long email pasted whole, not a document.
pub const MAX_TEXT: usize = 4000;

/// Body of the request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    /// The text (1–4000 characters).
    text: String,
}

/// Classifies `text` with the routing agent (the configured model, falling back to the
/// built-in engine).
#[utoipa::path(
    post, path = "/api/v1/classify", tag = "calls", summary = "The routing agent's classification of a text (any staff role)",
    request_body = ClassifyRequest,
    responses(
        (status = 200, description = "Department, category, sentiment, priority, language, confidence", body = Classification),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "Empty or too long text (`fields`)", body = ErrorBody),
    )
)]
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
