//! The customer's call pages (no account): start a call, chat, see a person join,
//! answer the summary offer, end the call and rate it.
//!
//! Everything works as plain form posts that re-render the page; with JavaScript the
//! message form posts through htmx and the page follows `/c/{token}/events` (SSE):
//! `typing` events carry reply text as it is written, `update` events say the
//! transcript changed and the page re-fetches it. The call is reachable only through
//! its private link.

use std::convert::Infallible;

use super::form::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::{PageCtx, is_htmx, with_hx_redirect};
use crate::app::AppState;
use crate::audit::Entry;
use crate::auth::extract::{ClientIp, limit_key};
use crate::calls::{self, Call, CallStatus, Channel, Message, MessageKind, MessageRole, NewCall, customer};
use crate::customers::{self, CustomerInput};
use crate::email::{self, Confirmation};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};
use crate::events::{CallChange, Item, Kind, Payload};

#[derive(Template, WebTemplate)]
#[template(path = "public/start.html")]
/// The `public/start.html` template.
pub struct StartPage {
    page: PageCtx,
    form: StartForm,
    errors: FieldErrors,
}

impl StartPage {
    fn error(&self, field: &str) -> Option<&'static str> {
        self.errors.get(field).copied()
    }
}

/// What the customer sees of their call.
pub struct CallView {
    token: String,
    call: Call,
    messages: Vec<Message>,
    email: Option<String>,
    /// The id of the newest event when the page was drawn (the live stream starts there).
    after: i64,
    /// A problem with the message just sent.
    message_error: Option<&'static str>,
    /// A problem with the summary or rating form.
    form_error: Option<&'static str>,
    /// The call's summary email, once one was drafted.
    summary: Option<crate::email::Email>,
    /// What that summary says (shown before the customer confirms).
    summary_content: Option<crate::agents::summary::CallSummary>,
}

impl CallView {
    /// What a system message says, in the reader's language.
    pub fn system_text(&self, tr: &crate::i18n::Tr, m: &Message) -> String {
        let dept = self.call.department.map(|d| tr.label("dept", d)).unwrap_or_default();
        match m.kind {
            Some(MessageKind::Joined) if dept.is_empty() => {
                tr.fill("callpage.joined_plain", &[("name", m.author_first_name())])
            }
            Some(MessageKind::Joined) => {
                tr.fill("callpage.joined", &[("name", m.author_first_name()), ("dept", &dept)])
            }
            Some(MessageKind::Left) => tr.fill("callpage.left", &[("name", m.author_first_name())]),
            Some(MessageKind::Closed | MessageKind::Ended) => tr.t("callpage.ended").to_owned(),
            Some(MessageKind::Interrupted) => tr.t("callpage.interrupted").to_owned(),
            Some(MessageKind::Transferred) => {
                tr.fill("callpage.transferred", &[("dept", &tr.label("dept", &m.content))])
            }
            Some(MessageKind::Service) | None => String::new(),
        }
    }

    /// Who is answering, for the heading.
    pub fn status_text(&self, tr: &crate::i18n::Tr) -> String {
        match self.call.status {
            CallStatus::Ai => tr.t("callpage.status_ai").to_owned(),
            CallStatus::Queued => tr.t("callpage.status_queued").to_owned(),
            CallStatus::Human => tr.fill("callpage.status_human", &[("name", &self.holder_first_name())]),
            CallStatus::Closed => tr.t("callpage.status_closed").to_owned(),
        }
    }

    fn holder_first_name(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == MessageRole::System && m.kind == Some(MessageKind::Joined))
            .map(|m| m.author_first_name().to_owned())
            .unwrap_or_default()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "public/call.html")]
/// The `public/call.html` template.
pub struct CallPage {
    page: PageCtx,
    v: CallView,
}

#[derive(Template, WebTemplate)]
#[template(path = "public/_conversation.html")]
/// The `public/_conversation.html` fragment.
pub struct ConversationPartial {
    page: PageCtx,
    v: CallView,
}

