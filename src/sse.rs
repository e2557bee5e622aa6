//! Server-sent event streams shared by the pages and the API: the staff stream and the
//! `Last-Event-ID` a reconnecting browser sends.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::auth::live::Holder;
use crate::context::Ctx;
use crate::error::AppResult;
use crate::events::Item;

/// How often an idle stream sends a comment, so proxies keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The `Last-Event-ID` a reconnecting EventSource sends (absent or unreadable: none).
pub fn last_event_id(headers: &HeaderMap) -> Option<i64> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

/// Every event after `after` (or from now), one JSON object each with its id as the
/// SSE id: the staff stream, for the API and for pages. It ends when `holder` no
/// longer grants access (see [`crate::auth::live`]).
pub async fn staff_stream(ctx: &Ctx, after: Option<i64>, holder: Holder) -> AppResult<Response> {
    let feed = ctx.bus_handle().feed(after, None).await?;
    let revoked = crate::auth::live::revoked(ctx.db().clone(), holder, ctx.config().stream_recheck);
    let feed = feed.take_until(Box::pin(revoked));
    let stream = feed.filter_map(|item| async move {
        match item {
            Item::Event(e) => Some(Ok::<_, Infallible>(
                SseEvent::default().id(e.id.to_string()).data(serde_json::to_string(&*e).ok()?),
            )),
            Item::Typing(_) => None,
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response())
}
