//! Calls: creating them, running a customer turn through the agents, and storing
//! every message and agent step.

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::agents::model::{ChatMessage, Role};
use crate::agents::pipeline::{Pipeline, Step};
use crate::agents::tools::CallerScope;
use crate::agents::{Action, Classification, Verdict};
use crate::db::{Db, Money, Timestamp};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::users::input::{EmailAddress, parse_full_name};
use crate::{with_db, with_tx};

/// How the customer reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The public call page.
    Web,
    /// The API.
    Api,
}

/// A stored call.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Call {
    /// Id.
    pub id: i64,
    /// web or api.
    pub channel: String,
    /// The caller's customer record.
    pub customer_id: Option<i64>,
    /// ai, queued, human or closed.
    pub status: String,
    /// Routing results of the latest turn.
    pub department: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Sentiment.
    pub sentiment: Option<String>,
    /// Priority.
    pub priority: Option<String>,
    /// Confidence.
    pub confidence: Option<f64>,
    /// Language.
    pub language: Option<String>,
    /// Why the supervisor escalated, if it did.
    pub escalation_reason: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// The `calls` columns of [`Call`] (a macro so that queries stay `&'static str`).
macro_rules! call_columns {
    () => {
        "id, channel, customer_id, status, department, category, sentiment, priority, confidence, language, \
         escalation_reason, created_at, updated_at"
    };
}

/// A stored message.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Message {
    /// Id.
    pub id: i64,
    /// customer, ai, human or system.
    pub role: String,
    /// Which agent wrote it (AI messages).
    pub agent: Option<String>,
    /// Text (untrusted: escape when showing).
    pub content: String,
    /// When.
    pub at: Timestamp,
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

/// Customer details given when a call starts.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Email (the key: an existing customer with it is reused).
    #[serde(default)]
    pub email: String,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
}

/// Longest customer message accepted (characters).
pub const MAX_MESSAGE: usize = 4000;

/// Checks a customer message; returns it trimmed.
pub fn parse_message(text: &str) -> AppResult<String> {
    let t = text.trim();
    let n = t.chars().count();
    if n == 0 {
        return Err(AppError::Validation(FieldErrors::from([("message", "field.required")])));
    }
    if n > MAX_MESSAGE {
        return Err(AppError::Validation(FieldErrors::from([("message", "field.text_too_long")])));
    }
    Ok(t.chars().filter(|c| !c.is_control() || *c == '\n').collect())
}

/// Finds or creates the customer for a new call.
pub async fn resolve_customer(
    db: &Db,
    customer_id: Option<i64>,
    input: Option<&CustomerInput>,
) -> AppResult<Option<i64>> {
    if let Some(id) = customer_id {
        let exists: Option<i64> = with_db!(db, pool => sqlx::query_scalar("SELECT id FROM customers WHERE id = $1").bind(id).fetch_optional(pool).await)?;
        return exists
            .map(Some)
            .ok_or_else(|| AppError::Validation(FieldErrors::from([("customer_id", "field.customer_unknown")])));
    }
    let Some(input) = input else { return Ok(None) };
    let mut errors = FieldErrors::new();
    let email = EmailAddress::parse(&input.email);
    if email.is_none() {
        errors.insert("customer.email", "field.email_invalid");
    }
    let name = parse_full_name(&input.name);
    if name.is_none() {
        errors.insert("customer.name", "field.full_name_invalid");
    }
    let phone = input.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned);
    if phone.as_ref().is_some_and(|p| p.len() > 32 || !p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))) {
        errors.insert("customer.phone", "field.phone_invalid");
    }
    let (Some(email), Some(name)) = (email, name) else { return Err(AppError::Validation(errors)) };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let id: i64 = with_db!(db, pool => sqlx::query_scalar(
        "INSERT INTO customers (name, email, phone, balance_cents, active, created_at) VALUES ($1, $2, $3, $4, TRUE, $5) \
         ON CONFLICT (email) DO UPDATE SET email = excluded.email RETURNING id",
    )
    .bind(&name)
    .bind(email.as_str())
    .bind(phone)
    .bind(Money::from_cents(0))
    .bind(Timestamp::now())
    .fetch_one(pool)
    .await)?;
    Ok(Some(id))
}

/// Opens a call.
pub async fn create(db: &Db, channel: Channel, customer_id: Option<i64>, created_by: Option<i64>) -> AppResult<i64> {
    let now = Timestamp::now();
    let channel = match channel {
        Channel::Web => "web",
        Channel::Api => "api",
    };
    let id: i64 = with_db!(db, pool => sqlx::query_scalar(
        "INSERT INTO calls (channel, customer_id, status, created_by, created_at, updated_at) VALUES ($1, $2, 'ai', $3, $4, $4) RETURNING id",
    )
    .bind(channel)
    .bind(customer_id)
    .bind(created_by)
    .bind(now)
    .fetch_one(pool)
    .await)?;
    Ok(id)
}

