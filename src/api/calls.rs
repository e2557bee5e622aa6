//! Calls over the API: start one, post customer messages (JSON or SSE), read one back
//! with its transcript and agent steps; take over, reply as a person, hand back, close.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::ApiJson;
use super::actions::ActionView;
use crate::agents::{Department, Priority, Sentiment};
use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ApiWorker, ClientIp};
use crate::calls::staff::{self, Outcome};
use crate::calls::{self, Call, CallStatus, Channel, Message, TurnResult};
use crate::customers::{self, CustomerInput};
use crate::db::Timestamp;
use crate::error::{AppError, AppResult, Conflict, ErrorBody};

/// `POST /api/v1/calls` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCall {
    /// An existing, verified customer record.
    #[serde(default)]
    customer_id: Option<i64>,
    /// Or the customer's details (an existing customer with this email is reused).
    #[serde(default)]
    customer: Option<CustomerInput>,
    /// How the customer reached us (`api` by default).
    #[serde(default = "default_channel")]
    #[schema(default = "api")]
    channel: Channel,
    /// The customer's first message.
    message: String,
}

fn default_channel() -> Channel {
    Channel::Api
}

/// `POST /api/v1/calls`: opens a call and runs its first turn.
#[utoipa::path(
    post, path = "/api/v1/calls", tag = "calls",
    summary = "Open a call with the customer's first message and run the agents (agents and up)",
    request_body = CreateCall,
    responses(
        (status = 201, description = "The first turn's result", body = TurnResult),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, or a temporary password not yet changed", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 422, description = "Invalid message or customer details (`fields`)", body = ErrorBody),
    )
)]
pub async fn calls_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    ApiJson(body): ApiJson<CreateCall>,
) -> AppResult<Response> {
    if body.channel == Channel::Whatsapp {
        // A WhatsApp call needs a WhatsApp contact to answer: it starts from their message.
        return Err(AppError::Validation(crate::error::FieldErrors::from([("channel", "field.channel_whatsapp")])));
    }
    let text = calls::parse_message(&body.message)?;
    let customer_id = customers::resolve_customer(state.db(), body.customer_id, body.customer.as_ref()).await?;
    let new = calls::NewCall {
        channel: body.channel,
        customer_id,
        created_by: Some(auth.user.id),
        access_hash: None,
        contact: None,
    };
    let opened = calls::open_call(&state, state.db().begin().await?, &new, &text, Some(&auth.principal)).await?;
    // A client that gives up waiting leaves the turn running to its end.
    let turn_state = state.clone();
    let result =
        state.turns().finish(async move { calls::first_answer(&turn_state, opened, &text, None).await }).await?;
    Ok((StatusCode::CREATED, Json(result)).into_response())
}

/// `POST /api/v1/calls/{id}/messages` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The text.
    text: String,
}

/// A person's reply in a call they hold.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HumanReply {
    /// The stored message.
    pub message_id: i64,
    /// Always `human`.
    pub role: &'static str,
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/event-stream"))
}

