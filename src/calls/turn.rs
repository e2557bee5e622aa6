//! A customer turn: load the conversation, store the customer's message (before any
//! model is asked, so nothing is lost), run the three agents while the AI holds the
//! call, then store everything the turn produced, and the events that report it, in
//! one transaction.

use futures_util::TryStreamExt;
use serde::Serialize;
use serde_json::Value;
use sqlx::{Either, FromRow, Row};
use tokio::sync::mpsc;

use super::budget::TokenBudget;
use super::{
    Call, CallStatus, Channel, MessageKind, MessageRole, NewCall, TURN_ENDED_SQL, actions, bind_message, call_columns,
    call_fields, get, insert_call, insert_message, insert_message_awaiting, insert_message_sql, insert_messages,
    message_data, turn_ended,
};
use crate::agents::model::{ChatMessage, Role};
use crate::agents::pipeline::Step;
use crate::agents::tools::CallerScope;
use crate::agents::{Action, Classification, Department, Priority, Verdict};
use crate::audit::audit_insert;
use crate::context::Ctx;
use crate::db::{Db, Timestamp, Tx, on_tx, with_db};
use crate::error::{AppError, AppResult, Conflict};
use crate::events::{self, CallChange, Payload};

/// What one customer message led to.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TurnResult {
    /// The call.
    pub call_id: i64,
    /// Routing in force (absent when no AI turn ran).
    pub classification: Option<Classification>,
    /// The AI's reply (absent when a person holds the call).
    pub reply: Option<String>,
    /// The supervisor's verdict.
    pub verdict: Option<Verdict>,
    /// Call status after the turn.
    pub status: CallStatus,
    /// The steps of this turn.
    pub steps: Vec<Step>,
}

/// The routing in force in `call`, as its columns hold it.
pub(super) fn previous_classification(call: &Call) -> Option<Classification> {
    let json = serde_json::json!({
        "department": call.department, "category": call.category, "sentiment": call.sentiment, "priority": call.priority,
        "language": call.language, "confidence": call.confidence, "recommendations": [],
    });
    serde_json::from_value(json).ok()
}

/// Stores a customer message and, while the AI holds the call, runs the agents and
/// stores their reply and steps. Nothing is lost: the customer's message is stored
/// before any model is asked. Reply text is streamed to `deltas` and to the call's
/// customer page. `relayed_by` is the staff member typing the customer's words (an
/// API-channel call they opened), recorded as the message's author.
pub async fn post_customer_message(
    ctx: &Ctx,
    call_id: i64,
    text: &str,
    deltas: Option<&mpsc::Sender<String>>,
    relayed_by: Option<&crate::auth::Principal>,
) -> AppResult<TurnResult> {
    let call = get(ctx.db(), call_id).await?;
    customer_turn(ctx, call, text, deltas, relayed_by).await
}

/// [`post_customer_message`] for a caller that has just loaded the call: stores the
/// customer's message (before any model is asked, so nothing is lost), loads the
/// conversation once no other turn of the call runs, runs the agents while the AI holds the call, stores everything the turn
/// produced in one transaction, and wakes the event streams.
#[tracing::instrument(skip_all, fields(call_id = call.id))]
pub async fn customer_turn(
    ctx: &Ctx,
    call: Call,
    text: &str,
    deltas: Option<&mpsc::Sender<String>>,
    relayed_by: Option<&crate::auth::Principal>,
) -> AppResult<TurnResult> {
    if !call.is_open() {
        return Err(AppError::Conflict(Conflict::CallClosed));
    }
    // The call's turn, taken before the message is stored when no other turn of the
    // call runs: the call as loaded is then current. Otherwise the message is stored
    // at once and the turn waits, then reads the call again. Either way the
    // conversation is read while the turn is held, after every reply already stored.
    // While the AI holds the call the message awaits its turn; otherwise a person will
    // answer it (a turn that finds the AI holding the call after all still runs).
    let awaiting = call.status == CallStatus::Ai;
    let Some(turn) = ctx.turns().one_at_a_time_now(call.id) else {
        let message_id = store_customer_message(ctx, call.id, text, relayed_by, awaiting).await?;
        let marked = awaiting.then_some(message_id);
        return answer_after_others(ctx, call.id, message_id, marked, text, deltas).await;
    };
    let (message_id, history) = store_customer_message_and_read(ctx, call.id, text, relayed_by, awaiting).await?;
    let result = run_turn(ctx, call, awaiting.then_some(message_id), history, text, deltas).await;
    drop(turn);
    result
}

/// A call just opened with the customer's first message.
pub struct Opened {
    /// The call as stored.
    pub call: Call,
    /// The first message, awaiting its turn ([`first_answer`]).
    pub message_id: i64,
}

