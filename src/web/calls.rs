//! Staff pages for calls: the list, a call's page (transcript, classification, every
//! agent step, pending actions) with takeover / reply / hand-back / close, and the
//! approvals page. All text from customers and models is escaped by the templates;
//! every action checks the role in Rust, whatever the page shows.

use super::form::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::path::WebPath;
use super::{PageCtx, is_htmx, require_ready};
use crate::app::AppState;
use crate::auth::extract::{ClientIp, WebAuth};
use crate::calls::actions::{self, PendingAction};
use crate::calls::canned::{self, Rendered};
use crate::calls::staff::{self, Outcome};
use crate::calls::{self, AgentRun, Call, CallStatus, Message, MessageKind};
use crate::customers::history::Panel;
use crate::error::{AppError, AppResult, Conflict};

/// Everything a call's page shows.
pub struct CallView {
    call: Call,
    holder: Option<String>,
    customer: Option<String>,
    /// False while the linked record is a public visitor's unconfirmed claim.
    customer_verified: bool,
    messages: Vec<Message>,
    runs: Vec<RunView>,
    actions: Vec<PendingAction>,
    /// The call's emails (staff who work calls only).
    emails: Vec<crate::email::Email>,
    total_tokens: i64,
    /// The viewer holds this call.
    mine: bool,
    /// The viewer may work calls (not a viewer).
    can_act: bool,
    /// The viewer may approve actions.
    can_approve: bool,
    outcomes: [Outcome; 4],
    /// A notice for the viewer (e.g. who holds the call), already translated parts.
    notice: Option<Notice>,
    /// Notes, transfers and the forms to add them (staff only).
    team: super::teamwork::TeamView,
    /// What the reply box starts with (a suggested reply, an inserted canned response).
    draft: String,
    /// The canned responses offered in this call, filled in (its holder only).
    canned: Vec<Rendered>,
    /// The WhatsApp conversation, on a WhatsApp call.
    whatsapp: Option<WhatsappView>,
}

/// A WhatsApp call's conversation on its page.
pub struct WhatsappView {
    conversation: crate::channels::whatsapp::conversation::Conversation,
    window_open: bool,
    /// Delivery status of each message sent, by call message id.
    delivery: std::collections::HashMap<i64, String>,
    /// The templates its holder may send from this number (the holder only).
    templates: Vec<crate::channels::whatsapp::templates::Template>,
}

/// A message shown above the call's controls.
pub struct Notice {
    key: &'static str,
    name: Option<String>,
}

impl CallView {
    /// The delivery status of a message sent over WhatsApp.
    pub fn delivery(&self, message_id: &i64) -> Option<&str> {
        self.whatsapp.as_ref().and_then(|w| w.delivery.get(message_id)).map(String::as_str)
    }

    /// Where an approval on this page returns to.
    pub fn back(&self) -> String {
        format!("/calls/{}", self.call.id)
    }

