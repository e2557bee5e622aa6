//! The one application error type and its HTTP rendering.
//!
//! Handlers return `Result<T, AppError>`. The response is JSON (`{"error", "message",
//! "fields"?}`); for browser pages, `web::errors` turns it into a localized HTML page
//! using the [`ErrorInfo`] left in the response extensions. Database and internal
//! errors log their cause and show an opaque message.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db::id_enum;
use crate::i18n::{Lang, t};

/// Field name → i18n key of the message explaining what is wrong with it.
pub type FieldErrors = BTreeMap<&'static str, &'static str>;

id_enum! {
    /// What a request conflicted with: the state a call, action or email is in now.
    /// Pages match on it to say what happened; the API names it in the message.
    Conflict {
        /// The action was approved or rejected already.
        ActionAlreadyDecided => "action_already_decided",
        /// The action's stored parameters no longer make a valid request.
        ActionParametersInvalid => "action_parameters_invalid",
        /// The action waited too long for its confirmation and lapsed.
        ActionExpired => "action_expired",
        /// The action names a tool nobody can approve.
        ActionUnknown => "action_unknown",
        /// The customer rated the call already.
        AlreadyRated => "already_rated",
        /// The call has ended.
        CallClosed => "call_closed",
        /// The call changed while the request was made (taken, handed back).
        CallStateChanged => "call_state_changed",
        /// The caller does not hold the call.
        CallNotHeld => "call_not_held",
        /// The call has not ended yet.
        CallOpen => "call_open",
        /// The call is linked to no customer record.
        CallUnlinked => "call_unlinked",
        /// The call is not a WhatsApp conversation (templates go out over WhatsApp only).
        CallNotWhatsapp => "call_not_whatsapp",
        /// The call has no customer to write to.
        CallWithoutCustomer => "call_without_customer",
        /// Another canned response of that language has the shortcut.
        CannedShortcutTaken => "canned_shortcut_taken",
        /// Another WhatsApp template has that name and language (for the same number).
        WhatsappTemplateTaken => "whatsapp_template_taken",
        /// The call has no customer message to answer yet.
        NothingToAnswer => "nothing_to_answer",
        /// The customer record is not an open, unverified claim.
        CustomerNotAClaim => "customer_not_a_claim",
        /// The email is not waiting for confirmation.
        EmailNotWaiting => "email_not_waiting",
        /// The email has not failed (only a failed email is retried).
        EmailNotFailed => "email_not_failed",
        /// The inquiry is not in a state that allows this change (it is being
        /// classified, was answered, or changed meanwhile).
        InquiryState => "inquiry_state",
        /// The customer answered the summary offer already.
        SummaryAlreadyAnswered => "summary_already_answered",
        /// No summary was offered on this call.
        SummaryNotOffered => "summary_not_offered",
    }
}

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid session or token.
    #[error("authentication required")]
    Unauthorized,
    /// Username/password pair rejected (same answer for unknown users).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Signed in, but the role does not allow this.
    #[error("forbidden")]
    Forbidden,
    /// The account still has a temporary password; it must be changed first.
    #[error("password change required")]
    PasswordChangeRequired,
    /// A state-changing request failed the CSRF checks.
    #[error("csrf check failed")]
    Csrf,
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("not found")]
    NotFound,
    /// The request conflicts with the current state (the code names which).
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// The call is held by another staff member (named).
    #[error("call held by {0}")]
    HeldBy(String),
    /// Input was understood but breaks a rule; messages per field.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// Input could not be understood at all; the message is for people.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The body is well-formed JSON of the wrong shape (types, unknown or missing
    /// fields); the message says where.
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// A query string, form or JSON body holds the NUL character (U+0000), which no
    /// text field accepts (and PostgreSQL cannot store).
    #[error("text with a NUL character")]
    NulCharacter,
    /// A query parameter holds a value it cannot take (`page=0`, `from=abc`): 422
    /// `invalid_param`, the message (its i18n key) naming the parameter.
    #[error("invalid query parameter {name}")]
    InvalidParam {
        /// The parameter, as in the URL.
        name: &'static str,
        /// i18n key of what is wrong with it.
        message_key: &'static str,
    },
    /// A free-form WhatsApp reply more than 24 hours after the customer's last message
    /// (WhatsApp allows only message templates then).
    #[error("the WhatsApp customer-service window is closed")]
    WhatsappWindowClosed,
    /// The body is larger than allowed.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive within `CENTRALITA_BODY_READ_TIMEOUT_SECONDS`.
    #[error("request timeout")]
    RequestTimeout,
    /// The body is not JSON (or not the declared content type).
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Too many failed attempts; try again after this many seconds.
    #[error("too many attempts")]
    TooManyAttempts {
        /// Seconds until the lock lifts.
        retry_after: u64,
    },
    /// A database failure (logged, shown as an opaque 500).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Any other unexpected failure (logged, shown as an opaque 500).
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(err: tower_sessions::session::Error) -> Self {
        Self::Internal(anyhow::anyhow!("session store: {err}"))
    }
}