/// Opens a call with the customer's first message, in `tx` (which may already hold
/// records of the caller's own, the customer's claim say), and commits: a request cut
/// off at any point leaves the call with its message, or neither. Then
/// [`first_answer`] runs the turn.
#[tracing::instrument(skip_all)]
pub async fn open_call(
    ctx: &Ctx,
    mut tx: Tx,
    new: &NewCall<'_>,
    text: &str,
    relayed_by: Option<&crate::auth::Principal>,
) -> AppResult<Opened> {
    let (opened, news) = stage_call(&mut tx, new, text, relayed_by).await?;
    events::record_all_in(&mut tx, Some(opened.call.id), &news).await?;
    ctx.bus().commit(tx).await?;
    Ok(opened)
}

/// [`open_call`] without its events or the commit, for a caller that stores more in
/// the same transaction (a staff note): the call as stored with its first message,
/// and the events to record last.
pub(crate) async fn stage_call(
    tx: &mut Tx,
    new: &NewCall<'_>,
    text: &str,
    relayed_by: Option<&crate::auth::Principal>,
) -> AppResult<(Opened, Vec<Payload>)> {
    let (call, created) = insert_call(tx, new).await?;
    let (message_id, message) = insert_customer_message(tx, call.id, text, relayed_by, true).await?;
    Ok((Opened { call, message_id }, vec![created, message]))
}

/// The rest of the first turn of a call [`open_call`] opened with `text`.
pub async fn first_answer(
    ctx: &Ctx,
    opened: Opened,
    text: &str,
    deltas: Option<&mpsc::Sender<String>>,
) -> AppResult<TurnResult> {
    // The call was stored a moment ago: its next message can come only once the
    // customer has its page, by when this holds the call's turn (or has finished).
    let _turn = ctx.turns().one_at_a_time(opened.call.id).await;
    let history = History { messages: Vec::new(), customer_turns: 0 };
    run_turn(ctx, opened.call, Some(opened.message_id), history, text, deltas).await
}

/// Runs the agents on a customer message another channel stored already (message
/// `message_id` of call `call_id`, in the same transaction as its own records): the
/// rest of [`customer_turn`]. The AI stays silent unless it holds the call.
pub async fn answer_stored(ctx: &Ctx, call_id: i64, message_id: i64, text: &str) -> AppResult<TurnResult> {
    answer_after_others(ctx, call_id, message_id, Some(message_id), text, None).await
}

/// The turn of customer message `message_id`, already stored, once no other turn of the
/// call runs in this process ([`crate::context::Turns::one_at_a_time`]): the call and
/// the conversation are read then, since a turn before it may have answered, escalated
/// or been taken over meanwhile. `marked` is the message when it was stored awaiting
/// its turn.
async fn answer_after_others(
    ctx: &Ctx,
    call_id: i64,
    message_id: i64,
    marked: Option<i64>,
    text: &str,
    deltas: Option<&mpsc::Sender<String>>,
) -> AppResult<TurnResult> {
    let _turn = ctx.turns().one_at_a_time(call_id).await;
    let call = get(ctx.db(), call_id).await?;
    let history = history(ctx.db(), call_id, Some(message_id)).await?;
    run_turn(ctx, call, marked, history, text, deltas).await
}

/// The agents' part of a turn: they run while the AI holds the call, and what they
/// produced is stored. `marked` is the customer message the turn answers when it was
/// stored awaiting its turn: the turn clears that mark (and any earlier one of the
/// call) as it ends, answered or silent; a turn that fails leaves it for the turn
/// recovery.
async fn run_turn(
    ctx: &Ctx,
    call: Call,
    marked: Option<i64>,
    history: History,
    text: &str,
    deltas: Option<&mpsc::Sender<String>>,
) -> AppResult<TurnResult> {
    if call.status != CallStatus::Ai {
        // A person holds (or will hold) the call: the AI stays silent.
        if let Some(through) = marked {
            with_db!(ctx.db(), |pool| sqlx::query(TURN_ENDED_SQL)
                .bind(call.id)
                .bind(through)
                .execute(pool)
                .await
                .map(|_| ()))?;
        }
        let status = call.status;
        return Ok(TurnResult {
            call_id: call.id,
            classification: None,
            reply: None,
            verdict: None,
            status,
            steps: vec![],
        });
    }
    let started = Timestamp::now();
    let budget = TokenBudget::of(ctx, &call);
    let (mut outcome, streamed) = run_agents(ctx, &call, &history.messages, text, deltas, budget.used_up()).await?;
    let reason = budget.settle(&mut outcome);
    if outcome.verdict.action == Action::Escalate {
        closed_hours_note(ctx, &call, &mut outcome, streamed, deltas).await?;
    }
    let turn = history.customer_turns + 1;
    let (after, answered) = store_turn(ctx, &call, marked, turn, started, &outcome, reason).await?;
    if answered && call.channel == Channel::Whatsapp {
        ctx.jobs().wake();
    }
    Ok(TurnResult {
        call_id: call.id,
        classification: Some(outcome.classification),
        reply: answered.then_some(outcome.reply),
        verdict: Some(outcome.verdict),
        status: after.status,
        steps: outcome.steps,
    })
}