#[derive(Template, WebTemplate)]
#[template(path = "public/_composer.html")]
/// The `public/_composer.html` fragment (message form, end button).
pub struct ComposerPartial {
    page: PageCtx,
    v: CallView,
}

/// The start form.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    message: String,
}

/// `GET /call`: the form that starts a call.
pub async fn start_get(session: Session, headers: HeaderMap) -> AppResult<StartPage> {
    Ok(StartPage {
        page: PageCtx::new(&session, &headers, None, "call").await?,
        form: StartForm::default(),
        errors: FieldErrors::new(),
    })
}

/// `POST /call`: opens the call, runs the first turn and sends the customer to the
/// call's private link. Bad input re-renders the form with everything typed kept.
pub async fn start_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<StartForm>,
) -> AppResult<Response> {
    let input = CustomerInput { name: form.name.clone(), email: form.email.clone(), phone: Some(form.phone.clone()) };
    let (text, customer) = match (calls::parse_message(&form.message), customers::check_customer(&input)) {
        (Ok(text), Ok(c)) => (text, c),
        (m, c) => {
            let mut errors = FieldErrors::new();
            for e in [m.err(), c.err()].into_iter().flatten() {
                if let AppError::Validation(f) = e {
                    errors.extend(f);
                } else {
                    return Err(e);
                }
            }
            let page = PageCtx::new(&session, &headers, None, "call").await?;
            // htmx swaps 2xx answers only.
            let status = if is_htmx(&headers) { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            return Ok((status, StartPage { page, form, errors }).into_response());
        }
    };
    // Counted once the form is valid: fixing a typo is not an attempt.
    state.public_limits().starts.hit(&limit_key(ip.as_deref().unwrap_or("unknown")))?;
    // The customer's claim, the call and its first message land together or not at all.
    let mut tx = state.db().begin().await?;
    let customer_id = customers::link_public_customer(&mut tx, &customer).await?;
    let (token, hash) = customer::new_token();
    let new = NewCall {
        channel: Channel::Web,
        customer_id,
        created_by: None,
        access_hash: Some(&hash),
        contact: Some(&customer),
    };
    let opened = calls::open_call(&state, tx, &new, &text, None).await?;
    run_turn(&state, Turn::First(opened), text, is_htmx(&headers)).await?;
    let to = format!("/c/{token}");
    if is_htmx(&headers) {
        return Ok(with_hx_redirect(StatusCode::NO_CONTENT.into_response(), &to));
    }
    Ok(Redirect::to(&to).into_response())
}

/// Which turn of a call [`run_turn`] runs.
enum Turn {
    /// The first: its message is stored with the call ([`calls::open_call`]).
    First(calls::Opened),
    /// A later one of the call: its message is stored now.
    Next(Call),
}

impl Turn {
    fn call_id(&self) -> i64 {
        match self {
            Turn::First(opened) => opened.call.id,
            Turn::Next(call) => call.id,
        }
    }
}

/// Runs a customer turn on a task of its own: in the background for htmx (the reply
/// streams over SSE), otherwise waited for before the page is drawn again (a visitor
/// who leaves meanwhile still gets the reply stored: [`crate::context::Turns::finish`]).
async fn run_turn(state: &AppState, turn: Turn, text: String, background: bool) -> AppResult<()> {
    async fn go(state: &AppState, turn: Turn, text: &str) -> AppResult<calls::TurnResult> {
        match turn {
            Turn::First(opened) => calls::first_answer(state, opened, text, None).await,
            Turn::Next(call) => calls::customer_turn(state, call, text, None, None).await,
        }
    }
    if background {
        let state = state.clone();
        let turns = state.turns().clone();
        turns.spawn(async move {
            let call_id = turn.call_id();
            // The page will open the call's stream: the reply streams to it.
            let _coming = state.bus_handle().page_coming(call_id);
            if let Err(err) = go(&state, turn, &text).await {
                tracing::warn!(error = %err, call_id, "customer turn failed");
            }
        });
        return Ok(());
    }
    let state = state.clone();
    let turns = state.turns().clone();
    turns.finish(async move { go(&state, turn, &text).await.map(|_| ()) }).await
}

async fn view(state: &AppState, token: &str, error: Option<(&'static str, Part)>) -> AppResult<CallView> {
    // The live stream starts after the last event before the messages are read: a
    // message arriving meanwhile is shown or streamed (or both: its event only redraws
    // the conversation).
    let after = state.bus().latest_id().await?;
    let customer::Page { call, messages, summary } = customer::page_by_token(state, token).await?;
    let summary_content = summary.as_ref().and_then(|s| match s.content() {
        Some(crate::email::render::Content::Summary(c)) => Some(c),
        _ => None,
    });
    // The address is shown only with the summary offer or the summary itself (whose
    // recipient is already at hand).
    let email = match &summary {
        Some(s) => Some(customer::mask(&s.to_address)),
        None if call.asks_for_summary_consent() => customer::masked_email(state, &call).await?,
        None => None,
    };
    let (message_error, form_error) = match error {
        Some((key, Part::Composer)) => (Some(key), None),
        Some((key, Part::Conversation)) => (None, Some(key)),
        None => (None, None),
    };
    Ok(CallView {
        token: token.to_owned(),
        call,
        messages,
        email,
        after,
        message_error,
        form_error,
        summary,
        summary_content,
    })
}

/// The page again (plain forms), or for htmx the part the form targets: the composer
/// for messages, the conversation for the offer and rating forms. htmx swaps 2xx
/// answers only, so a form error comes back as 200 there.
async fn page(session: &Session, headers: &HeaderMap, v: CallView, part: Part) -> AppResult<Response> {
    let page = PageCtx::new(session, headers, None, "call").await?;
    let failed = v.message_error.is_some() || v.form_error.is_some();
    let status = if failed { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    match (is_htmx(headers), part) {
        (true, Part::Composer) => Ok(ComposerPartial { page, v }.into_response()),
        (true, Part::Conversation) => Ok(ConversationPartial { page, v }.into_response()),
        (false, _) => Ok((status, CallPage { page, v }).into_response()),
    }
}

/// Which part of the page an htmx form replaces.
#[derive(Clone, Copy, Debug)]
enum Part {
    Composer,
    Conversation,
}

/// `GET /c/{token}`: the call.
pub async fn call_get(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let v = view(&state, &token, None).await?;
    page(&session, &headers, v, Part::Conversation).await
}

/// `GET /c/{token}/composer`: the message form (redrawn when the call's state changes).
pub async fn composer_get(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<ComposerPartial> {
    let v = view(&state, &token, None).await?;
    Ok(ComposerPartial { page: PageCtx::new(&session, &headers, None, "call").await?, v })
}

/// `GET /c/{token}/conversation`: the conversation fragment (live refresh).
pub async fn conversation_get(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<ConversationPartial> {
    let v = view(&state, &token, None).await?;
    Ok(ConversationPartial { page: PageCtx::new(&session, &headers, None, "call").await?, v })
}

/// The message form.
#[derive(Debug, Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    message: String,
}

/// `POST /c/{token}/messages`: the customer's next message.
pub async fn message_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<MessageForm>,
) -> AppResult<Response> {
    let call = customer::by_token(&state, &token).await?;
    let error = match calls::parse_message(&form.message) {
        Err(AppError::Validation(f)) => f.values().next().copied(),
        Err(e) => return Err(e),
        Ok(_) if !call.is_open() => Some("callpage.ended"),
        Ok(text) => {
            state.public_limits().messages.hit(&call.id.to_string())?;
            run_turn(&state, Turn::Next(call), text, is_htmx(&headers)).await?;
            None
        }
    };
    if error.is_none() && !is_htmx(&headers) {
        return Ok(Redirect::to(&format!("/c/{token}")).into_response());
    }
    let v = view(&state, &token, error.map(|e| (e, Part::Composer))).await?;
    page(&session, &headers, v, Part::Composer).await
}

/// The summary-offer form.
#[derive(Debug, Deserialize)]
pub struct SummaryForm {
    #[serde(default)]
    choice: String,
}

/// `POST /c/{token}/summary`: yes or no to an emailed summary; then, once the
/// supervisor agent has drafted it and the customer has read it, send or cancel.
pub async fn summary_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Form(form): Form<SummaryForm>,
) -> AppResult<Response> {
    let call = customer::by_token(&state, &token).await?;
    let outcome = match form.choice.as_str() {
        "yes" => match customer::answer_summary_offer(&state, &call, true).await {
            Ok(()) => {
                let call = calls::get(state.db(), call.id).await?;
                email::summary::request(&state, &call, None, Confirmation::Pending, None).await.map(|_| ())
            }
            Err(e) => Err(e),
        },
        "no" => customer::answer_summary_offer(&state, &call, false).await,
        "send" | "cancel" => match email::summary_of_call(state.db(), call.id).await? {
            None => Err(AppError::Conflict(Conflict::SummaryNotOffered)),
            Some(email) => {
                let customer = call.customer_id.map(|id| format!("customer:{id}")).unwrap_or_default();
                let action = if form.choice == "send" { "email.confirm" } else { "email.decline" };
                let entry = Entry::new(None, customer, action).ip(ip);
                if form.choice == "send" {
                    email::confirm(&state, email.id, Confirmation::Customer, Some(entry)).await.map(|_| ())
                } else {
                    email::decline(&state, email.id, Some(entry)).await.map(|_| ())
                }
            }
        },
        _ => return after_action(&state, &session, &headers, &token, Some("callpage.choose")).await,
    };
    if outcome.is_ok() && matches!(form.choice.as_str(), "send" | "cancel") {
        let change = CallChange {
            fields: Some(calls::call_fields(&call)),
            summary_email: Some(if form.choice == "send" { "queued" } else { "declined" }),
            ..CallChange::default()
        };
        state.bus().emit(Some(call.id), Payload::CallUpdated(change)).await;
    }
    let error = match outcome {
        Ok(()) => None,
        Err(AppError::Conflict(_)) => Some("callpage.already_answered"),
        Err(AppError::Validation(_)) => Some("callpage.summary_unavailable"),
        Err(e) => return Err(e),
    };
    after_action(&state, &session, &headers, &token, error).await
}

/// The rating form.
#[derive(Debug, Deserialize)]
pub struct RatingForm {
    #[serde(default)]
    csat: String,
}

/// `POST /c/{token}/rating`: 1–5 once the call has ended.
pub async fn rating_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<RatingForm>,
) -> AppResult<Response> {
    let call = customer::by_token(&state, &token).await?;
    let error = match form.csat.trim().parse::<i64>() {
        Err(_) => Some("field.csat_range"),
        Ok(n) => match customer::rate(&state, &call, n).await {
            Ok(()) => None,
            Err(AppError::Validation(_)) => Some("field.csat_range"),
            Err(AppError::Conflict(_)) => Some("callpage.already_rated"),
            Err(e) => return Err(e),
        },
    };
    after_action(&state, &session, &headers, &token, error).await
}

/// `POST /c/{token}/end`: the customer hangs up.
pub async fn end_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let call = customer::by_token(&state, &token).await?;
    customer::end(&state, &call).await?;
    if is_htmx(&headers) {
        // Both parts change: let htmx load the page again.
        return Ok(with_hx_redirect(StatusCode::NO_CONTENT.into_response(), &format!("/c/{token}")));
    }
    after_action(&state, &session, &headers, &token, None).await
}

