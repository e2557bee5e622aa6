//! The staff assistant: natural-language requests over customers, tickets and
//! payments, answered with tools that run with the signed-in user's authority.
//!
//! The configured model speaks through the same [`ChatModel`] trait as the call
//! agents. With the built-in engine the request is read by rules ([`rules`]); with a
//! remote model the model calls the tools its user's role is offered, for a bounded
//! number of rounds. Either way every tool runs through one dispatcher
//! ([`tools::Console`]) that checks the role again and audits the use, and a payment
//! is only ever proposed: [`actions::confirm`] executes it after its user's click.

pub mod actions;
pub mod engine;
pub mod reads;
pub mod rules;
pub mod tools;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::agents::model::{AgentKind, ChatMessage, ChatModel, ChatRequest, ModelError, Role as ChatRole};
use crate::auth::Principal;
use crate::config::AgentLimits;
use crate::context::Ctx;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::i18n::{Lang, t};
pub use actions::{Confirmed, Pending};
pub use tools::Step;

/// Longest request, in characters.
pub const MAX_MESSAGE: usize = 2000;

const PROMPT: &str = include_str!("prompt.md");

/// The assistant's answer to one request.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Answer {
    /// What the assistant says (model text: escape it wherever it is shown).
    pub reply: String,
    /// Every tool use, in order.
    pub steps: Vec<Step>,
    /// A payment waiting for the user's confirm click.
    pub pending_action: Option<Pending>,
}

/// The request text, trimmed, when it is not empty and not too long.
pub fn check_message(text: &str) -> AppResult<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_MESSAGE {
        return Err(AppError::Validation(FieldErrors::from([("message", "assistant.message_invalid")])));
    }
    Ok(text.to_owned())
}

/// Answers `message` for `who`. The reply text also goes to `deltas` as it is written.
#[tracing::instrument(skip_all, fields(user = who.id))]
pub async fn ask(
    ctx: &Ctx,
    who: &Principal,
    ip: Option<String>,
    message: &str,
    deltas: Option<&mpsc::Sender<String>>,
) -> AppResult<Answer> {
    let message = check_message(message)?;
    let mut console = tools::Console::new(ctx.db(), who, ip);
    let model = ctx.pipeline().model();
    let mut streamed = false;
    let reply = if model.backend() == "builtin" {
        engine::answer(&mut console, &message).await?
    } else {
        let limits = ctx.pipeline().limits();
        let attempt = remote(model, limits, &mut console, who, &message, deltas);
        match tokio::time::timeout(limits.turn_budget, attempt).await.unwrap_or(Ok(Err(ModelError::OutOfTime)))? {
            Ok(text) => {
                streamed = true;
                text
            }
            Err(err) => {
                tracing::warn!(error = %err, "assistant model failed; answering with the built-in engine");
                if console.steps.is_empty() {
                    engine::answer(&mut console, &message).await?
                } else {
                    // Tools already ran (perhaps a ticket was opened): report them rather
                    // than run the request a second time.
                    let mut parts = vec![t(console.lang, "assistant.model_failed").to_owned()];
                    parts.extend(engine::describe(console.lang, &console.steps));
                    parts.join(" ")
                }
            }
        }
    };
    if let Some(tx) = deltas.filter(|_| !streamed) {
        for piece in reply.split_inclusive(' ') {
            if tx.send(piece.to_owned()).await.is_err() {
                break;
            }
        }
    }
    Ok(Answer { reply, steps: console.steps, pending_action: console.pending })
}

fn language_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Es => "Spanish",
        Lang::En => "English",
    }
}

/// The remote model's tool loop: it is offered the tools `who`'s role allows, each call
/// goes through the console, and after `max_tool_rounds` rounds without a final
/// answer the attempt fails.
async fn remote(
    model: &dyn ChatModel,
    limits: &AgentLimits,
    console: &mut tools::Console<'_>,
    who: &Principal,
    message: &str,
    deltas: Option<&mpsc::Sender<String>>,
) -> Result<Result<String, ModelError>, sqlx::Error> {
    let system = PROMPT
        .replace("{name}", &who.full_name)
        .replace("{role}", who.role.as_str())
        .replace("{language}", language_name(console.lang));
    let mut messages = vec![ChatMessage::new(ChatRole::System, system), ChatMessage::new(ChatRole::User, message)];
    let offered = tools::offered(who.role);
    for _round in 0..=limits.max_tool_rounds {
        // The assistant uses the customer-service agent's model: the one configured
        // for tool calling.
        let request = ChatRequest {
            agent: AgentKind::Service,
            messages: messages.clone(),
            tools: offered.clone(),
            json_schema: None,
            max_tokens: limits.max_tokens,
        };
        let response = match model.chat(&request, deltas).await {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        if response.tool_calls.is_empty() {
            let text = response.content.trim().to_owned();
            return Ok(if text.is_empty() { Err(ModelError::Malformed("empty reply".into())) } else { Ok(text) });
        }
        let mut asked = ChatMessage::new(ChatRole::Assistant, response.content.clone());
        asked.tool_calls = response.tool_calls.clone();
        messages.push(asked);
        for call in &response.tool_calls {
            let result = console.call(&call.name, &call.arguments).await?;
            let mut answer = ChatMessage::new(ChatRole::Tool, result.to_string());
            answer.tool_call_id = Some(call.id.clone());
            messages.push(answer);
        }
    }
    Ok(Err(ModelError::Malformed(format!("no reply after {} tool rounds", limits.max_tool_rounds))))
}
