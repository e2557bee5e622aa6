//! What the live board shows: escalations waiting for a person, active calls, queues
//! per department, staff presence, today's KPIs and two charts. Read fresh from the
//! database on every refresh (the events only say "something changed"), so every
//! node shows the same board.

use std::collections::HashMap;

use serde::Serialize;
use time::OffsetDateTime;

use super::CallStatus;
use super::{Call, clock};
use crate::agents::{Department, Priority, Sentiment};
use crate::auth::Principal;
use crate::calls::call_columns;
use crate::context::Ctx;
use crate::db::with_db;
use crate::db::{Db, Timestamp};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::events::Payload;

/// Seconds without a sign of life after which a staff member shows as offline.
pub const PRESENCE_STALE_SECS: i64 = 180;
/// Signs of life closer together than this are not written again.
const PRESENCE_REFRESH_SECS: i64 = 30;

/// A call as a board row.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BoardCall {
    /// The call.
    pub call: Call,
    /// The customer's name.
    pub customer: Option<String>,
    /// Who holds it.
    pub holder: Option<String>,
    /// Waiting (queued) or elapsed time, `m:ss`.
    pub waiting: String,
    /// The latest transfer, whose reason the receiver reads.
    pub transfer: Option<super::team::TransferRow>,
    /// The call belongs to the viewer's department.
    pub mine: bool,
    /// WhatsApp calls: customer messages nobody on the staff has read yet.
    pub unread: Option<i64>,
}

/// A staff member's availability.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StaffRow {
    /// User id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Role name.
    pub role: String,
    /// online, away, busy or offline.
    pub status: String,
    /// Calls they hold.
    pub holding: Vec<i64>,
}

/// Today's figures (UTC day).
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Kpis {
    /// Calls started today.
    pub calls: usize,
    /// Calls open now.
    pub open: usize,
    /// Share of today's ended calls finished without a person, in percent.
    pub ai_resolved_pct: Option<u32>,
    /// Calls escalated today.
    pub escalations: usize,
    /// Average handle time of today's ended calls.
    pub aht: Option<String>,
    /// Average rating today (1–5, one decimal).
    pub csat: Option<String>,
    /// Actions waiting for approval.
    pub pending_actions: i64,
}

/// Calls started in one hour of today.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct HourCount {
    /// Hour of the day (UTC).
    pub hour: u8,
    /// Calls started in that hour.
    pub count: usize,
}

/// How many of today's calls had one sentiment.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct SentimentCount {
    /// positive, neutral or negative.
    pub sentiment: &'static str,
    /// Calls.
    pub count: usize,
}

/// Everything on the board.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Board {
    /// Queued calls, most urgent first.
    pub escalations: Vec<BoardCall>,
    /// Calls with the AI or a person.
    pub active: Vec<BoardCall>,
    /// Queued calls per department: `[department, count]` pairs.
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub queues: Vec<(&'static str, usize)>,
    /// Staff, available first.
    pub staff: Vec<StaffRow>,
    /// Today's KPIs.
    pub kpis: Kpis,
    /// Calls per hour today, 24 entries.
    pub per_hour: Vec<HourCount>,
    /// Sentiment of today's calls.
    pub sentiment: Vec<SentimentCount>,
    /// Written inquiries waiting for their classification.
    pub inquiries: crate::channels::inquiries::Backlog,
    /// Each department open or closed now, with its next opening (business hours).
    pub hours: Vec<super::hours::DepartmentHours>,
}

fn priority_rank(p: Option<Priority>) -> u8 {
    match p {
        Some(Priority::Critical) => 0,
        Some(Priority::High) => 1,
        Some(Priority::Medium) => 2,
        Some(Priority::Low) => 3,
        None => 4,
    }
}

fn start_of_day(now: OffsetDateTime) -> Timestamp {
    Timestamp::from(now.replace_time(time::Time::MIDNIGHT))
}

/// A staff member with their presence: id, name, role, chosen status, last sign of life.
type PersonRow = (i64, String, String, Option<String>, Option<Timestamp>);

