//! The staff event stream and presence.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::ApiAuth;
use crate::calls::board;
use crate::error::{AppError, AppResult};

/// `GET /api/v1/events`: every event as SSE, one JSON object each
/// (`{"id","kind","call_id","at","data"}`), with the event id as the SSE id. A client
/// that reconnects with `Last-Event-ID` first receives what it missed.
pub async fn events_get(State(state): State<AppState>, auth: ApiAuth, headers: HeaderMap) -> AppResult<Response> {
    if auth.principal.must_change_password {
        return Err(AppError::PasswordChangeRequired);
    }
    board::touch(&state, &auth.principal).await?;
    crate::sse::staff_stream(&state, crate::sse::last_event_id(&headers), auth.holder()).await
}

/// `POST /api/v1/presence` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    status: String,
}

/// `POST /api/v1/presence`: `{"status": "online"|"away"|"busy"}`.
pub async fn presence_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiJson(body): ApiJson<PresenceBody>,
) -> AppResult<Json<Value>> {
    board::set_presence(&state, &auth.principal, &body.status).await?;
    Ok(Json(json!({"status": body.status.trim()})))
}

/// `GET /api/v1/board`: the board's data (what the dashboard page shows), the caller's
/// department's waiting calls first.
pub async fn board_get(State(state): State<AppState>, auth: ApiAuth) -> AppResult<Json<board::Board>> {
    let department = auth.user.department.as_deref().and_then(crate::agents::Department::parse);
    Ok(Json(board::load(state.db(), department).await?))
}
