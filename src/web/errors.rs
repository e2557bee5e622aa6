//! Turning [`AppError`](crate::error::AppError) responses into pages for browsers:
//! 401 → the login page (or `HX-Redirect` for htmx), a temporary password → the
//! password page, anything else → a localized error page. API routes keep JSON.

use askama::Template;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::lang;
use crate::error::{AppError, ErrorInfo};
use crate::i18n::Tr;

#[derive(Template)]
#[template(path = "error.html")]
/// The `error.html` template.
pub struct ErrorPage {
    tr: Tr,
    message_key: &'static str,
    status: u16,
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/health" || path == "/metrics"
}

fn redirect(htmx: bool, to: &'static str) -> Response {
    if htmx {
        // A swap of the login page into a fragment would be broken; ask htmx to navigate.
        super::with_hx_redirect(().into_response(), to)
    } else {
        Redirect::to(to).into_response()
    }
}

/// A plain-text 4xx from axum's own extractors (a path or query that does not parse)
/// becomes the API's JSON error, keeping axum's explanation as the message.
async fn json_rejection(response: Response) -> Response {
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    if !response.status().is_client_error() || !plain || response.extensions().get::<ErrorInfo>().is_some() {
        return response;
    }
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&bytes).trim().to_owned();
    let error = match status.as_u16() {
        404 => AppError::NotFound,
        422 => AppError::Unprocessable(detail),
        _ => AppError::BadRequest(detail),
    };
    let mut out = error.into_response();
    *out.status_mut() = status;
    out
}

/// Middleware rendering error pages for browser routes.
pub async fn render(request: Request, next: Next) -> Response {
    if is_api(request.uri().path()) {
        return json_rejection(next.run(request).await).await;
    }
    let session = request.extensions().get::<Session>().cloned();
    let headers = request.headers().clone();
    let htmx = headers.contains_key("hx-request");
    let response = next.run(request).await;
    let Some(info) = response.extensions().get::<ErrorInfo>().cloned() else {
        return response;
    };
    match info.code {
        "unauthorized" => return redirect(htmx, "/login"),
        "password_change_required" => return redirect(htmx, "/account/password"),
        _ => {}
    }
    let status = response.status();
    let tr = Tr(lang::resolve(&headers, session.as_ref()).await);
    let page = ErrorPage { tr, message_key: info.message_key, status: status.as_u16() };
    let mut out = match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => return response,
    };
    if let Some(v) = response.headers().get(header::RETRY_AFTER) {
        out.headers_mut().insert(header::RETRY_AFTER, v.clone());
    }
    out
}
