//! Calls over the API: start one, post customer messages (JSON or SSE), read one back
//! with its transcript and agent steps; take over, reply as a person, hand back, close.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ApiWorker, ClientIp};
use crate::calls::staff::{self, Outcome};
use crate::calls::{self, CallStatus, Channel};
use crate::customers::{self, CustomerInput};
use crate::error::{AppError, AppResult, Conflict};

/// `POST /api/v1/calls` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCall {
    #[serde(default)]
    customer_id: Option<i64>,
    #[serde(default)]
    customer: Option<CustomerInput>,
    #[serde(default = "default_channel")]
    channel: Channel,
    message: String,
}

fn default_channel() -> Channel {
    Channel::Api
}

/// `POST /api/v1/calls`: opens a call and runs its first turn.
pub async fn calls_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    ApiJson(body): ApiJson<CreateCall>,
) -> AppResult<Response> {
    let text = calls::parse_message(&body.message)?;
    let customer_id = customers::resolve_customer(state.db(), body.customer_id, body.customer.as_ref()).await?;
    let call_id = calls::create(&state, body.channel, customer_id, Some(auth.user.id), None, None).await?;
    let result = calls::post_customer_message(&state, call_id, &text, None, Some(&auth.principal)).await?;
    Ok((StatusCode::CREATED, Json(result)).into_response())
}

/// `POST /api/v1/calls/{id}/messages` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    text: String,
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
        return Ok((StatusCode::CREATED, Json(json!({"message_id": message_id, "role": "human"}))).into_response());
    }
    staff::may_relay(&state, &cap, &call).await?;
    let text = calls::parse_message(&body.text)?;
    // Once a stream starts the status is 200, so a closed call is refused here, as a
    // plain HTTP error, before it does.
    if !call.is_open() {
        return Err(AppError::Conflict(Conflict::CallClosed));
    }
    if !wants_stream(&headers) {
        let result = calls::customer_turn(&state, call, &text, None, Some(&auth.principal)).await?;
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

/// `GET /api/v1/calls/{id}`: the call, its messages, its current classification beside
/// the AI's, every agent step with tokens, latency and tool calls, the routing agent's
/// recommendations, the supervisor's quality score, and its transfers and internal
/// notes (staff only: this API is for staff).
pub async fn call_get(State(state): State<AppState>, _auth: ApiAuth, Path(id): Path<i64>) -> AppResult<Json<Value>> {
    let call = calls::get(state.db(), id).await?;
    let messages = calls::messages(state.db(), id).await?;
    let runs = calls::runs(state.db(), id).await?;
    let actions = calls::actions::for_call(state.db(), id).await?;
    let steps: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({
                "turn": r.turn, "agent": r.agent, "backend": r.backend, "model": r.model,
                "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens, "latency_ms": r.latency_ms,
                "tool_calls": serde_json::from_str::<Value>(&r.tool_calls).unwrap_or(Value::Null),
                "output": r.output, "outcome": r.outcome, "at": r.at,
            })
        })
        .collect();
    let classification = json!({
        "department": call.department, "category": call.category, "sentiment": call.sentiment,
        "priority": call.priority, "confidence": call.confidence, "language": call.language,
        "corrected": call.is_corrected(), "corrected_by": call.corrected_by, "corrected_at": call.corrected_at,
    });
    let ai_classification = json!({
        "department": call.ai_department, "category": call.ai_category, "sentiment": call.ai_sentiment,
        "priority": call.ai_priority,
    });
    let notes = crate::calls::team::notes(state.db(), id).await?;
    let transfers = crate::calls::team::transfers(state.db(), id).await?;
    Ok(Json(json!({
        "classification": classification, "ai_classification": ai_classification,
        "corrected": call.is_corrected(), "quality": call.quality, "recommendations": call.recommendation_list(),
        "call": call, "messages": messages, "steps": steps,
        "pending_actions": actions.iter().map(super::actions::action_json).collect::<Vec<_>>(),
        "notes": notes, "transfers": transfers,
    })))
}

/// `POST /api/v1/calls/{id}/takeover`: the caller holds the call from now on.
pub async fn takeover_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> AppResult<Json<Value>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let call = staff::take_over(&state, &cap, id).await?;
    Ok(Json(json!({ "call": call })))
}

/// `POST /api/v1/calls/{id}/handback`: the AI answers again.
pub async fn handback_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> AppResult<Json<Value>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let call = staff::hand_back(&state, &cap, id).await?;
    Ok(Json(json!({ "call": call })))
}

/// `POST /api/v1/calls/{id}/close` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseCall {
    outcome: String,
    #[serde(default)]
    csat: Option<i64>,
}

/// `POST /api/v1/calls/{id}/close`: ends the call with an outcome.
pub async fn close_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<CloseCall>,
) -> AppResult<Json<Value>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let outcome = Outcome::parse(&body.outcome)
        .ok_or_else(|| AppError::Validation(crate::error::FieldErrors::from([("outcome", "field.outcome_invalid")])))?;
    let csat = staff::parse_csat(body.csat)?;
    let call = staff::close(&state, &cap, id, outcome, csat).await?;
    Ok(Json(json!({ "call": call })))
}

/// `POST /api/v1/calls/{id}/verify-customer`: the caller checked who the customer is;
/// the call's unverified customer record becomes verified (409 when it is not a claim).
pub async fn verify_customer_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Json<Value>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let call = staff::confirm_caller(&state, &cap, id, ip).await?;
    Ok(Json(json!({"call_id": call.id, "customer_id": call.customer_id, "verified": true})))
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
