//! Turning [`AppError`](crate::error::AppError) responses into pages for browsers:
//! 401 → the login page (or `HX-Redirect` for htmx), a temporary password → the
//! password page, anything else → a localized error page. API routes keep JSON.

use askama::Template;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::lang;
use crate::error::{AppError, ErrorInfo};
use crate::i18n::{Lang, Tr};

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

/// A plain-text 4xx from axum's own extractors (a path, query or form that does not
/// parse) becomes an [`AppError`] answer, keeping axum's explanation as the message:
/// the API's JSON error, and for browser routes the input of [`render`]'s error page.
async fn typed_rejection(response: Response) -> Response {
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
        413 => AppError::PayloadTooLarge,
        422 => AppError::Unprocessable(detail),
        _ => AppError::BadRequest(detail),
    };
    let mut out = error.into_response();
    *out.status_mut() = status;
    out
}

/// The localized error page, or `None` when the template fails (the caller keeps its
/// JSON answer then).
fn page(status: StatusCode, message_key: &'static str, lang: Lang) -> Option<Response> {
    let page = ErrorPage { tr: Tr(lang), message_key, status: status.as_u16() };
    page.render().ok().map(|html| (status, Html(html)).into_response())
}

/// The answer to an error found by a middleware outside the session layer (before the
/// request reaches [`render`]): JSON for the API, the error page for browsers, in the
/// language the request's cookie or `Accept-Language` asks for.
pub async fn early(path: &str, headers: &HeaderMap, error: AppError) -> Response {
    let (status, _, message_key) = error.parts();
    if is_api(path) {
        return error.into_response();
    }
    let lang = lang::resolve(headers, None).await;
    page(status, message_key, lang).unwrap_or_else(|| error.into_response())
}

/// Middleware rendering error pages for browser routes.
pub async fn render(request: Request, next: Next) -> Response {
    if is_api(request.uri().path()) {
        return typed_rejection(next.run(request).await).await;
    }
    let session = request.extensions().get::<Session>().cloned();
    let headers = request.headers().clone();
    let htmx = headers.contains_key("hx-request");
    let response = typed_rejection(next.run(request).await).await;
    let Some(info) = response.extensions().get::<ErrorInfo>().cloned() else {
        return response;
    };
    match info.code {
        "unauthorized" => return redirect(htmx, "/login"),
        "password_change_required" => return redirect(htmx, "/account/password"),
        _ => {}
    }
    let status = response.status();
    let lang = lang::resolve(&headers, session.as_ref()).await;
    let Some(mut out) = page(status, info.message_key, lang) else {
        return response;
    };
    if let Some(v) = response.headers().get(header::RETRY_AFTER) {
        out.headers_mut().insert(header::RETRY_AFTER, v.clone());
    }
    out
}
