//! The `openai` backend: any OpenAI-compatible chat-completions server (OpenAI, Azure,
//! Ollama, vLLM, LM Studio, llama.cpp).
//!
//! HTTP is done here with reqwest rather than through async-openai's client because
//! the pipeline needs what that client hides: the HTTP status and `Retry-After` of each
//! attempt (to back off as the server asks), and lenient parsing, since "compatible"
//! servers omit fields the official schema marks as required.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use rand::Rng;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::model::{AgentKind, ChatModel, ChatRequest, ChatResponse, ModelError, Role, ToolCall, Usage};

/// Connection settings for the remote model (read by [`crate::config`]).
pub use crate::config::LlmConfig as OpenAiConfig;

/// The remote backend.
#[derive(Clone, Debug)]
pub struct OpenAiModel {
    http: reqwest::Client,
    config: OpenAiConfig,
}

impl OpenAiModel {
    /// A client for `config`.
    pub fn new(config: OpenAiConfig) -> Result<Self, ModelError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| ModelError::Transport(e.to_string()))?;
        Ok(Self { http, config })
    }

    fn body(&self, request: &ChatRequest, stream: bool) -> Value {
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| match m.role {
                Role::System => json!({"role": "system", "content": m.content}),
                Role::User => json!({"role": "user", "content": m.content}),
                Role::Assistant if !m.tool_calls.is_empty() => json!({
                    "role": "assistant",
                    "content": if m.content.is_empty() { Value::Null } else { Value::String(m.content.clone()) },
                    "tool_calls": m.tool_calls.iter().map(|c| json!({
                        "id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments},
                    })).collect::<Vec<_>>(),
                }),
                Role::Assistant => json!({"role": "assistant", "content": m.content}),
                Role::Tool => json!({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}),
            })
            .collect();
        let mut body = json!({
            "model": self.model_for(request.agent),
            "messages": messages,
            "max_tokens": request.max_tokens,
        });
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
                .collect();
            body["tool_choice"] = json!("auto");
        }
        if let Some((name, schema)) = &request.json_schema {
            body["response_format"] =
                json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": true}});
        }
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        body
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
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let v = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

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

fn finish(content: String, calls: Vec<ToolCall>, usage: Usage) -> Result<ChatResponse, ModelError> {
    for c in &calls {
        if c.name.is_empty() {
            return Err(ModelError::Malformed("tool call without a name".into()));
        }
        if !c.arguments.trim().is_empty() && serde_json::from_str::<Value>(&c.arguments).is_err() {
            return Err(ModelError::Malformed(format!("tool call {} has arguments that are not JSON", c.name)));
        }
    }
    Ok(ChatResponse { content, tool_calls: calls, usage })
}

async fn read_plain(response: reqwest::Response) -> Result<ChatResponse, ModelError> {
    let text = response.text().await.map_err(|e| ModelError::Transport(e.to_string()))?;
    let wire: WireResponse = serde_json::from_str(&text).map_err(|e| ModelError::Malformed(e.to_string()))?;
    let message = wire
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.message)
        .ok_or_else(|| ModelError::Malformed("no choices".into()))?;
    let calls = message
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
    finish(message.content.unwrap_or_default(), calls, usage(wire.usage))
}

async fn read_stream(response: reqwest::Response, deltas: &mpsc::Sender<String>) -> Result<ChatResponse, ModelError> {
    let mut content = String::new();
    let mut calls: Vec<ToolCall> = Vec::new();
    let mut used = Usage::default();
    let mut buffer = String::new();
    let mut bytes = response.bytes_stream();
    'read: while let Some(chunk) = bytes.next().await {
        let chunk = chunk
            .map_err(|e| if e.is_timeout() { ModelError::Timeout } else { ModelError::Transport(e.to_string()) })?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let Some(data) = line.trim().strip_prefix("data:") else { continue };
            let data = data.trim();
            if data == "[DONE]" {
                break 'read;
            }
            let event: WireResponse =
                serde_json::from_str(data).map_err(|e| ModelError::Malformed(format!("stream event: {e}")))?;
            if event.usage.is_some() {
                used = usage(event.usage);
            }
            for choice in event.choices {
                let delta = choice.message.unwrap_or_default();
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    content.push_str(&text);
                    // A customer who left is no reason to stop reading the answer.
                    let _ = deltas.send(text).await;
                }
                for part in delta.tool_calls {
                    let index = part.index.unwrap_or(calls.len().saturating_sub(1));
                    while calls.len() <= index {
                        calls.push(ToolCall {
                            id: format!("call_{}", calls.len()),
                            name: String::new(),
                            arguments: String::new(),
                        });
                    }
                    let call = &mut calls[index];
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
    }
    finish(content, calls, used)
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
        let url = format!("{}/chat/completions", self.config.base_url.trim_end_matches('/'));
        let mut attempt = 0u32;
        loop {
            let mut http = self.http.post(&url).json(&body);
            if let Some(key) = &self.config.api_key {
                http = http.bearer_auth(key.expose());
            }
            let failure = match http.send().await {
                Ok(response) if response.status().is_success() => {
                    return match (stream, deltas) {
                        (true, Some(tx)) => read_stream(response, tx).await,
                        _ => read_plain(response).await,
                    };
                }
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(&response);
                    let text = response.text().await.unwrap_or_default().to_lowercase();
                    let about_model =
                        text.contains("model") && (text.contains("not found") || text.contains("does not exist"));
                    if status == StatusCode::NOT_FOUND || about_model {
                        return Err(ModelError::UnknownModel(self.model_for(request.agent)));
                    }
                    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                        return Err(ModelError::Refused(status.as_u16()));
                    }
                    (ModelError::Server { status: status.as_u16(), attempts: attempt + 1 }, wait)
                }
                Err(e) if e.is_timeout() => (ModelError::Timeout, None),
                Err(e) => (ModelError::Transport(e.to_string()), None),
            };
            if attempt >= self.config.max_retries {
                return Err(failure.0);
            }
            let wait = self.wait(attempt, failure.1);
            tracing::warn!(error = %failure.0, wait_ms = wait.as_millis() as u64, "model request failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}