/// Loads a call.
pub async fn get(db: &Db, id: i64) -> AppResult<Call> {
    let sql = concat!("SELECT ", call_columns!(), " FROM calls WHERE id = $1");
    let call: Option<Call> = with_db!(db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
    call.ok_or(AppError::NotFound)
}

/// The most recent calls, newest first.
pub async fn recent(db: &Db, limit: i64) -> AppResult<Vec<Call>> {
    let sql = concat!("SELECT ", call_columns!(), " FROM calls ORDER BY id DESC LIMIT $1");
    Ok(with_db!(db, pool => sqlx::query_as(sql).bind(limit).fetch_all(pool).await)?)
}

/// A call's messages, oldest first.
pub async fn messages(db: &Db, call_id: i64) -> AppResult<Vec<Message>> {
    Ok(
        with_db!(db, pool => sqlx::query_as("SELECT id, role, agent, content, at FROM messages WHERE call_id = $1 ORDER BY id")
        .bind(call_id)
        .fetch_all(pool)
        .await)?,
    )
}

/// A call's agent steps, oldest first.
pub async fn runs(db: &Db, call_id: i64) -> AppResult<Vec<AgentRun>> {
    Ok(with_db!(db, pool => sqlx::query_as(
        "SELECT id, turn, agent, backend, model, prompt_tokens, completion_tokens, latency_ms, tool_calls, output, outcome, at \
         FROM agent_runs WHERE call_id = $1 ORDER BY id",
    )
    .bind(call_id)
    .fetch_all(pool)
    .await)?)
}

/// What one customer message led to.
#[derive(Clone, Debug, Serialize)]
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
    pub status: String,
    /// The steps of this turn.
    pub steps: Vec<Step>,
}

fn previous_classification(call: &Call) -> Option<Classification> {
    let json = serde_json::json!({
        "department": call.department, "category": call.category, "sentiment": call.sentiment, "priority": call.priority,
        "language": call.language, "confidence": call.confidence, "recommendations": [],
    });
    serde_json::from_value(json).ok()
}

/// Stores a customer message and, while the AI holds the call, runs the agents and
/// stores their reply and steps. Nothing is lost: the customer's message is stored
/// before any model is asked.
#[tracing::instrument(skip_all, fields(call_id))]
pub async fn post_customer_message(
    db: &Db,
    pipeline: &Pipeline,
    call_id: i64,
    text: &str,
    deltas: Option<&mpsc::Sender<String>>,
) -> AppResult<TurnResult> {
    let call = get(db, call_id).await?;
    if call.status == "closed" {
        return Err(AppError::Conflict("call_closed"));
    }
    let history: Vec<ChatMessage> = messages(db, call_id)
        .await?
        .into_iter()
        .filter_map(|m| match m.role.as_str() {
            "customer" => Some(ChatMessage::new(Role::User, m.content)),
            "ai" | "human" => Some(ChatMessage::new(Role::Assistant, m.content)),
            _ => None,
        })
        .collect();
    let now = Timestamp::now();
    with_db!(db, pool => sqlx::query("INSERT INTO messages (call_id, role, agent, content, at) VALUES ($1, 'customer', NULL, $2, $3)")
        .bind(call_id)
        .bind(text)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
    if call.status != "ai" {
        // A person holds (or will hold) the call: the AI stays silent.
        return Ok(TurnResult {
            call_id,
            classification: None,
            reply: None,
            verdict: None,
            status: call.status,
            steps: Vec::new(),
        });
    }

    let scope = CallerScope { call_id, customer_id: call.customer_id };
    let previous = previous_classification(&call);
    let outcome = pipeline.run_turn(db, scope, &history, text, previous.as_ref(), deltas).await?;
    let turn = history.iter().filter(|m| m.role == Role::User).count() as i64 + 1;
    let status = if outcome.verdict.action == Action::Escalate { "queued" } else { "ai" };
    let c = &outcome.classification;
    let stored: Result<(), sqlx::Error> = with_tx!(db, tx => {
        sqlx::query("INSERT INTO messages (call_id, role, agent, content, at) VALUES ($1, 'ai', 'service', $2, $3)")
            .bind(call_id)
            .bind(&outcome.reply)
            .bind(Timestamp::now())
            .execute(&mut *tx)
            .await?;
        for step in &outcome.steps {
            sqlx::query(
                "INSERT INTO agent_runs (call_id, turn, agent, backend, model, prompt_tokens, completion_tokens, latency_ms, tool_calls, output, outcome, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
            .bind(&step.outcome)
            .bind(Timestamp::now())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE calls SET status = $2, department = $3, category = $4, sentiment = $5, priority = $6, confidence = $7, language = $8, \
             escalation_reason = COALESCE($9, escalation_reason), updated_at = $10 WHERE id = $1",
        )
        .bind(call_id)
        .bind(status)
        .bind(c.department.as_str())
        .bind(&c.category)
        .bind(c.sentiment.as_str())
        .bind(c.priority.as_str())
        .bind(c.confidence)
        .bind(c.language.code())
        .bind(outcome.verdict.reason.map(|r| r.as_str()))
        .bind(Timestamp::now())
        .execute(&mut *tx)
        .await?;
        Ok(())
    });
    stored?;
    Ok(TurnResult {
        call_id,
        classification: Some(outcome.classification),
        reply: Some(outcome.reply),
        verdict: Some(outcome.verdict),
        status: status.to_owned(),
        steps: outcome.steps,
    })
}