    /// What a system message says, in the reader's language.
    pub fn system_text(&self, tr: &crate::i18n::Tr, m: &Message) -> String {
        let name = m.author.as_deref().unwrap_or_default();
        match m.kind {
            Some(MessageKind::Joined) => tr.fill("callops.sys_joined", &[("name", name)]),
            Some(MessageKind::Left) => tr.fill("callops.sys_left", &[("name", name)]),
            Some(MessageKind::Closed) => {
                tr.fill("callops.sys_closed", &[("name", name), ("outcome", &tr.label("outcome", &m.content))])
            }
            Some(MessageKind::Ended) => tr.t("callops.sys_ended").to_owned(),
            Some(MessageKind::Interrupted) => tr.t("callops.sys_interrupted").to_owned(),
            Some(MessageKind::Transferred) => {
                tr.fill("callops.sys_transferred", &[("name", name), ("dept", &tr.label("dept", &m.content))])
            }
            Some(MessageKind::Service) | None => String::new(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "calls/detail.html")]
/// The `calls/detail.html` template.
pub struct CallPage {
    page: PageCtx,
    v: CallView,
    after: i64,
    /// The caller's record, when the call is linked to one.
    panel: Option<Panel>,
}

#[derive(Template, WebTemplate)]
#[template(path = "calls/_customer.html")]
/// The `calls/_customer.html` fragment: the caller's record beside the call.
pub struct CallCustomerPartial {
    page: PageCtx,
    panel: Option<Panel>,
}

/// The customer panel of call `id` (none when the call has no customer record).
async fn panel(state: &AppState, call: &Call) -> AppResult<Option<Panel>> {
    match call.customer_id {
        Some(cid) => Ok(Some(crate::customers::history::panel(state.db(), cid, call.id).await?)),
        None => Ok(None),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "calls/_live.html")]
/// The `calls/_live.html` fragment (the live part of a call's page).
pub struct CallLivePartial {
    page: PageCtx,
    v: CallView,
}

#[derive(Template, WebTemplate)]
#[template(path = "calls/_controls.html")]
/// The `calls/_controls.html` fragment (takeover, reply, hand back, close).
pub struct CallControlsPartial {
    page: PageCtx,
    v: CallView,
}

#[derive(Template, WebTemplate)]
#[template(path = "calls/_reply_box.html")]
/// The `calls/_reply_box.html` fragment: the reply box holding a suggested reply.
pub struct ReplyBoxPartial {
    v: CallView,
}

#[derive(Template, WebTemplate)]
#[template(path = "actions/list.html")]
/// The `actions/list.html` template.
pub struct ActionsPage {
    page: PageCtx,
    actions: Vec<PendingAction>,
    can_approve: bool,
    after: i64,
}

/// An agent step prepared for display.
pub struct RunView {
    run: AgentRun,
    tools: Vec<(String, String, String, bool)>,
}

async fn view(state: &AppState, auth: &WebAuth, id: i64, notice: Option<Notice>) -> AppResult<CallView> {
    let call = calls::get(state.db(), id).await?;
    let messages = calls::messages(state.db(), id).await?;
    let runs: Vec<RunView> = calls::runs(state.db(), id)
        .await?
        .into_iter()
        .map(|run| {
            let tools = serde_json::from_str::<Vec<serde_json::Value>>(&run.tool_calls)
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    (
                        t["name"].as_str().unwrap_or_default().to_owned(),
                        t["arguments"].as_str().unwrap_or_default().to_owned(),
                        t["result"].to_string(),
                        t["ok"].as_bool().unwrap_or(false),
                    )
                })
                .collect();
            RunView { run, tools }
        })
        .collect();
    let total_tokens = runs.iter().map(|r| r.run.prompt_tokens + r.run.completion_tokens).sum();
    let holder = match call.assigned_to {
        Some(uid) => crate::users::get(state.db(), uid).await?.map(|u| u.full_name),
        None => None,
    };
    let (customer, customer_verified) = match call.customer_id {
        Some(cid) => match crate::customers::customer_identity(state.db(), cid).await? {
            Some((name, verified)) => (Some(name), verified),
            None => (None, false),
        },
        None => (None, false),
    };
    let me = &auth.principal;
    let team = super::teamwork::TeamView::load(state, me, &call).await?;
    let mine = call.status == CallStatus::Human && call.assigned_to == Some(me.id);
    let whatsapp = match crate::channels::whatsapp::conversation::of_call(state.db(), id).await? {
        Some(conversation) => {
            let sent = crate::channels::whatsapp::outbound::of_call(state.db(), id).await?;
            let templates = if mine {
                crate::channels::whatsapp::templates::for_number(state.db(), &conversation.phone_number_id).await?
            } else {
                Vec::new()
            };
            Some(WhatsappView {
                window_open: conversation.window_open(crate::db::Timestamp::now()),
                conversation,
                delivery: sent.into_iter().map(|o| (o.message_id, o.status)).collect(),
                templates,
            })
        }
        None => None,
    };
    let emails = if me.agent().is_some() {
        let filter = crate::email::Filter { status: None, call_id: Some(id), customer_id: None };
        crate::email::list(state.db(), &filter, 20).await?
    } else {
        Vec::new()
    };
    let canned = if mine { canned::for_call(state.db(), &call, me).await? } else { Vec::new() };
    Ok(CallView {
        emails,
        mine,
        draft: String::new(),
        canned,
        can_act: me.agent().is_some(),
        can_approve: me.approver().is_some(),
        actions: actions::for_call(state.db(), id).await?,
        outcomes: Outcome::ALL,
        call,
        holder,
        customer,
        customer_verified,
        messages,
        runs,
        total_tokens,
        notice,
        team,
        whatsapp,
    })
}

/// `GET /calls/{id}`.
pub async fn call_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<CallPage> {
    require_ready(&auth)?;
    let after = state.bus().latest_id().await?;
    let v = view(&state, &auth, id, None).await?;
    let panel = panel(&state, &v.call).await?;
    Ok(CallPage { page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "calls").await?, v, after, panel })
}

/// `GET /calls/{id}/customer`: the customer panel (redrawn when the call or its
/// customer's record changes).
pub async fn call_customer_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<CallCustomerPartial> {
    require_ready(&auth)?;
    let call = calls::get(state.db(), id).await?;
    let panel = panel(&state, &call).await?;
    Ok(CallCustomerPartial {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "calls").await?,
        panel,
    })
}

/// `GET /calls/{id}/live`: the live part of the call's page.
pub async fn call_live_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<CallLivePartial> {
    require_ready(&auth)?;
    let v = view(&state, &auth, id, None).await?;
    Ok(CallLivePartial { page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "calls").await?, v })
}

