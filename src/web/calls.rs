//! Staff pages for calls: a list of recent calls and a call's transcript with every
//! agent step (tokens, latency, tool calls). All text from customers and models is
//! escaped by the templates.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use super::{PageCtx, require_ready};
use crate::app::AppState;
use crate::auth::extract::WebAuth;
use crate::calls::{self, AgentRun, Call, Message};
use crate::error::AppResult;

#[derive(Template, WebTemplate)]
#[template(path = "calls/list.html")]
/// The `calls/list.html` template.
pub struct CallsPage {
    page: PageCtx,
    calls: Vec<Call>,
}

#[derive(Template, WebTemplate)]
#[template(path = "calls/detail.html")]
/// The `calls/detail.html` template.
pub struct CallPage {
    page: PageCtx,
    call: Call,
    messages: Vec<Message>,
    runs: Vec<RunView>,
    total_tokens: i64,
}

/// An agent step prepared for display.
pub struct RunView {
    run: AgentRun,
    tools: Vec<(String, String, String, bool)>,
}

/// `GET /calls`: the 100 most recent calls.
pub async fn calls_get(State(state): State<AppState>, auth: WebAuth, headers: HeaderMap) -> AppResult<CallsPage> {
    require_ready(&auth)?;
    let list = calls::recent(state.db(), 100).await?;
    Ok(CallsPage { page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "calls").await?, calls: list })
}

/// `GET /calls/{id}`.
pub async fn call_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> AppResult<CallPage> {
    require_ready(&auth)?;
    let call = calls::get(state.db(), id).await?;
    let messages = calls::messages(state.db(), id).await?;
    let runs: Vec<RunView> = calls::runs(state.db(), id)
        .await?
        .into_iter()
        .map(|run| {
            let tools = serde_json::from_str::<Vec<serde_json::Value>>(&run.tool_calls)
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    (
                        t["name"].as_str().unwrap_or_default().to_owned(),
                        t["arguments"].as_str().unwrap_or_default().to_owned(),
                        t["result"].to_string(),
                        t["ok"].as_bool().unwrap_or(false),
                    )
                })
                .collect();
            RunView { run, tools }
        })
        .collect();
    let total_tokens = runs.iter().map(|r| r.run.prompt_tokens + r.run.completion_tokens).sum();
    Ok(CallPage {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "calls").await?,
        call,
        messages,
        runs,
        total_tokens,
    })
}
