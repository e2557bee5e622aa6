//! Calls: creating them, running a customer turn through the agents (`turn.rs`), storing every
//! message and agent step, and the people side of a call (takeover, human replies,
//! hand-back, close, approvals). Every change publishes an event on the bus.
//!
//! Status moves `ai` → `queued` (the supervisor agent escalated) → `human` (a staff
//! member took it) → back to `ai` (handed back) or `closed`; any open call may be
//! taken over or closed.

pub mod actions;
pub mod board;
mod budget;
pub mod canned;
pub mod correct;
pub mod customer;
pub mod draft;
pub mod history;
pub mod hours;
pub mod recovery;
pub mod staff;
pub mod states;
pub mod team;
mod turn;

pub use states::{CallStatus, Channel, MessageKind, MessageRole};
pub(crate) use turn::insert_step;
pub use turn::{Opened, TurnResult, answer_stored, customer_turn, first_answer, open_call, post_customer_message};

use serde::Serialize;

use crate::agents::{Department, Priority, Sentiment};
use crate::context::Ctx;
use crate::customers::NewCustomer;
use crate::db::{Db, Timestamp};
use crate::db::{Tx, on_tx, with_db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::events::{self, CallFields, MessageData, Payload};

/// A stored call.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Call {
    /// Id.
    pub id: i64,
    /// How the customer reached us.
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    /// The caller's customer record.
    pub customer_id: Option<i64>,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub status: CallStatus,
    /// Routing results of the latest turn.
    pub department: Option<Department>,
    /// Category (an open set of snake_case topics).
    pub category: Option<String>,
    /// Sentiment.
    pub sentiment: Option<Sentiment>,
    /// Priority.
    pub priority: Option<Priority>,
    /// Confidence.
    pub confidence: Option<f64>,
    /// Language.
    pub language: Option<String>,
    /// Why the supervisor escalated, if it did.
    pub escalation_reason: Option<String>,
    /// The staff member holding the call.
    pub assigned_to: Option<i64>,
    /// The staff member who opened the call over the API (none for customers' own
    /// calls).
    pub created_by: Option<i64>,
    /// How it ended (resolved, follow_up, transferred, abandoned).
    pub outcome: Option<String>,
    /// The customer's rating, 1–5.
    pub csat: Option<i32>,
    /// When it entered the human queue (the latest time).
    pub queued_at: Option<Timestamp>,
    /// True once a person has held it.
    pub human_involved: bool,
    /// True once the supervisor agent offered the customer a summary.
    pub summary_offered: bool,
    /// The customer's answer to the summary offer: yes or no.
    pub summary_consent: Option<String>,
    /// Name the caller gave on the public page (unverified).
    pub contact_name: Option<String>,
    /// Email the caller gave on the public page (unverified).
    pub contact_email: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Ended.
    pub closed_at: Option<Timestamp>,
    /// The AI's latest department (the plain field is the effective one).
    pub ai_department: Option<Department>,
    /// The AI's latest category.
    pub ai_category: Option<String>,
    /// The AI's latest sentiment.
    pub ai_sentiment: Option<Sentiment>,
    /// The AI's latest priority.
    pub ai_priority: Option<Priority>,
    /// The staff member who corrected the classification.
    pub corrected_by: Option<i64>,
    /// When staff corrected it (later AI turns then leave the effective values alone).
    pub corrected_at: Option<Timestamp>,
    /// When staff last transferred it (later AI turns then leave the department alone).
    pub transferred_at: Option<Timestamp>,
    /// The supervisor agent's quality score of the latest turn, 0..1.
    pub quality: Option<f64>,
    /// The routing agent's latest recommendations, a JSON array of strings.
    #[serde(skip)]
    pub recommendations: String,
    /// Tokens (prompt and completion) the call has spent on a remote model; the
    /// built-in engine costs none.
    pub ai_tokens: i64,
}

impl Call {
    /// True unless the call has ended.
    pub fn is_open(&self) -> bool {
        self.status != CallStatus::Closed
    }