/// What the HTML layer needs to render an error page; left in response extensions.
#[derive(Clone, Debug)]
pub struct ErrorInfo {
    /// Stable machine code (`unauthorized`, `forbidden`, ...).
    pub code: &'static str,
    /// i18n key of the human message.
    pub message_key: &'static str,
}

/// Every error's JSON body.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    /// Stable machine code: `unauthorized`, `forbidden`, `not_found`, `validation`,
    /// `conflict`, `call_held`, `invalid_body`, `invalid_text`, `invalid_param`, `bad_request`, ...
    error: &'a str,
    /// What went wrong, for people (English).
    message: String,
    /// Field (or query parameter) → what is wrong with it (validation errors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<BTreeMap<&'a str, &'a str>>,
}

impl AppError {
    /// HTTP status, stable code and i18n message key.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "error.unauthorized"),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials", "error.invalid_credentials"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "error.forbidden"),
            Self::Csrf => (StatusCode::FORBIDDEN, "csrf", "error.csrf"),
            Self::PasswordChangeRequired => (StatusCode::FORBIDDEN, "password_change_required", "account.must_change"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", "error.not_found"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation", "error.validation"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", "error.conflict"),
            Self::HeldBy(_) => (StatusCode::CONFLICT, "call_held", "error.call_held"),
            Self::WhatsappWindowClosed => {
                (StatusCode::CONFLICT, "whatsapp_window_closed", "error.whatsapp_window_closed")
            }
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", "error.bad_request"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "error.invalid_body"),
            Self::InvalidParam { message_key, .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_param", message_key),
            Self::NulCharacter => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_text", "error.invalid_text"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "error.payload_too_large"),
            Self::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout", "error.request_timeout"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "error.unsupported_media_type")
            }
            Self::TooManyAttempts { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "error.too_many_attempts")
            }
            Self::Database(_) | Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "error.internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message_key) = self.parts();
        match &self {
            Self::Database(err) => tracing::error!(error = %err, "database error"),
            Self::Internal(err) => tracing::error!(error = ?err, "internal error"),
            _ => {}
        }
        let mut message = t(Lang::En, message_key).to_owned();
        if let Self::BadRequest(detail) | Self::Unprocessable(detail) = &self {
            message = format!("{message}: {detail}");
        }
        if let Self::Conflict(what) = &self {
            message = format!("{message} ({what})");
        }
        if let Self::HeldBy(name) = &self {
            message = format!("{message}: {name}");
        }
        let fields = match &self {
            Self::Validation(fields) => Some(fields.iter().map(|(k, v)| (*k, t(Lang::En, v))).collect()),
            Self::InvalidParam { name, message_key } => Some(BTreeMap::from([(*name, t(Lang::En, message_key))])),
            _ => None,
        };
        let mut response = (status, axum::Json(ErrorBody { error: code, message, fields })).into_response();
        if let Self::TooManyAttempts { retry_after } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response.extensions_mut().insert(ErrorInfo { code, message_key });
        response
    }
}

/// Shorthand for handler results.
pub type AppResult<T> = Result<T, AppError>;

/// True when reading a request body failed because the body deadline passed (the
/// `RequestBodyDeadlineLayer` in `web::layers`), found anywhere in the error's causes.
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(err: AppError) -> (StatusCode, serde_json::Value, Option<String>) {
        let response = err.into_response();
        let status = response.status();
        let retry = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    #[tokio::test]
    async fn errors_render_as_json_with_a_human_message() {
        let (status, body, _) = body_of(AppError::PayloadTooLarge).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"], "payload_too_large");
        assert_eq!(body["message"], "The request is too large.");
        let (status, body, retry) = body_of(AppError::TooManyAttempts { retry_after: 42 }).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry.as_deref(), Some("42"));
        assert!(body["message"].as_str().unwrap().contains("Too many"));
        let (_, body, _) = body_of(AppError::Validation(FieldErrors::from([("email", "field.email_invalid")]))).await;
        assert_eq!(body["fields"]["email"], "Enter a valid email address.");
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak_their_cause() {
        let (status, body, _) = body_of(AppError::Internal(anyhow::anyhow!("secret table xyz exploded"))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("xyz"));
    }
}
