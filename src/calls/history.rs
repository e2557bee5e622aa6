//! Call history: every call, filtered (status, department, category, sentiment,
//! channel, agent, customer, days in the team's time zone, text in the transcript)
//! and paged, newest first.
//!
//! One static query whose filters are `($n IS NULL OR ...)`: absent filters cost a
//! comparison, present ones can use the indexes on `created_at`, `status`,
//! `department`, `customer_id` and `assigned_to`. The text search is an `EXISTS` over
//! the call's messages, so a call matching in many messages is still one row.

use serde::{Deserialize, Serialize};

use super::{Call, CallStatus, Channel, call_columns};
use crate::agents::{Department, Sentiment};
use crate::db::paging::{Page, Paging};
use crate::db::{Db, Timestamp, with_db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::period::{Period, Zone};

/// The filters as they arrive in a query string (API and the calls page alike).
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// ai, queued, human or closed.
    #[serde(default)]
    pub status: Option<String>,
    /// A department code.
    #[serde(default)]
    pub department: Option<String>,
    /// A category (snake_case).
    #[serde(default)]
    pub category: Option<String>,
    /// positive, neutral or negative.
    #[serde(default)]
    pub sentiment: Option<String>,
    /// web or api.
    #[serde(default)]
    pub channel: Option<String>,
    /// The staff member holding (or who last held) the call.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The caller's customer record.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// First day, `YYYY-MM-DD`, in the configured time zone.
    #[serde(default)]
    pub from: Option<String>,
    /// Last day (inclusive).
    #[serde(default)]
    pub to: Option<String>,
    /// Text anywhere in the transcript (case-insensitive).
    #[serde(default)]
    pub q: Option<String>,
    /// Page number (1-based).
    #[serde(default)]
    pub page: Option<String>,
    /// Rows per page.
    #[serde(default)]
    pub per_page: Option<String>,
}

/// Longest text search accepted (characters).
const MAX_Q: usize = 200;

/// Checked filters.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Status.
    pub status: Option<CallStatus>,
    /// Effective department.
    pub department: Option<Department>,
    /// Effective category.
    pub category: Option<String>,
    /// Effective sentiment.
    pub sentiment: Option<Sentiment>,
    /// Channel.
    pub channel: Option<Channel>,
    /// Assigned staff member.
    pub agent_id: Option<i64>,
    /// Customer.
    pub customer_id: Option<i64>,
    /// Days the call started in.
    pub period: Option<Period>,
    /// Transcript text.
    pub q: Option<String>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A category as stored: snake_case, 1–40 characters.
pub fn parse_category(text: &str) -> Option<String> {
    let t = text.trim();
    let ok =
        (1..=40).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then(|| t.to_owned())
}

