//! One customer turn: routing → customer service (tool loop, streamed reply) →
//! supervisor, each as one model request per step, with guards and a fallback to the
//! built-in engine so the customer always gets a polite answer.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::builtin::{self, engine::BuiltinModel};
use super::model::{AgentKind, ChatMessage, ChatModel, ChatRequest, ModelError, Role, ToolCall};
use super::tools::{self, CallerScope};
use super::{Action, Classification, Reason, Verdict};
use crate::config::AgentLimits;
use crate::db::Db;
use crate::email::render::CallSummary;
use crate::i18n::Lang;

const ROUTING_PROMPT: &str = include_str!("prompts/routing.md");
const SERVICE_PROMPT: &str = include_str!("prompts/service.md");
const SUPERVISOR_PROMPT: &str = include_str!("prompts/supervisor.md");
const SUMMARY_PROMPT: &str = include_str!("prompts/summary.md");

/// Schema name of the supervisor's call-summary request.
pub const SUMMARY_SCHEMA: &str = "call_summary";

/// One line of a call's transcript, as the summary sees it.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct TranscriptLine {
    /// customer, ai or human.
    pub role: String,
    /// What was said (untrusted).
    pub text: String,
}

/// Everything the supervisor agent may use to write a call summary: the transcript,
/// the tools' calls and results, and what staff decided on pending actions.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct SummaryFacts {
    /// Language of the summary.
    pub language: Lang,
    /// The call.
    pub call_id: i64,
    /// Customer, AI and staff messages, oldest first.
    pub transcript: Vec<TranscriptLine>,
    /// Tool calls: name, arguments, result, ok.
    pub tools: Vec<Value>,
    /// Pending actions: tool, params, status (pending, approved, rejected), result.
    pub actions: Vec<Value>,
    /// The call went to the human queue.
    pub escalated: bool,
    /// A person took part.
    pub handled_by_person: bool,
    /// How staff closed it, if they did.
    pub outcome: Option<String>,
}

/// One agent step, as stored in `agent_runs` and shown on the call page.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// routing, service or supervisor.
    pub agent: &'static str,
    /// builtin or openai.
    pub backend: &'static str,
    /// Model name.
    pub model: String,
    /// Prompt tokens over the step's requests.
    pub prompt_tokens: u32,
    /// Completion tokens over the step's requests.
    pub completion_tokens: u32,
    /// Wall-clock time of the step.
    pub latency_ms: u64,
    /// Tool calls with arguments, results and whether they succeeded.
    pub tool_calls: Vec<Value>,
    /// The step's output (classification JSON, reply text, verdict JSON).
    pub output: String,
    /// `ok`, `skipped: …`, `fallback: …`.
    pub outcome: String,
}

/// What a turn produced.
#[derive(Clone, Debug)]
pub struct TurnOutcome {
    /// The routing decision in force for this turn.
    pub classification: Classification,
    /// The reply shown to the customer.
    pub reply: String,
    /// The supervisor's verdict.
    pub verdict: Verdict,
    /// Every step, in order.
    pub steps: Vec<Step>,
}

/// The three agents over one model backend (plus the built-in engine to fall back on).
#[derive(Clone)]
pub struct Pipeline {
    primary: Arc<dyn ChatModel>,
    fallback: BuiltinModel,
    limits: AgentLimits,
}

fn routing_schema() -> Value {
    json!({"type": "object", "additionalProperties": false,
        "required": ["department", "category", "sentiment", "priority", "language", "confidence", "recommendations"],
        "properties": {
            "department": {"type": "string", "enum": ["sales", "support", "billing", "complaints", "general"]},
            "category": {"type": "string"},
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            "priority": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
            "language": {"type": "string", "enum": ["es", "en"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "recommendations": {"type": "array", "items": {"type": "string"}}}})
}

fn verdict_schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "required": ["action", "reason", "quality"],
        "properties": {
            "action": {"type": "string", "enum": ["continue", "escalate", "offer_summary"]},
            "reason": {"type": ["string", "null"], "enum": ["customer_request", "missing_knowledge", "unsupported_request",
                "policy_restriction", "tool_failure", "negative_sentiment", "low_confidence", null]},
            "quality": {"type": "number", "minimum": 0, "maximum": 1}}})
}

fn summary_schema() -> Value {
    let list = json!({"type": "array", "items": {"type": "string"}, "maxItems": crate::email::render::MAX_ITEMS});
    json!({"type": "object", "additionalProperties": false, "required": ["issue", "actions", "references", "next_steps"],
        "properties": {"issue": {"type": "string"}, "actions": list, "references": list, "next_steps": list}})
}