/// Reads the board; the waiting calls of `department` (the viewer's) come first.
pub async fn load(ctx: &crate::context::Ctx, department: Option<Department>) -> AppResult<Board> {
    let db = ctx.db();
    let now = Timestamp::now();
    let day = start_of_day(now.as_offset());
    let open: Vec<Call> = with_db!(db, |pool| sqlx::query_as(concat!(
        "SELECT ",
        call_columns!(),
        " FROM calls WHERE status <> 'closed' ORDER BY id DESC LIMIT 500"
    ))
    .fetch_all(pool)
    .await)?;
    let today: Vec<Call> = with_db!(db, |pool| sqlx::query_as(concat!(
        "SELECT ",
        call_columns!(),
        " FROM calls WHERE created_at >= $1 OR closed_at >= $1"
    ))
    .bind(day)
    .fetch_all(pool)
    .await)?;
    let customers: Vec<(i64, String)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT id, name FROM customers WHERE id IN (SELECT customer_id FROM calls WHERE status <> 'closed')",
    )
    .fetch_all(pool)
    .await)?;
    let customers: HashMap<i64, String> = customers.into_iter().collect();
    let people: Vec<PersonRow> = with_db!(db, |pool| {
        sqlx::query_as(
        "SELECT u.id, u.full_name, u.role, p.status, p.last_seen FROM users u LEFT JOIN presence p ON p.user_id = u.id \
         WHERE u.disabled = FALSE ORDER BY u.full_name",
    )
    .fetch_all(pool)
    .await
    })?;
    let names: HashMap<i64, String> = people.iter().map(|(id, name, ..)| (*id, name.clone())).collect();
    let pending_actions: i64 =
        with_db!(db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM pending_actions WHERE decision IS NULL")
            .fetch_one(pool)
            .await)?;

    let mut transfers: HashMap<i64, super::team::TransferRow> =
        super::team::latest_open_transfers(db).await?.into_iter().map(|t| (t.call_id, t)).collect();
    let unread: HashMap<i64, i64> = crate::channels::whatsapp::conversation::list(db, false, 1000)
        .await?
        .into_iter()
        .map(|c| (c.call_id, c.unread))
        .collect();
    let mut row = |call: Call| BoardCall {
        unread: unread.get(&call.id).copied(),
        customer: call.customer_id.and_then(|id| customers.get(&id).cloned()),
        holder: call.assigned_to.and_then(|id| names.get(&id).cloned()),
        waiting: clock(call.waiting_seconds(now)),
        transfer: transfers.remove(&call.id),
        mine: department.is_some() && call.department == department,
        call,
    };
    let (mut queued, active): (Vec<Call>, Vec<Call>) = open.into_iter().partition(|c| c.status == CallStatus::Queued);
    // The viewer's department first, then the most urgent, then the longest waiting.
    queued.sort_by_key(|c| {
        let other = department.is_none() || c.department != department;
        (other, priority_rank(c.priority), c.queued_at.unwrap_or(c.created_at))
    });
    let queues = Department::ALL
        .iter()
        .map(|d| (d.as_str(), queued.iter().filter(|c| c.department == Some(*d)).count()))
        .collect();
    let mut holding: HashMap<i64, Vec<i64>> = HashMap::new();
    for c in active.iter().filter(|c| c.status == CallStatus::Human) {
        if let Some(holder) = c.assigned_to {
            holding.entry(holder).or_default().push(c.id);
        }
    }
    let mut staff: Vec<StaffRow> = people
        .into_iter()
        .map(|(id, name, role, status, seen)| {
            let fresh = seen.is_some_and(|s| now.unix_seconds() - s.unix_seconds() <= PRESENCE_STALE_SECS);
            let status = match status {
                Some(s) if fresh => s,
                _ => "offline".to_owned(),
            };
            StaffRow { id, name, role, status, holding: holding.remove(&id).unwrap_or_default() }
        })
        .filter(|s| s.status != "offline" || !s.holding.is_empty())
        .collect();
    staff.sort_by_key(|s| match s.status.as_str() {
        "online" => 0,
        "busy" => 1,
        "away" => 2,
        _ => 3,
    });

    let started_today: Vec<&Call> = today.iter().filter(|c| c.created_at >= day).collect();
    let ended_today: Vec<&Call> = today.iter().filter(|c| c.closed_at.is_some_and(|t| t >= day)).collect();
    let ai_resolved = ended_today.iter().filter(|c| !c.human_involved && c.queued_at.is_none()).count();
    let handle: Vec<i64> = ended_today
        .iter()
        .filter_map(|c| c.closed_at.map(|end| end.unix_seconds() - c.created_at.unix_seconds()))
        .collect();
    let rated: Vec<i32> = ended_today.iter().filter_map(|c| c.csat).collect();
    let kpis = Kpis {
        calls: started_today.len(),
        open: queued.len() + active.len(),
        ai_resolved_pct: (!ended_today.is_empty()).then(|| (ai_resolved * 100 / ended_today.len()) as u32),
        escalations: today.iter().filter(|c| c.queued_at.is_some_and(|t| t >= day)).count(),
        aht: (!handle.is_empty()).then(|| clock(handle.iter().sum::<i64>() / handle.len() as i64)),
        csat: (!rated.is_empty())
            .then(|| format!("{:.1}", rated.iter().map(|&r| f64::from(r)).sum::<f64>() / rated.len() as f64)),
        pending_actions,
    };

    let mut counts = [0usize; 24];
    for c in &started_today {
        counts[usize::from(c.created_at.as_offset().hour())] += 1;
    }
    let per_hour = counts.iter().enumerate().map(|(hour, &count)| HourCount { hour: hour as u8, count }).collect();
    let sentiment = Sentiment::ALL
        .iter()
        .map(|&s| SentimentCount {
            sentiment: s.as_str(),
            count: started_today.iter().filter(|c| c.sentiment == Some(s)).count(),
        })
        .collect();

    Ok(Board {
        escalations: queued.into_iter().map(&mut row).collect(),
        active: active.into_iter().map(&mut row).collect(),
        queues,
        staff,
        kpis,
        per_hour,
        sentiment,
        inquiries: crate::channels::inquiries::backlog(db).await?,
        hours: super::hours::departments_now(ctx).await?,
    })
}