    /// Seconds since the call entered the queue (queued calls) or started.
    pub fn waiting_seconds(&self, now: Timestamp) -> i64 {
        let since =
            if self.status == CallStatus::Queued { self.queued_at.unwrap_or(self.created_at) } else { self.created_at };
        let end = self.closed_at.unwrap_or(now);
        (end.unix_seconds() - since.unix_seconds()).max(0)
    }

    /// The routing agent's recommendations (`use_tool:get_balance`, ...).
    pub fn recommendation_list(&self) -> Vec<String> {
        serde_json::from_str(&self.recommendations).unwrap_or_default()
    }

    /// True once staff corrected the classification.
    pub fn is_corrected(&self) -> bool {
        self.corrected_at.is_some()
    }

    /// The customer should be asked about an emailed summary now.
    pub fn asks_for_summary_consent(&self) -> bool {
        self.summary_consent.is_none() && self.customer_id.is_some() && (self.summary_offered || !self.is_open())
    }
}

/// `mm:ss` (or `h:mm:ss`) for waiting and handle times.
pub fn clock(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}

/// The `calls` columns of [`Call`] (a macro so that queries stay `&'static str`).
macro_rules! call_columns {
    () => {
        "id, channel, customer_id, status, department, category, sentiment, priority, confidence, language, \
         escalation_reason, assigned_to, created_by, outcome, csat, queued_at, human_involved, summary_offered, summary_consent, \
         contact_name, contact_email, created_at, updated_at, closed_at, ai_department, ai_category, ai_sentiment, \
         ai_priority, corrected_by, corrected_at, transferred_at, quality, recommendations, ai_tokens"
    };
}
pub(crate) use call_columns;

/// A stored message.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Message {
    /// Id.
    pub id: i64,
    /// Who wrote it.
    pub role: MessageRole,
    /// Which agent wrote it (AI messages), or what happened (system messages).
    #[serde(rename = "agent")]
    pub kind: Option<MessageKind>,
    /// Text (untrusted: escape when showing). For system messages, the staff member's
    /// name or the outcome; `agent` then says what happened (joined, left, closed).
    pub content: String,
    /// When.
    pub at: Timestamp,
    /// The staff member who wrote it (human replies).
    pub author: Option<String>,
}

impl Message {
    /// First name of the author, as customers see it.
    pub fn author_first_name(&self) -> &str {
        self.author.as_deref().and_then(|a| a.split_whitespace().next()).unwrap_or_default()
    }
}

/// A stored agent step.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AgentRun {
    /// Id.
    pub id: i64,
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
    /// JSON array of tool calls with results.
    pub tool_calls: String,
    /// The step's output.
    pub output: String,
    /// ok, skipped or fallback with the cause.
    pub outcome: String,
    /// When.
    pub at: Timestamp,
}

/// Longest customer message accepted (characters).
pub const MAX_MESSAGE: usize = 4000;

/// Checks a customer message; returns it without control characters (newlines stay)
/// and trimmed. Checked after cleaning, so a message of control characters alone is
/// refused as empty instead of stored empty.
///
/// Invisible characters that make text read differently from what it says go too:
/// bidirectional overrides and isolates (U+202A–202E, U+2066–2069, U+200E/F; the
/// "Trojan Source" trick) and zero-width spaces (U+200B, U+FEFF). Joiners
/// (U+200C/D) stay: emoji and several scripts need them.
pub fn parse_message(text: &str) -> AppResult<String> {
    let cleaned: String =
        text.chars().filter(|c| (!c.is_control() || *c == '\n') && !is_deceptive_format(*c)).collect();
    let t = cleaned.trim();
    let n = t.chars().count();
    if n == 0 {
        return Err(AppError::Validation(FieldErrors::from([("message", "field.required")])));
    }
    if n > MAX_MESSAGE {
        return Err(AppError::Validation(FieldErrors::from([("message", "field.text_too_long")])));
    }
    Ok(t.to_owned())
}