/// A hand-over while the call's department is closed: the reply, whichever model wrote
/// it, ends with when a person will pick the conversation up, computed here (never left
/// to a model). The call still goes to the queue. The added words stream after the
/// reply where the reply streamed.
async fn closed_hours_note(
    ctx: &Ctx,
    call: &Call,
    outcome: &mut crate::agents::pipeline::TurnOutcome,
    streamed: bool,
    deltas: Option<&mpsc::Sender<String>>,
) -> AppResult<()> {
    // The department the call will wait in: a person's correction or transfer stands.
    let department = if call.corrected_at.is_some() || call.transferred_at.is_some() {
        call.department
    } else {
        Some(outcome.classification.department)
    };
    let Some(note) = super::hours::closed_note(ctx, department, outcome.classification.language).await? else {
        return Ok(());
    };
    let piece = format!("\n\n{note}");
    // After the streamed reply only: alone it would make a page that opened meanwhile
    // show the note without the reply.
    if streamed {
        ctx.bus().typing(call.id, &piece);
    }
    if let Some(tx) = deltas {
        let _ = tx.send(piece.clone()).await;
    }
    outcome.reply.push_str(&piece);
    Ok(())
}

/// How many earlier messages (customer, AI and staff replies) the agents read: a long
/// conversation costs neither more memory per turn nor more prompt tokens.
pub const HISTORY_WINDOW: i64 = 20;

/// What the agents read of a conversation.
pub(super) struct History {
    /// The latest [`HISTORY_WINDOW`] messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// How many customer messages came before (the window may hold fewer).
    pub customer_turns: i64,
}

/// The conversation as the agents read it for customer message `message_id` (or, for
/// none, all of it), one query: the messages before it, and the replies written since
/// to the customer's earlier messages (a message stored while the turn before it still
/// ran), oldest first, so the agents answer it knowing what was already said. The
/// customer's later messages are their own turns.
pub(super) async fn history(db: &Db, call_id: i64, message_id: Option<i64>) -> AppResult<History> {
    let through = message_id.unwrap_or(i64::MAX);
    let rows: Vec<HistoryRow> = match db {
        // One row instead of one per message (see `messages_json_select`).
        Db::Sqlite(pool) => {
            let (json, customer_turns): (String, i64) = sqlx::query_as(HISTORY_JSON_SQL)
                .bind(call_id)
                .bind(through)
                .bind(HISTORY_WINDOW)
                .fetch_one(pool)
                .await?;
            return History::of_json(&json, customer_turns);
        }
        Db::Postgres(pool) => {
            sqlx::query_as(HISTORY_SQL).bind(call_id).bind(through).bind(HISTORY_WINDOW).fetch_all(pool).await?
        }
    };
    Ok(History::of(rows))
}

/// The number of customer messages of call `$1` before message id `through`.
macro_rules! customer_turns_before {
    ($through:expr) => {
        concat!("(SELECT COUNT(*) FROM messages WHERE call_id = $1 AND id < ", $through, " AND role = 'customer')")
    };
}

/// The latest `limit` messages of call `$1` the agents read for message id `through`:
/// those before it and the AI's and staff replies after it, newest first.
macro_rules! history_window {
    ($through:expr, $limit:expr) => {
        concat!(
            "FROM messages WHERE call_id = $1 AND (id < ",
            $through,
            " OR role IN ('ai', 'human')) AND role <> 'system' ORDER BY id DESC LIMIT ",
            $limit
        )
    };
}

/// [`HISTORY_SQL`] in one row on SQLite, for message id `through` and a window of
/// `limit`: the window as a JSON array of `[role, content]`, newest first, and the
/// count of customer messages before `through`.
macro_rules! history_json_sql {
    ($through:expr, $limit:expr) => {
        concat!(
            "SELECT json_group_array(json_array(role, content) ORDER BY id DESC), ",
            customer_turns_before!($through),
            " FROM (SELECT id, role, content ",
            history_window!($through, $limit),
            ")"
        )
    };
}

/// The latest [`HISTORY_WINDOW`] messages of call `$1` before message id `$2` and the
/// AI's and staff replies after it (newest first), each with the number of customer
/// messages before `$2`.
const HISTORY_SQL: &str =
    concat!("SELECT role, content, ", customer_turns_before!("$2"), " ", history_window!("$2", "$3"));

/// [`HISTORY_SQL`] in one row on SQLite (see [`history_json_sql`]).
const HISTORY_JSON_SQL: &str = history_json_sql!("$2", "$3");

/// A row of [`HISTORY_SQL`].
type HistoryRow = (String, String, i64);

