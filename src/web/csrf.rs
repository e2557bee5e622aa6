//! CSRF protection for every state-changing request.
//!
//! Three checks, in order (OWASP CSRF cheat sheet):
//! 1. Fetch metadata and origin: a `Sec-Fetch-Site` of `cross-site`/`same-site`, or an
//!    `Origin` whose host differs from `Host`, is refused outright.
//! 2. API requests with an `Authorization` header carry no ambient credential and pass.
//! 3. Other API requests must be JSON (a cross-site form cannot send that without a
//!    CORS preflight, which is never granted); browser form posts and htmx requests
//!    must carry the session's synchronizer token (`csrf_token` field or
//!    `X-CSRF-Token` header).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use tower_sessions::Session;

use crate::app::AppState;
use crate::error::AppError;

const SESSION_KEY: &str = "csrf";
/// Form field name of the token.
pub const FIELD: &str = "csrf_token";
/// Header name of the token (htmx sends it via `hx-headers`).
pub const HEADER: &str = "x-csrf-token";

/// The session's CSRF token, created on first use.
pub async fn token(session: &Session) -> Result<String, AppError> {
    if let Some(t) = session.get::<String>(SESSION_KEY).await? {
        return Ok(t);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let t = URL_SAFE_NO_PAD.encode(bytes);
    session.insert(SESSION_KEY, &t).await?;
    Ok(t)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cross_origin(headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some("cross-site" | "same-site")) {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host =
        origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        _ => true,
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Middleware enforcing the checks above.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let headers = request.headers();
    if cross_origin(headers) {
        tracing::warn!("cross-origin state-changing request refused");
        return AppError::Csrf.into_response();
    }
    if request.uri().path().starts_with("/api/") {
        // The API authenticates an Authorization header without ever looking at cookies
        // (see `ApiAuth`), so such requests carry no ambient credential.
        if headers.contains_key(header::AUTHORIZATION) || is_json(headers) {
            return next.run(request).await;
        }
        return AppError::UnsupportedMediaType.into_response();
    }

    let Some(session) = request.extensions().get::<Session>().cloned() else {
        return AppError::Csrf.into_response();
    };
    let expected = match session.get::<String>(SESSION_KEY).await {
        Ok(Some(t)) => t,
        Ok(None) => return AppError::Csrf.into_response(),
        Err(err) => return AppError::from(err).into_response(),
    };
    let header_token = headers.get(HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (request, presented) = match header_token {
        Some(t) => (request, Some(t)),
        None if is_form(request.headers()) => {
            let (parts, body) = request.into_parts();
            let limit = state.config().max_body_bytes;
            let Ok(bytes) = to_bytes(body, limit).await else {
                return AppError::PayloadTooLarge.into_response();
            };
            let presented = form_urlencoded_value(&bytes, FIELD);
            (Request::from_parts(parts, Body::from(bytes)), presented)
        }
        None => (request, None),
    };
    match presented {
        Some(p) if constant_time_eq(p.as_bytes(), expected.as_bytes()) => next.run(request).await,
        _ => AppError::Csrf.into_response(),
    }
}

fn form_urlencoded_value(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}
