//! The figures of a range of days, computed by the database in a handful of grouped
//! queries (each reads the range's rows once through the `created_at`/`at` indexes), so
//! the range's rows are read a few times, never the whole tables.

use std::collections::BTreeMap;

use serde::Serialize;

use super::sql::{dialect, quarter_start};
use crate::config::TokenPrices;
use crate::db::{Db, with_db};
use crate::period::{Period, Zone};

/// Everything the reports page, the printable view and `GET /api/v1/stats` show.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// First day (`YYYY-MM-DD`, in `timezone`).
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// The IANA zone days and hours are counted in.
    pub timezone: String,
    /// Calls started in the range.
    pub calls: CallFigures,
    /// One entry per day of the range.
    pub per_day: Vec<DayFigures>,
    /// Calls started in each local hour of the day, 24 entries.
    pub per_hour: Vec<HourFigures>,
    /// Why escalated calls went to a person (`key` null: a person took the call from
    /// the AI without an escalation).
    pub escalation_reasons: Vec<Count>,
    /// Customer ratings.
    pub csat: CsatFigures,
    /// Calls per department (`key` null: never routed).
    pub departments: Vec<Count>,
    /// Calls per category.
    pub categories: Vec<Count>,
    /// Calls per sentiment.
    pub sentiments: Vec<Count>,
    /// Calls per channel.
    pub channels: Vec<Count>,
    /// Calls per outcome (`key` null: still open, or ended by the customer).
    pub outcomes: Vec<Count>,
    /// Staff who took calls, most calls first.
    pub agents: Vec<AgentFigures>,
    /// Tickets opened and resolved.
    pub tickets: TicketFigures,
    /// Model tokens and their estimated cost.
    pub tokens: TokenFigures,
}

/// Totals of the calls started in the range.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct CallFigures {
    /// Calls started.
    pub total: i64,
    /// Of those, ended.
    pub closed: i64,
    /// Of those, still open.
    pub open: i64,
    /// Ended without ever reaching a person or the human queue.
    pub ai_resolved: i64,
    /// Reached the human queue or a person.
    pub escalated: i64,
    /// `ai_resolved` as a share of the ended calls, in percent.
    pub ai_resolved_pct: Option<f64>,
    /// `escalated` as a share of all calls, in percent.
    pub escalated_pct: Option<f64>,
    /// Average seconds from start to end of the ended calls.
    pub avg_handle_seconds: Option<f64>,
}

/// One day's figures.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DayFigures {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Calls started that day.
    pub calls: i64,
    /// Prompt tokens of agent steps that day.
    pub prompt_tokens: i64,
    /// Completion tokens of agent steps that day.
    pub completion_tokens: i64,
    /// Their estimated cost.
    pub cost: f64,
}

/// Calls started in one local hour of the day, over the whole range.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct HourFigures {
    /// 0–23.
    pub hour: u8,
    /// Calls.
    pub calls: i64,
}

/// How many calls (or tickets) had one value.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Count {
    /// The stored value, or null when none was stored.
    pub key: Option<String>,
    /// How many.
    pub count: i64,
    /// Share of the group's total, in percent.
    pub pct: f64,
}

/// Customer ratings of the calls started in the range.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CsatFigures {
    /// Calls rated.
    pub rated: i64,
    /// Average rating (1–5).
    pub average: Option<f64>,
    /// How many gave each score, 1 to 5.
    pub distribution: Vec<ScoreCount>,
}

/// How many ratings had one score.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct ScoreCount {
    /// 1–5.
    pub score: u8,
    /// Ratings.
    pub count: i64,
}

/// One staff member's calls in the range.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AgentFigures {
    /// User id.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// Display name.
    pub full_name: String,
    /// Calls they took (held at some point).
    pub calls_taken: i64,
    /// Of those, ended.
    pub closed: i64,
    /// Average seconds from start to end of those calls.
    pub avg_handle_seconds: Option<f64>,
    /// Of those, rated by the customer.
    pub rated: i64,
    /// Average rating.
    pub avg_csat: Option<f64>,
}

