//! The `openai` backend: any OpenAI-compatible chat-completions server (OpenAI, Azure,
//! Ollama, vLLM, LM Studio, llama.cpp), spoken to through async-openai.
//!
//! Requests are built from async-openai's chat types. Answers are read with its `byot`
//! ("bring your own types") calls into the lenient types below, because "compatible"
//! servers omit fields the official schema marks as required (`id`, `created`, a
//! tool call's `type`...). The client's own retry layer is replaced by one HTTP
//! attempt per call ([`Attempt`]): the retry loop here sees each attempt's status and
//! `Retry-After`, backs off as configured and as the server asks, and never multiplies
//! attempts with a second loop underneath.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestAssistantMessageContent, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent,
    ChatCompletionStreamOptions, ChatCompletionTool, ChatCompletionToolChoiceOption, ChatCompletionTools,
    CreateChatCompletionRequest, FunctionCall, FunctionObject, ResponseFormat, ResponseFormatJsonSchema,
    ToolChoiceOptions,
};
use async_trait::async_trait;
use futures_util::StreamExt;
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::model::{AgentKind, ChatModel, ChatRequest, ChatResponse, ModelError, Role, ToolCall, Usage};

/// Connection settings for the remote model (read by [`crate::config`]).
pub use crate::config::LlmConfig as OpenAiConfig;

/// The remote backend.
#[derive(Clone)]
pub struct OpenAiModel {
    client: Client<OpenAIConfig>,
    config: OpenAiConfig,
}

impl std::fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiModel").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A non-2xx answer to one attempt, with what the retry loop needs from it.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}")]
struct Refusal {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: String,
}

/// The HTTP layer under async-openai: exactly one request per call, no retries (the
/// loop in [`OpenAiModel::chat`] retries), a non-2xx answer turned into a [`Refusal`]
/// that keeps its status, `Retry-After` and body.
#[derive(Clone)]
struct Attempt {
    http: reqwest::Client,
    /// Without a key no `Authorization` header is sent (async-openai always writes one).
    keyless: bool,
}

impl tower::Service<HttpRequestFactory> for Attempt {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let mut request = factory.build().await?;
            if this.keyless {
                request.headers_mut().remove(AUTHORIZATION);
            }
            let response = this.http.execute(request).await.map_err(OpenAIError::Reqwest)?;
            if response.status().is_success() {
                return Ok(response);
            }
            let status = response.status();
            let retry_after = retry_after(&response);
            let body = response.text().await.unwrap_or_default();
            Err(OpenAIError::Boxed(Box::new(Refusal { status, retry_after, body })))
        })
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let v = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

