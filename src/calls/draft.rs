//! The suggested reply: while a person holds a call, the customer-service agent the AI
//! answers with drafts a reply to the customer's last message for them to edit and
//! send. A draft is only text handed back to that person: no message is stored or
//! streamed, no agent step recorded (a call's steps are its AI turns', which reports
//! and the token budget count), and its tools only read — nothing is opened or filed
//! for approval.

use super::budget::TokenBudget;
use super::staff::not_allowed;
use super::turn::{history, previous_classification};
use super::{CallStatus, get};
use crate::agents::model::Role;
use crate::agents::pipeline::Draft;
use crate::agents::tools::CallerScope;
use crate::auth::AgentCap;
use crate::context::Ctx;
use crate::error::{AppError, AppResult, Conflict};

/// Drafts a reply in call `call_id` for the person holding it. Anyone else is refused
/// as a reply would be (409: who holds it, or that nobody does); a call with no
/// customer message yet has nothing to answer (409).
#[tracing::instrument(skip_all, fields(call_id))]
pub async fn suggest(ctx: &Ctx, cap: &AgentCap<'_>, call_id: i64) -> AppResult<Draft> {
    let me = cap.actor();
    let call = get(ctx.db(), call_id).await?;
    if call.status != CallStatus::Human || call.assigned_to != Some(me.id) {
        return Err(not_allowed(ctx.db(), &call, me.id, Conflict::CallNotHeld).await);
    }
    let mut conversation = history(ctx.db(), call_id, None).await?.messages;
    let last = conversation.iter().rposition(|m| m.role == Role::User);
    let Some(last) = last else { return Err(AppError::Conflict(Conflict::NothingToAnswer)) };
    conversation.truncate(last + 1);
    let text = conversation.pop().map(|m| m.content).unwrap_or_default();
    // A call that used up its token budget gets drafts from the built-in engine only.
    let local_only = TokenBudget::of(ctx, &call).used_up();
    let scope = CallerScope { call_id, customer_id: call.customer_id };
    let previous = previous_classification(&call);
    let draft = ctx.pipeline().draft(ctx.db(), scope, &conversation, &text, previous.as_ref(), local_only).await?;
    Ok(draft)
}
