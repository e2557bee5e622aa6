//! CSV exports of calls, tickets, payments and per-agent performance for a range of
//! days. Rows stream from the database (`fetch`) through a small bounded channel to
//! the client, a few kilobytes at a time, so a 100,000-call export never sits in memory
//! and a client that stops reading stops the query.
//!
//! Cells follow RFC 4180 (quoted when they hold a comma, quote or line break). Text that
//! a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
//! carriage return; OWASP "CSV injection") gets a leading apostrophe. Times are RFC 3339
//! in the team's time zone; money is a decimal string.

use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::sql::dialect;
use super::stats::{AGENTS, AgentFigures};
use crate::auth::{Principal, Role};
use crate::config::TokenPrices;
use crate::db::{Db, Money, Timestamp, id_enum, with_db};
use crate::period::{Period, Zone};

id_enum! {
    /// A CSV report.
    Report {
        /// Every call started in the range.
        Calls => "calls",
        /// Every ticket opened in the range.
        Tickets => "tickets",
        /// Every payment made in the range.
        Payments => "payments",
        /// Per-agent performance over the calls started in the range.
        Agents => "agents",
    }
}

impl Report {
    /// The report a file name asks for (`calls.csv`).
    pub fn from_file(name: &str) -> Option<Self> {
        name.strip_suffix(".csv").and_then(Self::parse)
    }

    /// The download's file name: `calls-2026-11-01-to-2026-11-07.csv`.
    pub fn filename(self, period: &Period) -> String {
        format!("{}-{}-to-{}.csv", self.as_str(), period.from, period.to)
    }
}

/// Proof that the holder may export reports: they hold customer data (names, emails,
/// amounts), so supervisors and admins only.
#[derive(Debug)]
pub struct ExportCap<'a> {
    principal: &'a Principal,
}

impl ExportCap<'_> {
    /// The staff member exporting.
    pub fn actor(&self) -> &Principal {
        self.principal
    }
}

impl ExportCap<'_> {
    /// The capability, when `principal`'s role allows exports.
    pub fn of(principal: &Principal) -> Option<ExportCap<'_>> {
        matches!(principal.role, Role::Supervisor | Role::Admin).then_some(ExportCap { principal })
    }
}

/// Bytes collected before a chunk goes to the client.
const CHUNK: usize = 32 * 1024;
/// Chunks that may wait for a slow client before the query pauses.
const QUEUE: usize = 4;