impl History {
    /// The history of [`HISTORY_JSON_SQL`]'s row.
    fn of_json(json: &str, customer_turns: i64) -> AppResult<Self> {
        let rows: Vec<(String, String)> = serde_json::from_str(json).map_err(anyhow::Error::from)?;
        Ok(Self::of(rows.into_iter().map(|(role, content)| (role, content, customer_turns)).collect()))
    }

    fn of(rows: Vec<HistoryRow>) -> Self {
        let customer_turns = rows.first().map_or(0, |r| r.2);
        let messages = rows
            .into_iter()
            .rev()
            .filter_map(|(role, content, _)| match MessageRole::try_from(role).ok()? {
                MessageRole::Customer => Some(ChatMessage::new(Role::User, content)),
                MessageRole::Ai | MessageRole::Human => Some(ChatMessage::new(Role::Assistant, content)),
                MessageRole::System => None,
            })
            .collect();
        Self { messages, customer_turns }
    }
}

/// Stores the customer's message (and, when staff relay it, the audit entry) and its
/// event in one transaction; returns the message's id.
async fn store_customer_message(
    ctx: &Ctx,
    call_id: i64,
    text: &str,
    relayed_by: Option<&crate::auth::Principal>,
    awaiting_turn: bool,
) -> AppResult<i64> {
    let mut tx = ctx.db().begin().await?;
    let (message_id, event) = insert_customer_message(&mut tx, call_id, text, relayed_by, awaiting_turn).await?;
    events::record_in(&mut tx, Some(call_id), &event).await?;
    ctx.bus().commit(tx).await?;
    Ok(message_id)
}

/// [`store_customer_message`], then [`history`] for that message. On SQLite, unless a
/// staff member relays it (the audit entry takes the message's id), the message, its
/// event and the read go with the commit in one string of statements: one hand-off to
/// the connection's thread instead of three. The event's data takes the message's id
/// in the statement (`last_insert_rowid()`, the insert just before), and the read runs
/// inside the transaction, where the message just stored is the call's last.
async fn store_customer_message_and_read(
    ctx: &Ctx,
    call_id: i64,
    text: &str,
    relayed_by: Option<&crate::auth::Principal>,
    awaiting: bool,
) -> AppResult<(i64, History)> {
    let (Db::Sqlite(pool), None) = (ctx.db(), relayed_by) else {
        let message_id = store_customer_message(ctx, call_id, text, relayed_by, awaiting).await?;
        return Ok((message_id, history(ctx.db(), call_id, Some(message_id)).await?));
    };
    const SQL: &str = concat!(
        insert_message_sql!(),
        "; ",
        history_json_sql!("last_insert_rowid()", "$8"),
        "; ",
        // The row `events::record_in` would store, the message's id set in its data.
        events::event_insert_sql!("$9", "$1", "json_set($10, '$.message_id', last_insert_rowid())", "$11")
    );
    let role = MessageRole::Customer;
    let placeholder = message_data(0, role, None, text, None);
    let data = serde_json::to_string(&placeholder).map_err(anyhow::Error::from)?;
    let tx = crate::db::begin_sqlite(pool).await?;
    let now = Timestamp::now();
    let query = bind_message!(sqlx::query(SQL), call_id, role, None::<MessageKind>, text, None, now, awaiting)
        .bind(HISTORY_WINDOW)
        .bind(placeholder.kind().as_str())
        .bind(&data)
        .bind(now);
    // Rows: the message's id, the history (its JSON and count), the event's id.
    let rows = ctx
        .bus()
        .commit_after(tx, query, |row| match row.len() {
            1 => Ok((row.try_get::<i64, _>(0)?, None)),
            _ => Ok((row.try_get::<i64, _>(1)?, Some(row.try_get::<String, _>(0)?))),
        })
        .await?;
    let [(message_id, None), (customer_turns, Some(json)), (event_id, None)] = rows.as_slice() else {
        // Committed, but what came back cannot be read: the pump reads the log.
        ctx.bus().wake();
        return Err(anyhow::anyhow!("storing a customer message returned {} rows unlike expected", rows.len()).into());
    };
    let payload = message_data(*message_id, role, None, text, None);
    let data = serde_json::to_value(&payload).map_err(anyhow::Error::from)?;
    let kind = payload.kind().as_str().to_owned();
    ctx.bus().deliver(vec![events::Event { id: *event_id, kind, call_id: Some(call_id), at: now, data }]);
    Ok((*message_id, History::of_json(json, *customer_turns)?))
}

