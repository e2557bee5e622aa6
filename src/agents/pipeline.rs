//! One customer turn: routing → customer service (tool loop, streamed reply) →
//! supervisor, each as one model request per step, with guards and a fallback to the
//! built-in engine so the customer always gets a polite answer.

use std::convert::Infallible;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::builtin::{self, engine::BuiltinModel};
use super::model::{AgentKind, ChatMessage, ChatModel, ChatRequest, ModelError, Role, ToolCall, ToolName, Usage};
use super::schema;
use super::summary::{CallSummary, SUMMARY_SCHEMA, SummaryFacts};
use super::tools::{self, CallerScope, ToolAccess};
use super::{Action, Classification, Reason, Verdict};
use crate::config::AgentLimits;
use crate::db::Db;
use crate::i18n::Lang;

const ROUTING_PROMPT: &str = include_str!("prompts/routing.md");
const SERVICE_PROMPT: &str = include_str!("prompts/service.md");
const SUPERVISOR_PROMPT: &str = include_str!("prompts/supervisor.md");
const SUMMARY_PROMPT: &str = include_str!("prompts/summary.md");
const DRAFT_PROMPT: &str = include_str!("prompts/draft.md");

static ROUTING_SCHEMA: LazyLock<Value> = LazyLock::new(schema::strict::<Classification>);
static VERDICT_SCHEMA: LazyLock<Value> = LazyLock::new(schema::strict::<Verdict>);
static SUMMARY_SHAPE: LazyLock<Value> = LazyLock::new(schema::strict::<CallSummary>);

/// One agent step, as stored in `agent_runs` and shown on the call page.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Step {
    /// Which agent took the step.
    pub agent: AgentKind,
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

/// A suggested reply for the person holding a call (never sent or stored by itself).
#[derive(Clone, Debug)]
pub struct Draft {
    /// The text, for the person to edit.
    pub text: String,
    /// The language it is written in (the customer's).
    pub language: Lang,
    /// The read-only tools the agent used (a refused call is not listed).
    pub tools: Vec<String>,
}

/// The three agents over one model backend (plus the built-in engine to fall back on).
#[derive(Clone)]
pub struct Pipeline {
    primary: Arc<dyn ChatModel>,
    fallback: BuiltinModel,
    limits: AgentLimits,
}

fn parse_summary(text: &str) -> Result<CallSummary, ModelError> {
    let s: CallSummary =
        serde_json::from_str(text.trim()).map_err(|e| ModelError::Malformed(format!("summary: {e}")))?;
    s.cleaned().ok_or_else(|| ModelError::Malformed("summary: issue, actions or next steps empty".into()))
}

pub(crate) fn parse_classification(text: &str) -> Result<Classification, ModelError> {
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
    usage: Usage,
    tools_failed: bool,
    customer_linked: bool,
    /// Why the reply tells the customer a person takes over, when whoever wrote it
    /// says so (the built-in engine, or the apology): the verdict keeps that promise.
    hands_over: Option<Reason>,
}

/// Who answered an agent step, at what cost and with what outcome, from when it began:
/// everything its [`Step`] records but the output.
struct Answered {
    agent: AgentKind,
    backend: &'static str,
    model: String,
    usage: Usage,
    outcome: String,
    started: Instant,
}

impl Answered {
    /// The step as recorded, with its output and tool calls.
    fn step(self, output: String, tool_calls: Vec<Value>) -> Step {
        Step {
            agent: self.agent,
            backend: self.backend,
            model: self.model,
            prompt_tokens: self.usage.prompt_tokens,
            completion_tokens: self.usage.completion_tokens,
            latency_ms: self.started.elapsed().as_millis() as u64,
            tool_calls,
            output,
            outcome: self.outcome,
        }
    }
}

impl Pipeline {
    /// A pipeline over `primary` (the built-in engine when no remote model is set).
    pub fn new(primary: Arc<dyn ChatModel>, limits: AgentLimits) -> Self {
        Self { primary, fallback: BuiltinModel, limits }
    }