/// A failed export: the database failed after the download began, so the client gets
/// a truncated body (the HTTP layer aborts the response).
#[derive(Debug, thiserror::Error)]
#[error("export failed: {0}")]
pub struct ExportError(#[from] sqlx::Error);

/// What an export needs to run on its own task.
#[derive(Clone, Debug)]
pub struct ExportJob {
    /// The database.
    pub db: Db,
    /// The range.
    pub period: Period,
    /// The zone times are written in.
    pub zone: Zone,
    /// Token prices for the calls' cost column.
    pub prices: TokenPrices,
}

/// Starts streaming `report`: the header row first, then the rows in time order.
pub fn stream(
    _cap: &ExportCap<'_>,
    report: Report,
    job: ExportJob,
) -> impl Stream<Item = Result<Vec<u8>, ExportError>> + Send + 'static {
    let (tx, rx) = mpsc::channel::<Result<Vec<u8>, ExportError>>(QUEUE);
    tokio::spawn(async move {
        let mut out = Sink { tx, buf: Vec::with_capacity(CHUNK + 1024) };
        let result = match report {
            Report::Calls => calls(&job, &mut out).await,
            Report::Tickets => tickets(&job, &mut out).await,
            Report::Payments => payments(&job, &mut out).await,
            Report::Agents => agents(&job, &mut out).await,
        };
        match result {
            Ok(()) => {
                out.flush().await;
            }
            Err(Stop::Failed(e)) => {
                tracing::error!(error = %e, report = report.as_str(), "export failed");
                let _ = out.tx.send(Err(ExportError(e))).await;
            }
            Err(Stop::Gone) => tracing::debug!(report = report.as_str(), "export client went away"),
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

/// Why an export stopped early.
enum Stop {
    /// The client stopped reading.
    Gone,
    /// The database failed.
    Failed(sqlx::Error),
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(e)
    }
}

/// Collects rows and sends them on in chunks.
struct Sink {
    tx: mpsc::Sender<Result<Vec<u8>, ExportError>>,
    buf: Vec<u8>,
}

impl Sink {
    /// Ends a row; sends the chunk when it is full.
    async fn row(&mut self, row: &mut Row) -> Result<(), Stop> {
        self.buf.extend_from_slice(row.0.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        row.0.clear();
        row.1 = false;
        if self.buf.len() >= CHUNK && !self.flush().await {
            return Err(Stop::Gone);
        }
        Ok(())
    }

    /// Sends what is collected; false when the client is gone.
    async fn flush(&mut self) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + 1024));
        self.tx.send(Ok(chunk)).await.is_ok()
    }
}

/// One CSV row being written (its text, and whether a cell was written yet).
#[derive(Default)]
pub struct Row(String, bool);

impl Row {
    /// A text cell: formula-protected and quoted as needed.
    pub fn text(&mut self, value: &str) -> &mut Self {
        self.sep();
        let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
        let quote = risky || value.contains([',', '"', '\n', '\r']) || value.starts_with(' ') || value.ends_with(' ');
        if quote {
            self.0.push('"');
        }
        if risky {
            self.0.push('\'');
        }
        for c in value.chars() {
            if c == '"' {
                self.0.push('"');
            }
            self.0.push(c);
        }
        if quote {
            self.0.push('"');
        }
        self
    }

    /// An optional text cell (empty when missing).
    pub fn opt(&mut self, value: Option<&str>) -> &mut Self {
        self.text(value.unwrap_or_default())
    }

    /// A cell we format ourselves (numbers, times, dates): never a formula, never quoted.
    pub fn plain(&mut self, value: impl std::fmt::Display) -> &mut Self {
        self.sep();
        use std::fmt::Write;
        let _ = write!(self.0, "{value}");
        self
    }

    /// An optional cell we format ourselves.
    pub fn plain_opt(&mut self, value: Option<impl std::fmt::Display>) -> &mut Self {
        match value {
            Some(v) => self.plain(v),
            None => self.plain(""),
        }
    }

    fn sep(&mut self) {
        if self.1 {
            self.0.push(',');
        }
        self.1 = true;
    }

    /// The row as text (tests).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

async fn header(out: &mut Sink, names: &[&str]) -> Result<(), Stop> {
    let mut row = Row::default();
    for n in names {
        row.text(n);
    }
    out.row(&mut row).await
}

fn time(zone: &Zone, at: Option<Timestamp>) -> String {
    at.map(|t| zone.rfc3339(t)).unwrap_or_default()
}

/// A call row of the export.
#[derive(sqlx::FromRow)]
struct CallRow {
    id: i64,
    created_at: Timestamp,
    closed_at: Option<Timestamp>,
    channel: String,
    status: String,
    department: Option<String>,
    category: Option<String>,
    sentiment: Option<String>,
    priority: Option<String>,
    language: Option<String>,
    customer_id: Option<i64>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    agent: Option<String>,
    human_involved: bool,
    queued_at: Option<Timestamp>,
    escalation_reason: Option<String>,
    outcome: Option<String>,
    csat: Option<i32>,
    quality: Option<f64>,
    ai_department: Option<String>,
    ai_category: Option<String>,
    ai_sentiment: Option<String>,
    corrected_at: Option<Timestamp>,
    prompt_tokens: i64,
    completion_tokens: i64,
}

const CALLS: &str = "SELECT c.id, c.created_at, c.closed_at, c.channel, c.status, c.department, c.category, \
     c.sentiment, c.priority, c.language, c.customer_id, COALESCE(cu.name, c.contact_name) AS customer_name, \
     COALESCE(cu.email, c.contact_email) AS customer_email, u.username AS agent, c.human_involved, c.queued_at, \
     c.escalation_reason, c.outcome, c.csat, c.quality, c.ai_department, c.ai_category, c.ai_sentiment, c.corrected_at, \
     (SELECT CAST(COALESCE(SUM(r.prompt_tokens), 0) AS BIGINT) FROM agent_runs r WHERE r.call_id = c.id) AS prompt_tokens, \
     (SELECT CAST(COALESCE(SUM(r.completion_tokens), 0) AS BIGINT) FROM agent_runs r WHERE r.call_id = c.id) \
       AS completion_tokens \
     FROM calls c LEFT JOIN customers cu ON cu.id = c.customer_id LEFT JOIN users u ON u.id = c.assigned_to \
     WHERE c.created_at >= $1 AND c.created_at < $2 ORDER BY c.created_at, c.id";

async fn calls(job: &ExportJob, out: &mut Sink) -> Result<(), Stop> {
    header(
        out,
        &[
            "id",
            "created_at",
            "closed_at",
            "handle_seconds",
            "channel",
            "status",
            "department",
            "category",
            "sentiment",
            "priority",
            "language",
            "customer_id",
            "customer_name",
            "customer_email",
            "agent",
            "human_involved",
            "escalated",
            "escalation_reason",
            "outcome",
            "csat",
            "quality",
            "ai_department",
            "ai_category",
            "ai_sentiment",
            "corrected",
            "prompt_tokens",
            "completion_tokens",
            "estimated_cost",
        ],
    )
    .await?;
    let zone = &job.zone;
    let mut row = Row::default();
    with_db!(&job.db, |pool| {
        let mut rows = sqlx::query_as::<_, CallRow>(CALLS).bind(job.period.start).bind(job.period.end).fetch(pool);
        while let Some(c) = rows.next().await {
            let c = c?;
            row.plain(c.id)
                .plain(zone.rfc3339(c.created_at))
                .plain(time(zone, c.closed_at))
                .plain_opt(c.closed_at.map(|end| end.unix_seconds() - c.created_at.unix_seconds()))
                .text(&c.channel)
                .text(&c.status)
                .opt(c.department.as_deref())
                .opt(c.category.as_deref())
                .opt(c.sentiment.as_deref())
                .opt(c.priority.as_deref())
                .opt(c.language.as_deref())
                .plain_opt(c.customer_id)
                .opt(c.customer_name.as_deref())
                .opt(c.customer_email.as_deref())
                .opt(c.agent.as_deref())
                .plain(c.human_involved)
                .plain(c.human_involved || c.queued_at.is_some())
                .opt(c.escalation_reason.as_deref())
                .opt(c.outcome.as_deref())
                .plain_opt(c.csat)
                .plain_opt(c.quality.map(|q| format!("{q:.2}")))
                .opt(c.ai_department.as_deref())
                .opt(c.ai_category.as_deref())
                .opt(c.ai_sentiment.as_deref())
                .plain(c.corrected_at.is_some())
                .plain(c.prompt_tokens)
                .plain(c.completion_tokens)
                .plain(format!("{:.6}", job.prices.cost(c.prompt_tokens, c.completion_tokens)));
            out.row(&mut row).await?;
        }
        Ok::<(), Stop>(())
    })
}

/// A ticket row of the export.
#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    created_at: Timestamp,
    updated_at: Option<Timestamp>,
    resolved_at: Option<Timestamp>,
    status: String,
    priority: String,
    customer_id: i64,
    customer_name: String,
    customer_email: String,
    title: String,
    description: String,
    assigned_to: Option<String>,
    call_id: Option<i64>,
}

const TICKETS: &str = "SELECT t.id, t.created_at, t.updated_at, t.resolved_at, t.status, t.priority, t.customer_id, \
     cu.name AS customer_name, cu.email AS customer_email, t.title, t.description, u.username AS assigned_to, t.call_id \
     FROM tickets t JOIN customers cu ON cu.id = t.customer_id LEFT JOIN users u ON u.id = t.assigned_to \
     WHERE t.created_at >= $1 AND t.created_at < $2 ORDER BY t.created_at, t.id";

async fn tickets(job: &ExportJob, out: &mut Sink) -> Result<(), Stop> {
    let names = [
        "id",
        "created_at",
        "updated_at",
        "resolved_at",
        "status",
        "priority",
        "customer_id",
        "customer_name",
        "customer_email",
        "title",
        "description",
        "assigned_to",
        "call_id",
    ];
    header(out, &names).await?;
    let zone = &job.zone;
    let mut row = Row::default();
    with_db!(&job.db, |pool| {
        let mut rows = sqlx::query_as::<_, TicketRow>(TICKETS).bind(job.period.start).bind(job.period.end).fetch(pool);
        while let Some(t) = rows.next().await {
            let t = t?;
            row.plain(t.id)
                .plain(zone.rfc3339(t.created_at))
                .plain(time(zone, t.updated_at))
                .plain(time(zone, t.resolved_at))
                .text(&t.status)
                .text(&t.priority)
                .plain(t.customer_id)
                .text(&t.customer_name)
                .text(&t.customer_email)
                .text(&t.title)
                .text(&t.description)
                .opt(t.assigned_to.as_deref())
                .plain_opt(t.call_id);
            out.row(&mut row).await?;
        }
        Ok::<(), Stop>(())
    })
}

/// A payment row of the export.
#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: i64,
    at: Timestamp,
    customer_id: i64,
    customer_name: String,
    customer_email: String,
    amount_cents: i64,
    method: String,
    description: String,
    processed_by: Option<String>,
    call_id: Option<i64>,
}