/// `POST /api/v1/calls/{id}/messages`: from the staff member holding the call, a human
/// reply the customer sees live (201 `{"message_id"}`); from the staff member who
/// opened the call over the API, the customer's next turn as they relay it (recorded
/// with them as its author). Anyone else gets 409: staff never write as a customer
/// into a call they did not open. With `Accept: text/event-stream` the AI's reply streams as
/// `delta` events and ends with `done` (the turn result) or `error`.
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/messages", tag = "calls",
    summary = "A person's reply in a call they hold, or the next customer turn of a call one opened over the API",
    params(
        ("id" = i64, Path, description = "Call id"),
        ("Accept" = Option<String>, Header, description = "`text/event-stream` streams the AI's reply"),
    ),
    request_body = PostMessage,
    responses(
        (status = 200, description = "The turn's result; or, with `Accept: text/event-stream`, `delta` events \
            (`{\"text\"}`) ending with `done` (the turn result) or `error` (`{\"error\"}`)",
            content((TurnResult = "application/json"), (String = "text/event-stream"))),
        (status = 201, description = "A person's reply was stored", body = HumanReply),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, or a temporary password not yet changed", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 409, description = "Call closed, held by someone else, or not opened by the caller", body = ErrorBody),
        (status = 422, description = "Empty or too long text (`fields`)", body = ErrorBody),
    )
)]
pub async fn messages_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    headers: HeaderMap,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<PostMessage>,
) -> AppResult<Response> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let call = calls::get(state.db(), id).await?;
    if call.status == CallStatus::Human && call.assigned_to == Some(auth.principal.id) {
        let message_id = staff::reply(&state, &cap, id, &body.text).await?;
        return Ok((StatusCode::CREATED, Json(HumanReply { message_id, role: "human" })).into_response());
    }
    staff::may_relay(&state, &cap, &call).await?;
    let text = calls::parse_message(&body.text)?;
    // Once a stream starts the status is 200, so a closed call is refused here, as a
    // plain HTTP error, before it does.
    if !call.is_open() {
        return Err(AppError::Conflict(Conflict::CallClosed));
    }
    if !wants_stream(&headers) {
        let (turn_state, relayer) = (state.clone(), auth.principal.clone());
        let result = state
            .turns()
            .finish(async move { calls::customer_turn(&turn_state, call, &text, None, Some(&relayer)).await })
            .await?;
        return Ok(Json(result).into_response());
    }
    let (delta_tx, mut delta_rx) = mpsc::channel::<String>(64);
    let (event_tx, event_rx) = mpsc::channel::<Event>(64);
    // The turn runs on its own task: if the client goes away it still finishes and is
    // stored.
    let turn_state = state.clone();
    let relayer = auth.principal.clone();
    let turn = state.turns().spawn(async move {
        calls::post_customer_message(&turn_state, id, &text, Some(&delta_tx), Some(&relayer)).await
    });
    tokio::spawn(async move {
        while let Some(piece) = delta_rx.recv().await {
            let _ = event_tx.send(Event::default().event("delta").data(json!({"text": piece}).to_string())).await;
        }
        let last = match turn.await {
            Ok(Ok(result)) => Event::default().event("done").data(serde_json::to_string(&result).unwrap_or_default()),
            Ok(Err(err)) => {
                let (_, code, _) = err.parts();
                Event::default().event("error").data(json!({"error": code}).to_string())
            }
            Err(_) => Event::default().event("error").data(json!({"error": "internal"}).to_string()),
        };
        let _ = event_tx.send(last).await;
    });
    let stream = futures_util::stream::unfold(event_rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// The routing results in force on a call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallClassification {
    /// Department.
    pub department: Option<Department>,
    /// Category (an open set of snake_case topics).
    pub category: Option<String>,
    /// Sentiment.
    pub sentiment: Option<Sentiment>,
    /// Priority.
    pub priority: Option<Priority>,
    /// 0..1.
    pub confidence: Option<f64>,
    /// es or en.
    pub language: Option<String>,
    /// Whether staff corrected the classification.
    pub corrected: bool,
    /// Who corrected it.
    pub corrected_by: Option<i64>,
    /// When.
    pub corrected_at: Option<Timestamp>,
}

/// What the routing agent said last, kept beside staff corrections.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AiClassification {
    /// Department.
    pub department: Option<Department>,
    /// Category.
    pub category: Option<String>,
    /// Sentiment.
    pub sentiment: Option<Sentiment>,
    /// Priority.
    pub priority: Option<Priority>,
}

/// A stored agent step.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepView {
    /// Turn number within the call (1-based).
    pub turn: i64,
    /// routing, service or supervisor.
    pub agent: String,
    /// builtin or openai.
    pub backend: String,
    /// Model name.
    pub model: String,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Milliseconds.
    pub latency_ms: i64,
    /// Tool calls with arguments and results (a JSON array).
    pub tool_calls: Value,
    /// The step's output.
    pub output: String,
    /// ok, skipped or fallback with the cause.
    pub outcome: String,
    /// When.
    pub at: Timestamp,
}