impl OpenAiModel {
    /// A client for `config`.
    pub fn new(config: OpenAiConfig) -> Result<Self, ModelError> {
        // The attempt's whole time (answer and streamed body) is bounded in `chat`;
        // here only connecting is.
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| ModelError::Transport(e.to_string()))?;
        // Every field set: `OpenAIConfig::default()` reads OPENAI_* variables, and
        // Centralita is configured by its own.
        let server = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(config.api_key.as_ref().map(|k| k.expose().to_owned()).unwrap_or_default())
            .with_org_id("")
            .with_project_id("");
        let attempt = Attempt { http, keyless: config.api_key.is_none() };
        let client = Client::with_config(server).with_http_service(attempt);
        Ok(Self { client, config })
    }

    fn body(&self, request: &ChatRequest, stream: bool) -> CreateChatCompletionRequest {
        let messages = request.messages.iter().map(wire_message).collect();
        let tools: Vec<ChatCompletionTools> = request
            .tools
            .iter()
            .map(|t| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: t.name.to_owned(),
                        description: (!t.description.is_empty()).then(|| t.description.to_owned()),
                        // No parameters means none, per the API; saves tokens on every request.
                        parameters: takes_arguments(&t.parameters).then(|| (*t.parameters).clone()),
                        strict: None,
                    },
                })
            })
            .collect();
        let has_tools = !tools.is_empty();
        #[allow(deprecated)] // `max_tokens`: what every compatible server reads.
        CreateChatCompletionRequest {
            model: self.model_for(request.agent),
            messages,
            max_tokens: Some(request.max_tokens),
            tools: has_tools.then_some(tools),
            tool_choice: has_tools.then_some(ChatCompletionToolChoiceOption::Mode(ToolChoiceOptions::Auto)),
            response_format: request.json_schema.as_ref().map(|(name, schema)| ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: None,
                    name: (*name).to_owned(),
                    schema: (*schema).clone(),
                    strict: Some(true),
                },
            }),
            stream: stream.then_some(true),
            stream_options: stream
                .then_some(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None }),
            ..Default::default()
        }
    }

    fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let wait = match retry_after {
            Some(d) => d,
            None => {
                let ceiling = self.config.backoff.saturating_mul(1 << attempt.min(16)).min(self.config.max_backoff);
                let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX).max(1);
                Duration::from_millis(rand::rng().random_range(ms / 2..=ms))
            }
        };
        wait.min(self.config.max_backoff)
    }

    /// One attempt: the whole answer, streamed or not. `streaming` turns true once a
    /// streamed answer has begun (text may have reached the customer: no retry then).
    async fn attempt(
        &self,
        body: &CreateChatCompletionRequest,
        deltas: Option<&mpsc::Sender<String>>,
        streaming: &mut bool,
    ) -> Result<ChatResponse, OpenAIError> {
        let chat = self.client.chat();
        match deltas {
            Some(tx) if body.stream == Some(true) => {
                let mut events = chat.create_stream_byot::<_, WireResponse>(body).await?;
                *streaming = true;
                let mut reader = StreamReader::default();
                while let Some(event) = events.next().await {
                    reader.read(event?, tx).await;
                }
                Ok(reader.finish())
            }
            _ => {
                let wire: WireResponse = chat.create_byot(body).await?;
                Ok(read_plain(wire))
            }
        }
    }

    /// What a failed attempt means for the turn, and the server's `Retry-After`.
    fn classify(&self, agent: AgentKind, attempts: u32, error: OpenAIError) -> (ModelError, bool, Option<Duration>) {
        match error {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<Refusal>() {
                Ok(refusal) => {
                    let text = refusal.body.to_lowercase();
                    let about_model =
                        text.contains("model") && (text.contains("not found") || text.contains("does not exist"));
                    if refusal.status == StatusCode::NOT_FOUND || about_model {
                        return (ModelError::UnknownModel(self.model_for(agent)), false, None);
                    }
                    let status = refusal.status.as_u16();
                    if refusal.status != StatusCode::TOO_MANY_REQUESTS && !refusal.status.is_server_error() {
                        return (ModelError::Refused(status), false, None);
                    }
                    (ModelError::Server { status, attempts }, true, refusal.retry_after)
                }
                Err(other) => (ModelError::Transport(other.to_string()), true, None),
            },
            OpenAIError::Reqwest(e) if e.is_timeout() => (ModelError::Timeout, true, None),
            OpenAIError::Reqwest(e) => (ModelError::Transport(e.to_string()), true, None),
            OpenAIError::JSONDeserialize(e, _) => (ModelError::Malformed(e.to_string()), false, None),
            OpenAIError::StreamError(e) => (ModelError::Transport(format!("stream: {e}")), false, None),
            other => (ModelError::Transport(other.to_string()), false, None),
        }
    }
}

/// Whether a tool's parameter schema has any property.
fn takes_arguments(parameters: &Value) -> bool {
    parameters.get("properties").and_then(Value::as_object).is_none_or(|p| !p.is_empty())
}

