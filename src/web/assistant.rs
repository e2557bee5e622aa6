//! The staff assistant's page: a request box whose reply streams in (a POST answered
//! with server-sent events, read by `static/app.js`), and the same request as a plain
//! form post that renders the whole page, for browsers without JavaScript. A payment
//! the assistant prepared shows confirm and cancel buttons naming the exact customer
//! and amount.

use std::convert::Infallible;

use super::form::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::path::WebPath;
use super::{PageCtx, require_ready};
use crate::app::AppState;
use crate::assistant::{self, Answer, actions};
use crate::auth::extract::{ClientIp, WebAuth};
use crate::error::{AppError, AppResult, Conflict};
use crate::i18n::Tr;

/// A tool use as the page shows it.
#[derive(Clone, Debug)]
pub struct StepView {
    tool: String,
    arguments: String,
    outcome: String,
    ok: bool,
}

/// A payment waiting for the confirm click.
#[derive(Clone, Debug)]
pub struct PendingView {
    id: i64,
    detail: String,
}

/// One request and its answer.
#[derive(Clone, Debug)]
pub struct TurnView {
    message: String,
    reply: String,
    steps: Vec<StepView>,
    pending: Option<PendingView>,
}

impl TurnView {
    fn new(state: &AppState, tr: Tr, message: &str, a: Answer) -> Self {
        let steps = a
            .steps
            .into_iter()
            .map(|s| StepView {
                tool: s.tool,
                arguments: s.arguments.to_string(),
                ok: s.error.is_none(),
                outcome: match (s.result, s.error) {
                    (_, Some(e)) => e,
                    (Some(r), None) => r.to_string(),
                    (None, None) => String::new(),
                },
            })
            .collect();
        let pending = a.pending_action.map(|p| {
            let method = tr.t(&format!("assistant.method.{}", p.method)).to_owned();
            let values = [
                ("amount", p.amount.clone()),
                ("method", method),
                ("name", p.customer_name.clone()),
                ("customer", p.customer_id.to_string()),
                ("description", p.description.clone()),
                ("expires", state.config().timezone.minutes(p.expires_at)),
            ];
            let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
            PendingView { id: p.id, detail: tr.fill("assistant.pending_detail", &values) }
        });
        Self { message: message.to_owned(), reply: a.reply, steps, pending }
    }
}

/// The `assistant/index.html` template.
#[derive(Template, WebTemplate)]
#[template(path = "assistant/index.html")]
pub struct AssistantPage {
    page: PageCtx,
    message: String,
    error: Option<&'static str>,
    notice: Option<String>,
    turn: Option<TurnView>,
}

/// The `assistant/_turn.html` template (sent at the end of a streamed reply).
#[derive(Template)]
#[template(path = "assistant/_turn.html")]
pub struct TurnPartial {
    page: PageCtx,
    turn: TurnView,
}

/// The request form.
#[derive(Debug, Deserialize)]
pub struct AskForm {
    #[serde(default)]
    message: String,
}

async fn page_ctx(auth: &WebAuth, headers: &HeaderMap) -> AppResult<PageCtx> {
    PageCtx::new(&auth.session, headers, Some(&auth.principal), "assistant").await
}

fn empty(page: PageCtx) -> AssistantPage {
    AssistantPage { page, message: String::new(), error: None, notice: None, turn: None }
}

/// `GET /assistant`.
pub async fn assistant_get(auth: WebAuth, headers: HeaderMap) -> AppResult<AssistantPage> {
    require_ready(&auth)?;
    Ok(empty(page_ctx(&auth, &headers).await?))
}

/// `POST /assistant`: the whole page with the answer (no JavaScript needed).
pub async fn assistant_post(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<AskForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let page = page_ctx(&auth, &headers).await?;
    match assistant::ask(&state, &auth.principal, ip, &form.message, None).await {
        Ok(answer) => {
            let turn = TurnView::new(&state, page.tr, form.message.trim(), answer);
            Ok(AssistantPage { turn: Some(turn), ..empty(page) }.into_response())
        }
        Err(AppError::Validation(_)) => {
            let shown: String = form.message.chars().take(assistant::MAX_MESSAGE).collect();
            let body = AssistantPage { message: shown, error: Some("assistant.message_invalid"), ..empty(page) };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response())
        }
        Err(e) => Err(e),
    }
}