fn parse_summary(text: &str) -> Result<CallSummary, ModelError> {
    let s: CallSummary =
        serde_json::from_str(text.trim()).map_err(|e| ModelError::Malformed(format!("summary: {e}")))?;
    s.cleaned().ok_or_else(|| ModelError::Malformed("summary: issue, actions or next steps empty".into()))
}

fn parse_classification(text: &str) -> Result<Classification, ModelError> {
    let mut c: Classification =
        serde_json::from_str(text.trim()).map_err(|e| ModelError::Malformed(format!("routing: {e}")))?;
    if !(0.0..=1.0).contains(&c.confidence) || c.category.trim().is_empty() || c.category.len() > 64 {
        return Err(ModelError::Malformed("routing: confidence or category out of range".into()));
    }
    c.recommendations.truncate(10);
    Ok(c)
}

fn parse_verdict(text: &str) -> Result<Verdict, ModelError> {
    let v: Verdict =
        serde_json::from_str(text.trim()).map_err(|e| ModelError::Malformed(format!("supervisor: {e}")))?;
    if !(0.0..=1.0).contains(&v.quality) || (v.action == Action::Escalate && v.reason.is_none()) {
        return Err(ModelError::Malformed("supervisor: quality out of range or escalation without a reason".into()));
    }
    Ok(v)
}

struct ServiceResult {
    reply: String,
    tool_calls: Vec<Value>,
    prompt_tokens: u32,
    completion_tokens: u32,
    tools_failed: bool,
    customer_linked: bool,
}

impl Pipeline {
    /// A pipeline over `primary` (the built-in engine when no remote model is set).
    pub fn new(primary: Arc<dyn ChatModel>, limits: AgentLimits) -> Self {
        Self { primary, fallback: BuiltinModel, limits }
    }

    /// Runs routing alone (for `POST /api/v1/classify` and the CLI).
    pub async fn classify(&self, text: &str) -> (Classification, Step) {
        self.route(text).await
    }

    async fn route(&self, text: &str) -> (Classification, Step) {
        let request = ChatRequest {
            agent: AgentKind::Routing,
            messages: vec![ChatMessage::new(Role::System, ROUTING_PROMPT), ChatMessage::new(Role::User, text)],
            tools: Vec::new(),
            json_schema: Some(("classification", routing_schema())),
            max_tokens: self.limits.max_tokens,
        };
        let started = Instant::now();
        let (model, answer) = match self
            .primary
            .chat(&request, None)
            .await
            .and_then(|r| parse_classification(&r.content).map(|c| (r, c)))
        {
            Ok((r, c)) => ((self.primary.as_ref() as &dyn ChatModel, r.usage, "ok".to_owned()), c),
            Err(err) => {
                tracing::warn!(error = %err, "routing agent failed; using the built-in engine");
                let c = builtin::classify(text);
                ((&self.fallback as &dyn ChatModel, Default::default(), format!("fallback: {err}")), c)
            }
        };
        let step = Step {
            agent: "routing",
            backend: model.0.backend(),
            model: model.0.model_for(AgentKind::Routing),
            prompt_tokens: model.1.prompt_tokens,
            completion_tokens: model.1.completion_tokens,
            latency_ms: started.elapsed().as_millis() as u64,
            tool_calls: Vec::new(),
            output: serde_json::to_string(&answer).unwrap_or_default(),
            outcome: model.2,
        };
        (answer, step)
    }

