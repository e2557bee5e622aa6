//! Tickets: a customer's open problems and requests, the list staff filter and page
//! through, each ticket with its history, and the staff who may be assigned one.
//!
//! Opening a ticket (by the AI's tool, the demo seed or staff) writes its `created`
//! history row in the same transaction; staff changes live in [`work`].

pub mod work;

use serde::{Deserialize, Serialize};

use crate::agents::Priority;
use crate::db::paging::{Page, Paging};
use crate::db::types::text_column;
use crate::db::{Db, Timestamp, Tx, id_enum, on_tx, with_db};
use crate::error::{AppError, AppResult, FieldErrors};

pub use work::{StaffTicket, TicketChange, TicketDraft, create, update};

id_enum! {
    /// Where a ticket stands.
    TicketStatus {
        /// Nobody works on it yet.
        Open => "open",
        /// Someone works on it.
        InProgress => "in_progress",
        /// Waiting on the customer or a third party.
        Pending => "pending",
        /// Solved; `resolved_at` is set.
        Resolved => "resolved",
        /// Closed.
        Closed => "closed",
    }
}

text_column!(TicketStatus);

impl TicketStatus {
    /// Resolved or closed: `resolved_at` is set while a ticket is in one of these.
    pub fn is_done(self) -> bool {
        matches!(self, Self::Resolved | Self::Closed)
    }
}

id_enum! {
    /// What a history row records.
    HistoryField {
        /// The ticket was opened.
        Created => "created",
        /// Its status changed.
        Status => "status",
        /// Its priority changed.
        Priority => "priority",
        /// It was assigned, reassigned or unassigned (values are user ids).
        AssignedTo => "assigned_to",
        /// Its title changed.
        Title => "title",
        /// Its description changed.
        Description => "description",
        /// A staff member commented.
        Comment => "comment",
    }
}

text_column!(HistoryField);

/// Who opened a ticket when no staff member did: the AI's tool in a call.
pub const ACTOR_AI: &str = "ai";
/// Who opened a ticket when no staff member did: the demo seed.
pub const ACTOR_SYSTEM: &str = "system";

/// A ticket to open.
#[derive(Clone, Debug)]
pub struct NewTicket<'a> {
    /// Whose.
    pub customer_id: i64,
    /// Short title.
    pub title: &'a str,
    /// What happened.
    pub description: &'a str,
    /// Status it starts in (usually open).
    pub status: TicketStatus,
    /// How urgent.
    pub priority: Priority,
}

/// Opens a ticket (the AI's tool, for the call's customer); returns its id.
pub async fn open(db: &Db, t: &NewTicket<'_>) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let id = open_in(&mut tx, t).await?;
    tx.commit().await?;
    Ok(id)
}

/// Opens a ticket inside the caller's transaction, with its `created` history row by
/// the AI; returns its id.
pub async fn open_in(tx: &mut Tx, t: &NewTicket<'_>) -> Result<i64, sqlx::Error> {
    let now = Timestamp::now();
    let resolved_at = t.status.is_done().then_some(now);
    let id = on_tx!(tx, |conn| {
        sqlx::query_scalar(
        "INSERT INTO tickets (customer_id, title, description, status, priority, created_at, updated_at, resolved_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING id",
    )
    .bind(t.customer_id)
    .bind(t.title)
    .bind(t.description)
    .bind(t.status.as_str())
    .bind(t.priority.as_str())
    .bind(now)
    .bind(resolved_at)
    .fetch_one(&mut *conn)
    .await
    })?;
    let created = HistoryRow::created(id, None, ACTOR_AI, t.status);
    created.insert_in(tx).await?;
    Ok(id)
}

