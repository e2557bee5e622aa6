//! The WhatsApp channel over HTTP: the Cloud API webhook (public, but every
//! notification must carry the app secret's signature) and the staff's view of
//! conversations (unread counts, mark as read, delivery statuses).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ApiWorker};
use crate::channels::whatsapp::conversation::{self, Conversation};
use crate::channels::whatsapp::outbound::{self, Outbound};
use crate::channels::whatsapp::{self, webhook};
use crate::db::Timestamp;
use crate::error::{AppError, AppResult, ErrorBody};

/// `GET /api/v1/channels/whatsapp/webhook`: the subscription handshake.
#[utoipa::path(
    get, path = "/api/v1/channels/whatsapp/webhook", tag = "whatsapp", security(()),
    summary = "Webhook subscription handshake: echoes hub.challenge when hub.verify_token is right",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "The verify token configured for a number"),
        ("hub.challenge" = String, Query, description = "Echoed back as text/plain"),
    ),
    responses(
        (status = 200, description = "The challenge, as text/plain", body = String, content_type = "text/plain"),
        (status = 403, description = "Wrong mode or verify token", body = ErrorBody),
    )
)]
pub async fn webhook_get(State(state): State<AppState>, RawQuery(query): RawQuery) -> AppResult<Response> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|_| AppError::BadRequest("the query string is not form-encoded".into()))?;
    let value = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let (Some("subscribe"), Some(token), Some(challenge)) =
        (value("hub.mode"), value("hub.verify_token"), value("hub.challenge"))
    else {
        return Err(AppError::Forbidden);
    };
    let numbers = whatsapp::numbers(&state).await?;
    // Every number is compared, without an early exit, so timing says nothing.
    let ok = numbers
        .iter()
        .fold(false, |found, n| whatsapp::same_secret(token.as_bytes(), n.verify_token.expose().as_bytes()) | found);
    if !ok {
        tracing::warn!("WhatsApp webhook handshake with a wrong verify token");
        return Err(AppError::Forbidden);
    }
    let challenge: String = challenge.chars().filter(|c| !c.is_control()).take(512).collect();
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response())
}

/// `POST /api/v1/channels/whatsapp/webhook`: a signed notification of messages and
/// statuses.
#[utoipa::path(
    post, path = "/api/v1/channels/whatsapp/webhook", tag = "whatsapp", security(()),
    summary = "Cloud API webhook: stores each message and status once (signed with X-Hub-Signature-256)",
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of the raw body under the app secret")),
    request_body(content = serde_json::Value, description = "The Cloud API notification (`object`, `entry[].changes[].value`)"),
    responses(
        (status = 200, description = "Stored (or ignored: an unknown number, an event seen before)"),
        (status = 400, description = "Signed, but not a notification (the message says why)", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature: nothing stored", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    )
)]
pub async fn webhook_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> AppResult<StatusCode> {
    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let numbers = whatsapp::numbers(&state).await?;
    // Checked against the raw bytes before anything is parsed; every number's app
    // secret is tried (no early exit), and only the numbers whose secret signed it may
    // be named in it: one number's app cannot speak for another's.
    let signers: Vec<whatsapp::Number> =
        numbers.into_iter().filter(|n| whatsapp::signature_matches(signature, &body, &n.app_secret)).collect();
    if signers.is_empty() {
        tracing::warn!(
            bytes = body.len(),
            signature_present = !signature.is_empty(),
            "WhatsApp webhook refused: missing or wrong signature"
        );
        return Err(AppError::Unauthorized);
    }
    let notification: webhook::Notification = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("not a WhatsApp Cloud API notification: {e}")))?;
    if notification.object != "whatsapp_business_account" {
        tracing::info!("WhatsApp webhook for another object ignored");
        return Ok(StatusCode::OK);
    }
    let sorted = webhook::sort(notification, &signers);
    for number in &sorted.unknown_numbers {
        tracing::warn!(phone_number_id = %number, "WhatsApp webhook for a number we do not answer on: ignored");
    }
    if sorted.malformed > 0 {
        tracing::warn!(skipped = sorted.malformed, "WhatsApp webhook entries with malformed ids skipped");
    }
    let new = webhook::store(&state, &sorted.events).await?;
    tracing::info!(events = sorted.events.len(), new, "WhatsApp webhook stored");
    Ok(StatusCode::OK)
}

/// `?all=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConversationsQuery {
    /// `true`: closed conversations too (the latest 200).
    #[serde(default)]
    all: Option<bool>,
}

/// `GET /api/v1/channels/whatsapp/conversations`.
#[utoipa::path(
    get, path = "/api/v1/channels/whatsapp/conversations", tag = "whatsapp",
    summary = "WhatsApp conversations (open ones unless all=true), with unread counts",
    params(ConversationsQuery),
    responses(
        (status = 200, description = "Newest customer message first", body = Vec<ConversationOut>),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn conversations_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Query(q): Query<ConversationsQuery>,
) -> AppResult<Json<Vec<ConversationOut>>> {
    let now = Timestamp::now();
    let list = conversation::list(state.db(), q.all.unwrap_or(false), 200).await?;
    Ok(Json(list.into_iter().map(|c| ConversationOut::new(c, now, None)).collect()))
}

/// A conversation as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationOut {
    /// The conversation.
    #[serde(flatten)]
    conversation: Conversation,
    /// Whether a free-form reply may be sent now (24 hours after the customer's last
    /// message it may not).
    window_open: bool,
    /// The messages sent to the customer with their delivery status (one conversation
    /// only).
    #[serde(skip_serializing_if = "Option::is_none")]
    outbound: Option<Vec<Outbound>>,
}

impl ConversationOut {
    fn new(conversation: Conversation, now: Timestamp, outbound: Option<Vec<Outbound>>) -> Self {
        Self { window_open: conversation.window_open(now), conversation, outbound }
    }
}

/// `GET /api/v1/channels/whatsapp/conversations/{call_id}`.
#[utoipa::path(
    get, path = "/api/v1/channels/whatsapp/conversations/{call_id}", tag = "whatsapp",
    summary = "A call's WhatsApp conversation with the delivery status of every message sent",
    params(("call_id" = i64, Path, description = "Call id")),
    responses(
        (status = 200, description = "The conversation", body = ConversationOut),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No WhatsApp call with that id", body = ErrorBody),
    )
)]
pub async fn conversation_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Path(call_id): Path<i64>,
) -> AppResult<Json<ConversationOut>> {
    let c = conversation::of_call(state.db(), call_id).await?.ok_or(AppError::NotFound)?;
    let sent = outbound::of_call(state.db(), call_id).await?;
    Ok(Json(ConversationOut::new(c, Timestamp::now(), Some(sent))))
}

/// `POST /api/v1/channels/whatsapp/conversations/{call_id}/read`.
#[utoipa::path(
    post, path = "/api/v1/channels/whatsapp/conversations/{call_id}/read", tag = "whatsapp",
    summary = "Mark a WhatsApp conversation read (agents and up)",
    params(("call_id" = i64, Path, description = "Call id")),
    responses(
        (status = 204, description = "Read: its unread count starts again from zero"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
        (status = 404, description = "No WhatsApp call with that id", body = ErrorBody),
    )
)]
pub async fn read_post(
    State(state): State<AppState>,
    _auth: ApiWorker,
    Path(call_id): Path<i64>,
) -> AppResult<StatusCode> {
    if conversation::mark_read(state.db(), call_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}