/// `GET /api/v1/calls/{id}` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallDetail {
    /// The call.
    pub call: Call,
    /// Its classification.
    pub classification: CallClassification,
    /// The transcript, oldest first.
    pub messages: Vec<Message>,
    /// Every agent step.
    pub steps: Vec<StepView>,
    /// Actions the AI asked a person to approve.
    pub pending_actions: Vec<ActionView>,
    /// The AI's own classification (before any correction).
    pub ai_classification: AiClassification,
    /// Whether staff corrected the classification.
    pub corrected: bool,
    /// The supervisor agent's quality score of the last turn (0..1).
    pub quality: Option<f64>,
    /// The routing agent's recommendations.
    pub recommendations: Vec<String>,
    /// Internal notes (staff only).
    pub notes: Vec<crate::calls::team::Note>,
    /// Transfers with their reasons.
    pub transfers: Vec<crate::calls::team::TransferRow>,
}

/// A call after a staff action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallEnvelope {
    /// The call as it is now.
    pub call: Call,
}

/// `GET /api/v1/calls/{id}`: the call, its messages, its current classification beside
/// the AI's, every agent step with tokens, latency and tool calls, the routing agent's
/// recommendations, the supervisor's quality score, and its transfers and internal
/// notes (staff only: this API is for staff).
#[utoipa::path(
    get, path = "/api/v1/calls/{id}", tag = "calls", summary = "A call with its transcript, classification and agent steps",
    params(("id" = i64, Path, description = "Call id")),
    responses(
        (status = 200, description = "The call", body = CallDetail),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
    )
)]
pub async fn call_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Path(id): Path<i64>,
) -> AppResult<Json<CallDetail>> {
    let call = calls::get(state.db(), id).await?;
    let messages = calls::messages(state.db(), id).await?;
    let runs = calls::runs(state.db(), id).await?;
    let actions = calls::actions::for_call(state.db(), id).await?;
    let steps = runs
        .into_iter()
        .map(|r| StepView {
            tool_calls: serde_json::from_str::<Value>(&r.tool_calls).unwrap_or(Value::Null),
            turn: r.turn,
            agent: r.agent,
            backend: r.backend,
            model: r.model,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            latency_ms: r.latency_ms,
            output: r.output,
            outcome: r.outcome,
            at: r.at,
        })
        .collect();
    let classification = CallClassification {
        department: call.department,
        category: call.category.clone(),
        sentiment: call.sentiment,
        priority: call.priority,
        confidence: call.confidence,
        language: call.language.clone(),
        corrected: call.is_corrected(),
        corrected_by: call.corrected_by,
        corrected_at: call.corrected_at,
    };
    let ai_classification = AiClassification {
        department: call.ai_department,
        category: call.ai_category.clone(),
        sentiment: call.ai_sentiment,
        priority: call.ai_priority,
    };
    let notes = crate::calls::team::notes(state.db(), id).await?;
    let transfers = crate::calls::team::transfers(state.db(), id).await?;
    let pending_actions = actions.iter().map(ActionView::from).collect();
    Ok(Json(CallDetail {
        corrected: call.is_corrected(),
        quality: call.quality,
        recommendations: call.recommendation_list(),
        call,
        classification,
        ai_classification,
        messages,
        steps,
        pending_actions,
        notes,
        transfers,
    }))
}

/// `POST /api/v1/calls/{id}/takeover`: the caller holds the call from now on.
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/takeover", tag = "calls", summary = "Hold the call: the AI stops answering (agents and up)",
    params(("id" = i64, Path, description = "Call id")),
    responses(
        (status = 200, description = "The call", body = CallEnvelope),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 409, description = "Closed, or held by someone else (`call_held` names them)", body = ErrorBody),
    )
)]
pub async fn takeover_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> AppResult<Json<CallEnvelope>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let call = staff::take_over(&state, &cap, id).await?;
    Ok(Json(CallEnvelope { call }))
}

/// `POST /api/v1/calls/{id}/handback`: the AI answers again.
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/handback", tag = "calls", summary = "Give the call back to the AI (the holder)",
    params(("id" = i64, Path, description = "Call id")),
    responses(
        (status = 200, description = "The call", body = CallEnvelope),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 409, description = "Not held by the caller, or closed", body = ErrorBody),
    )
)]
pub async fn handback_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> AppResult<Json<CallEnvelope>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let call = staff::hand_back(&state, &cap, id).await?;
    Ok(Json(CallEnvelope { call }))
}