fn is_deceptive_format(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A call about to be opened.
pub struct NewCall<'a> {
    /// How the customer reached us.
    pub channel: Channel,
    /// The caller's customer record.
    pub customer_id: Option<i64>,
    /// The staff member who opened it.
    pub created_by: Option<i64>,
    /// The hash of the customer's private link token (web calls).
    pub access_hash: Option<&'a str>,
    /// What a public visitor said about themselves.
    pub contact: Option<&'a NewCustomer>,
}

/// Inserts a call in `tx`; returns it as stored and the event that reports it (to
/// record last, with the transaction's other events).
pub(crate) async fn insert_call(tx: &mut Tx, new: &NewCall<'_>) -> Result<(Call, Payload), sqlx::Error> {
    let sql = concat!(
        "INSERT INTO calls (channel, customer_id, status, created_by, access_hash, contact_name, contact_email, created_at, updated_at) \
         VALUES ($1, $2, 'ai', $3, $4, $5, $6, $7, $7) RETURNING ",
        call_columns!()
    );
    let call: Call = on_tx!(tx, |conn| {
        sqlx::query_as(sql)
            .bind(new.channel.as_str())
            .bind(new.customer_id)
            .bind(new.created_by)
            .bind(new.access_hash)
            .bind(new.contact.map(|c| c.name.clone()))
            .bind(new.contact.map(|c| c.email.as_str().to_owned()))
            .bind(Timestamp::now())
            .fetch_one(&mut *conn)
            .await
    })?;
    Ok((call, Payload::CallCreated { channel: new.channel.as_str(), status: CallStatus::Ai.as_str() }))
}

/// Loads a call.
pub async fn get(db: &Db, id: i64) -> AppResult<Call> {
    let sql = concat!("SELECT ", call_columns!(), " FROM calls WHERE id = $1");
    let call: Option<Call> = with_db!(db, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
    call.ok_or(AppError::NotFound)
}

/// The most recent calls, newest first.
pub async fn recent(db: &Db, limit: i64) -> AppResult<Vec<Call>> {
    let sql = concat!("SELECT ", call_columns!(), " FROM calls ORDER BY id DESC LIMIT $1");
    Ok(with_db!(db, |pool| sqlx::query_as(sql).bind(limit).fetch_all(pool).await)?)
}

/// The messages of a call with their authors, as [`messages_select`] and
/// [`messages_json_select`] read them: what follows is the call's id.
macro_rules! messages_of_call {
    () => {
        "FROM messages m LEFT JOIN users u ON u.id = m.author_id WHERE m.call_id = "
    };
}
pub(crate) use messages_of_call;

/// The start of the query of a call's messages, oldest first: what follows is the
/// call's id (a parameter or a subquery), then `ORDER BY m.id`.
macro_rules! messages_select {
    () => {
        concat!("SELECT m.id, m.role, m.agent, m.content, m.at, u.full_name AS author ", messages_of_call!())
    };
}

/// A call's messages, oldest first.
pub async fn messages(db: &Db, call_id: i64) -> AppResult<Vec<Message>> {
    let rows: Vec<MessageRow> = with_db!(db, |pool| sqlx::query_as(concat!(messages_select!(), "$1 ORDER BY m.id"))
        .bind(call_id)
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(message_of).collect()
}

/// The SQLite twin of [`messages_select`] that returns one row: the messages as one
/// JSON array of rows, oldest first ([`messages_of_json`]). Each row sqlx reads costs a
/// hand-off from the connection's thread and a copy of every value; one row costs one.
macro_rules! messages_json_select {
    () => {
        concat!(
            "SELECT json_group_array(json_array(m.id, m.role, m.agent, m.content, m.at, u.full_name) ORDER BY m.id) ",
            $crate::calls::messages_of_call!()
        )
    };
}
pub(crate) use messages_json_select;

/// [`messages_json_select`] on PostgreSQL: the same array, as text (`[]` for a call
/// with no message yet).
macro_rules! messages_json_select_pg {
    () => {
        concat!(
            "SELECT COALESCE(json_agg(json_build_array(m.id, m.role, m.agent, m.content, m.at, u.full_name) \
             ORDER BY m.id), '[]')::text ",
            $crate::calls::messages_of_call!()
        )
    };
}
pub(crate) use messages_json_select_pg;

/// The messages of [`messages_json_select`]'s one value.
pub(crate) fn messages_of_json(json: &str) -> AppResult<Vec<Message>> {
    let rows: Vec<MessageRow> = serde_json::from_str(json).map_err(anyhow::Error::from)?;
    rows.into_iter().map(message_of).collect()
}

/// A row of [`messages_select`].
pub(crate) type MessageRow = (i64, String, Option<String>, String, Timestamp, Option<String>);

/// The message of a row of [`messages_select`].
pub(crate) fn message_of((id, role, kind, content, at, author): MessageRow) -> AppResult<Message> {
    let role = MessageRole::try_from(role).map_err(anyhow::Error::msg)?;
    // An unknown kind (written by a newer version, say) shows as plain text rather
    // than making the whole conversation unreadable.
    let kind = kind.and_then(|k| {
        MessageKind::try_from(k).map_err(|err| tracing::warn!(message = id, %err, "message kind not understood")).ok()
    });
    Ok(Message { id, role, kind, content, at, author })
}

/// A call's agent steps, oldest first.
pub async fn runs(db: &Db, call_id: i64) -> AppResult<Vec<AgentRun>> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
        "SELECT id, turn, agent, backend, model, prompt_tokens, completion_tokens, latency_ms, tool_calls, output, outcome, at \
         FROM agent_runs WHERE call_id = $1 ORDER BY id",
    )
    .bind(call_id)
    .fetch_all(pool)
    .await
    })?)
}