fn wire_message(m: &super::model::ChatMessage) -> ChatCompletionRequestMessage {
    let text = m.content.clone();
    match m.role {
        Role::System => ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
            content: ChatCompletionRequestSystemMessageContent::Text(text),
            name: None,
        }),
        Role::User => ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Text(text),
            name: None,
        }),
        Role::Assistant => {
            let calls: Vec<ChatCompletionMessageToolCalls> = m
                .tool_calls
                .iter()
                .map(|c| {
                    ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                        id: c.id.clone(),
                        function: FunctionCall { name: c.name.clone(), arguments: c.arguments.clone() },
                    })
                })
                .collect();
            let content = (!text.is_empty() || calls.is_empty())
                .then_some(ChatCompletionRequestAssistantMessageContent::Text(text));
            #[allow(deprecated)] // `function_call`, which nothing here sets.
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content,
                tool_calls: (!calls.is_empty()).then_some(calls),
                ..Default::default()
            })
        }
        Role::Tool => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(text),
            tool_call_id: m.tool_call_id.clone().unwrap_or_default(),
        }),
    }
}

/// A chat completion, or one chunk of a streamed one, as leniently as compatible
/// servers need: everything but the text, tool calls and usage is ignored, and each of
/// those may be missing.
#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default, alias = "delta")]
    message: Option<WireMessage>,
}

#[derive(Deserialize, Default)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

fn usage(u: Option<WireUsage>) -> Usage {
    u.map(|u| Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens }).unwrap_or_default()
}

/// Checks the tool calls a model asked for: each has a name and JSON arguments.
fn checked(response: ChatResponse) -> Result<ChatResponse, ModelError> {
    for c in &response.tool_calls {
        if c.name.is_empty() {
            return Err(ModelError::Malformed("tool call without a name".into()));
        }
        if !c.arguments.trim().is_empty() && serde_json::from_str::<Value>(&c.arguments).is_err() {
            return Err(ModelError::Malformed(format!("tool call {} has arguments that are not JSON", c.name)));
        }
    }
    Ok(response)
}

/// A whole answer; no choices at all reads as an empty one (the caller rejects it).
fn read_plain(wire: WireResponse) -> ChatResponse {
    let used = usage(wire.usage);
    let message = wire.choices.into_iter().next().and_then(|c| c.message).unwrap_or_default();
    let tool_calls = message
        .tool_calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let f = c.function.unwrap_or(WireFunction { name: None, arguments: None });
            ToolCall {
                id: c.id.unwrap_or_else(|| format!("call_{i}")),
                name: f.name.unwrap_or_default(),
                arguments: f.arguments.unwrap_or_default(),
            }
        })
        .collect();
    ChatResponse { content: message.content.unwrap_or_default(), tool_calls, usage: used, hands_over: None }
}

/// Puts a streamed answer together: text as it comes (also sent to the customer), tool
/// calls from their deltas by index, and the usage of the last chunk that has one.
#[derive(Default)]
struct StreamReader {
    content: String,
    calls: Vec<ToolCall>,
    used: Usage,
}

impl StreamReader {
    async fn read(&mut self, event: WireResponse, deltas: &mpsc::Sender<String>) {
        if event.usage.is_some() {
            self.used = usage(event.usage);
        }
        for choice in event.choices {
            let delta = choice.message.unwrap_or_default();
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                self.content.push_str(&text);
                // A customer who left is no reason to stop reading the answer.
                let _ = deltas.send(text).await;
            }
            for part in delta.tool_calls {
                let index = part.index.unwrap_or(self.calls.len().saturating_sub(1));
                while self.calls.len() <= index {
                    let id = format!("call_{}", self.calls.len());
                    self.calls.push(ToolCall { id, name: String::new(), arguments: String::new() });
                }
                let call = &mut self.calls[index];
                if let Some(id) = part.id {
                    call.id = id;
                }
                if let Some(f) = part.function {
                    call.name.push_str(f.name.as_deref().unwrap_or(""));
                    call.arguments.push_str(f.arguments.as_deref().unwrap_or(""));
                }
            }
        }
    }

    fn finish(self) -> ChatResponse {
        ChatResponse { content: self.content, tool_calls: self.calls, usage: self.used, hands_over: None }
    }
}