/// Opens a ticket for the customer with `email` unless they already have one with
/// this title (the demo seed runs more than once); `customer_id` is ignored.
pub async fn open_once_for(db: &Db, email: &str, t: &NewTicket<'_>) -> Result<bool, sqlx::Error> {
    let now = Timestamp::now();
    let resolved_at = t.status.is_done().then_some(now);
    let mut tx = db.begin().await?;
    let id: Option<i64> = on_tx!(&mut tx, |conn| {
        sqlx::query_scalar(
        "INSERT INTO tickets (customer_id, title, description, status, priority, created_at, updated_at, resolved_at) \
         SELECT c.id, $2, $3, $4, $5, $6, $6, $7 FROM customers c WHERE c.email = $1 \
         AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.customer_id = c.id AND t.title = $2) RETURNING id",
    )
    .bind(email)
    .bind(t.title)
    .bind(t.description)
    .bind(t.status.as_str())
    .bind(t.priority.as_str())
    .bind(now)
    .bind(resolved_at)
    .fetch_optional(&mut *conn)
    .await
    })?;
    if let Some(id) = id {
        HistoryRow::created(id, None, ACTOR_SYSTEM, t.status).insert_in(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(id.is_some())
}

/// One history row to write.
#[derive(Clone, Debug)]
pub(crate) struct HistoryRow<'a> {
    pub ticket_id: i64,
    pub actor_id: Option<i64>,
    pub actor: &'a str,
    pub field: HistoryField,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

impl<'a> HistoryRow<'a> {
    fn created(ticket_id: i64, actor_id: Option<i64>, actor: &'a str, status: TicketStatus) -> Self {
        Self {
            ticket_id,
            actor_id,
            actor,
            field: HistoryField::Created,
            old_value: None,
            new_value: Some(status.as_str().to_owned()),
        }
    }

    pub(crate) async fn insert_in(&self, tx: &mut Tx) -> Result<(), sqlx::Error> {
        on_tx!(tx, |conn| sqlx::query(
            "INSERT INTO ticket_history (ticket_id, actor_id, actor, field, old_value, new_value, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.ticket_id)
        .bind(self.actor_id)
        .bind(self.actor)
        .bind(self.field.as_str())
        .bind(self.old_value.as_deref())
        .bind(self.new_value.as_deref())
        .bind(Timestamp::now())
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

/// A stored ticket with the names staff read beside its ids.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Ticket {
    /// Id.
    pub id: i64,
    /// Whose.
    pub customer_id: i64,
    /// The customer's name.
    pub customer_name: String,
    /// Short title.
    pub title: String,
    /// What happened.
    pub description: String,
    /// Where it stands.
    pub status: TicketStatus,
    /// How urgent.
    pub priority: Priority,
    /// The staff member working on it.
    pub assigned_to: Option<i64>,
    /// Their name.
    pub assignee_name: Option<String>,
    /// The call it was opened from.
    pub call_id: Option<i64>,
    /// The staff member who opened it (none when the AI or the seed did).
    pub created_by: Option<i64>,
    /// When it was opened.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Option<Timestamp>,
    /// When it was resolved or closed (cleared when reopened).
    pub resolved_at: Option<Timestamp>,
}

macro_rules! ticket_select {
    () => {
        "SELECT t.id, t.customer_id, c.name AS customer_name, t.title, t.description, t.status, t.priority, \
         t.assigned_to, u.full_name AS assignee_name, t.call_id, t.created_by, t.created_at, t.updated_at, t.resolved_at \
         FROM tickets t JOIN customers c ON c.id = t.customer_id LEFT JOIN users u ON u.id = t.assigned_to "
    };
}

/// The filters' `WHERE`, with `$1`..`$6` as [`Filter::binds`] orders them.
macro_rules! ticket_where {
    () => {
        "WHERE ($1 IS NULL OR t.status = $1) AND ($2 IS NULL OR t.priority = $2) \
         AND ($3 IS NULL OR t.assigned_to = $3) AND ($4 = FALSE OR t.assigned_to IS NULL) \
         AND ($5 IS NULL OR t.customer_id = $5) \
         AND ($6 IS NULL OR LOWER(t.title) LIKE $6 ESCAPE '\\' OR LOWER(t.description) LIKE $6 ESCAPE '\\') "
    };
}

/// Whose tickets a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Assignee {
    /// Anyone's or nobody's.
    #[default]
    Any,
    /// Unassigned tickets only.
    Nobody,
    /// Tickets assigned to this user.
    User(i64),
}

/// The query of a ticket list, as typed (`?status=&priority=&assigned_to=&customer_id=&q=&page=&per_page=`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A status id.
    #[serde(default)]
    pub status: Option<String>,
    /// A priority id.
    #[serde(default)]
    pub priority: Option<String>,
    /// A user id, `none` (unassigned) or `me`.
    #[serde(default)]
    pub assigned_to: Option<String>,
    /// A customer id.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Text in the title or description.
    #[serde(default)]
    pub q: Option<String>,
    /// 1-based page.
    #[serde(default)]
    pub page: Option<String>,
    /// Rows per page.
    #[serde(default)]
    pub per_page: Option<String>,
}

/// Validated list filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this status.
    pub status: Option<TicketStatus>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Whose.
    pub assigned_to: Assignee,
    /// Only this customer's.
    pub customer_id: Option<i64>,
    /// Text in the title or description (case-insensitive).
    pub q: Option<String>,
}

fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ListQuery {
    /// The filters and the page; `me` is who `assigned_to=me` means. An unknown value is
    /// a 422 naming its field.
    pub fn parse(&self, me: i64) -> AppResult<(Filter, Paging)> {
        let paging = Paging::parse(self.page.as_deref(), self.per_page.as_deref())?;
        let mut errors = FieldErrors::new();
        let mut filter = Filter::default();
        if let Some(s) = given(&self.status) {
            filter.status = TicketStatus::parse(s).or_else(|| {
                errors.insert("status", "field.ticket_status_invalid");
                None
            });
        }
        if let Some(p) = given(&self.priority) {
            filter.priority = Priority::parse(p).or_else(|| {
                errors.insert("priority", "field.priority_invalid");
                None
            });
        }
        match given(&self.assigned_to) {
            None => {}
            Some("none") => filter.assigned_to = Assignee::Nobody,
            Some("me") => filter.assigned_to = Assignee::User(me),
            Some(id) => match id.parse::<i64>() {
                Ok(id) => filter.assigned_to = Assignee::User(id),
                Err(_) => {
                    errors.insert("assigned_to", "field.assignee_filter_invalid");
                }
            },
        }
        if let Some(c) = given(&self.customer_id) {
            filter.customer_id = c.trim_start_matches('#').parse().ok().or_else(|| {
                errors.insert("customer_id", "field.customer_id_invalid");
                None
            });
        }
        filter.q = given(&self.q).map(|q| q.chars().take(200).collect());
        if errors.is_empty() { Ok((filter, paging)) } else { Err(AppError::Validation(errors)) }
    }
}

/// The binds of [`ticket_where!`], in order.
type Binds = (Option<&'static str>, Option<&'static str>, Option<i64>, bool, Option<i64>, Option<String>);

impl Filter {
    fn binds(&self) -> Binds {
        let user = match self.assigned_to {
            Assignee::User(id) => Some(id),
            _ => None,
        };
        (
            self.status.map(TicketStatus::as_str),
            self.priority.map(Priority::as_str),
            user,
            self.assigned_to == Assignee::Nobody,
            self.customer_id,
            self.q.as_deref().map(crate::text::like_contains),
        )
    }
}

/// One page of tickets matching `filter`, newest first, with the total over all pages.
pub async fn list(db: &Db, filter: &Filter, paging: Paging) -> AppResult<Page<Ticket>> {
    let (s, p, u, nobody, c, q) = filter.binds();
    let count_sql = concat!("SELECT COUNT(*) FROM tickets t ", ticket_where!());
    let rows_sql = concat!(ticket_select!(), ticket_where!(), "ORDER BY t.id DESC LIMIT $7 OFFSET $8");
    let (total, items) = with_db!(db, |pool| {
        let total: i64 = sqlx::query_scalar(count_sql)
            .bind(s)
            .bind(p)
            .bind(u)
            .bind(nobody)
            .bind(c)
            .bind(q.as_deref())
            .fetch_one(pool)
            .await?;
        let items: Vec<Ticket> = sqlx::query_as(rows_sql)
            .bind(s)
            .bind(p)
            .bind(u)
            .bind(nobody)
            .bind(c)
            .bind(q.as_deref())
            .bind(paging.limit())
            .bind(paging.offset())
            .fetch_all(pool)
            .await?;
        Ok::<_, sqlx::Error>((total, items))
    })?;
    Ok(Page::new(items, total, paging))
}

/// One ticket (404 when there is none).
pub async fn get(db: &Db, id: i64) -> AppResult<Ticket> {
    let sql = concat!(ticket_select!(), "WHERE t.id = $1");
    let ticket: Option<Ticket> = with_db!(db, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
    ticket.ok_or(AppError::NotFound)
}

/// A stored history row, with the names staff read for assignee ids.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Id.
    pub id: i64,
    /// Who (none for the AI and the seed).
    pub actor_id: Option<i64>,
    /// Their name then (`ai`, `system` when no staff member acted).
    pub actor: String,
    /// What changed.
    pub field: HistoryField,
    /// Before (a user id for `assigned_to`).
    pub old_value: Option<String>,
    /// After (a user id for `assigned_to`; the text for `comment`).
    pub new_value: Option<String>,
    /// For `assigned_to`: the name of the user before.
    #[sqlx(skip)]
    pub old_name: Option<String>,
    /// For `assigned_to`: the name of the user after.
    #[sqlx(skip)]
    pub new_name: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// A ticket's history, oldest first.
pub async fn history(db: &Db, id: i64) -> AppResult<Vec<HistoryEntry>> {
    let mut rows: Vec<HistoryEntry> = with_db!(db, |pool| {
        sqlx::query_as(
        "SELECT id, actor_id, actor, field, old_value, new_value, at FROM ticket_history WHERE ticket_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    })?;
    let names = staff_names(db).await?;
    let name_of = |v: &Option<String>| {
        let id: i64 = v.as_deref()?.parse().ok()?;
        names.iter().find(|(uid, _)| *uid == id).map(|(_, n)| n.clone())
    };
    for row in rows.iter_mut().filter(|r| r.field == HistoryField::AssignedTo) {
        row.old_name = name_of(&row.old_value);
        row.new_name = name_of(&row.new_value);
    }
    Ok(rows)
}

async fn staff_names(db: &Db) -> Result<Vec<(i64, String)>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_as("SELECT id, full_name FROM users").fetch_all(pool).await)
}

/// A staff member a ticket may be assigned to.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Assignable {
    /// User id.
    pub id: i64,
    /// Display name.
    pub full_name: String,
}

/// Enabled agents, supervisors and admins, by name: who may be assigned a ticket.
pub async fn assignable(db: &Db) -> AppResult<Vec<Assignable>> {
    Ok(with_db!(db, |pool| sqlx::query_as(
        "SELECT id, full_name FROM users WHERE disabled = FALSE AND role IN ('agent', 'supervisor', 'admin') \
         ORDER BY full_name, id",
    )
    .fetch_all(pool)
    .await)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries_name_the_field_they_refuse() {
        let q = ListQuery { status: Some("done".into()), assigned_to: Some("bob".into()), ..ListQuery::default() };
        match q.parse(1) {
            Err(AppError::Validation(f)) => {
                assert_eq!(f.keys().copied().collect::<Vec<_>>(), ["assigned_to", "status"]);
            }
            other => panic!("{other:?}"),
        }
        let q = ListQuery { assigned_to: Some("me".into()), q: Some("  ".into()), ..ListQuery::default() };
        let (f, _) = q.parse(7).unwrap();
        assert_eq!((f.assigned_to, f.q), (Assignee::User(7), None));
    }
}
