//! The agents' work on a written inquiry, for the background job: the routing agent's
//! classification and a suggested reply, both from the configured model only. Unlike a
//! live turn, nothing falls back to the built-in engine here: a failure goes back to
//! the job, which retries with backoff and, after its last attempt, shows the error to
//! staff (a slow or broken model delays the suggestion, never the customer's 202).

use std::sync::LazyLock;
use std::time::Instant;

use serde_json::Value;

use super::Classification;
use super::model::{AgentKind, ChatMessage, ChatRequest, ChatResponse, ModelError, Role};
use super::pipeline::{Pipeline, Step, parse_classification};
use super::schema;
use crate::i18n::Lang;

const ROUTING_PROMPT: &str = include_str!("prompts/routing.md");
const INQUIRY_PROMPT: &str = include_str!("prompts/inquiry.md");

static ROUTING_SCHEMA: LazyLock<Value> = LazyLock::new(schema::strict::<Classification>);

/// Longest suggested reply kept (characters).
pub const MAX_REPLY: usize = 4000;

impl Pipeline {
    /// The routing agent's classification of `text` by the configured model, or its
    /// error (no fallback).
    pub async fn classify_strictly(&self, text: &str) -> Result<(Classification, Step), ModelError> {
        let request = ChatRequest {
            agent: AgentKind::Routing,
            messages: vec![ChatMessage::new(Role::System, ROUTING_PROMPT), ChatMessage::new(Role::User, text)],
            tools: Vec::new(),
            json_schema: Some(("classification", &ROUTING_SCHEMA)),
            max_tokens: self.limits().max_tokens,
        };
        let started = Instant::now();
        let response = self.model().chat(&request, None).await?;
        let c = parse_classification(&response.content)?;
        let output = serde_json::to_string(&c).unwrap_or_default();
        Ok((c, self.step(AgentKind::Routing, &response, started, output)))
    }

    /// A suggested reply to a written inquiry (`text`), in `language`, from the
    /// customer-service agent without tools: it cannot read any account.
    pub async fn suggest_reply(&self, text: &str, language: Lang) -> Result<(String, Step), ModelError> {
        let name = match language {
            Lang::Es => "Spanish",
            Lang::En => "English",
        };
        let request = ChatRequest {
            agent: AgentKind::Service,
            messages: vec![
                ChatMessage::new(Role::System, INQUIRY_PROMPT.replace("{language}", name)),
                ChatMessage::new(Role::User, text),
            ],
            tools: Vec::new(),
            json_schema: None,
            max_tokens: self.limits().max_tokens,
        };
        let started = Instant::now();
        let response = self.model().chat(&request, None).await?;
        let reply: String = response.content.trim().chars().take(MAX_REPLY).collect();
        if reply.is_empty() || !response.tool_calls.is_empty() {
            return Err(ModelError::Malformed("inquiry reply: empty, or a tool call instead of text".into()));
        }
        Ok((reply.clone(), self.step(AgentKind::Service, &response, started, reply)))
    }

    fn step(&self, agent: AgentKind, response: &ChatResponse, started: Instant, output: String) -> Step {
        Step {
            agent,
            backend: self.model().backend(),
            model: self.model().model_for(agent),
            prompt_tokens: response.usage.prompt_tokens,
            completion_tokens: response.usage.completion_tokens,
            latency_ms: started.elapsed().as_millis() as u64,
            tool_calls: Vec::new(),
            output,
            outcome: "ok".into(),
        }
    }
}
