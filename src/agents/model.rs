//! The one chat-model interface every agent talks to, and the types it speaks.
//!
//! A request carries the messages, the tools the model may call and, for structured
//! answers, a JSON schema. A response carries text, tool calls and token usage. Text
//! can also stream out through a channel while the model produces it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::db::id_enum;
use crate::db::types::text_column;

id_enum! {
    /// Which agent is asking (backends may pick a model per agent; the built-in engine
    /// uses it to know which job it is doing).
    AgentKind {
        /// Classifies the customer's message.
        Routing => "routing",
        /// Answers the customer, using tools.
        Service => "service",
        /// Judges the turn: continue, escalate or offer a summary.
        Supervisor => "supervisor",
    }
}

text_column!(AgentKind);

id_enum! {
    /// A tool the customer-service agent may be offered. What a model asks for stays a
    /// string in [`ToolCall`] until it parses as one of these.
    ToolName {
        /// The caller's own customer record.
        GetCustomerProfile => "get_customer_profile",
        /// The caller's balance.
        GetBalance => "get_balance",
        /// The caller's tickets.
        ListTickets => "list_tickets",
        /// Opens a ticket for the caller.
        CreateTicket => "create_ticket",
        /// The caller's recent payments.
        ListPayments => "list_payments",
        /// Files a payment for a person to approve.
        RequestPaymentRegistration => "request_payment_registration",
    }
}

/// Who wrote a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The customer (or the text to judge).
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

/// A tool call requested by the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Id to answer with.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as a JSON text (validated by the tool, never trusted).
    pub arguments: String,
}

/// One message of the conversation sent to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Tool calls the assistant made (assistant messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Which call this answers (tool messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message with just text.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }
}

/// A tool the model may call.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    /// Wire name: a [`ToolName`] for the customer-service agent, or one of the staff
    /// assistant's tools (`crate::assistant`), which are not the customer's to call.
    pub name: &'static str,
    /// What it does, for the model; empty when the name says it (then none is sent).
    pub description: &'static str,
    /// JSON schema of the arguments (an object with no properties is not sent: the
    /// tool takes none). Shared: the service agent's specs are built once
    /// ([`crate::agents::tools::specs`]) and offered on every turn.
    pub parameters: std::sync::Arc<serde_json::Value>,
}

/// What to ask the model.
#[derive(Clone, Debug)]
pub struct ChatRequest {
    /// Which agent asks.
    pub agent: AgentKind,
    /// The conversation, system prompt first.
    pub messages: Vec<ChatMessage>,
    /// Tools offered.
    pub tools: Vec<ToolSpec>,
    /// For structured output: schema name and JSON schema (a static one: each agent's
    /// schema is built once, not for every request).
    pub json_schema: Option<(&'static str, &'static serde_json::Value)>,
    /// Cap on generated tokens.
    pub max_tokens: u32,
}

/// Tokens used by one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Completion tokens.
    pub completion_tokens: u32,
}

/// The model's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatResponse {
    /// Text (or the JSON document for structured output).
    pub content: String,
    /// Tools it wants called.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens used.
    pub usage: Usage,
    /// Why the reply hands the customer over to a person, when the model says so
    /// itself: the built-in engine knows when the words it wrote promise a person, so
    /// the turn can keep that promise whatever the supervisor thinks. Remote models
    /// leave it empty (their reply is only text).
    pub hands_over: Option<super::Reason>,
}

/// Why a model call failed. None of these reach the customer as such.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No answer within the time allowed.
    #[error("model request timed out")]
    Timeout,
    /// The server does not know the configured model.
    #[error("the model server does not have the model {0:?}")]
    UnknownModel(String),
    /// Rate limited or server error, still failing after the retries.
    #[error("model server error (HTTP {status}) after {attempts} attempts")]
    Server {
        /// Last HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// The server refused the request (bad key, bad request).
    #[error("model server refused the request (HTTP {0})")]
    Refused(u16),
    /// The answer could not be understood (bad JSON, schema mismatch, bad tool call).
    #[error("malformed model output: {0}")]
    Malformed(String),
    /// Could not reach the server.
    #[error("model server unreachable: {0}")]
    Transport(String),
    /// The customer-service agent ran out of the turn's time budget.
    #[error("turn time budget exceeded")]
    OutOfTime,
}

/// A chat model backend.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// `builtin` or `openai`.
    fn backend(&self) -> &'static str;

    /// The model name used for `agent`.
    fn model_for(&self, agent: AgentKind) -> String;

    /// Runs one request. When `deltas` is given, text is also sent there piece by
    /// piece as it is produced.
    async fn chat(
        &self,
        request: &ChatRequest,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<ChatResponse, ModelError>;
}

/// Rough token count for text (about four characters a token, as OpenAI's tokenizers
/// average for English and Spanish); used where a backend reports no usage.
pub fn estimate_tokens(text: &str) -> u32 {
    (text.chars().count() as u32).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_kinds_and_tool_names_are_their_wire_names() {
        crate::agents::tests::assert_names_agree(AgentKind::ALL);
        crate::agents::tests::assert_names_agree(ToolName::ALL);
        assert_eq!(ToolName::RequestPaymentRegistration.as_str(), "request_payment_registration");
        assert!("delete_customer".parse::<ToolName>().is_err());
    }
}