/// Tickets in the range.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TicketFigures {
    /// Opened in the range.
    pub opened: i64,
    /// Resolved in the range (whenever they were opened).
    pub resolved: i64,
    /// The opened ones by their status now.
    pub opened_by_status: Vec<Count>,
    /// The opened ones by priority.
    pub opened_by_priority: Vec<Count>,
}

/// Model use by the agents' steps in the range.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TokenFigures {
    /// Agent steps.
    pub runs: i64,
    /// Calls those steps belong to.
    pub calls: i64,
    /// Prompt (input) tokens.
    pub prompt_tokens: i64,
    /// Completion (output) tokens.
    pub completion_tokens: i64,
    /// Estimated cost at the configured prices.
    pub cost: f64,
    /// `cost` divided by `calls`.
    pub cost_per_call: Option<f64>,
    /// Price of 1,000 prompt tokens used.
    pub prompt_price_per_1k: f64,
    /// Price of 1,000 completion tokens used.
    pub completion_price_per_1k: f64,
}

const TOTALS: &str = "SELECT COUNT(*), \
     CAST(COALESCE(SUM(CASE WHEN c.status = 'closed' THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN c.status = 'closed' AND c.human_involved = FALSE AND c.queued_at IS NULL \
          THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN c.human_involved = TRUE OR c.queued_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(AVG(CASE WHEN c.closed_at IS NOT NULL THEN {seconds:c.created_at,c.closed_at} END) AS DOUBLE PRECISION) \
     FROM calls c WHERE c.created_at >= $1 AND c.created_at < $2";

/// One row per combination of the values the mixes count (a few hundred rows at most).
const MIX: &str = "SELECT c.department, c.category, c.sentiment, c.channel, c.outcome, \
     CASE WHEN c.human_involved = TRUE OR c.queued_at IS NOT NULL THEN 1 ELSE 0 END, \
     c.escalation_reason, c.csat, COUNT(*) \
     FROM calls c WHERE c.created_at >= $1 AND c.created_at < $2 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8";

const CALLS_PER_QUARTER: &str = "SELECT {quarter:c.created_at}, COUNT(*) FROM calls c \
     WHERE c.created_at >= $1 AND c.created_at < $2 GROUP BY 1";

const TOKENS_PER_QUARTER: &str = "SELECT {quarter:r.at}, CAST(COALESCE(SUM(r.prompt_tokens), 0) AS BIGINT), \
     CAST(COALESCE(SUM(r.completion_tokens), 0) AS BIGINT), COUNT(*) FROM agent_runs r \
     WHERE r.at >= $1 AND r.at < $2 AND r.call_id IS NOT NULL GROUP BY 1";

/// Who took which call: the "joined" notes a takeover writes, by author.
pub(super) const AGENTS: &str = "SELECT u.id AS user_id, u.username, u.full_name, COUNT(*) AS calls_taken, \
     CAST(COALESCE(SUM(CASE WHEN c.closed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS closed, \
     CAST(AVG(CASE WHEN c.closed_at IS NOT NULL THEN {seconds:c.created_at,c.closed_at} END) AS DOUBLE PRECISION) \
       AS avg_handle_seconds, \
     CAST(COALESCE(SUM(CASE WHEN c.csat IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS rated, \
     CAST(AVG(c.csat) AS DOUBLE PRECISION) AS avg_csat \
     FROM (SELECT DISTINCT m.call_id, m.author_id FROM calls c0 JOIN messages m ON m.call_id = c0.id \
           WHERE c0.created_at >= $1 AND c0.created_at < $2 AND c0.human_involved = TRUE \
           AND m.role = 'system' AND m.agent = 'joined' AND m.author_id IS NOT NULL) t \
     JOIN calls c ON c.id = t.call_id JOIN users u ON u.id = t.author_id \
     GROUP BY u.id, u.username, u.full_name ORDER BY COUNT(*) DESC, u.full_name";