impl HistoryQuery {
    /// Checks every filter; each bad value is named (422). Without `from` and `to`
    /// there is no date limit; with only `to`, the ten years before it.
    pub fn parse(&self, zone: &Zone) -> AppResult<(Filter, Paging)> {
        let mut errors = FieldErrors::new();
        let mut bad = |field: &'static str| {
            errors.insert(field, "field.filter_invalid");
        };
        let mut f = Filter::default();
        if let Some(s) = present(&self.status) {
            f.status = CallStatus::parse(s).or_else(|| (bad("status"), None).1);
        }
        if let Some(s) = present(&self.department) {
            f.department = Department::parse(s).or_else(|| (bad("department"), None).1);
        }
        if let Some(s) = present(&self.category) {
            f.category = parse_category(s).or_else(|| (bad("category"), None).1);
        }
        if let Some(s) = present(&self.sentiment) {
            f.sentiment = Sentiment::parse(s).or_else(|| (bad("sentiment"), None).1);
        }
        if let Some(s) = present(&self.channel) {
            f.channel = Channel::parse(s).or_else(|| (bad("channel"), None).1);
        }
        if let Some(s) = present(&self.agent_id) {
            f.agent_id = s.parse::<i64>().ok().filter(|n| *n > 0).or_else(|| (bad("agent_id"), None).1);
        }
        if let Some(s) = present(&self.customer_id) {
            f.customer_id = s.parse::<i64>().ok().filter(|n| *n > 0).or_else(|| (bad("customer_id"), None).1);
        }
        if let Some(s) = present(&self.q) {
            if s.chars().count() > MAX_Q || s.chars().any(char::is_control) {
                bad("q");
            } else {
                f.q = Some(s.to_owned());
            }
        }
        let (from, to) = (present(&self.from), present(&self.to));
        if from.is_some() || to.is_some() {
            match Period::parse(from, to, zone, 3650) {
                Ok(p) => f.period = Some(p),
                Err(e) => {
                    errors.insert(e.field, "field.date_range_invalid");
                }
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let paging = Paging::parse(self.page.as_deref(), self.per_page.as_deref())?;
        Ok((f, paging))
    }

    /// The filters as a query string (without the page), for paging links.
    pub fn link_query(&self) -> String {
        let keep = HistoryQuery { page: None, ..self.clone() };
        let pairs: Vec<(&str, &str)> = [
            ("status", &keep.status),
            ("department", &keep.department),
            ("category", &keep.category),
            ("sentiment", &keep.sentiment),
            ("channel", &keep.channel),
            ("agent_id", &keep.agent_id),
            ("customer_id", &keep.customer_id),
            ("from", &keep.from),
            ("to", &keep.to),
            ("q", &keep.q),
            ("per_page", &keep.per_page),
        ]
        .into_iter()
        .filter_map(|(k, v)| present(v).map(|v| (k, v)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// A call in the history list, with the names staff read.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HistoryRow {
    /// The call.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub call: Call,
    /// The customer's name.
    pub customer_name: Option<String>,
    /// The assigned staff member's name.
    pub agent_name: Option<String>,
}

macro_rules! history_where {
    () => {
        " WHERE ($1 IS NULL OR c.status = $1) AND ($2 IS NULL OR c.department = $2) AND ($3 IS NULL OR c.category = $3) \
          AND ($4 IS NULL OR c.sentiment = $4) AND ($5 IS NULL OR c.channel = $5) AND ($6 IS NULL OR c.assigned_to = $6) \
          AND ($7 IS NULL OR c.customer_id = $7) AND ($8 IS NULL OR c.created_at >= $8) AND ($9 IS NULL OR c.created_at < $9) \
          AND ($10 IS NULL OR EXISTS (SELECT 1 FROM messages m WHERE m.call_id = c.id AND m.role <> 'system' \
          AND LOWER(m.content) LIKE $10 ESCAPE '\\')) "
    };
}

/// One page of calls matching `filter`, newest first, with the total.
#[tracing::instrument(skip_all)]
pub async fn list(db: &Db, filter: &Filter, paging: Paging) -> AppResult<Page<HistoryRow>> {
    let pattern = filter.q.as_deref().map(crate::text::like_contains);
    let start: Option<Timestamp> = filter.period.as_ref().map(|p| p.start);
    let end: Option<Timestamp> = filter.period.as_ref().map(|p| p.end);
    let status = filter.status.map(CallStatus::as_str);
    let department = filter.department.map(Department::as_str);
    let sentiment = filter.sentiment.map(Sentiment::as_str);
    let channel = filter.channel.map(Channel::as_str);
    let count_sql = concat!("SELECT COUNT(*) FROM calls c", history_where!());
    let rows_sql = concat!(
        "SELECT ",
        call_columns!(),
        ", (SELECT name FROM customers WHERE id = c.customer_id) AS customer_name, \
         (SELECT full_name FROM users WHERE id = c.assigned_to) AS agent_name FROM calls c",
        history_where!(),
        "ORDER BY c.id DESC LIMIT $11 OFFSET $12"
    );
    let (total, items): (i64, Vec<HistoryRow>) = with_db!(db, |pool| {
        let total: i64 = sqlx::query_scalar(count_sql)
            .bind(status)
            .bind(department)
            .bind(filter.category.as_deref())
            .bind(sentiment)
            .bind(channel)
            .bind(filter.agent_id)
            .bind(filter.customer_id)
            .bind(start)
            .bind(end)
            .bind(pattern.as_deref())
            .fetch_one(pool)
            .await?;
        let items: Vec<HistoryRow> = sqlx::query_as(rows_sql)
            .bind(status)
            .bind(department)
            .bind(filter.category.as_deref())
            .bind(sentiment)
            .bind(channel)
            .bind(filter.agent_id)
            .bind(filter.customer_id)
            .bind(start)
            .bind(end)
            .bind(pattern.as_deref())
            .bind(paging.limit())
            .bind(paging.offset())
            .fetch_all(pool)
            .await?;
        Ok::<_, sqlx::Error>((total, items))
    })?;
    Ok(Page::new(items, total, paging))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_filters_are_named() {
        let q = HistoryQuery {
            status: Some("lost".into()),
            sentiment: Some("angry".into()),
            agent_id: Some("x".into()),
            ..HistoryQuery::default()
        };
        let Err(AppError::Validation(fields)) = q.parse(&Zone::default()) else { panic!("refused") };
        assert_eq!(fields.keys().copied().collect::<Vec<_>>(), ["agent_id", "sentiment", "status"]);
    }

    #[test]
    fn paging_links_keep_the_filters() {
        let q = HistoryQuery { q: Some("saldo & más".into()), page: Some("3".into()), ..HistoryQuery::default() };
        assert_eq!(q.link_query(), "q=saldo+%26+m%C3%A1s");
    }
}