    /// One agent step: the primary model's answer, or, when it fails, the built-in
    /// engine's (`fallback` is told why), with the record of who answered. Only errors
    /// of kind `E` (the database's, for the service agent) end the step.
    async fn answer<T, E>(
        &self,
        agent: AgentKind,
        primary: impl Future<Output = Result<Result<(Usage, T), ModelError>, E>>,
        fallback: impl AsyncFnOnce(&ModelError) -> Result<T, E>,
    ) -> Result<(T, Answered), E> {
        let started = Instant::now();
        let (value, model, usage, outcome): (T, &dyn ChatModel, Usage, String) = match primary.await? {
            Ok((usage, value)) => (value, self.primary.as_ref(), usage, "ok".to_owned()),
            Err(err) => {
                tracing::warn!(agent = agent.as_str(), error = %err, "agent failed; using the built-in engine");
                (fallback(&err).await?, &self.fallback, Usage::default(), format!("fallback: {err}"))
            }
        };
        let (backend, model) = (model.backend(), model.model_for(agent));
        Ok((value, Answered { agent, backend, model, usage, outcome, started }))
    }

    /// A step that is one structured request: `parse` reads the primary model's
    /// answer; `fallback` is the built-in engine's answer, computed only if needed.
    async fn ask<T>(
        &self,
        request: &ChatRequest,
        parse: fn(&str) -> Result<T, ModelError>,
        fallback: impl Future<Output = T>,
    ) -> (T, Answered) {
        let primary = async {
            let answer = self.primary.chat(request, None).await;
            Ok::<_, Infallible>(answer.and_then(|r| parse(&r.content).map(|value| (r.usage, value))))
        };
        let Ok(answered) = self.answer(request.agent, primary, async |_| Ok(fallback.await)).await;
        answered
    }

    /// The configured model (the built-in engine when no remote model is set), for
    /// other agents that speak through the same trait (the staff assistant).
    pub fn model(&self) -> &dyn ChatModel {
        self.primary.as_ref()
    }

    /// Tool rounds, token and time limits in force.
    pub fn limits(&self) -> &AgentLimits {
        &self.limits
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
            json_schema: Some(("classification", &ROUTING_SCHEMA)),
            max_tokens: self.limits.max_tokens,
        };
        let (c, answered) = self.ask(&request, parse_classification, async { builtin::classify(text) }).await;
        let step = answered.step(serde_json::to_string(&c).unwrap_or_default(), Vec::new());
        (c, step)
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
                    agent: AgentKind::Routing,
                    backend: self.fallback.backend(),
                    model: self.fallback.model_for(AgentKind::Routing),
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

        // 2. Customer service.
        let (service, step) = self.service(db, scope, history, text, &classification, deltas).await?;
        steps.push(step);