#[async_trait]
impl ChatModel for OpenAiModel {
    fn backend(&self) -> &'static str {
        "openai"
    }

    fn model_for(&self, agent: AgentKind) -> String {
        let chosen = match agent {
            AgentKind::Routing => &self.config.per_agent.routing,
            AgentKind::Service => &self.config.per_agent.service,
            AgentKind::Supervisor => &self.config.per_agent.supervisor,
        };
        chosen.clone().unwrap_or_else(|| self.config.model.clone())
    }

    #[tracing::instrument(skip_all, fields(agent = request.agent.as_str()))]
    async fn chat(
        &self,
        request: &ChatRequest,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<ChatResponse, ModelError> {
        // Structured answers are read whole; only free text streams.
        let stream = deltas.is_some() && request.json_schema.is_none();
        let body = self.body(request, stream);
        let mut attempt = 0u32;
        loop {
            // The time allowed covers the whole attempt, a streamed body included.
            let mut streaming = false;
            let answer = tokio::time::timeout(self.config.timeout, self.attempt(&body, deltas, &mut streaming)).await;
            let (failure, retry, retry_after) = match answer {
                Ok(Ok(response)) => return checked(response),
                Ok(Err(error)) => self.classify(request.agent, attempt + 1, error),
                Err(_) => (ModelError::Timeout, !streaming, None),
            };
            if !retry || attempt >= self.config.max_retries {
                return Err(failure);
            }
            let wait = self.wait(attempt, retry_after);
            tracing::warn!(error = %failure, wait_ms = wait.as_millis() as u64, "model request failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::model::ChatMessage;

    fn model() -> OpenAiModel {
        let config = OpenAiConfig {
            base_url: "http://127.0.0.1:9/v1/".into(),
            api_key: None,
            model: "m".into(),
            per_agent: Default::default(),
            timeout: Duration::from_secs(1),
            max_retries: 0,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        };
        OpenAiModel::new(config).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn requests_carry_the_conversation_tools_and_schema_in_the_chat_completions_shape() {
        let mut assistant = ChatMessage::new(Role::Assistant, "");
        assistant.tool_calls = vec![ToolCall { id: "c1".into(), name: "get_balance".into(), arguments: "{}".into() }];
        let mut tool = ChatMessage::new(Role::Tool, r#"{"balance":"1.00"}"#);
        tool.tool_call_id = Some("c1".into());
        let request = ChatRequest {
            agent: AgentKind::Service,
            messages: vec![ChatMessage::new(Role::System, "s"), ChatMessage::new(Role::User, "u"), assistant, tool],
            tools: crate::agents::tools::for_category("balance_inquiry"),
            json_schema: None,
            max_tokens: 64,
        };
        let body = serde_json::to_value(model().body(&request, true)).unwrap_or_default();
        assert_eq!(
            body["messages"][2],
            serde_json::json!({"role": "assistant", "tool_calls": [
            {"type": "function", "id": "c1", "function": {"name": "get_balance", "arguments": "{}"}}]})
        );
        assert_eq!(
            body["messages"][3],
            serde_json::json!({"role": "tool", "content": r#"{"balance":"1.00"}"#, "tool_call_id": "c1"})
        );
        assert_eq!(body["tool_choice"], "auto");
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(
            (&body["stream"], &body["stream_options"]["include_usage"]),
            (&Value::Bool(true), &Value::Bool(true))
        );
        assert_eq!(body["max_tokens"], 64);

        static OBJECT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| serde_json::json!({"type": "object"}));
        let structured = ChatRequest { tools: Vec::new(), json_schema: Some(("verdict", &OBJECT)), ..request };
        let body = serde_json::to_value(model().body(&structured, false)).unwrap_or_default();
        assert_eq!(
            body["response_format"],
            serde_json::json!({"type": "json_schema", "json_schema": {"name": "verdict", "schema": {"type": "object"}, "strict": true}})
        );
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none() && body.get("stream").is_none());
    }

    #[test]
    fn lenient_answers_without_ids_or_usage_still_read() {
        let wire: WireResponse =
            serde_json::from_str(r#"{"choices":[{"message":{"tool_calls":[{"function":{"name":"get_balance"}}]}}]}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        let read = read_plain(wire);
        assert_eq!(
            read.tool_calls,
            vec![ToolCall { id: "call_0".into(), name: "get_balance".into(), arguments: String::new() }]
        );
        assert_eq!(read.usage, Usage::default());
    }
}