/// Stores a message inside the caller's transaction; returns its id and the event
/// that reports it, for the caller to record last (see [`events::record_in`]).
pub(crate) async fn insert_message(
    tx: &mut Tx,
    call_id: i64,
    role: MessageRole,
    kind: Option<MessageKind>,
    content: &str,
    author: Option<&crate::auth::Principal>,
) -> Result<(i64, Payload), sqlx::Error> {
    insert_message_awaiting(tx, call_id, role, kind, content, author, false).await
}

/// The start of an insert into `messages`, up to its columns: call, role, agent, text,
/// author, time and whether it awaits its AI turn.
macro_rules! insert_messages {
    () => {
        "INSERT INTO messages (call_id, role, agent, content, author_id, at, awaiting_turn) "
    };
}
pub(crate) use insert_messages;

/// The insert of a message (`$1` call, `$2` role, `$3` agent, `$4` text, `$5` author,
/// `$6` time), awaiting its AI turn when `$7` and the AI holds the call; returns its id.
/// [`bind_message`] binds its parameters.
macro_rules! insert_message_sql {
    () => {
        concat!(
            insert_messages!(),
            "VALUES ($1, $2, $3, $4, $5, $6, $7 AND COALESCE((SELECT status = 'ai' FROM calls WHERE id = $1), \
             FALSE)) RETURNING id"
        )
    };
}
pub(crate) use insert_message_sql;

/// Binds [`insert_message_sql`]'s seven parameters to `query`, in their order.
macro_rules! bind_message {
    ($query:expr, $call_id:expr, $role:expr, $kind:expr, $content:expr, $author:expr, $at:expr, $awaiting:expr) => {
        $query
            .bind($call_id)
            .bind($role.as_str())
            .bind($kind.map(MessageKind::as_str))
            .bind($content)
            .bind($author.map(|a: &crate::auth::Principal| a.id))
            .bind($at)
            .bind($awaiting)
    };
}
pub(crate) use bind_message;