        // 3. Supervisor.
        let (verdict, step) = self.supervise(&classification, text, &service).await;
        steps.push(step);
        Ok(TurnOutcome { classification, reply: service.reply, verdict, steps })
    }

    /// A turn no model takes because the call has used up its token budget: the
    /// customer is told a person will carry on, and the verdict hands the call over.
    /// The one step recorded (the supervisor's, with no tokens) says why. The call's
    /// routing stays as it was; `quality` is the call's last score, kept.
    pub async fn hand_over(
        &self,
        text: &str,
        previous: Option<&Classification>,
        quality: f64,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> TurnOutcome {
        let classification = previous.cloned().unwrap_or_else(|| builtin::classify(text));
        let reply = crate::i18n::t(classification.language, "agents.token_budget").to_owned();
        if let Some(tx) = deltas {
            let _ = tx.send(reply.clone()).await;
        }
        let verdict = Verdict { action: Action::Escalate, reason: None, quality };
        let step = Step {
            agent: AgentKind::Supervisor,
            backend: self.fallback.backend(),
            model: self.fallback.model_for(AgentKind::Supervisor),
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_ms: 0,
            tool_calls: Vec::new(),
            output: serde_json::to_string(&verdict).unwrap_or_default(),
            outcome: "skipped: call token budget used up".into(),
        };
        TurnOutcome { classification, reply, verdict, steps: vec![step] }
    }

    /// The customer-service agent, within the turn's time budget; the built-in engine
    /// answers if the model fails, and an apology if the budget runs out.
    async fn service(
        &self,
        db: &Db,
        scope: CallerScope,
        history: &[ChatMessage],
        text: &str,
        classification: &Classification,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<(ServiceResult, Step), sqlx::Error> {
        let language = classification.language;
        let offered = tools::for_classification(classification);
        let serve_with = |fallback: bool| {
            let model: &dyn ChatModel = if fallback { &self.fallback } else { self.primary.as_ref() };
            self.serve(model, db, scope, history, text, language, &offered, deltas, ToolAccess::Full)
        };
        let primary = async {
            let attempt = serve_with(false);
            let served = tokio::time::timeout(self.limits.turn_budget, attempt).await;
            let served = served.unwrap_or(Ok(Err(ModelError::OutOfTime)))?;
            Ok(served.map(|result| (result.usage, result)))
        };
        let fallback = async |err: &ModelError| -> Result<ServiceResult, sqlx::Error> {
            if matches!(err, ModelError::OutOfTime) {
                let result = self.apology(language);
                if let Some(tx) = deltas {
                    let _ = tx.send(result.reply.clone()).await;
                }
                return Ok(result);
            }
            let served = Box::pin(serve_with(true)).await?;
            Ok(served.unwrap_or_else(|_| self.apology(language)))
        };
        // The primary's future and the fallback's `serve` are boxed: `answer` would
        // otherwise hold the primary's future twice (as given and as awaited) and the
        // fallback's `serve` beside them, for the whole turn.
        let (service, answered) = self.answer(AgentKind::Service, Box::pin(primary), fallback).await?;
        // The step counts the tokens of whichever model answered: the built-in engine
        // estimates its own.
        let step =
            Answered { usage: service.usage, ..answered }.step(service.reply.clone(), service.tool_calls.clone());
        Ok((service, step))
    }

    /// A reply the customer-service agent suggests to the person holding a call: the
    /// same agent over the same conversation, answering `text` (the customer's last
    /// message), with read-only tools — nothing is opened, filed or sent, and nothing
    /// streams to the customer. `local_only` keeps to the built-in engine (a call whose
    /// token budget is used up). The remote model's failure or a blown time budget
    /// falls back to the built-in engine, as in a turn.
    pub async fn draft(
        &self,
        db: &Db,
        scope: CallerScope,
        history: &[ChatMessage],
        text: &str,
        previous: Option<&Classification>,
        local_only: bool,
    ) -> Result<Draft, sqlx::Error> {
        let local = builtin::classify(text);
        let classification = match previous {
            Some(prev) if prev.category == local.category => {
                Classification { department: prev.department, category: prev.category.clone(), ..local }
            }
            _ if local_only => local,
            _ => self.route(text).await.0,
        };
        let language = classification.language;
        let offered = tools::allowed(tools::for_classification(&classification), ToolAccess::ReadOnly);
        let model: &dyn ChatModel = if local_only { &self.fallback } else { self.primary.as_ref() };
        let attempt = self.serve(model, db, scope, history, text, language, &offered, None, ToolAccess::ReadOnly);
        let served = match tokio::time::timeout(self.limits.turn_budget, attempt).await {
            Ok(served) => served?,
            Err(_) => Err(ModelError::OutOfTime),
        };
        let result = match served {
            Ok(result) => result,
            Err(err) => {
                tracing::warn!(error = %err, "draft reply failed; using the built-in engine");
                let local = self.serve(
                    &self.fallback,
                    db,
                    scope,
                    history,
                    text,
                    language,
                    &offered,
                    None,
                    ToolAccess::ReadOnly,
                );
                local.await?.unwrap_or_else(|_| self.apology(language))
            }
        };
        tracing::info!(
            call_id = scope.call_id,
            prompt_tokens = result.usage.prompt_tokens,
            completion_tokens = result.usage.completion_tokens,
            "draft reply written"
        );
        let tools_used = result
            .tool_calls
            .iter()
            .filter(|t| t["ok"] == Value::Bool(true))
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        Ok(Draft { text: result.reply, language, tools: tools_used })
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
            json_schema: Some((SUMMARY_SCHEMA, &SUMMARY_SHAPE)),
            max_tokens: self.limits.max_tokens,
        };
        let (summary, answered) = self.ask(&request, parse_summary, async { builtin::summary::summarize(facts) }).await;
        let step = answered.step(serde_json::to_string(&summary).unwrap_or_default(), Vec::new());
        (summary, step)
    }

    fn apology(&self, language: Lang) -> ServiceResult {
        let reply = crate::i18n::t(language, "agents.apology");
        ServiceResult {
            reply: reply.into(),
            tool_calls: Vec::new(),
            usage: Usage::default(),
            tools_failed: true,
            customer_linked: true,
            hands_over: Some(Reason::ToolFailure),
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
        access: ToolAccess,
    ) -> Result<Result<ServiceResult, ModelError>, sqlx::Error> {
        let mut system = SERVICE_PROMPT.to_owned();
        if access == ToolAccess::ReadOnly {
            // The note goes before the reply language, the part that changes, so the
            // cached prefix of customer turns is not disturbed.
            system = system.replacen("Reply in {language}.", &[DRAFT_PROMPT, "Reply in {language}."].concat(), 1);
        }
        let system = system.replace(
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
            usage: Usage::default(),
            tools_failed: false,
            customer_linked: scope.customer_id.is_some(),
            hands_over: None,
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
            result.usage.prompt_tokens += response.usage.prompt_tokens;
            result.usage.completion_tokens += response.usage.completion_tokens;
            if response.tool_calls.is_empty() {
                result.reply = response.content.trim().to_owned();
                result.hands_over = response.hands_over;
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
                    tools::run_with(db, scope, call, access).await?
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
        // The built-in engine reads the turn's facts as JSON; a remote model gets the
        // same facts in a few compact lines (about a third fewer tokens).
        // (Built only when the engine is asked: not on a turn a remote model judged.)
        let engine_facts = || {
            json!({
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
            })
            .to_string()
        };
        let request_with = |facts: String| ChatRequest {
            agent: AgentKind::Supervisor,
            messages: vec![ChatMessage::new(Role::System, SUPERVISOR_PROMPT), ChatMessage::new(Role::User, facts)],
            tools: Vec::new(),
            json_schema: Some(("verdict", &VERDICT_SCHEMA)),
            max_tokens: self.limits.max_tokens.min(200),
        };
        let request = if self.primary.backend() == self.fallback.backend() {
            request_with(engine_facts())
        } else {
            request_with(supervisor_facts(classification, text, service))
        };
        let fallback = async {
            let for_engine = request_with(engine_facts());
            match self.fallback.chat(&for_engine, None).await.and_then(|r| parse_verdict(&r.content)) {
                Ok(v) => v,
                Err(_) => Verdict { action: Action::Escalate, reason: Some(Reason::ToolFailure), quality: 0.0 },
            }
        };
        let (mut verdict, answered) = self.ask(&request, parse_verdict, fallback).await;
        // Rules no model may talk its way around: a reply that told the customer a
        // person takes over (whichever engine wrote it, the fallback included), a
        // failed tool or a request for a person always reaches a person.
        if verdict.action != Action::Escalate {
            if let Some(reason) = service.hands_over {
                verdict = Verdict { action: Action::Escalate, reason: Some(reason), quality: verdict.quality };
            } else if service.tools_failed && service.customer_linked {
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
        let step = answered.step(serde_json::to_string(&verdict).unwrap_or_default(), Vec::new());
        (verdict, step)
    }
}

/// What the supervisor judges, in a few lines: the customer's message and the reply as
/// quoted JSON strings (so neither can start a line of its own), then the routing, the
/// tools used and whether the caller is identified. The routing's category comes from
/// a model and the tool names from a model's calls: only their known shapes are shown.
fn supervisor_facts(classification: &Classification, text: &str, service: &ServiceResult) -> String {
    let quoted = |s: &str| Value::String(s.to_owned()).to_string();
    let category: String =
        classification.category.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
    let tools: Vec<String> = service
        .tool_calls
        .iter()
        .map(|t| {
            let name =
                t["name"].as_str().and_then(|n| n.parse::<ToolName>().ok()).map_or("unknown_tool", |n| n.as_str());
            format!("{name} {}", if t["ok"] == Value::Bool(true) { "ok" } else { "failed" })
        })
        .collect();
    let mut facts = format!(
        "customer: {}\nreply: {}\nrouting: {category}, {}, {} priority, confidence {:.2}\ntools: {}",
        quoted(text),
        quoted(&service.reply),
        classification.sentiment,
        classification.priority,
        classification.confidence,
        if tools.is_empty() { "none".to_owned() } else { tools.join(", ") },
    );
    if !service.customer_linked {
        facts.push_str("\ncaller: unidentified");
    }
    facts
}

fn tool_message(call: &ToolCall, result: &Value) -> ChatMessage {
    let mut m = ChatMessage::new(Role::Tool, result.to_string());
    m.tool_call_id = Some(call.id.clone());
    m
}
