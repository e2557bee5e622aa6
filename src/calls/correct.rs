//! Staff correct a call's classification. The corrected values become the effective
//! ones (lists, queues, reports); what the AI said stays in `ai_*` beside them, so the
//! engine can later be measured against people. Once corrected, later AI turns keep
//! writing `ai_*` but leave the effective values alone (see `turn::store_turn`).

use serde::Deserialize;
use serde_json::json;

use super::history::parse_category;
use super::{Call, call_columns, call_fields, get};
use crate::agents::{Department, Priority, Sentiment};
use crate::audit::audit_insert;
use crate::auth::AgentCap;
use crate::context::Ctx;
use crate::db::{Timestamp, on_tx};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::events::{self, CallChange, Payload};

/// A correction as it arrives (API JSON or the call page's form); absent or empty
/// fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionInput {
    /// Department code.
    #[serde(default)]
    pub department: Option<String>,
    /// Category (snake_case).
    #[serde(default)]
    pub category: Option<String>,
    /// positive, neutral or negative.
    #[serde(default)]
    pub sentiment: Option<String>,
    /// low, medium, high or critical.
    #[serde(default)]
    pub priority: Option<String>,
}

/// A checked correction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Correction {
    /// Department.
    pub department: Option<Department>,
    /// Category.
    pub category: Option<String>,
    /// Sentiment.
    pub sentiment: Option<Sentiment>,
    /// Priority.
    pub priority: Option<Priority>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl CorrectionInput {
    /// Checks the fields given; at least one is needed.
    pub fn parse(&self) -> Result<Correction, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut c = Correction::default();
        if let Some(s) = given(&self.department) {
            c.department = Department::parse(s);
            if c.department.is_none() {
                errors.insert("department", "field.department_invalid");
            }
        }
        if let Some(s) = given(&self.category) {
            c.category = parse_category(s);
            if c.category.is_none() {
                errors.insert("category", "field.category_invalid");
            }
        }
        if let Some(s) = given(&self.sentiment) {
            c.sentiment = Sentiment::parse(s);
            if c.sentiment.is_none() {
                errors.insert("sentiment", "field.sentiment_invalid");
            }
        }
        if let Some(s) = given(&self.priority) {
            c.priority = Priority::parse(s);
            if c.priority.is_none() {
                errors.insert("priority", "field.priority_invalid");
            }
        }
        if errors.is_empty() && c == Correction::default() {
            errors.insert("department", "field.correction_empty");
        }
        if errors.is_empty() { Ok(c) } else { Err(errors) }
    }
}

fn classification(call: &Call) -> serde_json::Value {
    json!({
        "department": call.department, "category": call.category,
        "sentiment": call.sentiment, "priority": call.priority,
    })
}

/// Sets the effective classification, records who corrected it and when, audits the
/// old and new values and publishes the change, in one transaction. Any agent may
/// correct any call, open or closed (history is corrected too).
pub async fn correct(ctx: &Ctx, cap: &AgentCap<'_>, call_id: i64, c: &Correction) -> AppResult<Call> {
    let me = cap.actor();
    let before = get(ctx.db(), call_id).await?;
    let now = Timestamp::now();
    let mut tx = ctx.db().begin().await?;
    on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE calls SET department = COALESCE($2, department), category = COALESCE($3, category), \
         sentiment = COALESCE($4, sentiment), priority = COALESCE($5, priority), corrected_by = $6, corrected_at = $7, \
         updated_at = $7 WHERE id = $1",
    )
    .bind(call_id)
    .bind(c.department.map(Department::as_str))
    .bind(c.category.as_deref())
    .bind(c.sentiment.map(Sentiment::as_str))
    .bind(c.priority.map(Priority::as_str))
    .bind(me.id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|_| ()))?;
    let sql = concat!("SELECT ", call_columns!(), " FROM calls WHERE id = $1");
    let after: Call = on_tx!(&mut tx, |conn| sqlx::query_as(sql).bind(call_id).fetch_one(&mut *conn).await)?;
    let entry = crate::audit::Entry::new(Some(me.id), me.username.clone(), "call.correct")
        .target(format!("call:{call_id}"))
        .metadata(json!({
            "old": classification(&before), "new": classification(&after),
            "ai": {"department": after.ai_department, "category": after.ai_category,
                   "sentiment": after.ai_sentiment, "priority": after.ai_priority},
        }));
    on_tx!(&mut tx, |conn| audit_insert!(&entry).execute(&mut *conn).await.map(|_| ()))?;
    events::record_in(&mut tx, Some(call_id), &Payload::CallUpdated(CallChange::of(call_fields(&after)))).await?;
    ctx.bus().commit(tx).await?;
    Ok(after)
}

/// Refuses an empty or bad correction with the fields named.
pub fn parse(input: &CorrectionInput) -> AppResult<Correction> {
    input.parse().map_err(AppError::Validation)
}