/// `GET /calls/{id}/controls`: the call's controls (redrawn when its holder changes).
pub async fn call_controls_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<CallControlsPartial> {
    require_ready(&auth)?;
    let v = view(&state, &auth, id, None).await?;
    Ok(CallControlsPartial { page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "calls").await?, v })
}

/// Draws the call again after an action: the fragment for htmx, a redirect for plain
/// forms; a refusal the person can do something about (someone else holds the call,
/// it was closed meanwhile, an empty reply) is shown on the page instead of an error
/// page.
pub(super) async fn after_action(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    id: i64,
    result: AppResult<()>,
) -> AppResult<Response> {
    let invalid = matches!(result, Err(AppError::Validation(_)));
    let notice = match result {
        Ok(()) => None,
        Err(AppError::HeldBy(name)) => Some(Notice { key: "callops.held_by", name: Some(name) }),
        Err(AppError::Conflict(Conflict::CallClosed)) => Some(Notice { key: "callops.closed", name: None }),
        Err(AppError::WhatsappWindowClosed) => Some(Notice { key: "error.whatsapp_window_closed", name: None }),
        Err(AppError::Conflict(Conflict::CallNotWhatsapp)) => Some(Notice { key: "watpl.not_whatsapp", name: None }),
        Err(AppError::Conflict(_)) => Some(Notice { key: "callops.state_changed", name: None }),
        Err(AppError::Validation(f)) => {
            Some(Notice { key: f.values().next().copied().unwrap_or("error.validation"), name: None })
        }
        Err(e) => return Err(e),
    };
    if notice.is_none() && !is_htmx(headers) {
        return Ok(Redirect::to(&format!("/calls/{id}")).into_response());
    }
    let page = PageCtx::new(&auth.session, headers, Some(&auth.principal), "calls").await?;
    let v = view(state, auth, id, notice).await?;
    if is_htmx(headers) {
        return Ok(CallControlsPartial { page, v }.into_response());
    }
    let after = state.bus().latest_id().await?;
    let panel = panel(state, &v.call).await?;
    let status = if invalid { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::CONFLICT };
    Ok((status, CallPage { page, v, after, panel }).into_response())
}

/// `POST /calls/{id}/takeover`.
pub async fn takeover_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let result = staff::take_over(&state, &cap, id).await.map(|_| ());
    after_action(&state, &auth, &headers, id, result).await
}

/// `POST /calls/{id}/verify-customer`: the staff member checked who the caller is.
pub async fn verify_customer_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let result = staff::confirm_caller(&state, &cap, id, ip).await.map(|_| ());
    after_action(&state, &auth, &headers, id, result).await
}

/// `POST /calls/{id}/handback`.
pub async fn handback_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let result = staff::hand_back(&state, &cap, id).await.map(|_| ());
    after_action(&state, &auth, &headers, id, result).await
}

/// The reply form.
#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    message: String,
}

/// `POST /calls/{id}/reply`: a person's reply (holder only).
pub async fn reply_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
    Form(form): Form<ReplyForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let result = staff::reply(&state, &cap, id, &form.message).await.map(|_| ());
    after_action(&state, &auth, &headers, id, result).await
}

/// `POST /calls/{id}/whatsapp/read`: the WhatsApp conversation is read.
pub async fn whatsapp_read_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    auth.principal.agent().ok_or(AppError::Forbidden)?;
    if !crate::channels::whatsapp::conversation::mark_read(state.db(), id).await? {
        return Err(AppError::NotFound);
    }
    after_action(&state, &auth, &headers, id, Ok(())).await
}

/// `POST /calls/{id}/whatsapp/template`: the holder sends a message template, with
/// `template_id` and one `variable` field per variable, in order (the form's fields
/// repeat, so the body is read as pairs).
pub async fn whatsapp_template_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    use crate::channels::whatsapp::templates::{self, SendTemplate, TemplateRef};
    let template_id = pairs.iter().find(|(k, _)| k == "template_id").and_then(|(_, v)| v.trim().parse::<i64>().ok());
    let result = match template_id {
        Some(template_id) => {
            let wanted = SendTemplate {
                template: TemplateRef::Id(template_id),
                language: None,
                variables: pairs.iter().filter(|(k, _)| k == "variable").map(|(_, v)| v.clone()).collect(),
            };
            templates::send(&state, &cap, id, &wanted).await.map(|_| ())
        }
        None => Err(AppError::Validation(crate::error::FieldErrors::from([("template", "field.wa_template_unknown")]))),
    };
    after_action(&state, &auth, &headers, id, result).await
}