/// `POST /api/v1/calls/{id}/close` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseCall {
    /// resolved, follow_up, transferred or abandoned.
    #[schema(example = "resolved")]
    outcome: String,
    /// The customer's rating, 1–5.
    #[serde(default)]
    csat: Option<i64>,
}

/// `POST /api/v1/calls/{id}/verify-customer` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifiedCustomer {
    /// The call.
    pub call_id: i64,
    /// Its customer record, now verified.
    pub customer_id: Option<i64>,
    /// Always true.
    pub verified: bool,
}

/// `POST /api/v1/calls/{id}/close`: ends the call with an outcome.
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/close", tag = "calls", summary = "End the call with an outcome and an optional rating",
    params(("id" = i64, Path, description = "Call id")),
    request_body = CloseCall,
    responses(
        (status = 200, description = "The closed call", body = CallEnvelope),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, or a temporary password not yet changed", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 409, description = "Already closed, or held by someone else", body = ErrorBody),
        (status = 422, description = "Unknown outcome or a rating outside 1–5 (`fields`)", body = ErrorBody),
    )
)]
pub async fn close_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<CloseCall>,
) -> AppResult<Json<CallEnvelope>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let outcome = Outcome::parse(&body.outcome)
        .ok_or_else(|| AppError::Validation(crate::error::FieldErrors::from([("outcome", "field.outcome_invalid")])))?;
    let csat = staff::parse_csat(body.csat)?;
    let call = staff::close(&state, &cap, id, outcome, csat).await?;
    Ok(Json(CallEnvelope { call }))
}

/// `POST /api/v1/calls/{id}/verify-customer`: the caller checked who the customer is;
/// the call's unverified customer record becomes verified (409 when it is not a claim).
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/verify-customer", tag = "calls",
    summary = "Vouch for the caller: the call's unverified customer record becomes verified",
    params(("id" = i64, Path, description = "Call id")),
    responses(
        (status = 200, description = "Verified", body = VerifiedCustomer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, or a temporary password not yet changed", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 409, description = "The call's customer is not an unverified claim", body = ErrorBody),
    )
)]
pub async fn verify_customer_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Json<VerifiedCustomer>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let call = staff::confirm_caller(&state, &cap, id, ip).await?;
    Ok(Json(VerifiedCustomer { call_id: call.id, customer_id: call.customer_id, verified: true }))
}

#[cfg(test)]
mod fuzz {
    //! The calls API's JSON bodies: any text arrives unchanged, and unknown fields
    //! or wrong types are refused rather than ignored.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn fuzz_call_bodies_round_trip_any_text(text in any::<String>(), name in any::<String>(), outcome in any::<String>(), csat in any::<Option<i64>>()) {
            let body: PostMessage = serde_json::from_value(json!({"text": text})).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&body.text, &text);
            let body: CreateCall = serde_json::from_value(json!({"message": text, "customer": {"name": name, "email": "a@b.es"}}))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!((body.message, body.customer.map(|c| c.name), body.channel), (text, Some(name), Channel::Api));
            let body: CloseCall = serde_json::from_value(json!({"outcome": outcome, "csat": csat})).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!((body.outcome, body.csat), (outcome, csat));
        }

        #[test]
        fn fuzz_close_checks_accept_only_known_outcomes_and_ratings(outcome in any::<String>(), csat in any::<i64>()) {
            if let Some(o) = Outcome::parse(&outcome) {
                prop_assert_eq!(o.as_str(), outcome.trim());
            }
            prop_assert_eq!(staff::parse_csat(Some(csat)).is_ok(), (1..=5).contains(&csat));
        }

        #[test]
        fn fuzz_unknown_fields_are_refused(field in "[a-z_]{1,12}") {
            prop_assume!(!["text"].contains(&field.as_str()));
            let body = json!({"text": "hola", field: 1});
            prop_assert!(serde_json::from_value::<PostMessage>(body).is_err());
        }
    }
}