async fn after_action(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    token: &str,
    error: Option<&'static str>,
) -> AppResult<Response> {
    if error.is_none() && !is_htmx(headers) {
        return Ok(Redirect::to(&format!("/c/{token}")).into_response());
    }
    let v = view(state, token, error.map(|e| (e, Part::Conversation))).await?;
    page(session, headers, v, Part::Conversation).await
}

/// Events that change what the customer sees.
const CUSTOMER_VISIBLE: [Kind; 6] =
    [Kind::Message, Kind::CallUpdated, Kind::Escalated, Kind::TakenOver, Kind::HandedBack, Kind::Closed];

/// Where a live stream starts when the client has not seen any event.
#[derive(Debug, Deserialize)]
pub struct AfterQuery {
    #[serde(default)]
    after: Option<i64>,
}

impl AfterQuery {
    /// The event id to start after.
    pub fn after(&self) -> Option<i64> {
        self.after
    }
}

/// `GET /c/{token}/events`: the customer's live stream (`typing` with reply text,
/// `update` when the conversation changed). Nothing internal is sent: the page
/// re-fetches the conversation, which shows only what the customer may see.
pub async fn events_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Query(q): Query<AfterQuery>,
) -> AppResult<Response> {
    let limits = state.public_limits();
    limits.stream_ips.hit(&limit_key(ip.as_deref().unwrap_or("unknown")))?;
    let call = customer::by_token(&state, &token).await?;
    limits.streams.hit(&call.id.to_string())?;
    let after = crate::sse::last_event_id(&headers).or(q.after());
    let call_id = call.id;
    let feed = state.bus_handle().feed(after, Some(call_id)).await?;
    let stream = feed.filter_map(move |item| async move {
        match item {
            Item::Typing(text) => {
                Some(Ok::<_, Infallible>(SseEvent::default().event("typing").data(json!({"text": text}).to_string())))
            }
            Item::Event(e) if e.call_id == Some(call_id) && CUSTOMER_VISIBLE.iter().any(|k| k.as_str() == e.kind) => {
                let role = e.data.get("role").cloned().unwrap_or_default();
                let data = json!({"kind": e.kind, "role": role}).to_string();
                Some(Ok(SseEvent::default().event("update").id(e.id.to_string()).data(data)))
            }
            Item::Event(_) => None,
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(crate::sse::KEEP_ALIVE)).into_response())
}

#[cfg(test)]
mod fuzz {
    //! The public forms as browsers send them: whatever is typed reaches the handler
    //! unchanged, and a valid start form passes the handler's checks.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn fuzz_start_form_round_trips_any_text(name in any::<String>(), email in any::<String>(), phone in any::<String>(), message in any::<String>()) {
            let body = serde_urlencoded::to_string([("name", &name), ("email", &email), ("phone", &phone), ("message", &message)]).unwrap_or_default();
            let form: StartForm = serde_urlencoded::from_str(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!((form.name, form.email, form.phone, form.message), (name, email, phone, message));
        }

        #[test]
        fn fuzz_valid_start_form_passes_the_handler_checks(name in "[A-Za-zñÑ]{1,20}", user in "[a-z0-9]{1,12}", phone in "(\\+34 )?[0-9]{9}", message in "[^\\p{C}]{0,80}[a-zA-Z][^\\p{C}]{0,80}") {
            let email = format!("{user}@example.com");
            let body = serde_urlencoded::to_string([("name", &name), ("email", &email), ("phone", &phone), ("message", &message)]).unwrap_or_default();
            let form: StartForm = serde_urlencoded::from_str(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let input = CustomerInput { name: form.name.clone(), email: form.email.clone(), phone: Some(form.phone.clone()) };
            prop_assert_eq!(calls::parse_message(&form.message).ok(), Some(message.trim().to_owned()));
            let c = customers::check_customer(&input).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!((c.name, c.email.as_str().to_owned(), c.phone.map(|p| p.as_str().to_owned())), (name, email, Some(phone)));
        }

        #[test]
        fn fuzz_message_and_rating_forms_round_trip(message in any::<String>(), csat in any::<String>()) {
            let form: MessageForm = serde_urlencoded::from_str(&serde_urlencoded::to_string([("message", &message)]).unwrap_or_default())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(form.message, message);
            let form: RatingForm = serde_urlencoded::from_str(&serde_urlencoded::to_string([("csat", &csat)]).unwrap_or_default())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(form.csat, csat);
        }
    }
}
