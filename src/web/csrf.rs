//! CSRF protection for every state-changing request.
//!
//! Three checks, in order (OWASP CSRF cheat sheet):
//! 1. Fetch metadata and origin: a `Sec-Fetch-Site` of `cross-site`/`same-site`, or an
//!    `Origin` whose host differs from `Host`, is refused outright.
//! 2. API requests with an `Authorization` header carry no ambient credential and pass.
//! 3. Other API requests must be JSON (a cross-site form cannot send that without a
//!    CORS preflight, which is never granted); browser form posts and htmx requests
//!    must carry the CSRF token (`csrf_token` field or `X-CSRF-Token` header).
//!
//! Signed-in users get a synchronizer token kept in their session. Anonymous visitors
//! (the login form, the public call pages) get a signed double-submit token instead,
//! so that merely looking at a page stores nothing: a random nonce in the
//! `centralita_csrf` cookie, and as the token the HMAC of that nonce under a server
//! key (OWASP CSRF cheat sheet, "Signed Double-Submit Cookie"). A forged cookie
//! without the key yields no valid token.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use tower_sessions::Session;

use crate::app::AppState;
use crate::auth::extract::{CookieScope, cookie, session_keys, set_cookie};
use crate::error::AppError;

const SESSION_KEY: &str = "csrf";
/// Cookie holding an anonymous visitor's nonce.
pub const COOKIE: &str = "centralita_csrf";
/// The same behind HTTPS: the `__Host-` prefix makes browsers refuse it from a sibling
/// subdomain or a plain-HTTP page, so nobody can plant a nonce of their choosing.
pub const SECURE_COOKIE: &str = "__Host-centralita_csrf";
/// Request header through which the guard hands an anonymous visitor's token to the
/// page being drawn (any such header a client sends is removed first).
const ANON_HEADER: &str = "x-centralita-anon-csrf";
/// Form field name of the token.
pub const FIELD: &str = "csrf_token";
/// Header name of the token (htmx sends it via `hx-headers`).
pub const HEADER: &str = "x-csrf-token";

/// The CSRF token for a page: the session's token for a signed-in user (created on
/// first use), else the anonymous visitor's signed double-submit token, which the
/// guard put in the request headers.
pub async fn token(session: &Session, headers: &HeaderMap) -> Result<String, AppError> {
    if let Some(t) = session.get::<String>(SESSION_KEY).await? {
        return Ok(t);
    }
    if session.get::<i64>(session_keys::USER_ID).await?.is_none()
        && let Some(t) = headers.get(ANON_HEADER).and_then(|v| v.to_str().ok())
    {
        return Ok(t.to_owned());
    }
    let t = random_token();
    session.insert(SESSION_KEY, &t).await?;
    Ok(t)
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The anonymous token for `nonce`: HMAC-SHA256 under the server's key.
fn signed(key: &[u8], nonce: &str) -> String {
    use hmac::Mac;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(b"centralita-csrf:");
    mac.update(nonce.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn cookie_name(state: &AppState) -> &'static str {
    if state.config().secure_cookies { SECURE_COOKIE } else { COOKIE }
}

/// A nonce as we issue them (43 URL-safe characters); anything else is ignored.
fn nonce_of<'a>(state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    cookie(headers, cookie_name(state))
        .filter(|n| n.len() == 43 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cross_origin(headers: &HeaderMap, https_only: bool) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some("cross-site" | "same-site")) {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let Some((scheme, origin_host)) = origin.to_str().ok().and_then(|o| o.split_once("://")) else {
        return true;
    };
    // Behind HTTPS (secure cookies on) a page served over plain HTTP is another
    // origin, even on the same host: it may have been injected on the way.
    let scheme_ok = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => !https_only,
        _ => false,
    };
    match host {
        Some(h) => !scheme_ok || !origin_host.trim_end_matches('/').eq_ignore_ascii_case(h),
        None => true,
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

/// Middleware enforcing the checks above; on reads, it hands an anonymous visitor's
/// token to the page and issues the nonce cookie when there is none yet.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    request.headers_mut().remove(ANON_HEADER);
    let path = request.uri().path();
    if path.starts_with("/api/") || path.starts_with("/static/") {
        return guard_checked(&state, request, next).await;
    }
    let (nonce, fresh) = match nonce_of(&state, request.headers()) {
        Some(n) => (n.to_owned(), false),
        None => (random_token(), true),
    };
    if let Ok(v) = HeaderValue::from_str(&signed(state.csrf_key(), &nonce)) {
        request.headers_mut().insert(ANON_HEADER, v);
    }
    let mut response = guard_checked(&state, request, next).await;
    // Only a page that may carry a form sets the nonce: a favicon's 404 or an event
    // stream answered meanwhile must not replace the nonce the page's token signs.
    let page = response.status().is_success()
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
    if fresh && page {
        let scope = CookieScope { path: "/", max_age: None, same_site: "Lax", secure: state.config().secure_cookies };
        set_cookie(response.headers_mut(), cookie_name(&state), &nonce, scope);
    }
    response
}

async fn guard_checked(state: &AppState, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let headers = request.headers();
    if cross_origin(headers, state.config().secure_cookies) {
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
        // No session token: an anonymous visitor, whose token signs their nonce. (A
        // signed-in session gets its own token at sign-in and never falls back.)
        Ok(None) => match (session.get::<i64>(session_keys::USER_ID).await, nonce_of(state, headers)) {
            (Ok(None), Some(nonce)) => signed(state.csrf_key(), nonce),
            (Err(err), _) => return AppError::from(err).into_response(),
            _ => return AppError::Csrf.into_response(),
        },
        Err(err) => return AppError::from(err).into_response(),
    };
    let header_token = headers.get(HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (request, presented) = match header_token {
        Some(t) => (request, Some(t)),
        None if is_form(request.headers()) => {
            let (parts, body) = request.into_parts();
            let limit = state.config().max_body_bytes;
            let bytes = match to_bytes(body, limit).await {
                Ok(bytes) => bytes,
                Err(err) if crate::error::is_body_timeout(&err) => return AppError::RequestTimeout.into_response(),
                Err(_) => return AppError::PayloadTooLarge.into_response(),
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