/// The reply form when it asks for a suggested reply or a canned response: what was
/// typed so far and the response chosen.
#[derive(Debug, Deserialize)]
pub struct ComposeForm {
    #[serde(default)]
    message: String,
    #[serde(default)]
    canned: String,
}

/// The call's page (or, for htmx, `fragment` of it) with the reply box holding
/// `draft`; a refusal goes through [`after_action`], and htmx is told to redraw the
/// controls with it instead of the box.
async fn with_draft(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    id: i64,
    draft: AppResult<String>,
    box_only: bool,
) -> AppResult<Response> {
    let draft = match draft {
        Ok(draft) => draft,
        Err(e) => {
            let mut response = after_action(state, auth, headers, id, Err(e)).await?;
            if is_htmx(headers) {
                let h = response.headers_mut();
                h.insert("hx-retarget", axum::http::HeaderValue::from_static("#call-controls"));
                h.insert("hx-reswap", axum::http::HeaderValue::from_static("innerHTML"));
            }
            return Ok(response);
        }
    };
    let page = PageCtx::new(&auth.session, headers, Some(&auth.principal), "calls").await?;
    let mut v = view(state, auth, id, None).await?;
    v.draft = draft;
    if is_htmx(headers) && box_only {
        return Ok(ReplyBoxPartial { v }.into_response());
    }
    if is_htmx(headers) {
        return Ok(CallControlsPartial { page, v }.into_response());
    }
    let after = state.bus().latest_id().await?;
    let panel = panel(state, &v.call).await?;
    Ok(CallPage { page, v, after, panel }.into_response())
}

/// `POST /calls/{id}/suggest`: the customer-service agent drafts a reply to the
/// customer's last message into the reply box (the holder only; nothing is sent).
pub async fn suggest_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let draft = crate::calls::draft::suggest(&state, &cap, id).await.map(|d| d.text);
    with_draft(&state, &auth, &headers, id, draft, true).await
}

/// `POST /calls/{id}/compose`: the reply box with the chosen canned response added to
/// what was typed, filled in for this call (how the picker works without JavaScript;
/// the page's script inserts the same text in place).
pub async fn compose_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
    Form(form): Form<ComposeForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let draft = async {
        let chosen = form.canned.trim().parse::<i64>().map_err(|_| AppError::NotFound)?;
        let rendered = canned::for_holder(state.db(), &cap, id, chosen).await?;
        let typed = form.message.trim_end();
        Ok(if typed.is_empty() { rendered.text } else { format!("{typed}\n{}", rendered.text) })
    }
    .await;
    with_draft(&state, &auth, &headers, id, draft, false).await
}

/// The close form.
#[derive(Debug, Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    csat: String,
}

/// `POST /calls/{id}/close`.
pub async fn close_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
    Form(form): Form<CloseForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let result = async {
        let outcome = Outcome::parse(&form.outcome).ok_or_else(|| {
            AppError::Validation(crate::error::FieldErrors::from([("outcome", "field.outcome_invalid")]))
        })?;
        let csat = match form.csat.trim() {
            "" => None,
            n => staff::parse_csat(Some(n.parse::<i64>().unwrap_or(0)))?,
        };
        staff::close(&state, &cap, id, outcome, csat).await.map(|_| ())
    }
    .await;
    after_action(&state, &auth, &headers, id, result).await
}

/// `GET /actions`: actions waiting for approval, then recent decisions.
pub async fn actions_get(State(state): State<AppState>, auth: WebAuth, headers: HeaderMap) -> AppResult<ActionsPage> {
    require_ready(&auth)?;
    let after = state.bus().latest_id().await?;
    Ok(ActionsPage {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "actions").await?,
        actions: actions::list(state.db(), false).await?,
        can_approve: auth.principal.approver().is_some(),
        after,
    })
}

/// The decision form: where to go back to.
#[derive(Debug, Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    back: String,
    /// For a payment made in another currency: the amount in euros that arrived.
    #[serde(default)]
    amount_eur: Option<String>,
}

impl DecideForm {
    /// Only local pages of this app: the approvals page or a call's page.
    fn back(&self) -> String {
        match self.back.strip_prefix("/calls/").map(|n| n.parse::<i64>()) {
            Some(Ok(id)) => format!("/calls/{id}"),
            _ => "/actions".to_owned(),
        }
    }
}

/// `POST /actions/{id}/approve` and `/reject`.
pub async fn decide_post(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    WebPath((id, decision)): WebPath<(i64, String)>,
    Form(form): Form<DecideForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.approver().ok_or(AppError::Forbidden)?;
    match decision.as_str() {
        "approve" => actions::approve(&state, &cap, id, form.amount_eur.as_deref(), ip).await?,
        "reject" => actions::reject(&state, &cap, id, ip).await?,
        _ => return Err(AppError::NotFound),
    };
    Ok(Redirect::to(&form.back()).into_response())
}
