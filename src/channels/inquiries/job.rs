//! The background job behind each inquiry (`inquiry.classify`): the routing agent's
//! classification and a suggested reply from the configured model, written to the
//! inquiry in the transaction that marks the job done. A model failure is retried
//! with backoff by the job queue; while it retries the inquiry shows the last error,
//! and once the job is dead the inquiry is `failed` with it.

use serde::{Deserialize, Serialize};

use super::InquiryStatus;
use crate::agents::Classification;
use crate::agents::pipeline::Step;
use crate::context::Ctx;
use crate::db::{Timestamp, Tx, on_tx, with_db};
use crate::error::AppError;
use crate::jobs::{Failure, Job, Outcome};

/// The job kind.
pub const KIND: &str = "inquiry.classify";

/// One classification job per inquiry.
pub fn dedupe_key(inquiry_id: i64) -> String {
    format!("inquiry:{inquiry_id}:classify")
}

#[derive(Deserialize)]
struct Payload {
    inquiry_id: i64,
}

/// What the job produced (its stored result).
#[derive(Debug, Serialize, Deserialize)]
struct Produced {
    classification: Classification,
    reply: String,
    prompt_tokens: u32,
    completion_tokens: u32,
    latency_ms: u64,
}

/// Runs the agents on the inquiry; the result is [`Produced`] as JSON, or a note that
/// there was nothing to do (the inquiry is no longer pending).
pub async fn perform(ctx: &Ctx, job: &Job) -> Result<String, Failure> {
    let payload: Payload = job.payload()?;
    let inquiry = match super::get(ctx.db(), payload.inquiry_id).await {
        Ok(inquiry) => inquiry,
        Err(AppError::NotFound) => return Err(Failure::permanent("the inquiry no longer exists")),
        Err(err) => return Err(Failure::transient(format!("reading the inquiry: {err}"))),
    };
    if inquiry.status != InquiryStatus::Pending {
        return Ok(serde_json::json!({"skipped": inquiry.status.as_str()}).to_string());
    }
    let text = format!("{}\n\n{}", inquiry.subject, inquiry.message);
    let pipeline = ctx.pipeline();
    let (classification, routing) =
        pipeline.classify_strictly(&text).await.map_err(|e| Failure::transient(format!("routing agent: {e}")))?;
    record_run(ctx, payload.inquiry_id, job.attempts, &routing).await;
    let (reply, service) = pipeline
        .suggest_reply(&text, classification.language)
        .await
        .map_err(|e| Failure::transient(format!("reply agent: {e}")))?;
    record_run(ctx, payload.inquiry_id, job.attempts, &service).await;
    let produced = Produced {
        classification,
        reply,
        prompt_tokens: routing.prompt_tokens + service.prompt_tokens,
        completion_tokens: routing.completion_tokens + service.completion_tokens,
        latency_ms: routing.latency_ms + service.latency_ms,
    };
    serde_json::to_string(&produced).map_err(|e| Failure::permanent(e.to_string()))
}

/// Records a model step of the inquiry's job in `agent_runs` (the inquiry's own, `turn`
/// being the job's attempt), as soon as it is taken: its tokens were spent even if a
/// later step fails and the job is retried. A failure to record is logged, not fatal:
/// the inquiry's classification matters more than its bookkeeping.
async fn record_run(ctx: &Ctx, inquiry_id: i64, attempt: i64, step: &Step) {
    let recorded = with_db!(ctx.db(), |pool| sqlx::query(
        "INSERT INTO agent_runs (inquiry_id, turn, agent, backend, model, prompt_tokens, completion_tokens, \
         latency_ms, tool_calls, output, outcome, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '[]', $9, $10, $11)",
    )
    .bind(inquiry_id)
    .bind(attempt)
    .bind(step.agent)
    .bind(step.backend)
    .bind(&step.model)
    .bind(i64::from(step.prompt_tokens))
    .bind(i64::from(step.completion_tokens))
    .bind(step.latency_ms as i64)
    .bind(&step.output)
    .bind(&step.outcome)
    .bind(Timestamp::now())
    .execute(pool)
    .await
    .map(|_| ()));
    if let Err(err) = recorded {
        tracing::warn!(inquiry_id, error = %err, "could not record the inquiry's agent run");
    }
}

/// Announces a classification that ended (done or dead) to staff pages.
pub async fn settled(ctx: &Ctx, job: &Job, outcome: &Outcome) {
    let Ok(payload) = job.payload::<Payload>() else { return };
    let status = match outcome {
        Outcome::Done(_) => InquiryStatus::Classified,
        Outcome::Dead(_) => InquiryStatus::Failed,
        Outcome::Retry { .. } => return,
    };
    super::announce(ctx, payload.inquiry_id, status).await;
}

/// Writes the outcome to the inquiry (only one still pending: staff may have closed
/// it meanwhile).
pub async fn settle(tx: &mut Tx, job: &Job, outcome: &Outcome) -> Result<(), sqlx::Error> {
    let Ok(payload) = job.payload::<Payload>() else { return Ok(()) };
    let now = Timestamp::now();
    match outcome {
        Outcome::Done(result) => {
            let Ok(p) = serde_json::from_str::<Produced>(result) else { return Ok(()) };
            let c = &p.classification;
            on_tx!(tx, |conn| sqlx::query(
                "UPDATE inquiries SET status = 'classified', department = $2, category = $3, sentiment = $4, \
                 priority = $5, confidence = $6, language = $7, suggested_reply = $8, error = NULL, \
                 classified_at = $9, updated_at = $9 WHERE id = $1 AND status = 'pending'",
            )
            .bind(payload.inquiry_id)
            .bind(c.department.as_str())
            .bind(&c.category)
            .bind(c.sentiment.as_str())
            .bind(c.priority.as_str())
            .bind(c.confidence)
            .bind(c.language.code())
            .bind(&p.reply)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ()))
        }
        Outcome::Retry { detail, .. } | Outcome::Dead(detail) => {
            let status = if matches!(outcome, Outcome::Dead(_)) { "failed" } else { "pending" };
            on_tx!(tx, |conn| sqlx::query(
                "UPDATE inquiries SET status = $2, error = $3, updated_at = $4 WHERE id = $1 AND status = 'pending'",
            )
            .bind(payload.inquiry_id)
            .bind(status)
            .bind(detail)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ()))
        }
    }
}
