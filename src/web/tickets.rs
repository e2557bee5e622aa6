//! Staff pages for tickets: the list with its filters (status, priority, assignee,
//! customer, text) and paging, a ticket's page with its history and the form to change
//! it, and the form to open one (from a customer or a call). Everyone signed in reads;
//! agents, supervisors and admins open and change tickets.

use super::form::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::path::WebPath;
use super::{PageCtx, require_ready};
use crate::agents::Priority;
use crate::app::AppState;
use crate::auth::AgentCap;
use crate::auth::extract::{ClientIp, WebAuth};
use crate::customers::tickets::{
    self, Assignable, HistoryEntry, HistoryField, ListQuery, Ticket, TicketChange, TicketDraft,
};
use crate::db::paging::Page;
use crate::error::{AppError, AppResult, FieldErrors};

#[derive(Template, WebTemplate)]
#[template(path = "tickets/list.html")]
/// The `tickets/list.html` template.
pub struct ListPage {
    page: PageCtx,
    list: Page<Ticket>,
    /// The filters as typed (kept in the form and the paging links).
    q: ListQuery,
    assignees: Vec<Assignable>,
}

impl ListPage {
    fn value<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or_default()
    }

    /// The list's address for page `n`, with the current filters.
    pub fn page_link(&self, n: i64) -> String {
        let keep = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let q = ListQuery {
            status: keep(&self.q.status),
            priority: keep(&self.q.priority),
            assigned_to: keep(&self.q.assigned_to),
            customer_id: keep(&self.q.customer_id),
            q: keep(&self.q.q),
            page: (n > 1).then(|| n.to_string()),
            per_page: keep(&self.q.per_page),
        };
        match serde_urlencoded::to_string(&q) {
            Ok(s) if !s.is_empty() => format!("/tickets?{s}"),
            _ => "/tickets".to_owned(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/detail.html")]
/// The `tickets/detail.html` template.
pub struct DetailPage {
    page: PageCtx,
    t: Ticket,
    history: Vec<HistoryEntry>,
    assignees: Vec<Assignable>,
    errors: FieldErrors,
    /// What was typed, when the change was refused.
    comment: String,
}

impl DetailPage {
    fn error(&self, field: &str) -> Option<&'static str> {
        self.errors.get(field).copied()
    }

    /// A history value as people read it: a label for a status or priority, a name for
    /// an assignee.
    pub fn shown(&self, h: &HistoryEntry, old: bool) -> String {
        let (value, name) = if old { (&h.old_value, &h.old_name) } else { (&h.new_value, &h.new_name) };
        let tr = &self.page.tr;
        match (h.field, value) {
            (_, None) => tr.t("tickets.nobody").to_owned(),
            (HistoryField::AssignedTo, Some(id)) => name.clone().unwrap_or_else(|| format!("#{id}")),
            (HistoryField::Status | HistoryField::Created, Some(v)) => tr.label("ticketstatus", v),
            (HistoryField::Priority, Some(v)) => tr.label("priority", v),
            (_, Some(v)) => v.clone(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/new.html")]
/// The `tickets/new.html` template.
pub struct NewPage {
    page: PageCtx,
    form: NewForm,
    assignees: Vec<Assignable>,
    errors: FieldErrors,
}

impl NewPage {
    fn error(&self, field: &str) -> Option<&'static str> {
        self.errors.get(field).copied()
    }
}

/// The "open a ticket" form, as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    customer_id: String,
    #[serde(default)]
    call_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    assigned_to: String,
}

/// The "change this ticket" form: the new values and the ones the page was drawn with,
/// so that only what this person changed is applied (a stale page does not undo
/// someone else's change).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    assigned_to: String,
    #[serde(default)]
    was_status: String,
    #[serde(default)]
    was_priority: String,
    #[serde(default)]
    was_assigned_to: String,
    #[serde(default)]
    comment: String,
}

fn ready_agent(auth: &WebAuth) -> AppResult<AgentCap<'_>> {
    require_ready(auth)?;
    auth.principal.agent().ok_or(AppError::Forbidden)
}

/// `GET /tickets`: the list (`?assigned_to=me` or `none` for mine or unassigned).
pub async fn tickets_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> AppResult<ListPage> {
    require_ready(&auth)?;
    let (filter, paging) = q.parse(auth.principal.id)?;
    let list = tickets::list(state.db(), &filter, paging).await?;
    let assignees = tickets::assignable(state.db()).await?;
    let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "tickets").await?;
    Ok(ListPage { page, list, q, assignees })
}

async fn detail(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    id: i64,
    errors: FieldErrors,
    comment: String,
) -> AppResult<DetailPage> {
    let t = tickets::get(state.db(), id).await?;
    let history = tickets::history(state.db(), id).await?;
    let assignees = tickets::assignable(state.db()).await?;
    let page = PageCtx::new(&auth.session, headers, Some(&auth.principal), "tickets").await?;
    Ok(DetailPage { page, t, history, assignees, errors, comment })
}

/// `GET /tickets/{id}`.
pub async fn ticket_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<DetailPage> {
    require_ready(&auth)?;
    detail(&state, &auth, &headers, id, FieldErrors::new(), String::new()).await
}

/// A changed select: `Some(new)` when it differs from what the page showed.
fn changed<'a>(now: &'a str, was: &str) -> Option<&'a str> {
    (now.trim() != was.trim()).then_some(now)
}