/// Inserts a customer's message in `tx` (awaiting its AI turn when `awaiting_turn`),
/// with the audit entry when staff relay it; returns its id and the event that reports
/// it (to record last).
async fn insert_customer_message(
    tx: &mut Tx,
    call_id: i64,
    text: &str,
    relayed_by: Option<&crate::auth::Principal>,
    awaiting_turn: bool,
) -> Result<(i64, Payload), sqlx::Error> {
    let (message_id, event) =
        insert_message_awaiting(tx, call_id, MessageRole::Customer, None, text, relayed_by, awaiting_turn).await?;
    if let Some(staff) = relayed_by {
        let entry = crate::audit::Entry::new(Some(staff.id), staff.username.clone(), "call.relay")
            .target(format!("call:{call_id}"))
            .metadata(serde_json::json!({"message_id": message_id}));
        on_tx!(tx, |conn| audit_insert!(&entry).execute(&mut *conn).await.map(|_| ()))?;
    }
    Ok((message_id, event))
}

/// Runs the three agents (or, when the call has used up its token budget, only tells
/// the customer a person will carry on), streaming reply text to the caller's channel
/// (API streams) and to the customer page when someone can watch; says whether it did.
async fn run_agents(
    ctx: &Ctx,
    call: &Call,
    history: &[ChatMessage],
    text: &str,
    deltas: Option<&mpsc::Sender<String>>,
    budget_used_up: bool,
) -> AppResult<(crate::agents::pipeline::TurnOutcome, bool)> {
    let call_id = call.id;
    let scope = CallerScope { call_id, customer_id: call.customer_id };
    let previous = previous_classification(call);
    // Stream when someone can watch: the caller asked, or a customer page of this web
    // call follows it on this process, or is on its way (`Bus::page_coming`); a page
    // that opens otherwise while the turn runs gets the whole reply when it is stored.
    // Otherwise the model answers in one piece: one read of its answer instead of one
    // per piece, and servers that cannot stream still work.
    let stream = deltas.is_some() || (call.channel == Channel::Web && ctx.bus().watched(call_id));
    let (page_tx, relay) = if stream {
        let (page_tx, mut page_rx) = mpsc::channel::<String>(64);
        let bus = ctx.bus_handle();
        let caller = deltas.cloned();
        let relay = tokio::spawn(async move {
            while let Some(piece) = page_rx.recv().await {
                bus.typing(call_id, &piece);
                if let Some(tx) = &caller {
                    let _ = tx.send(piece).await;
                }
            }
        });
        (Some(page_tx), Some(relay))
    } else {
        (None, None)
    };
    let sink = page_tx.as_ref();
    let outcome = if budget_used_up {
        Ok(ctx.pipeline().hand_over(text, previous.as_ref(), call.quality.unwrap_or(0.0), sink).await)
    } else {
        ctx.pipeline().run_turn(ctx.db(), scope, history, text, previous.as_ref(), sink).await
    };
    drop(page_tx);
    if let Some(relay) = relay {
        let _ = relay.await;
    }
    Ok((outcome?, stream))
}

/// Binds the values of [`steps_sql`]'s rows to `query` (a `query` or a `query_as`, on
/// either database), in its column order.
macro_rules! bind_steps {
    ($query:expr, $call_id:expr, $turn:expr, $steps:expr, $at:expr) => {{
        let mut query = $query;
        for step in $steps {
            query = query
                .bind($call_id)
                .bind($turn)
                .bind(step.agent)
                .bind(step.backend)
                .bind(&step.model)
                .bind(i64::from(step.prompt_tokens))
                .bind(i64::from(step.completion_tokens))
                .bind(step.latency_ms as i64)
                .bind(Value::Array(step.tool_calls.clone()).to_string())
                .bind(&step.output)
                .bind(&step.outcome)
                .bind($at);
        }
        query
    }};
}

