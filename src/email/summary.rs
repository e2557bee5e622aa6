//! The call summary email: the facts of a call gathered for the supervisor agent, the
//! summary it writes (stored as an agent step of the call), and the outbox row.

use serde_json::{Value, json};

use super::render::Content;
use super::{Confirmation, Email, NewEmail};
use crate::agents::summary::{SummaryFacts, TranscriptLine};
use crate::audit::Entry;
use crate::calls::{self, Call};
use crate::context::Ctx;
use crate::error::{AppError, AppResult, Conflict};
use crate::i18n::Lang;

/// What the supervisor agent may use: transcript, tool results, staff decisions.
pub async fn facts(ctx: &Ctx, call: &Call) -> AppResult<SummaryFacts> {
    let db = ctx.db();
    let transcript = calls::messages(db, call.id)
        .await?
        .into_iter()
        .filter(|m| m.role != crate::calls::MessageRole::System)
        .map(|m| TranscriptLine { role: m.role.to_string(), text: m.content })
        .collect();
    let mut tools = Vec::new();
    for run in calls::runs(db, call.id).await?.iter().filter(|r| r.agent == "service") {
        if let Ok(Value::Array(list)) = serde_json::from_str::<Value>(&run.tool_calls) {
            tools.extend(list);
        }
    }
    let actions = calls::actions::for_call(db, call.id)
        .await?
        .iter()
        .map(|a| {
            json!({"tool": a.tool, "params": a.params_json(), "status": a.decision.as_deref().unwrap_or("pending"),
                   "result": a.result.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok())})
        })
        .collect();
    Ok(SummaryFacts {
        language: language_of(call),
        call_id: call.id,
        transcript,
        tools,
        actions,
        escalated: call.queued_at.is_some() || call.escalation_reason.is_some(),
        handled_by_person: call.human_involved,
        outcome: call.outcome.clone(),
    })
}

/// The call's language (Spanish when routing never set one).
pub fn language_of(call: &Call) -> Lang {
    call.language.as_deref().and_then(Lang::parse).unwrap_or_default()
}

/// The summary email of `call`: the existing one if it was already written (confirmed
/// now when `confirmation` says so and it was waiting), else a new one written by the
/// supervisor agent.
pub async fn request(
    ctx: &Ctx,
    call: &Call,
    created_by: Option<i64>,
    confirmation: Confirmation,
    entry: Option<Entry>,
) -> AppResult<(Email, bool)> {
    let customer_id = call.customer_id.ok_or(AppError::Conflict(Conflict::CallWithoutCustomer))?;
    if let Some(existing) = super::summary_of_call(ctx.db(), call.id).await? {
        if confirmation != Confirmation::Pending && existing.status == super::EmailStatus::WaitingConfirmation {
            return Ok((super::confirm(ctx, existing.id, confirmation, entry).await?, false));
        }
        return Ok((existing, false));
    }
    let recipient = super::recipient(ctx.db(), customer_id).await?.ok_or(AppError::NotFound)?;
    super::check_address(&recipient.email, "customer")?;
    let facts = facts(ctx, call).await?;
    let (summary, step) = ctx.pipeline().summarize(&facts).await;
    let mut tx = ctx.db().begin().await?;
    crate::calls::insert_step(&mut tx, call.id, None, &step, &format!("summary: {}", step.outcome)).await?;
    tx.commit().await?;
    let email = NewEmail {
        content: Content::Summary(summary),
        recipient,
        call_id: Some(call.id),
        lang: facts.language,
        dedupe_key: super::summary_key(call.id),
    };
    super::create(ctx, email, created_by, confirmation, entry).await
}
