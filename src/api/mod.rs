//! The JSON API under `/api/v1`: bearer tokens (or the token cookies), JSON in and out,
//! errors as `{"error", "message", "fields"?}`.

pub mod actions;
pub mod assistant;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod canned;
pub mod classify;
pub mod customers;
pub mod docs;
pub mod email;
pub mod events;
pub mod inquiries;
pub mod openapi;
pub mod reports;
pub mod teamwork;
pub mod tickets;
pub mod users;
pub mod wa_templates;
pub mod whatsapp;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::error::AppError;

/// Routes of the API (nested under `/api/v1`).
pub fn router() -> Router<AppState> {
    use wa_templates as wt;
    Router::new()
        .route("/auth/login", post(auth::login_post))
        .route("/auth/refresh", post(auth::refresh_post))
        .route("/auth/logout", post(auth::logout_post))
        .route("/me", get(auth::me_get))
        .route("/me/password", post(auth::password_post))
        .route("/users", get(users::users_get).post(users::users_post))
        .route("/users/{id}", get(users::user_get).patch(users::user_patch))
        .route("/audit", get(audit::audit_get))
        .route("/classify", post(classify::classify_post))
        .route("/calls", get(teamwork::calls_get).post(calls::calls_post))
        .route("/calls/{id}", get(calls::call_get).patch(teamwork::call_patch))
        .route("/calls/{id}/messages", post(calls::messages_post))
        .route("/calls/{id}/takeover", post(calls::takeover_post))
        .route("/calls/{id}/handback", post(calls::handback_post))
        .route("/calls/{id}/close", post(calls::close_post))
        .route("/calls/{id}/verify-customer", post(calls::verify_customer_post))
        .route("/pending-actions", get(actions::actions_get))
        .route("/pending-actions/{id}/approve", post(actions::approve_post))
        .route("/pending-actions/{id}/reject", post(actions::reject_post))
        .route("/emails", get(email::emails_get).post(email::emails_post))
        .route("/emails/{id}", get(email::email_get))
        .route("/emails/{id}/{action}", post(email::action_post))
        .route("/events", get(events::events_get))
        .route("/presence", post(events::presence_post))
        .route("/board", get(events::board_get))
        .route("/customers", get(customers::customers_get).post(customers::customers_post))
        .route("/customers/{id}", get(customers::customer_get).patch(customers::customer_patch))
        .route("/payments", get(customers::payments_get).post(customers::payments_post))
        .route("/tickets", get(tickets::tickets_get).post(tickets::tickets_post))
        .route("/tickets/{id}", get(tickets::ticket_get).patch(tickets::ticket_patch))
        .route("/calls/{id}/transfer", post(teamwork::transfer_post))
        .route("/calls/{id}/notes", post(teamwork::notes_post))
        .route("/stats", get(reports::stats_get))
        .route("/reports/{file}", get(reports::csv_get))
        .route("/inquiries", get(inquiries::inquiries_get).post(inquiries::inquiries_post))
        .route("/inquiries/{id}", get(inquiries::inquiry_get).patch(inquiries::inquiry_patch))
        .route("/inquiries/{id}/reply", post(inquiries::reply_post))
        .route("/assistant", post(assistant::assistant_post))
        .route("/assistant/confirm/{id}", post(assistant::confirm_post))
        .route("/assistant/cancel/{id}", post(assistant::cancel_post))
        .route("/canned-responses", get(canned::list_get).post(canned::create_post))
        .route("/canned-responses/{id}", get(canned::one_get).patch(canned::update_patch).delete(canned::delete_delete))
        .route("/calls/{id}/canned-responses", get(canned::call_canned_get))
        .route("/calls/{id}/suggested-reply", get(canned::suggested_reply_get))
        .route("/channels/whatsapp/webhook", get(whatsapp::webhook_get).post(whatsapp::webhook_post))
        .route("/channels/whatsapp/conversations", get(whatsapp::conversations_get))
        .route("/channels/whatsapp/conversations/{call_id}", get(whatsapp::conversation_get))
        .route("/channels/whatsapp/conversations/{call_id}/read", post(whatsapp::read_post))
        .route("/channels/whatsapp/conversations/{call_id}/send-template", post(wt::send_template_post))
        .route("/channels/whatsapp/templates", get(wt::list_get).post(wt::create_post))
        .route("/channels/whatsapp/templates/preview", post(wt::preview_post))
        .route("/channels/whatsapp/templates/{id}", get(wt::one_get).patch(wt::update_patch).delete(wt::delete_delete))
        // The API's own description (public; not in the document itself).
        .route("/openapi.json", get(openapi::openapi_get))
        .route("/docs", get(docs::docs_get))
        .fallback(not_found)
}