/// Stores what a turn produced — its agent steps, the call's new classification and
/// status, the AI's reply — and the events that report them, in one transaction;
/// returns the call as it now is and whether the reply was stored. When the call left
/// the AI while the agents ran (a person took it, or another turn escalated or it was
/// closed), only the steps are kept: the AI stays silent as it would have had the
/// message arrived a moment later. Either way the turn has ended: message `marked`
/// (and any earlier one of the call) no longer awaits it.
async fn store_turn(
    ctx: &Ctx,
    call: &Call,
    marked: Option<i64>,
    turn: i64,
    started: Timestamp,
    outcome: &crate::agents::pipeline::TurnOutcome,
    reason: Option<&str>,
) -> AppResult<(Call, bool)> {
    let call_id = call.id;
    let escalated = outcome.verdict.action == Action::Escalate;
    let status = if escalated { CallStatus::Queued } else { CallStatus::Ai };
    let offers_summary = outcome.verdict.action == Action::OfferSummary;
    let c = &outcome.classification;
    let now = Timestamp::now();
    let recommendations = serde_json::to_string(&c.recommendations).unwrap_or_else(|_| "[]".into());
    let tokens = TokenBudget::used_by(outcome);
    let mut tx = ctx.db().begin().await?;
    // The turn's steps, the call's update, the reply and the cleared marks go to the
    // database together, their parameters numbered across them (the update's first,
    // then the marks' message, the steps', the reply's): on SQLite as one string of
    // statements (one hand-off to the connection's thread), on PostgreSQL as one
    // statement of data-modifying CTEs (one round trip instead of four).
    let sqlite = matches!(tx.inner, crate::db::TxInner::Sqlite(_));
    // Only while the AI still holds the call; the call as it then is comes back.
    const UPDATE_SQL: &str = concat!(
        "UPDATE calls SET status = $2, ai_department = $3, ai_category = $4, ai_sentiment = $5, ai_priority = $6, \
             department = CASE WHEN corrected_at IS NULL AND transferred_at IS NULL THEN $3 ELSE department END, \
             category = CASE WHEN corrected_at IS NULL THEN $4 ELSE category END, \
             sentiment = CASE WHEN corrected_at IS NULL THEN $5 ELSE sentiment END, \
             priority = CASE WHEN corrected_at IS NULL THEN $6 ELSE priority END, \
             confidence = $7, language = $8, escalation_reason = COALESCE($9, escalation_reason), \
             queued_at = CASE WHEN $2 = 'queued' THEN $10 ELSE queued_at END, \
             summary_offered = summary_offered OR $11, quality = $12, recommendations = $13, updated_at = $10, \
             ai_tokens = ai_tokens + $14 WHERE id = $1 AND status = 'ai' RETURNING ",
        call_columns!()
    );
    const UPDATE_PARAMS: usize = 14;
    let service = Some(MessageKind::Service);
    let sql = turn_sql(sqlite, UPDATE_SQL, UPDATE_PARAMS, outcome.steps.len(), marked.is_some());
    let (updated, reply_id): (Option<Call>, Option<i64>) = on_tx!(&mut tx, |conn| {
        // Parameter 15 is the cleared marks' message (unused without one), then the
        // steps', then the reply's.
        let query = sqlx::query(sqlx::AssertSqlSafe(&*sql))
            .bind(call_id)
            .bind(status.as_str())
            .bind(c.department.as_str())
            .bind(&c.category)
            .bind(c.sentiment.as_str())
            .bind(c.priority.as_str())
            .bind(c.confidence)
            .bind(c.language.code())
            .bind(reason)
            .bind(now)
            .bind(offers_summary)
            .bind(outcome.verdict.quality)
            .bind(&recommendations)
            .bind(tokens)
            .bind(marked.unwrap_or(0));
        let query = bind_steps!(query, call_id, turn, &outcome.steps, now)
            .bind(&outcome.reply)
            .bind(MessageRole::Ai.as_str())
            .bind(service.map(MessageKind::as_str))
            // Taken now, not with `now` (before the wait for the write lock): on SQLite
            // the lock is held from here. On PostgreSQL the statement may still wait for
            // the call's row lock (held by a takeover or a correction, say), so the
            // reply's time can come a moment before a message stored meanwhile; the
            // page orders messages by id.
            .bind(Timestamp::now());
        if sqlite {
            // The update's row comes first, then the reply's id; neither when the call
            // left the AI meanwhile.
            let mut results = sqlx::Executor::fetch_many(&mut *conn, query);
            let (mut updated, mut reply_id) = (None, None);
            while let Some(result) = results.try_next().await? {
                if let Either::Right(row) = result {
                    if updated.is_none() {
                        updated = Some(Call::from_row(&row)?);
                    } else {
                        reply_id = Some(row.try_get(0)?);
                    }
                }
            }
            Ok::<_, sqlx::Error>((updated, reply_id))
        } else {
            // One row, the call's columns and the reply's id; none when the call left
            // the AI meanwhile.
            match query.fetch_optional(&mut *conn).await? {
                Some(row) => Ok((Some(Call::from_row(&row)?), row.try_get("reply_id")?)),
                None => Ok((None, None)),
            }
        }
    })?;
    let answered = updated.is_some();
    let mut news = Vec::new();
    if answered {
        let (message_id, event) = match reply_id {
            Some(id) => (id, message_data(id, MessageRole::Ai, service, &outcome.reply, None)),
            None => insert_message(&mut tx, call_id, MessageRole::Ai, service, &outcome.reply, None).await?,
        };
        news.push(event);
        if call.channel == Channel::Whatsapp {
            // The reply leaves through the outbox, queued with the reply itself.
            let attempts = ctx.jobs().max_attempts();
            crate::channels::whatsapp::outbound::queue_in(&mut tx, call_id, message_id, &outcome.reply, attempts)
                .await?;
        }
    }
    let after: Call = match updated {
        Some(call) => call,
        // The call left the AI meanwhile: what the turn spent still counts.
        None => {
            let sql = concat!("UPDATE calls SET ai_tokens = ai_tokens + $2 WHERE id = $1 RETURNING ", call_columns!());
            on_tx!(&mut tx, |conn| sqlx::query_as(sql).bind(call_id).bind(tokens).fetch_one(&mut *conn).await)?
        }
    };
    if !sqlite && !answered && marked.is_some() {
        // The statement above cleared the marks only with the call's update. After
        // the call's row, as a takeover or a transfer lock them: the other order could
        // deadlock with one of them on PostgreSQL.
        turn_ended(&mut tx, call_id, marked).await?;
    }
    // Only a tool asks for an approval: a turn whose steps all ran to the end without
    // one asked for none (a step cut short might have, so look then too).
    let may_have_asked = outcome.steps.iter().any(|s| !s.tool_calls.is_empty() || s.outcome != "ok");
    let requested =
        if may_have_asked { actions::requested_since_in(&mut tx, call_id, started).await? } else { Vec::new() };
    // The events go last: on PostgreSQL they take the events lock, held until commit.
    if answered {
        news.push(Payload::CallUpdated(CallChange::of(call_fields(&after))));
    }
    if answered && escalated {
        news.push(Payload::Escalated {
            department: after.department.map(Department::as_str),
            priority: after.priority.map(Priority::as_str),
            reason: reason.map(str::to_owned),
        });
    }
    news.extend(requested.into_iter().map(|action| Payload::ActionPending {
        action_id: action.id,
        params: action.params_json(),
        tool: action.tool,
    }));
    events::record_all_in(&mut tx, Some(call_id), &news).await?;
    ctx.bus().commit(tx).await?;
    Ok((after, answered))
}