const PAYMENTS: &str = "SELECT p.id, p.at, p.customer_id, cu.name AS customer_name, cu.email AS customer_email, \
     p.amount_cents, p.method, p.description, u.username AS processed_by, p.call_id \
     FROM payments p JOIN customers cu ON cu.id = p.customer_id LEFT JOIN users u ON u.id = p.processed_by \
     WHERE p.at >= $1 AND p.at < $2 ORDER BY p.at, p.id";

async fn payments(job: &ExportJob, out: &mut Sink) -> Result<(), Stop> {
    let names = [
        "id",
        "at",
        "customer_id",
        "customer_name",
        "customer_email",
        "amount",
        "method",
        "description",
        "processed_by",
        "call_id",
    ];
    header(out, &names).await?;
    let zone = &job.zone;
    let mut row = Row::default();
    with_db!(&job.db, |pool| {
        let mut rows =
            sqlx::query_as::<_, PaymentRow>(PAYMENTS).bind(job.period.start).bind(job.period.end).fetch(pool);
        while let Some(p) = rows.next().await {
            let p = p?;
            row.plain(p.id)
                .plain(zone.rfc3339(p.at))
                .plain(p.customer_id)
                .text(&p.customer_name)
                .text(&p.customer_email)
                .plain(Money::from_cents(p.amount_cents))
                .text(&p.method)
                .text(&p.description)
                .opt(p.processed_by.as_deref())
                .plain_opt(p.call_id);
            out.row(&mut row).await?;
        }
        Ok::<(), Stop>(())
    })
}