async fn not_found() -> AppError {
    AppError::NotFound
}

/// `Json<T>` whose rejections are [`AppError`]s with a message a person can act on.
/// A body holding the NUL character (`\u0000`) anywhere is refused (422
/// `invalid_text`): no field accepts it and PostgreSQL cannot store it.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (value, nul) = read_json(req, state).await?;
        if nul {
            return Err(AppError::NulCharacter);
        }
        Ok(Self(value))
    }
}

/// [`ApiJson`] that lets the NUL character through, for credentials: a login must get
/// the same answer for every name it does not know, whatever characters it holds.
#[derive(Debug)]
pub struct ApiJsonVerbatim<T>(pub T);

impl<T, S> FromRequest<S> for ApiJsonVerbatim<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_json(req, state).await.map(|(value, _)| Self(value))
    }
}

/// [`ApiJson`] for a body that may be left out: no body (or only white space) is
/// `None`; anything else must be JSON of the right shape.
#[derive(Debug)]
pub struct ApiJsonOptional<T>(pub Option<T>);

impl<T, S> FromRequest<S> for ApiJsonOptional<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = read_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        let (value, nul) = parse_json(parts, bytes, state).await?;
        if nul {
            return Err(AppError::NulCharacter);
        }
        Ok(Self(Some(value)))
    }
}

/// The body of a request, read within the body limits.
async fn read_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<(axum::http::request::Parts, Bytes), AppError> {
    let (parts, body) = req.into_parts();
    match Bytes::from_request(Request::from_parts(parts.clone(), body), state).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(e) if crate::error::is_body_timeout(&e) => Err(AppError::RequestTimeout),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::PayloadTooLarge),
        Err(e) => Err(AppError::BadRequest(e.body_text())),
    }
}

/// Reads a JSON body as `T`, and whether its text holds the NUL character.
async fn read_json<T: DeserializeOwned, S: Send + Sync>(req: Request, state: &S) -> Result<(T, bool), AppError> {
    let (parts, bytes) = read_bytes(req, state).await?;
    parse_json(parts, bytes, state).await
}

/// A body already read, as `T`, and whether its text holds the NUL character.
async fn parse_json<T: DeserializeOwned, S: Send + Sync>(
    parts: axum::http::request::Parts,
    bytes: Bytes,
    state: &S,
) -> Result<(T, bool), AppError> {
    let nul = crate::text::json_nul(&bytes);
    // axum's own extractor on the bytes read: the same content-type check and messages.
    match axum::Json::<T>::from_request(Request::from_parts(parts, Body::from(bytes)), state).await {
        Ok(axum::Json(value)) => Ok((value, nul)),
        Err(JsonRejection::JsonDataError(e)) => Err(AppError::Unprocessable(e.body_text())),
        Err(JsonRejection::JsonSyntaxError(e)) => Err(AppError::BadRequest(e.body_text())),
        Err(JsonRejection::MissingJsonContentType(_)) => Err(AppError::UnsupportedMediaType),
        Err(other) => Err(AppError::BadRequest(other.body_text())),
    }
}
