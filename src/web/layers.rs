//! Middleware shared by every route: request ids, tracing, security headers, body
//! limits and timeouts, panic containment, and changes that finish when their client
//! leaves.

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyDeadlineLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::error::AppError;

/// Content Security Policy: no inline script or style, nothing from other origins,
/// no framing. One constant, asserted by the tests.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const HSTS: &str = "max-age=31536000; includeSubDomains";

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn span_for(request: &Request) -> tracing::Span {
    let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
    // The path only: query strings may carry tokens.
    tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
}

fn panic_response(_: Box<dyn std::any::Any + Send>) -> Response {
    tracing::error!("handler panicked");
    let mut response = Response::new(Body::from(r#"{"error":"internal","message":"Internal error."}"#));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A request that may change something (any method but GET, HEAD, OPTIONS and TRACE)
/// runs to its end even when its client goes away first (a closed tab, an aborted
/// request, a proxy that gave up): the server drops an unfinished handler when its
/// connection closes, which could leave a change committed without its audit entry or
/// its event. Reads still stop with their connection.
async fn run_to_completion(request: Request, next: Next) -> Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    let handler = tracing::Instrument::in_current_span(next.run(request));
    match tokio::spawn(handler).await {
        Ok(response) => response,
        // Panics are caught inside (CatchPanicLayer); this is a runtime shutting down.
        Err(_) => panic_response(Box::new(())),
    }
}

async fn security_headers(secure: bool, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    // A handler may set a stricter policy of its own (a rendered email shown in a
    // sandboxed frame of our own pages); everything else gets the app's policy and
    // may not be framed at all.
    if h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    } else {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if secure {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages and API answers are per-user: never store them in shared caches.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Refuses a request whose declared `Content-Length` is over the limit before any of
/// its body is read. hyper sends `100 Continue` only when the body is first read, so a
/// client that asks first (`Expect: 100-continue`) gets 413 instead of an invitation
/// to upload; everyone else is cut off before the upload fills a buffer. Bodies
/// without a declared length are still capped by `DefaultBodyLimit` while reading.
async fn refuse_declared_oversize(limit: u64, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return super::errors::early(request.uri().path(), request.headers(), AppError::PayloadTooLarge).await;
    }
    next.run(request).await
}

/// Refuses a query string holding the NUL character (`%00`) before any route sees it:
/// no parameter accepts it (PostgreSQL cannot even compare text with it), and checking
/// here covers every search box and filter, of the API and of the pages, at once. It
/// runs inside the session layer, so the error page speaks the user's language.
pub async fn refuse_nul_in_query(request: Request, next: Next) -> Response {
    if request.uri().query().is_some_and(|q| crate::text::url_encoded_nul(q.as_bytes())) {
        return AppError::NulCharacter.into_response();
    }
    next.run(request).await
}

/// Wraps the whole router in the common stack (outermost last).
pub fn apply<S: Clone + Send + Sync + 'static>(router: Router<S>, config: &Config) -> Router<S> {
    let secure = config.secure_cookies;
    let limit = config.max_body_bytes as u64;
    router
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn(move |req: Request, next: Next| refuse_declared_oversize(limit, req, next)))
        // A hard deadline for the whole body (not an idle timeout, which a client
        // sending a byte now and then would never trip). Only the request body: event
        // streams are long-lived responses and must not be cut.
        .layer(RequestBodyDeadlineLayer::new(config.body_read_timeout))
        .layer(middleware::from_fn(move |req: Request, next: Next| security_headers(secure, req, next)))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(run_to_completion))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(span_for))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
}