    /// Runs one customer turn. `history` holds the earlier customer/AI messages of the
    /// call; `previous` the classification in force. Reply text streams to `deltas`.
    pub async fn run_turn(
        &self,
        db: &Db,
        scope: CallerScope,
        history: &[ChatMessage],
        text: &str,
        previous: Option<&Classification>,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<TurnOutcome, sqlx::Error> {
        let mut steps = Vec::with_capacity(3);

        // 1. Routing, skipped when the topic has not changed since the last turn.
        // The local engine is cheap, so it decides whether the topic changed.
        let local = previous.map(|_| builtin::classify(text));
        let classification = match (previous, local) {
            (Some(prev), Some(local)) if prev.category == local.category => {
                let c = Classification { department: prev.department, category: prev.category.clone(), ..local };
                steps.push(Step {
                    agent: "routing",
                    backend: "builtin",
                    model: builtin::engine::MODEL_NAME.into(),
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    latency_ms: 0,
                    tool_calls: Vec::new(),
                    output: serde_json::to_string(&c).unwrap_or_default(),
                    outcome: "skipped: topic unchanged".into(),
                });
                c
            }
            _ => {
                let (c, step) = self.route(text).await;
                steps.push(step);
                c
            }
        };

        // 2. Customer service, within the turn's time budget; the built-in engine
        // answers if the model fails or runs out of time.
        let started = Instant::now();
        let budget = self.limits.turn_budget;
        let primary = self.primary.clone();
        let offered = tools::for_category(&classification.category);
        let attempt = tokio::time::timeout(
            budget,
            self.serve(primary.as_ref(), db, scope, history, text, classification.language, &offered, deltas),
        )
        .await;
        let (service, backend, model, outcome) = match attempt {
            Ok(Ok(Ok(result))) => (result, primary.backend(), primary.model_for(AgentKind::Service), "ok".to_owned()),
            Ok(Err(db_error)) => return Err(db_error),
            Ok(Ok(Err(model_error))) => {
                tracing::warn!(error = %model_error, "service agent failed; using the built-in engine");
                let result = self
                    .serve(&self.fallback, db, scope, history, text, classification.language, &offered, deltas)
                    .await?;
                (
                    result.unwrap_or_else(|_| self.apology(classification.language)),
                    "builtin",
                    builtin::engine::MODEL_NAME.to_owned(),
                    format!("fallback: {model_error}"),
                )
            }
            Err(_) => {
                tracing::warn!("service agent ran out of its time budget");
                let result = self.apology(classification.language);
                if let Some(tx) = deltas {
                    let _ = tx.send(result.reply.clone()).await;
                }
                (
                    result,
                    "builtin",
                    builtin::engine::MODEL_NAME.to_owned(),
                    "fallback: turn time budget exceeded".to_owned(),
                )
            }
        };
        steps.push(Step {
            agent: "service",
            backend,
            model,
            prompt_tokens: service.prompt_tokens,
            completion_tokens: service.completion_tokens,
            latency_ms: started.elapsed().as_millis() as u64,
            tool_calls: service.tool_calls.clone(),
            output: service.reply.clone(),
            outcome,
        });

        // 3. Supervisor.
        let (verdict, step) = self.supervise(&classification, text, &service).await;
        steps.push(step);
        Ok(TurnOutcome { classification, reply: service.reply, verdict, steps })
    }

    /// The supervisor agent writes the summary of a call from its facts; the built-in
    /// engine writes it when the model fails or answers out of shape.
    pub async fn summarize(&self, facts: &SummaryFacts) -> (CallSummary, Step) {
        let language = match facts.language {
            Lang::Es => "Spanish",
            Lang::En => "English",
        };
        let request = ChatRequest {
            agent: AgentKind::Supervisor,
            messages: vec![
                ChatMessage::new(Role::System, SUMMARY_PROMPT.replace("{language}", language)),
                ChatMessage::new(Role::User, serde_json::to_string(facts).unwrap_or_default()),
            ],
            tools: Vec::new(),
            json_schema: Some((SUMMARY_SCHEMA, summary_schema())),
            max_tokens: self.limits.max_tokens,
        };
        let started = Instant::now();
        let (model, usage, outcome, summary) =
            match self.primary.chat(&request, None).await.and_then(|r| parse_summary(&r.content).map(|s| (r, s))) {
                Ok((r, s)) => (self.primary.as_ref() as &dyn ChatModel, r.usage, "ok".to_owned(), s),
                Err(err) => {
                    tracing::warn!(error = %err, "summary by the supervisor agent failed; using the built-in engine");
                    let s = builtin::summary::summarize(facts);
                    (&self.fallback as &dyn ChatModel, Default::default(), format!("fallback: {err}"), s)
                }
            };
        let step = Step {
            agent: "supervisor",
            backend: model.backend(),
            model: model.model_for(AgentKind::Supervisor),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            latency_ms: started.elapsed().as_millis() as u64,
            tool_calls: Vec::new(),
            output: serde_json::to_string(&summary).unwrap_or_default(),
            outcome,
        };
        (summary, step)
    }

    fn apology(&self, language: Lang) -> ServiceResult {
        let reply = crate::i18n::t(language, "agents.apology");
        ServiceResult {
            reply: reply.into(),
            tool_calls: Vec::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
            tools_failed: true,
            customer_linked: true,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn serve(
        &self,
        model: &dyn ChatModel,
        db: &Db,
        scope: CallerScope,
        history: &[ChatMessage],
        text: &str,
        language: Lang,
        offered: &[tools::ToolSpec],
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<Result<ServiceResult, ModelError>, sqlx::Error> {
        let system = SERVICE_PROMPT.replace(
            "{language}",
            match language {
                Lang::Es => "Spanish",
                Lang::En => "English",
            },
        );
        let mut messages = vec![ChatMessage::new(Role::System, system)];
        messages.extend(history.iter().cloned());
        messages.push(ChatMessage::new(Role::User, text));
        let mut result = ServiceResult {
            reply: String::new(),
            tool_calls: Vec::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
            tools_failed: false,
            customer_linked: scope.customer_id.is_some(),
        };
        let mut seen: Vec<(String, String)> = Vec::new();
        for _round in 0..=self.limits.max_tool_rounds {
            let request = ChatRequest {
                agent: AgentKind::Service,
                messages: messages.clone(),
                tools: offered.to_vec(),
                json_schema: None,
                max_tokens: self.limits.max_tokens,
            };
            let response = match model.chat(&request, deltas).await {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            result.prompt_tokens += response.usage.prompt_tokens;
            result.completion_tokens += response.usage.completion_tokens;
            if response.tool_calls.is_empty() {
                result.reply = response.content.trim().to_owned();
                if result.reply.is_empty() {
                    return Ok(Err(ModelError::Malformed("empty reply".into())));
                }
                return Ok(Ok(result));
            }
            let mut assistant = ChatMessage::new(Role::Assistant, response.content.clone());
            assistant.tool_calls = response.tool_calls.clone();
            messages.push(assistant);
            for call in &response.tool_calls {
                let key = (call.name.clone(), call.arguments.clone());
                let outcome = if seen.contains(&key) {
                    // The same call again adds nothing and may be a loop: refuse it.
                    tools::ToolOutcome {
                        result: json!({"error": "repeated identical call refused; answer with what you have"}),
                        ok: false,
                    }
                } else {
                    seen.push(key);
                    tools::run(db, scope, call).await?
                };
                result.tools_failed |= !outcome.ok;
                result.tool_calls.push(
                    json!({"name": call.name, "arguments": call.arguments, "result": outcome.result, "ok": outcome.ok}),
                );
                messages.push(tool_message(call, &outcome.result));
            }
        }
        // Out of rounds: the model kept calling tools instead of answering.
        Ok(Err(ModelError::Malformed(format!("no reply after {} tool rounds", self.limits.max_tool_rounds))))
    }

    async fn supervise(&self, classification: &Classification, text: &str, service: &ServiceResult) -> (Verdict, Step) {
        let facts = json!({
            "classification": {
                "department": classification.department, "category": classification.category,
                "sentiment": classification.sentiment, "priority": classification.priority,
                "confidence": classification.confidence, "language": classification.language,
                "recommendations": classification.recommendations,
            },
            "customer_message": text,
            "reply": service.reply,
            "tools": service.tool_calls.iter().map(|t| json!({"name": t["name"], "ok": t["ok"]})).collect::<Vec<_>>(),
            "customer_linked": service.customer_linked,
        });
        let request = ChatRequest {
            agent: AgentKind::Supervisor,
            messages: vec![
                ChatMessage::new(Role::System, SUPERVISOR_PROMPT),
                ChatMessage::new(Role::User, facts.to_string()),
            ],
            tools: Vec::new(),
            json_schema: Some(("verdict", verdict_schema())),
            max_tokens: self.limits.max_tokens.min(200),
        };
        let started = Instant::now();
        let (backend, model, usage, outcome, mut verdict) = match self
            .primary
            .chat(&request, None)
            .await
            .and_then(|r| parse_verdict(&r.content).map(|v| (r, v)))
        {
            Ok((r, v)) => {
                (self.primary.backend(), self.primary.model_for(AgentKind::Supervisor), r.usage, "ok".to_owned(), v)
            }
            Err(err) => {
                tracing::warn!(error = %err, "supervisor agent failed; using the built-in engine");
                let v = match self.fallback.chat(&request, None).await.and_then(|r| parse_verdict(&r.content)) {
                    Ok(v) => v,
                    Err(_) => Verdict { action: Action::Escalate, reason: Some(Reason::ToolFailure), quality: 0.0 },
                };
                ("builtin", builtin::engine::MODEL_NAME.to_owned(), Default::default(), format!("fallback: {err}"), v)
            }
        };
        // Rules no model may talk its way around: a failed tool or a request for a
        // person always reaches a person.
        if verdict.action != Action::Escalate {
            if service.tools_failed && service.customer_linked {
                verdict =
                    Verdict { action: Action::Escalate, reason: Some(Reason::ToolFailure), quality: verdict.quality };
            } else if classification.category == "human_request" {
                verdict = Verdict {
                    action: Action::Escalate,
                    reason: Some(Reason::CustomerRequest),
                    quality: verdict.quality,
                };
            }
        }
        let step = Step {
            agent: "supervisor",
            backend,
            model,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            latency_ms: started.elapsed().as_millis() as u64,
            tool_calls: Vec::new(),
            output: serde_json::to_string(&verdict).unwrap_or_default(),
            outcome,
        };
        (verdict, step)
    }
}

fn tool_message(call: &ToolCall, result: &Value) -> ChatMessage {
    let mut m = ChatMessage::new(Role::Tool, result.to_string());
    m.tool_call_id = Some(call.id.clone());
    m
}