/// [`insert_message`], marked as awaiting the AI turn that will answer it when
/// `awaiting_turn` and the AI holds the call as it is stored (a customer writing while
/// waiting for a person awaits no turn): the turn clears the mark when it ends, and a
/// mark left by a node that died is what the turn recovery looks for ([`recovery`]).
pub(crate) async fn insert_message_awaiting(
    tx: &mut Tx,
    call_id: i64,
    role: MessageRole,
    kind: Option<MessageKind>,
    content: &str,
    author: Option<&crate::auth::Principal>,
    awaiting_turn: bool,
) -> Result<(i64, Payload), sqlx::Error> {
    let id: i64 = on_tx!(tx, |conn| {
        let query = sqlx::query_scalar(insert_message_sql!());
        bind_message!(query, call_id, role, kind, content, author, Timestamp::now(), awaiting_turn)
            .fetch_one(&mut *conn)
            .await
    })?;
    Ok((id, message_data(id, role, kind, content, author)))
}

/// Clears the awaiting-turn mark of call `$1`'s messages up to message `$2`: their
/// turn ended, or a later turn of the call (which reads them in its history) did.
pub(crate) const TURN_ENDED_SQL: &str =
    "UPDATE messages SET awaiting_turn = FALSE WHERE call_id = $1 AND awaiting_turn AND id <= $2";

/// [`TURN_ENDED_SQL`] in `tx`, through message `through` (all of the call's for `None`).
pub(crate) async fn turn_ended(tx: &mut Tx, call_id: i64, through: Option<i64>) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn| sqlx::query(TURN_ENDED_SQL)
        .bind(call_id)
        .bind(through.unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await
        .map(|_| ()))
}

/// Finishes a change to a call begun on `tx` (an UPDATE that moved it): stores the
/// system message that tells the people on the call, and the events that report the
/// message and `news(call as it now is)`, then commits, so the change, its note and
/// its news land together or not at all (a crash in between leaves none of them).
pub(crate) async fn record_change(
    ctx: &Ctx,
    mut tx: Tx,
    call_id: i64,
    note: (MessageKind, &str),
    author: Option<&crate::auth::Principal>,
    news: impl FnOnce(&Call) -> Payload,
) -> AppResult<Call> {
    let (kind, content) = note;
    let (_, message) = insert_message(&mut tx, call_id, MessageRole::System, Some(kind), content, author).await?;
    let sql = concat!("SELECT ", call_columns!(), " FROM calls WHERE id = $1");
    let after: Call = on_tx!(&mut tx, |conn| sqlx::query_as(sql).bind(call_id).fetch_one(&mut *conn).await)?;
    // Events last: on PostgreSQL they take the events lock, held until commit.
    for event in [message, news(&after)] {
        events::record_in(&mut tx, Some(call_id), &event).await?;
    }
    ctx.bus().commit(tx).await?;
    Ok(after)
}

/// Publishes a message stored on its own.
pub(crate) async fn message_event(
    ctx: &Ctx,
    call_id: i64,
    id: i64,
    role: MessageRole,
    kind: Option<MessageKind>,
    content: &str,
    author: Option<&crate::auth::Principal>,
) {
    ctx.bus().emit(Some(call_id), message_data(id, role, kind, content, author)).await;
}

pub(super) fn message_data(
    id: i64,
    role: MessageRole,
    kind: Option<MessageKind>,
    content: &str,
    author: Option<&crate::auth::Principal>,
) -> Payload {
    Payload::Message(MessageData {
        message_id: id,
        role: role.as_str(),
        agent: kind.map(MessageKind::as_str),
        content: content.to_owned(),
        author: author.map(|a| a.full_name.clone()),
    })
}

/// The fields of a call, as events carry them.
pub(crate) fn call_fields(call: &Call) -> CallFields {
    CallFields {
        status: call.status.as_str(),
        department: call.department.map(Department::as_str),
        category: call.category.clone(),
        sentiment: call.sentiment.map(Sentiment::as_str),
        priority: call.priority.map(Priority::as_str),
        confidence: call.confidence,
        language: call.language.clone(),
        assigned_to: call.assigned_to,
        summary_offered: call.summary_offered,
    }
}