const TICKETS_OPENED: &str = "SELECT t.status, t.priority, COUNT(*) FROM tickets t \
     WHERE t.created_at >= $1 AND t.created_at < $2 GROUP BY 1, 2";

const TICKETS_RESOLVED: &str = "SELECT COUNT(*) FROM tickets t WHERE t.resolved_at >= $1 AND t.resolved_at < $2";

const CALLS_WITH_RUNS: &str = "SELECT COUNT(DISTINCT r.call_id) FROM agent_runs r WHERE r.at >= $1 AND r.at < $2";

type TotalsRow = (i64, i64, i64, i64, Option<f64>);
type MixRow =
    (Option<String>, Option<String>, Option<String>, String, Option<String>, i32, Option<String>, Option<i32>, i64);

/// The figures of `period`, days and hours counted in `zone`, costs at `prices`.
#[tracing::instrument(skip_all, fields(from = %period.from, to = %period.to))]
pub async fn load(db: &Db, period: &Period, zone: &Zone, prices: TokenPrices) -> Result<Stats, sqlx::Error> {
    let (start, end) = (period.start, period.end);
    let totals: TotalsRow =
        with_db!(db, |pool| sqlx::query_as(dialect(db, TOTALS)).bind(start).bind(end).fetch_one(pool).await)?;
    let mix: Vec<MixRow> = with_db!(db, |pool| sqlx::query_as(MIX).bind(start).bind(end).fetch_all(pool).await)?;
    let calls_q: Vec<(i64, i64)> = with_db!(db, |pool| sqlx::query_as(dialect(db, CALLS_PER_QUARTER))
        .bind(start)
        .bind(end)
        .fetch_all(pool)
        .await)?;
    let tokens_q: Vec<(i64, i64, i64, i64)> = with_db!(db, |pool| sqlx::query_as(dialect(db, TOKENS_PER_QUARTER))
        .bind(start)
        .bind(end)
        .fetch_all(pool)
        .await)?;
    let agents: Vec<AgentFigures> =
        with_db!(db, |pool| sqlx::query_as(dialect(db, AGENTS)).bind(start).bind(end).fetch_all(pool).await)?;
    let tickets: Vec<(String, String, i64)> =
        with_db!(db, |pool| sqlx::query_as(TICKETS_OPENED).bind(start).bind(end).fetch_all(pool).await)?;
    let resolved: i64 =
        with_db!(db, |pool| sqlx::query_scalar(TICKETS_RESOLVED).bind(start).bind(end).fetch_one(pool).await)?;
    let calls_with_runs: i64 =
        with_db!(db, |pool| sqlx::query_scalar(CALLS_WITH_RUNS).bind(start).bind(end).fetch_one(pool).await)?;

    let (total, closed, ai_resolved, escalated, avg_handle_seconds) = totals;
    let calls = CallFigures {
        total,
        closed,
        open: total - closed,
        ai_resolved,
        escalated,
        ai_resolved_pct: pct(ai_resolved, closed),
        escalated_pct: pct(escalated, total),
        avg_handle_seconds,
    };

    // Place each 15-minute bucket in its local day and hour.
    let days = period.days();
    let index: BTreeMap<jiff::civil::Date, usize> = days.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut per_day: Vec<DayFigures> = days
        .iter()
        .map(|d| DayFigures { day: d.to_string(), calls: 0, prompt_tokens: 0, completion_tokens: 0, cost: 0.0 })
        .collect();
    let mut hours = [0i64; 24];
    for (bucket, count) in calls_q {
        let Some(start) = quarter_start(bucket) else { continue };
        let local = zone.local(start);
        hours[usize::from(local.hour().unsigned_abs()) % 24] += count;
        if let Some(&i) = index.get(&local.date()) {
            per_day[i].calls += count;
        }
    }
    let (mut runs, mut prompt_tokens, mut completion_tokens) = (0, 0, 0);
    for (bucket, prompt, completion, n) in tokens_q {
        (runs, prompt_tokens, completion_tokens) = (runs + n, prompt_tokens + prompt, completion_tokens + completion);
        if let Some(&i) = quarter_start(bucket).and_then(|start| index.get(&zone.date_of(start))) {
            per_day[i].prompt_tokens += prompt;
            per_day[i].completion_tokens += completion;
        }
    }
    for day in &mut per_day {
        day.cost = prices.cost(day.prompt_tokens, day.completion_tokens);
    }
    let per_hour = hours.iter().enumerate().map(|(h, &calls)| HourFigures { hour: h as u8, calls }).collect();

    let mut groups: [BTreeMap<Option<String>, i64>; 6] = Default::default();
    let mut scores = [0i64; 5];
    for (department, category, sentiment, channel, outcome, escalated, reason, csat, n) in mix {
        for (group, key) in groups.iter_mut().zip([department, category, sentiment, Some(channel), outcome]) {
            *group.entry(key).or_default() += n;
        }
        if escalated == 1 {
            *groups[5].entry(reason).or_default() += n;
        }
        if let Some(score) = csat.filter(|s| (1..=5).contains(s)) {
            scores[(score - 1) as usize] += n;
        }
    }
    let [departments, categories, sentiments, channels, outcomes, reasons] = groups.map(counts);
    let rated: i64 = scores.iter().sum();
    let weighted: i64 = scores.iter().enumerate().map(|(i, n)| (i as i64 + 1) * n).sum();
    let csat = CsatFigures {
        rated,
        average: (rated > 0).then(|| weighted as f64 / rated as f64),
        distribution: scores.iter().enumerate().map(|(i, &count)| ScoreCount { score: i as u8 + 1, count }).collect(),
    };

    let mut by_status: BTreeMap<Option<String>, i64> = BTreeMap::new();
    let mut by_priority: BTreeMap<Option<String>, i64> = BTreeMap::new();
    for (status, priority, n) in tickets {
        *by_status.entry(Some(status)).or_default() += n;
        *by_priority.entry(Some(priority)).or_default() += n;
    }
    let opened = by_status.values().sum();
    let cost = prices.cost(prompt_tokens, completion_tokens);
    Ok(Stats {
        from: period.from.to_string(),
        to: period.to.to_string(),
        timezone: zone.name().to_owned(),
        calls,
        per_day,
        per_hour,
        escalation_reasons: reasons,
        csat,
        departments,
        categories,
        sentiments,
        channels,
        outcomes,
        agents,
        tickets: TicketFigures {
            opened,
            resolved,
            opened_by_status: counts(by_status),
            opened_by_priority: counts(by_priority),
        },
        tokens: TokenFigures {
            runs,
            calls: calls_with_runs,
            prompt_tokens,
            completion_tokens,
            cost,
            cost_per_call: (calls_with_runs > 0).then(|| cost / calls_with_runs as f64),
            prompt_price_per_1k: prices.prompt_per_1k,
            completion_price_per_1k: prices.completion_per_1k,
        },
    })
}

fn pct(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// The counts of a group, largest first, with their shares.
fn counts(group: BTreeMap<Option<String>, i64>) -> Vec<Count> {
    let total: i64 = group.values().sum();
    let mut out: Vec<Count> =
        group.into_iter().map(|(key, count)| Count { key, count, pct: pct(count, total).unwrap_or(0.0) }).collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_largest_first_with_their_shares() {
        let group = BTreeMap::from([(Some("a".to_owned()), 1), (None, 3)]);
        let out = counts(group);
        assert_eq!(out[0].key, None);
        assert_eq!((out[0].pct, out[1].pct), (75.0, 25.0));
        assert_eq!(pct(1, 3), Some(33.3));
        assert_eq!(pct(1, 0), None);
    }
}
