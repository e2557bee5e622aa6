//! Moving a signed-in session's idle expiry with activity.
//!
//! `tower-sessions` writes a session only when its data changes, so an inactivity
//! expiry set at sign-in never moved: active staff were signed out when the idle time
//! had passed since sign-in. This middleware marks a signed-in session as touched
//! once less than half of the idle time remains, so the session layer saves it (new
//! `expires_at`, new cookie `Max-Age`): at most one write per half idle period, not
//! one per request. The absolute lifetime (`CENTRALITA_SESSION_MAX_HOURS`) is checked
//! from the sign-in time and is not moved.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tower_sessions::Session;

use crate::app::AppState;
use crate::auth::extract::session_keys;
use crate::db::Timestamp;

/// Session key: Unix seconds of the last time the idle expiry was moved.
pub const SEEN_AT: &str = "seen_at";

/// Middleware (inside the session layer) refreshing signed-in sessions.
pub async fn refresh(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    // Assets, the API (tokens, not sessions) and probes never touch the session.
    let skip = path.starts_with("/static/") || path.starts_with("/api/") || path == "/health" || path == "/metrics";
    let session = if skip { None } else { request.extensions().get::<Session>().cloned() };
    let response = next.run(request).await;
    if let Some(session) = session
        && session.id().is_some()
        && let Err(err) = touch(&state, &session).await
    {
        tracing::warn!(error = %err, "session idle expiry not moved");
    }
    response
}

async fn touch(state: &AppState, session: &Session) -> Result<(), tower_sessions::session::Error> {
    if session.get::<i64>(session_keys::USER_ID).await?.is_none() {
        return Ok(());
    }
    let auth_at = session.get::<i64>(session_keys::AUTH_AT).await?.unwrap_or(0);
    let now = Timestamp::now().unix_seconds();
    // Past its absolute lifetime the sign-in is over: let the row expire.
    if now - auth_at > state.config().session_max.as_secs() as i64 {
        return Ok(());
    }
    let seen = session.get::<i64>(SEEN_AT).await?.unwrap_or(auth_at);
    let half = (state.config().session_idle.as_secs() / 2) as i64;
    if now - seen >= half {
        session.insert(SEEN_AT, now).await?;
    }
    Ok(())
}