/// The parameters [`bind_steps`] binds per step.
const STEP_PARAMS: usize = 12;

/// What [`store_turn`] sends: the insert of `steps` agent steps (none for none), with
/// `marked` the clearing of the marks through parameter 15, the call's `update`
/// (parameters 1 to `update_params`, the call's id first, returning the call's
/// columns) and the reply's insert, only when the update changed the call. The steps'
/// parameters follow parameter 15 ([`STEP_PARAMS`] each), then the reply's: its text,
/// role, agent and time.
///
/// On SQLite a string of statements: the reply's insert follows the update directly,
/// so `changes()` is the update's. On PostgreSQL one statement: its data-modifying
/// CTEs see one snapshot, the reply and the cleared marks read the update's row (so
/// no reply is stored and no mark cleared for a call the AI no longer holds, and the
/// call's row is locked before the messages', the order a takeover locks them in),
/// and the row it returns is the call's with the reply's id.
fn turn_sql(sqlite: bool, update: &str, update_params: usize, steps: usize, marked: bool) -> String {
    use std::fmt::Write as _;
    let first_step = update_params + 2;
    let reply = first_step + steps * STEP_PARAMS;
    let reply_values = format!("$1, ${}, ${}, ${reply}, NULL, ${}, FALSE", reply + 1, reply + 2, reply + 3);
    let insert_reply = concat!(insert_messages!(), "SELECT");
    let clear_marks = TURN_ENDED_SQL.replace("$2", &format!("${}", update_params + 1));
    let mut sql = String::with_capacity(1200 + steps * STEP_PARAMS * 6);
    if sqlite {
        if steps > 0 {
            sql.push_str(&steps_sql(steps, first_step));
            sql.push_str("; ");
        }
        if marked {
            sql.push_str(&clear_marks);
            sql.push_str("; ");
        }
        let _ = write!(sql, "{update}; {insert_reply} {reply_values} WHERE changes() = 1 RETURNING id");
    } else {
        sql.push_str("WITH ");
        if steps > 0 {
            let _ = write!(sql, "steps AS ({}), ", steps_sql(steps, first_step));
        }
        let _ = write!(sql, "upd AS ({update}), reply AS ({insert_reply} {reply_values} FROM upd RETURNING id)");
        if marked {
            let _ = write!(sql, ", marks AS ({clear_marks} AND EXISTS (SELECT 1 FROM upd))");
        }
        sql.push_str(" SELECT upd.*, (SELECT id FROM reply) AS reply_id FROM upd");
    }
    sql
}

/// The multi-row insert of `count` agent steps (at least one), its parameters
/// numbered from `first`, as [`bind_steps`] binds them.
fn steps_sql(count: usize, first: usize) -> String {
    use std::fmt::Write as _;
    const COLUMNS: usize = STEP_PARAMS;
    let mut sql = String::with_capacity(160 + count * COLUMNS * 6);
    sql.push_str(
        "INSERT INTO agent_runs (call_id, turn, agent, backend, model, prompt_tokens, completion_tokens, latency_ms, \
         tool_calls, output, outcome, at) VALUES ",
    );
    for i in 0..count {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for c in 0..COLUMNS {
            let _ = write!(sql, "{}${}", if c == 0 { "" } else { ", " }, first + i * COLUMNS + c);
        }
        sql.push(')');
    }
    sql
}