/// An optional id typed in a form: empty is none, anything else must be a number.
fn optional_id(text: &str) -> Result<Option<i64>, ()> {
    match text.trim().trim_start_matches('#') {
        "" => Ok(None),
        n => n.parse().map(Some).map_err(|_| ()),
    }
}

/// `POST /tickets/{id}`: changes status, priority or assignee, with a comment.
pub async fn ticket_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
    Form(form): Form<ChangeForm>,
) -> AppResult<Response> {
    let cap = ready_agent(&auth)?;
    let assigned_to = match changed(&form.assigned_to, &form.was_assigned_to).map(optional_id) {
        None => Ok(None),
        Some(Ok(a)) => Ok(Some(a)),
        Some(Err(())) => Err(FieldErrors::from([("assigned_to", "field.assignee_invalid")])),
    };
    let parsed = assigned_to.and_then(|assigned_to| {
        TicketChange::parse(
            changed(&form.status, &form.was_status),
            changed(&form.priority, &form.was_priority),
            assigned_to,
            Some(&form.comment),
        )
    });
    let result = match parsed {
        Ok(change) => tickets::update(state.db(), &cap, id, &change, ip).await.map(|_| ()),
        Err(errors) => Err(AppError::Validation(errors)),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/tickets/{id}")).into_response()),
        Err(AppError::Validation(errors)) => {
            let page = detail(&state, &auth, &headers, id, errors, form.comment).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// `GET /tickets/new`: the form, pre-filled from `?customer_id=` or `?call_id=` (the
/// call's customer).
pub async fn new_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(mut form): Query<NewForm>,
) -> AppResult<NewPage> {
    ready_agent(&auth)?;
    if let Ok(Some(call_id)) = optional_id(&form.call_id)
        && form.customer_id.trim().is_empty()
        && let Ok(call) = crate::calls::get(state.db(), call_id).await
        && let Some(customer) = call.customer_id
    {
        form.customer_id = customer.to_string();
    }
    if form.priority.is_empty() {
        form.priority = Priority::Medium.as_str().to_owned();
    }
    let assignees = tickets::assignable(state.db()).await?;
    let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "tickets").await?;
    Ok(NewPage { page, form, assignees, errors: FieldErrors::new() })
}

/// `POST /tickets`: opens the ticket and shows it; problems come back on the form.
pub async fn tickets_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<NewForm>,
) -> AppResult<Response> {
    let cap = ready_agent(&auth)?;
    let mut errors = FieldErrors::new();
    let mut id_of = |field: &'static str, text: &str, key: &'static str| {
        optional_id(text).map_err(|()| errors.insert(field, key)).ok().flatten()
    };
    let customer_id = id_of("customer_id", &form.customer_id, "field.customer_id_invalid");
    let call_id = id_of("call_id", &form.call_id, "field.call_unknown");
    let assigned_to = id_of("assigned_to", &form.assigned_to, "field.assignee_invalid");
    let draft = TicketDraft {
        customer_id,
        title: &form.title,
        description: &form.description,
        priority: Some(&form.priority),
        call_id,
        assigned_to,
    };
    let result = match draft.parse() {
        Ok(checked) if errors.is_empty() => tickets::create(&state, &cap, &checked, ip).await,
        Ok(_) => Err(AppError::Validation(errors)),
        Err(more) => {
            for (field, key) in more {
                errors.entry(field).or_insert(key);
            }
            Err(AppError::Validation(errors))
        }
    };
    match result {
        Ok(t) => Ok(Redirect::to(&format!("/tickets/{}", t.id)).into_response()),
        Err(AppError::Validation(errors)) => {
            let assignees = tickets::assignable(state.db()).await?;
            let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "tickets").await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, NewPage { page, form, assignees, errors }).into_response())
        }
        Err(e) => Err(e),
    }
}
