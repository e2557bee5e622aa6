//! The reports page (`/reports`, any staff role): a date range, the figures of
//! `reports::stats` as tables and server-drawn SVG charts, links to the CSV exports
//! (supervisors and admins) and to a printable view (`/reports/print`); the downloads
//! themselves (`/reports/{name}.csv`) share the API's handler.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::charts::{self, Column, Segment};
use super::{PageCtx, require_ready};
use crate::api::reports::{DEFAULT_DAYS, RangeQuery, csv_response};
use crate::app::AppState;
use crate::auth::extract::{ClientIp, WebAuth};
use crate::calls::clock;
use crate::db::Timestamp;
use crate::error::AppResult;
use crate::i18n::Tr;
use crate::period::Period;
use crate::reports::{Stats, stats};

#[derive(Template, WebTemplate)]
#[template(path = "reports/index.html")]
/// The `reports/index.html` template.
pub struct ReportsPage {
    page: PageCtx,
    view: View,
    /// What was wrong with the dates asked for (the default range is shown instead).
    error: Option<String>,
    /// `from=…&to=…` of the range shown, for the export and print links.
    query: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "reports/print.html")]
/// The `reports/print.html` template.
pub struct PrintPage {
    page: PageCtx,
    view: View,
    printed_at: String,
}

/// A table of counts with their labels.
pub struct MixTable {
    /// i18n key of its heading.
    pub title: &'static str,
    /// Label, count, share.
    pub rows: Vec<(String, i64, String)>,
}

/// A day's row.
pub struct DayRow {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Calls started.
    pub calls: i64,
    /// Prompt tokens.
    pub prompt: i64,
    /// Completion tokens.
    pub completion: i64,
    /// Estimated cost.
    pub cost: String,
}

/// An agent's row.
pub struct AgentRow {
    /// Display name.
    pub name: String,
    /// Calls taken.
    pub taken: i64,
    /// Of those, ended.
    pub closed: i64,
    /// Average handle time.
    pub aht: String,
    /// Ratings.
    pub rated: i64,
    /// Average rating.
    pub csat: String,
}

/// The figures, labelled and drawn.
pub struct View {
    /// The figures as computed.
    pub stats: Stats,
    /// Headline numbers: i18n key, value.
    pub kpis: Vec<(&'static str, String)>,
    /// Calls per day.
    pub per_day: Vec<Column>,
    /// Calls per local hour.
    pub per_hour: Vec<Column>,
    /// Ratings 1–5.
    pub csat: Vec<Column>,
    /// AI-resolved, escalated, open.
    pub handling: Vec<Segment>,
    /// Sentiment mix.
    pub sentiment: Vec<Segment>,
    /// Mixes as tables.
    pub tables: Vec<MixTable>,
    /// Day by day.
    pub days: Vec<DayRow>,
    /// Per agent.
    pub agents: Vec<AgentRow>,
    /// Tickets: opened, resolved, then by status and priority.
    pub tickets: Vec<MixTable>,
    /// Token totals: i18n key, value.
    pub tokens: Vec<(&'static str, String)>,
}

/// Width of the day and hour charts' plots, in SVG units.
pub const PLOT_WIDTH: f64 = 480.0;

fn seconds(s: Option<f64>) -> String {
    s.map_or_else(|| "—".to_owned(), |s| clock(s.round() as i64))
}

fn one_decimal(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))
}

fn money(v: f64) -> String {
    format!("{v:.4}")
}