/// Records an agent step inside the caller's transaction, in `turn` (or, without one,
/// the call's latest turn: a summary written after the conversation).
pub(crate) async fn insert_step(
    tx: &mut Tx,
    call_id: i64,
    turn: Option<i64>,
    step: &Step,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn| sqlx::query(
        "INSERT INTO agent_runs (call_id, turn, agent, backend, model, prompt_tokens, completion_tokens, latency_ms, \
         tool_calls, output, outcome, at) \
         VALUES ($1, COALESCE($2, (SELECT COALESCE(MAX(turn), 0) FROM agent_runs WHERE call_id = $1)), \
         $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(call_id)
    .bind(turn)
    .bind(step.agent)
    .bind(step.backend)
    .bind(&step.model)
    .bind(i64::from(step.prompt_tokens))
    .bind(i64::from(step.completion_tokens))
    .bind(step.latency_ms as i64)
    .bind(Value::Array(step.tool_calls.clone()).to_string())
    .bind(&step.output)
    .bind(outcome)
    .bind(Timestamp::now())
    .execute(&mut *conn)
    .await
    .map(|_| ()))?;
    if step.backend != "builtin" {
        let tokens = i64::from(step.prompt_tokens) + i64::from(step.completion_tokens);
        on_tx!(tx, |conn| sqlx::query("UPDATE calls SET ai_tokens = ai_tokens + $2 WHERE id = $1")
            .bind(call_id)
            .bind(tokens)
            .execute(&mut *conn)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{HISTORY_JSON_SQL, HISTORY_SQL, STEP_PARAMS, steps_sql, turn_sql};

    #[test]
    fn both_history_queries_read_the_same_window() {
        let window = "FROM messages WHERE call_id = $1 AND (id < $2 OR role IN ('ai', 'human')) AND role <> 'system' \
                      ORDER BY id DESC LIMIT $3";
        let count = "(SELECT COUNT(*) FROM messages WHERE call_id = $1 AND id < $2 AND role = 'customer')";
        assert_eq!(HISTORY_SQL, format!("SELECT role, content, {count} {window}"));
        assert_eq!(
            HISTORY_JSON_SQL,
            format!(
                "SELECT json_group_array(json_array(role, content) ORDER BY id DESC), {count} \
                 FROM (SELECT id, role, content {window})"
            )
        );
    }

    #[test]
    fn the_steps_insert_numbers_its_parameters_row_after_row() {
        let columns = "INSERT INTO agent_runs (call_id, turn, agent, backend, model, prompt_tokens, \
                       completion_tokens, latency_ms, tool_calls, output, outcome, at) VALUES ";
        assert_eq!(steps_sql(1, 1), format!("{columns}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"));
        assert_eq!(
            steps_sql(2, 5),
            format!(
                "{columns}($5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16), \
                 ($17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)"
            )
        );
    }

    /// The parameter numbers `sql` refers to.
    fn parameters(sql: &str) -> BTreeSet<usize> {
        sql.split('$')
            .skip(1)
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect()
    }

    #[test]
    fn a_turn_refers_to_every_parameter_it_binds_on_both_databases() {
        // Two update parameters stand for the update's fourteen here; the rest as
        // `store_turn` binds them: the marks' message, the steps', the reply's four.
        let update = "UPDATE calls SET status = $2 WHERE id = $1 AND status = 'ai' RETURNING id";
        for sqlite in [true, false] {
            for steps in [0, 1, 3] {
                let bound = 3 + steps * STEP_PARAMS + 4;
                let with_marks = turn_sql(sqlite, update, 2, steps, true);
                assert_eq!(parameters(&with_marks), (1..=bound).collect(), "{with_marks}");
                let without = turn_sql(sqlite, update, 2, steps, false);
                assert_eq!(parameters(&without), (1..=bound).filter(|&n| n != 3).collect(), "{without}");
            }
        }
        let reply = "INSERT INTO messages (call_id, role, agent, content, author_id, at, awaiting_turn) \
                     SELECT $1, $17, $18, $16, NULL, $19, FALSE";
        let marks = "UPDATE messages SET awaiting_turn = FALSE WHERE call_id = $1 AND awaiting_turn AND id <= $3";
        let step = steps_sql(1, 4);
        assert_eq!(
            turn_sql(true, update, 2, 1, true),
            format!("{step}; {marks}; {update}; {reply} WHERE changes() = 1 RETURNING id")
        );
        assert_eq!(
            turn_sql(false, update, 2, 1, true),
            format!(
                "WITH steps AS ({step}), upd AS ({update}), reply AS ({reply} FROM upd RETURNING id), \
                 marks AS ({marks} AND EXISTS (SELECT 1 FROM upd)) \
                 SELECT upd.*, (SELECT id FROM reply) AS reply_id FROM upd"
            )
        );
    }
}