/// Availability a staff member can choose.
pub const PRESENCE: [&str; 3] = ["online", "away", "busy"];

/// Sets a staff member's availability and tells every board.
pub async fn set_presence(ctx: &Ctx, who: &Principal, status: &str) -> AppResult<()> {
    let Some(status) = PRESENCE.into_iter().find(|s| *s == status.trim()) else {
        return Err(AppError::Validation(FieldErrors::from([("status", "field.presence_invalid")])));
    };
    upsert_presence(ctx.db(), who.id, Some(status)).await?;
    let payload = Payload::Presence { user_id: who.id, name: who.full_name.clone(), status: status.to_owned() };
    ctx.bus().emit(None, payload).await;
    Ok(())
}

/// Records a sign of life (a board refresh or an open event stream). Someone who was
/// offline shows as online again, and the boards hear about it.
pub async fn touch(ctx: &Ctx, who: &Principal) -> AppResult<()> {
    let before: Option<(String, Timestamp)> =
        with_db!(ctx.db(), |pool| sqlx::query_as("SELECT status, last_seen FROM presence WHERE user_id = $1")
            .bind(who.id)
            .fetch_optional(pool)
            .await)?;
    let now = Timestamp::now();
    let age = before.as_ref().map(|(_, seen)| now.unix_seconds() - seen.unix_seconds());
    if age.is_some_and(|a| a < PRESENCE_REFRESH_SECS) {
        // Seen moments ago: boards refresh often, the database need not hear each one.
        return Ok(());
    }
    let was_offline = age.is_none_or(|a| a > PRESENCE_STALE_SECS);
    // Coming back after being offline means online; otherwise the chosen status stays.
    upsert_presence(ctx.db(), who.id, was_offline.then_some("online")).await?;
    if was_offline {
        let payload = Payload::Presence { user_id: who.id, name: who.full_name.clone(), status: "online".into() };
        ctx.bus().emit(None, payload).await;
    }
    Ok(())
}

async fn upsert_presence(db: &Db, user_id: i64, status: Option<&str>) -> AppResult<()> {
    with_db!(db, |pool| sqlx::query(
        "INSERT INTO presence (user_id, status, last_seen) VALUES ($1, COALESCE($2, 'online'), $3) \
         ON CONFLICT (user_id) DO UPDATE SET status = COALESCE($2, presence.status), last_seen = $3",
    )
    .bind(user_id)
    .bind(status)
    .bind(Timestamp::now())
    .execute(pool)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// The presence a user chose (for the board's selector).
pub async fn my_presence(db: &Db, user_id: i64) -> AppResult<String> {
    let status: Option<String> =
        with_db!(db, |pool| sqlx::query_scalar("SELECT status FROM presence WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await)?;
    Ok(status.unwrap_or_else(|| "online".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgent_calls_rank_first() {
        assert!(priority_rank(Some(Priority::Critical)) < priority_rank(Some(Priority::High)));
        assert!(priority_rank(Some(Priority::Low)) < priority_rank(None));
    }

    #[test]
    fn clock_reads_like_a_stopwatch() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(75), "1:15");
        assert_eq!(clock(3_725), "1:02:05");
    }
}
