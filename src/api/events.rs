//! The staff event stream and presence.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::ApiAuth;
use crate::calls::board;
use crate::error::{AppError, AppResult, ErrorBody};

/// `GET /api/v1/events`: every event as SSE, one JSON object each
/// (`{"id","kind","call_id","at","data"}`), with the event id as the SSE id. A client
/// that reconnects with `Last-Event-ID` first receives what it missed.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "live",
    summary = "Server-sent events: every change to a call, approvals and presence (any staff role)",
    description = "One JSON object per event, `{\"id\",\"kind\",\"call_id\",\"at\",\"data\"}`, with the event id as \
        the SSE `id`. Kinds: `call_created`, `call_updated`, `message`, `escalated`, `taken_over`, `handed_back`, \
        `closed`, `action_pending`, `action_decided`, `presence`. Reconnect with `Last-Event-ID` to receive what \
        was missed first. The stream ends when the token expires or the account is disabled.",
    params(("Last-Event-ID" = Option<i64>, Header, description = "The last event id received")),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A temporary password not yet changed", body = ErrorBody),
    )
)]
pub async fn events_get(State(state): State<AppState>, auth: ApiAuth, headers: HeaderMap) -> AppResult<Response> {
    if auth.principal.must_change_password {
        return Err(AppError::PasswordChangeRequired);
    }
    board::touch(&state, &auth.principal).await?;
    crate::sse::staff_stream(&state, crate::sse::last_event_id(&headers), auth.holder()).await
}

/// `POST /api/v1/presence` body and answer.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    /// online, away or busy.
    #[schema(pattern = "^(online|away|busy)$")]
    status: String,
}

/// `POST /api/v1/presence`: `{"status": "online"|"away"|"busy"}`.
#[utoipa::path(
    post, path = "/api/v1/presence", tag = "live", summary = "Set one's availability on the board (any staff role)",
    request_body = PresenceBody,
    responses(
        (status = 200, description = "The status now shown", body = PresenceBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "Unknown status (`fields`)", body = ErrorBody),
    )
)]
pub async fn presence_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiJson(body): ApiJson<PresenceBody>,
) -> AppResult<Json<PresenceBody>> {
    board::set_presence(&state, &auth.principal, &body.status).await?;
    Ok(Json(PresenceBody { status: body.status.trim().to_owned() }))
}

/// `GET /api/v1/board`: the board's data (what the dashboard page shows), the caller's
/// department's waiting calls first.
#[utoipa::path(
    get, path = "/api/v1/board", tag = "live", summary = "The live board's data (any staff role)",
    responses(
        (status = 200, description = "Escalations, active calls, queues, staff, KPIs and today's charts", body = board::Board),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn board_get(State(state): State<AppState>, auth: ApiAuth) -> AppResult<Json<board::Board>> {
    let department = auth.user.department.as_deref().and_then(crate::agents::Department::parse);
    Ok(Json(board::load(&state, department).await?))
}