/// `POST /assistant/stream`: the answer as server-sent events: `delta` events with
/// reply text as it is written, then `done` with the answer's HTML (drawn and escaped
/// here), or `error`.
pub async fn stream_post(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<AskForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let message = assistant::check_message(&form.message)?;
    let page = page_ctx(&auth, &headers).await?;
    let (events, mut out) = mpsc::channel::<SseEvent>(64);
    let who = auth.principal.clone();
    // The request runs to its end even if the browser goes away, so what the tools
    // did is reported on the audit log and the records either way.
    tokio::spawn(async move {
        let (deltas, mut pieces) = mpsc::channel::<String>(64);
        let forward = {
            let events = events.clone();
            async move {
                while let Some(text) = pieces.recv().await {
                    let _ =
                        events.send(SseEvent::default().event("delta").data(json!({"text": text}).to_string())).await;
                }
            }
        };
        let run = async {
            let answer = assistant::ask(&state, &who, ip, &message, Some(&deltas)).await;
            drop(deltas);
            answer
        };
        let (answer, ()) = tokio::join!(run, forward);
        let last =
            match answer.map(|a| TurnPartial { turn: TurnView::new(&state, page.tr, &message, a), page }.render()) {
                Ok(Ok(html)) => SseEvent::default().event("done").data(json!({"html": html}).to_string()),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "assistant fragment failed to render");
                    SseEvent::default().event("error").data(json!({"message": "error"}).to_string())
                }
                Err(e) => {
                    tracing::warn!(error = %e, "assistant request failed");
                    SseEvent::default().event("error").data(json!({"message": "error"}).to_string())
                }
            };
        let _ = events.send(last).await;
    });
    let stream = futures_util::stream::poll_fn(move |cx| out.poll_recv(cx).map(|e| e.map(Ok::<_, Infallible>)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(crate::sse::KEEP_ALIVE)).into_response())
}

/// What a confirm or cancel click led to, as a notice on the page.
async fn decided(auth: &WebAuth, headers: &HeaderMap, outcome: AppResult<String>) -> AppResult<Response> {
    let page = page_ctx(auth, headers).await?;
    let (status, notice) = match outcome {
        Ok(text) => (StatusCode::OK, text),
        Err(AppError::Conflict(Conflict::ActionExpired)) => {
            (StatusCode::CONFLICT, page.tr.t("assistant.expired").to_owned())
        }
        Err(AppError::Conflict(_)) => (StatusCode::CONFLICT, page.tr.t("assistant.already_decided").to_owned()),
        Err(e) => return Err(e),
    };
    Ok((status, AssistantPage { notice: Some(notice), ..empty(page) }).into_response())
}

/// `POST /assistant/confirm/{id}`: registers the prepared payment.
pub async fn confirm_post(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.approver().ok_or(AppError::Forbidden)?;
    let tr = Tr(auth.principal.language);
    let outcome = actions::confirm(&state, &cap, id, ip).await.map(|c| {
        let values =
            [("amount", c.amount.as_str()), ("name", c.customer_name.as_str()), ("balance", c.balance.as_str())];
        tr.fill("assistant.confirmed", &values)
    });
    decided(&auth, &headers, outcome).await
}

/// `POST /assistant/cancel/{id}`: drops the prepared payment.
pub async fn cancel_post(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.approver().ok_or(AppError::Forbidden)?;
    let tr = Tr(auth.principal.language);
    let outcome =
        actions::cancel(state.db(), cap.actor(), id, ip).await.map(|()| tr.t("assistant.cancelled").to_owned());
    decided(&auth, &headers, outcome).await
}
