//! Tickets over the API: the filtered, paged list, one ticket with its history, its
//! customer and its call, opening one and changing it. Any staff member reads; agents,
//! supervisors and admins write (viewers get 403 before the body is read).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ApiWorker, ClientIp};
use crate::customers::tickets::{self, HistoryEntry, ListQuery, Ticket, TicketChange, TicketDraft};
use crate::db::paging::Page;
use crate::error::{AppError, AppResult, ErrorBody};

/// `POST /api/v1/tickets` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    /// Whose.
    pub customer_id: i64,
    /// Short title.
    pub title: String,
    /// What happened.
    #[serde(default)]
    pub description: String,
    /// `low`, `medium` (default), `high` or `critical`.
    #[serde(default)]
    pub priority: Option<String>,
    /// The call it comes from (the same customer's).
    #[serde(default)]
    pub call_id: Option<i64>,
    /// Who works on it (an enabled agent or above).
    #[serde(default)]
    pub assigned_to: Option<i64>,
}

/// `PATCH /api/v1/tickets/{id}` body; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTicket {
    /// `open`, `in_progress`, `pending`, `resolved` or `closed`.
    #[serde(default)]
    pub status: Option<String>,
    /// `low`, `medium`, `high` or `critical`.
    #[serde(default)]
    pub priority: Option<String>,
    /// A user id, or `null` to unassign.
    #[serde(default, deserialize_with = "crate::input::present")]
    pub assigned_to: Option<Option<i64>>,
    /// A comment for the history.
    #[serde(default)]
    pub comment: Option<String>,
}

/// The customer a ticket belongs to, as the ticket's page shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketCustomer {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// The call a ticket was opened from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketCall {
    /// Id.
    pub id: i64,
    /// Where the call stands (ai, queued, human, closed).
    pub status: crate::calls::CallStatus,
    /// When it started.
    pub created_at: crate::db::Timestamp,
}

/// `GET /api/v1/tickets/{id}` answer: the ticket, its customer, its call and history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketDetail {
    /// The ticket's fields.
    #[serde(flatten)]
    pub ticket: Ticket,
    /// Whose.
    pub customer: TicketCustomer,
    /// The call it was opened from.
    pub call: Option<TicketCall>,
    /// Every change, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// `PATCH /api/v1/tickets/{id}` answer: the ticket and which fields changed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketUpdated {
    /// The ticket after the change.
    pub ticket: Ticket,
    /// History fields written (`status`, `priority`, `assigned_to`, `comment`); empty
    /// when nothing changed.
    pub changed: Vec<tickets::HistoryField>,
}

/// `GET /api/v1/tickets`: filtered by `status`, `priority`, `assigned_to` (a user id,
/// `none` or `me`), `customer_id` and `q`, newest first, paged.
#[utoipa::path(
    get, path = "/api/v1/tickets", tag = "tickets", summary = "Tickets, filtered and paged, newest first",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of tickets", body = Page<Ticket>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "A bad filter or paging value (`fields`)", body = ErrorBody),
    )
)]
pub async fn tickets_get(
    State(state): State<AppState>,
    auth: ApiAuth,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<Page<Ticket>>> {
    let (filter, paging) = q.parse(auth.user.id)?;
    Ok(Json(tickets::list(state.db(), &filter, paging).await?))
}

/// `GET /api/v1/tickets/{id}`.
#[utoipa::path(
    get, path = "/api/v1/tickets/{id}", tag = "tickets", summary = "A ticket with its customer, call and history",
    params(("id" = i64, Path, description = "Ticket id")),
    responses(
        (status = 200, description = "The ticket", body = TicketDetail),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such ticket", body = ErrorBody),
    )
)]
pub async fn ticket_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Path(id): Path<i64>,
) -> AppResult<Json<TicketDetail>> {
    let ticket = tickets::get(state.db(), id).await?;
    let history = tickets::history(state.db(), id).await?;
    let customer = TicketCustomer { id: ticket.customer_id, name: ticket.customer_name.clone() };
    let call = match ticket.call_id {
        Some(call_id) => {
            let c = crate::calls::get(state.db(), call_id).await?;
            Some(TicketCall { id: c.id, status: c.status, created_at: c.created_at })
        }
        None => None,
    };
    Ok(Json(TicketDetail { ticket, customer, call, history }))
}

/// `POST /api/v1/tickets`: 201 with the ticket.
#[utoipa::path(
    post, path = "/api/v1/tickets", tag = "tickets", summary = "Open a ticket (agents and up)",
    request_body = CreateTicket,
    responses(
        (status = 201, description = "Opened", body = Ticket),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A viewer", body = ErrorBody),
        (status = 422, description = "Invalid fields, or an unknown customer, call or assignee (`fields`)", body = ErrorBody),
    )
)]
pub async fn tickets_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<CreateTicket>,
) -> AppResult<(StatusCode, Json<Ticket>)> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let draft = TicketDraft {
        customer_id: Some(body.customer_id),
        title: &body.title,
        description: &body.description,
        priority: body.priority.as_deref(),
        call_id: body.call_id,
        assigned_to: body.assigned_to,
    };
    let checked = draft.parse().map_err(AppError::Validation)?;
    let ticket = tickets::create(&state, &cap, &checked, ip).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

/// `PATCH /api/v1/tickets/{id}`.
#[utoipa::path(
    patch, path = "/api/v1/tickets/{id}", tag = "tickets", summary = "Change status, priority or assignee, or comment (agents and up)",
    params(("id" = i64, Path, description = "Ticket id")),
    request_body = PatchTicket,
    responses(
        (status = 200, description = "The ticket and what changed", body = TicketUpdated),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A viewer", body = ErrorBody),
        (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 422, description = "Invalid fields (`fields`)", body = ErrorBody),
    )
)]
pub async fn ticket_patch(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<PatchTicket>,
) -> AppResult<Json<TicketUpdated>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let change = TicketChange::parse(
        body.status.as_deref(),
        body.priority.as_deref(),
        body.assigned_to,
        body.comment.as_deref(),
    )
    .map_err(AppError::Validation)?;
    let (ticket, changed) = tickets::update(state.db(), &cap, id, &change, ip).await?;
    Ok(Json(TicketUpdated { ticket, changed }))
}

#[cfg(test)]
mod fuzz {
    //! The tickets API's bodies: null and absent assignees differ, unknown fields are
    //! refused.
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn null_unassigns_and_absent_leaves_alone() {
        let p: PatchTicket = serde_json::from_value(json!({"assigned_to": null})).unwrap();
        assert_eq!(p.assigned_to, Some(None));
        let p: PatchTicket = serde_json::from_value(json!({"status": "closed"})).unwrap();
        assert_eq!(p.assigned_to, None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn fuzz_ticket_bodies_keep_any_text_and_refuse_unknown_fields(text in any::<String>(), field in "[a-z_]{1,12}") {
            let body: CreateTicket = serde_json::from_value(json!({"customer_id": 1, "title": text, "description": text}))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&body.title, &text);
            let _ = TicketChange::parse(Some(&text), Some(&text), None, Some(&text));
            prop_assume!(!["status", "priority", "assigned_to", "comment"].contains(&field.as_str()));
            let body = json!({field: 1});
            prop_assert!(serde_json::from_value::<PatchTicket>(body).is_err());
        }
    }
}