async fn agents(job: &ExportJob, out: &mut Sink) -> Result<(), Stop> {
    let names =
        ["user_id", "username", "full_name", "calls_taken", "closed", "avg_handle_seconds", "rated", "avg_csat"];
    header(out, &names).await?;
    let mut row = Row::default();
    let sql = dialect(&job.db, AGENTS);
    with_db!(&job.db, |pool| {
        let mut rows = sqlx::query_as::<_, AgentFigures>(sql).bind(job.period.start).bind(job.period.end).fetch(pool);
        while let Some(a) = rows.next().await {
            let a = a?;
            row.plain(a.user_id)
                .text(&a.username)
                .text(&a.full_name)
                .plain(a.calls_taken)
                .plain(a.closed)
                .plain_opt(a.avg_handle_seconds.map(|s| format!("{s:.0}")))
                .plain(a.rated)
                .plain_opt(a.avg_csat.map(|c| format!("{c:.2}")));
            out.row(&mut row).await?;
        }
        Ok::<(), Stop>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let mut row = Row::default();
        row.plain(1).text("plain").text("a,b").text("say \"hi\"").text("=SUM(A1)").text("-2").text("@x").text("");
        row.text("\tx").text("line\nbreak").plain("-5.00");
        assert_eq!(
            row.as_str(),
            "1,plain,\"a,b\",\"say \"\"hi\"\"\",\"'=SUM(A1)\",\"'-2\",\"'@x\",,\"'\tx\",\"line\nbreak\",-5.00"
        );
        let mut first_empty = Row::default();
        first_empty.text("").text("b");
        assert_eq!(first_empty.as_str(), ",b");
    }

    #[test]
    fn file_names_name_a_report() {
        assert_eq!(Report::from_file("calls.csv"), Some(Report::Calls));
        assert_eq!(Report::from_file("agents.csv"), Some(Report::Agents));
        assert_eq!(Report::from_file("calls"), None);
        assert_eq!(Report::from_file("users.csv"), None);
    }
}