impl View {
    fn of(stats: Stats, tr: Tr) -> Self {
        let c = &stats.calls;
        let percent = |p: Option<f64>| p.map_or_else(|| "—".to_owned(), |p| format!("{p:.1}%"));
        let kpis = vec![
            ("reports.calls", c.total.to_string()),
            ("reports.closed", c.closed.to_string()),
            ("reports.ai_resolved", format!("{} · {}", c.ai_resolved, percent(c.ai_resolved_pct))),
            ("reports.escalated", format!("{} · {}", c.escalated, percent(c.escalated_pct))),
            ("reports.aht", seconds(c.avg_handle_seconds)),
            ("reports.csat", one_decimal(stats.csat.average)),
            ("reports.rated", stats.csat.rated.to_string()),
            ("reports.cost_per_call", stats.tokens.cost_per_call.map_or_else(|| "—".to_owned(), money)),
        ];
        let days: Vec<(String, i64)> = stats.per_day.iter().map(|d| (d.day[5..].to_owned(), d.calls)).collect();
        let tick_every = days.len().div_ceil(10).max(1);
        let hours: Vec<(String, i64)> = stats.per_hour.iter().map(|h| (h.hour.to_string(), h.calls)).collect();
        let scores: Vec<(String, i64)> =
            stats.csat.distribution.iter().map(|s| (s.score.to_string(), s.count)).collect();
        let handling = charts::segments(vec![
            ("ai".into(), tr.t("reports.ai_resolved").to_owned(), c.ai_resolved),
            ("escalated".into(), tr.t("reports.escalated").to_owned(), c.escalated),
            ("other".into(), tr.t("reports.other").to_owned(), c.total - c.ai_resolved - c.escalated),
        ]);
        let sentiment = charts::segments(
            ["positive", "neutral", "negative"]
                .into_iter()
                .map(|s| {
                    let n = stats.sentiments.iter().find(|x| x.key.as_deref() == Some(s)).map_or(0, |x| x.count);
                    (s.to_owned(), tr.label("sentiment", s), n)
                })
                .collect(),
        );
        let none = tr.t("reports.none").to_owned();
        let table = |title: &'static str, group: &str, counts: &[stats::Count]| MixTable {
            title,
            rows: counts
                .iter()
                .map(|x| {
                    let label = x.key.as_deref().map_or_else(|| none.clone(), |k| tr.label(group, k));
                    (label, x.count, format!("{:.1}%", x.pct))
                })
                .collect(),
        };
        let mut reasons = table("reports.escalation_reasons", "reason", &stats.escalation_reasons);
        for (row, count) in reasons.rows.iter_mut().zip(&stats.escalation_reasons) {
            if count.key.is_none() {
                row.0 = tr.t("reports.staff_takeover").to_owned();
            }
        }
        let tables = vec![
            table("reports.departments", "dept", &stats.departments),
            table("reports.categories", "category", &stats.categories),
            table("reports.sentiments", "sentiment", &stats.sentiments),
            table("reports.channels", "reports.channel", &stats.channels),
            table("reports.outcomes", "outcome", &stats.outcomes),
            reasons,
        ];
        let t = &stats.tickets;
        let tickets = vec![
            table("reports.tickets_by_status", "reports.tstatus", &t.opened_by_status),
            table("reports.tickets_by_priority", "priority", &t.opened_by_priority),
        ];
        let k = &stats.tokens;
        let tokens = vec![
            ("reports.runs", k.runs.to_string()),
            ("reports.prompt_tokens", k.prompt_tokens.to_string()),
            ("reports.completion_tokens", k.completion_tokens.to_string()),
            ("reports.cost", money(k.cost)),
            ("reports.cost_per_call", k.cost_per_call.map_or_else(|| "—".to_owned(), money)),
            ("reports.prices", format!("{} / {}", k.prompt_price_per_1k, k.completion_price_per_1k)),
        ];
        Self {
            kpis,
            per_day: charts::columns(&days, PLOT_WIDTH, tick_every),
            per_hour: charts::columns(&hours, PLOT_WIDTH, 3),
            csat: charts::columns(&scores, 200.0, 1),
            handling,
            sentiment,
            tables,
            days: stats
                .per_day
                .iter()
                .map(|d| DayRow {
                    day: d.day.clone(),
                    calls: d.calls,
                    prompt: d.prompt_tokens,
                    completion: d.completion_tokens,
                    cost: money(d.cost),
                })
                .collect(),
            agents: stats
                .agents
                .iter()
                .map(|a| AgentRow {
                    name: a.full_name.clone(),
                    taken: a.calls_taken,
                    closed: a.closed,
                    aht: seconds(a.avg_handle_seconds),
                    rated: a.rated,
                    csat: one_decimal(a.avg_csat),
                })
                .collect(),
            tickets,
            tokens,
            stats,
        }
    }
}

async fn view(state: &AppState, period: &Period, tr: Tr) -> AppResult<View> {
    let config = state.config();
    let stats = stats::load(state.db(), period, &config.timezone, config.token_prices).await?;
    Ok(View::of(stats, tr))
}

/// `GET /reports?from=&to=`.
pub async fn reports_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<RangeQuery>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "reports").await?;
    let zone = &state.config().timezone;
    let (period, error) = match q.period(&state) {
        Ok(p) => (p, None),
        // Said in the user's language, naming the parameter.
        Err(e) => (Period::parse(None, None, zone, DEFAULT_DAYS)?, Some(page.tr.t(e.parts().2).to_owned())),
    };
    let query = format!("from={}&to={}", period.from, period.to);
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let view = view(&state, &period, page.tr).await?;
    Ok((status, ReportsPage { page, view, error, query }).into_response())
}

/// `GET /reports/print?from=&to=`: the same figures on a page made for paper.
pub async fn print_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<RangeQuery>,
) -> AppResult<PrintPage> {
    require_ready(&auth)?;
    let period = q.period(&state)?;
    let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "reports").await?;
    let printed_at = state.config().timezone.minutes(Timestamp::now());
    Ok(PrintPage { view: view(&state, &period, page.tr).await?, page, printed_at })
}

/// `GET /reports/{name}.csv?from=&to=`: the API's download for signed-in pages.
pub async fn csv_get(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    Path(file): Path<String>,
    Query(q): Query<RangeQuery>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    csv_response(&state, &auth.principal, ip, &file, &q).await
}
