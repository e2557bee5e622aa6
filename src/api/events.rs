//! The staff event stream and presence.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::ApiAuth;
use crate::auth::live::Holder;
use crate::calls::board;
use crate::error::{AppError, AppResult};
use crate::events::Item;

/// The `Last-Event-ID` a reconnecting EventSource sends (absent or unreadable: none).
pub fn last_event_id(headers: &HeaderMap) -> Option<i64> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

/// `GET /api/v1/events`: every event as SSE, one JSON object each
/// (`{"id","kind","call_id","at","data"}`), with the event id as the SSE id. A client
/// that reconnects with `Last-Event-ID` first receives what it missed.
pub async fn events_get(State(state): State<AppState>, auth: ApiAuth, headers: HeaderMap) -> AppResult<Response> {
    if auth.principal.must_change_password {
        return Err(AppError::PasswordChangeRequired);
    }
    board::touch(&state, &auth.principal).await?;
    staff_stream(&state, last_event_id(&headers), auth.holder()).await
}

/// Every event after `after` (or from now), one JSON object each with its id as the
/// SSE id: the staff stream, for the API and for pages. It ends when `holder` no
/// longer grants access (see [`crate::auth::live`]).
pub async fn staff_stream(state: &AppState, after: Option<i64>, holder: Holder) -> AppResult<Response> {
    let feed = state.bus_handle().feed(after, None).await?;
    let revoked = crate::auth::live::revoked(state.db().clone(), holder, state.config().stream_recheck);
    let feed = feed.take_until(Box::pin(revoked));
    let stream = feed.filter_map(|item| async move {
        match item {
            Item::Event(e) => Some(Ok::<_, Infallible>(
                SseEvent::default().id(e.id.to_string()).data(serde_json::to_string(&*e).ok()?),
            )),
            Item::Typing(_) => None,
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
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

/// `GET /api/v1/board`: the board's data (what the dashboard page shows).
pub async fn board_get(State(state): State<AppState>, _auth: ApiAuth) -> AppResult<Json<board::Board>> {
    Ok(Json(board::load(state.db()).await?))
}
