//! Weeks of made-up but plausible history for the demo and the reports benchmark:
//! calls in every state and outcome across departments, categories, sentiments and
//! channels, with their messages and agent steps (tokens), escalations with reasons,
//! calls taken by staff, ratings, tickets in every status with their history, and
//! payments. Deterministic (a fixed random seed) and written once: a `settings` marker
//! is taken in the same transaction as the rows, so running the seed again (or twice at
//! once) adds nothing.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::random::{pick, secs, start_time, weighted};
use super::texts::{FIRST, LAST, TOPICS, Topic};
use crate::agents::builtin::engine::MODEL_NAME;
use crate::customers::bulk::{self as past, PastChange, PastPayment, PastTicket};
use crate::customers::{self, CustomerInput};
use crate::db::{Db, Money, Timestamp, Tx, on_tx, with_db};

/// How much history to write.
#[derive(Clone, Copy, Debug)]
pub struct HistoryPlan {
    /// Calls in all.
    pub calls: usize,
    /// Over how many days back from now.
    pub days: u32,
}

impl Default for HistoryPlan {
    /// Six weeks, about 36 calls a day.
    fn default() -> Self {
        Self { calls: 1500, days: 42 }
    }
}

/// What was written.
#[derive(Clone, Debug, Default)]
pub struct HistoryReport {
    /// Demo customers added for the history.
    pub customers: u64,
    /// Calls.
    pub calls: usize,
    /// Messages.
    pub messages: usize,
    /// Agent steps.
    pub runs: usize,
    /// Tickets.
    pub tickets: usize,
    /// Payments.
    pub payments: usize,
}

/// The `settings` key that says the history is there.
const MARKER: &str = "demo_history";
/// Calls per multi-row insert (28 columns each: under SQLite's 32,766 parameters).
const BATCH: usize = 500;
/// Child rows per multi-row insert.
const CHILD_ROWS: usize = 1500;

/// Writes the history unless it is there already (`None` then).
pub async fn seed_history(db: &Db, plan: HistoryPlan) -> anyhow::Result<Option<HistoryReport>> {
    let exists: Option<String> = with_db!(db, |pool| sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(MARKER)
        .fetch_optional(pool)
        .await)?;
    if exists.is_some() {
        return Ok(None);
    }
    let mut report = HistoryReport { customers: add_customers(db, plan.calls).await?, ..Default::default() };
    let staff: Vec<(i64, String, String)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT id, full_name, role FROM users WHERE disabled = FALSE AND role IN ('agent', 'supervisor', 'admin') \
         ORDER BY CASE role WHEN 'agent' THEN 0 WHEN 'supervisor' THEN 1 ELSE 2 END, id"
    )
    .fetch_all(pool)
    .await)?;
    let customers: Vec<i64> = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT id FROM customers WHERE active = TRUE AND verified = TRUE ORDER BY id"
    )
    .fetch_all(pool)
    .await)?;
    anyhow::ensure!(!staff.is_empty() && !customers.is_empty(), "the history needs staff accounts and customers");
    // Agents take calls; a supervisor (or the first admin) corrects and approves.
    let takers: Vec<&(i64, String, String)> = staff.iter().filter(|s| s.2 != "admin").collect();
    let takers = if takers.is_empty() { staff.iter().collect() } else { takers };
    let overseer = staff.iter().find(|s| s.2 == "supervisor").unwrap_or(&staff[0]);

    let mut tx = db.begin().await?;
    let now = Timestamp::now();
    let claimed = on_tx!(&mut tx, |conn| sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
    )
    .bind(MARKER)
    .bind(format!("{{\"calls\":{},\"days\":{},\"at\":\"{now}\"}}", plan.calls, plan.days))
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if claimed == 0 {
        return Ok(None);
    }
    let mut rng = StdRng::seed_from_u64(20_261_122);
    let people = People { takers, overseer, customers: &customers, tickets: std::cell::Cell::new(0) };
    let mut start = 0;
    while start < plan.calls {
        let n = BATCH.min(plan.calls - start);
        let calls: Vec<CallPlan> = (start..start + n).map(|i| plan_call(&mut rng, &people, plan, now, i)).collect();
        write_batch(&mut tx, &calls, &mut report).await?;
        start += n;
    }
    tx.commit().await?;
    Ok(Some(report))
}

/// Adds the history's customers (about one per 150 calls, at least 20).
async fn add_customers(db: &Db, calls: usize) -> anyhow::Result<u64> {
    let mut added = 0;
    for i in 0..(calls / 150).clamp(20, 2000) {
        let (first, last) = (FIRST[i % FIRST.len()], LAST[(i / FIRST.len() + i) % LAST.len()]);
        let email = format!("{}.{}.{i}@example.com", ascii(first), ascii(last));
        let input = CustomerInput {
            name: format!("{first} {last}"),
            email,
            phone: Some(format!("+34 600 {:03} {:03}", i / 1000, i % 1000)),
        };
        let customer = customers::check_customer(&input).map_err(|e| anyhow::anyhow!("demo customer: {e:?}"))?;
        let balance = Money::from_cents(((i * 7_919) % 30_000) as i64 - 5_000);
        added += u64::from(customers::insert_if_absent(db, &customer, balance).await?);
    }
    Ok(added)
}

fn ascii(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' | 'ü' => 'u',
            'ñ' => 'n',
            c => c,
        })
        .collect()
}

struct People<'a> {
    takers: Vec<&'a (i64, String, String)>,
    overseer: &'a (i64, String, String),
    customers: &'a [i64],
    /// Tickets planned so far (the first five cycle through every status).
    tickets: std::cell::Cell<usize>,
}

/// A message to write: role, kind, content, author, when.
type MessagePlan = (&'static str, Option<&'static str>, String, Option<i64>, Timestamp);
/// An agent step: turn, agent, prompt tokens, completion tokens, latency, outcome, when.
type RunPlan = (i64, &'static str, i64, i64, i64, &'static str, Timestamp);

/// One call and everything that hangs off it.
struct CallPlan {
    key: String,
    channel: &'static str,
    customer_id: i64,
    status: &'static str,
    topic: &'static Topic,
    ai_category: &'static str,
    sentiment: &'static str,
    priority: &'static str,
    confidence: f64,
    language: &'static str,
    assigned_to: Option<i64>,
    outcome: Option<&'static str>,
    csat: Option<i32>,
    reason: Option<&'static str>,
    created_at: Timestamp,
    updated_at: Timestamp,
    closed_at: Option<Timestamp>,
    queued_at: Option<Timestamp>,
    human_involved: bool,
    summary_offered: bool,
    corrected: Option<(i64, Timestamp)>,
    quality: f64,
    messages: Vec<MessagePlan>,
    runs: Vec<RunPlan>,
    ticket: Option<PastTicket>,
    payment: Option<PastPayment>,
}

fn plan_call(rng: &mut StdRng, people: &People<'_>, plan: HistoryPlan, now: Timestamp, i: usize) -> CallPlan {
    let topic = &TOPICS[weighted(rng, &TOPICS.iter().map(|t| t.weight).collect::<Vec<_>>())];
    let es = rng.random_bool(0.7);
    let upset = rng.random_range(0..100) < topic.upset;
    let sentiment = if upset {
        "negative"
    } else if rng.random_bool(0.3) {
        "positive"
    } else {
        "neutral"
    };
    let priority = match (upset, topic.department) {
        (true, "complaints") if rng.random_bool(0.3) => "critical",
        (true, _) => "high",
        (false, "general") => "low",
        _ if rng.random_bool(0.3) => "low",
        _ => "medium",
    };
    let created = start_time(rng, plan, now, i);
    let open_state = (i < 3).then(|| ["ai", "queued", "human"][i]);
    let escalate_pct = match topic.category {
        "human_request" => 95,
        "formal_complaint" | "staff_complaint" => 80,
        _ if upset => 45,
        _ => 10,
    };
    let escalated = open_state.map_or(rng.random_range(0..100) < escalate_pct, |s| s != "ai");
    let reason = escalated.then(|| match topic.category {
        "human_request" => "customer_request",
        _ if upset && rng.random_bool(0.6) => "negative_sentiment",
        _ => *pick(
            rng,
            &[
                "customer_request",
                "missing_knowledge",
                "unsupported_request",
                "policy_restriction",
                "tool_failure",
                "low_confidence",
            ],
        ),
    });
    let taker = *pick(rng, &people.takers);
    let customer_id = *pick(rng, people.customers);
    let turns: i64 = if escalated { rng.random_range(1..=2) } else { rng.random_range(1..=3) };

    let mut messages: Vec<MessagePlan> = Vec::new();
    let mut runs: Vec<RunPlan> = Vec::new();
    let mut at = created;
    for turn in 1..=turns {
        let (ask, answer) = match (turn, es) {
            (1, true) => (topic.ask.0.to_owned(), topic.answer.0.to_owned()),
            (1, false) => (topic.ask.1.to_owned(), topic.answer.1.to_owned()),
            (_, true) => ("Vale, ¿y qué más puedo hacer?".to_owned(), "Le indico los siguientes pasos.".to_owned()),
            (_, false) => ("OK, what else can I do?".to_owned(), "Here are the next steps.".to_owned()),
        };
        messages.push(("customer", None, ask, None, at));
        let routed = turn == 1 || rng.random_bool(0.3);
        let (rp, rc) = if routed { (rng.random_range(250..420), rng.random_range(40..90)) } else { (0, 0) };
        let routing_outcome = if routed { "ok" } else { "skipped: topic unchanged" };
        runs.push((turn, "routing", rp, rc, rng.random_range(150..900), routing_outcome, secs(at, 1)));
        runs.push((
            turn,
            "service",
            rng.random_range(350..750),
            rng.random_range(60..220),
            rng.random_range(300..2500),
            "ok",
            secs(at, 4),
        ));
        runs.push((
            turn,
            "supervisor",
            rng.random_range(300..520),
            rng.random_range(20..70),
            rng.random_range(150..900),
            "ok",
            secs(at, 6),
        ));
        messages.push(("ai", Some("service"), answer, None, secs(at, 7)));
        at = secs(at, rng.random_range(30..120));
    }

    let mut status = "closed";
    let (mut queued_at, mut assigned_to, mut human_involved, mut outcome, mut closed_at) =
        (None, None, false, None, None);
    // A few calls are taken by staff straight from the AI, without an escalation.
    let direct = !escalated && open_state.is_none() && rng.random_bool(0.03);
    if escalated {
        queued_at = Some(at);
        at = secs(at, rng.random_range(30..600));
    }
    if open_state == Some("ai") {
        status = "ai";
    } else if open_state == Some("queued") {
        status = "queued";
    } else if escalated && !rng.random_bool(0.9) && open_state.is_none() {
        // Nobody was free: the customer gave up in the queue.
        outcome = Some("abandoned");
        closed_at = Some(at);
    } else if escalated || direct {
        human_involved = true;
        assigned_to = Some(taker.0);
        messages.push(("system", Some("joined"), taker.1.clone(), Some(taker.0), at));
        let greeting = if es {
            format!("Hola, soy {}; ya lo estoy viendo.", taker.1)
        } else {
            format!("Hi, this is {}; I am looking into it.", taker.1)
        };
        messages.push(("human", None, greeting, Some(taker.0), secs(at, 20)));
        at = secs(at, rng.random_range(240..1500));
        if open_state == Some("human") {
            status = "human";
        } else {
            let o = ["resolved", "follow_up", "transferred"][weighted(rng, &[65, 20, 15])];
            outcome = Some(o);
            messages.push(("system", Some("closed"), o.to_owned(), Some(taker.0), at));
            closed_at = Some(at);
        }
    } else {
        at = secs(at, rng.random_range(30..240));
        outcome = [None, Some("resolved"), Some("abandoned")][weighted(rng, &[60, 30, 10])];
        let note = match outcome {
            Some(o) => ("system", Some("closed"), o.to_owned(), Some(people.overseer.0), at),
            None => ("system", Some("ended"), String::new(), None, at),
        };
        messages.push(note);
        closed_at = Some(at);
    }
    let csat = closed_at.filter(|_| rng.random_bool(0.55)).map(|_| {
        let weights: [u32; 5] = match (sentiment, outcome) {
            (_, Some("abandoned")) => [50, 30, 15, 5, 0],
            ("negative", _) => [20, 25, 25, 20, 10],
            ("positive", _) => [0, 0, 5, 30, 65],
            _ => [2, 5, 20, 43, 30],
        };
        weighted(rng, &weights) as i32 + 1
    });
    let corrected = (rng.random_bool(0.02)).then(|| (people.overseer.0, closed_at.unwrap_or(at)));
    let ai_category = match corrected {
        Some(_) => TOPICS
            .iter()
            .find(|t| t.department == topic.department && t.category != topic.category)
            .map_or(topic.category, |t| t.category),
        None => topic.category,
    };
    let end = closed_at.unwrap_or(at);
    let ticket = ticket_for(rng, people, topic, customer_id, assigned_to.unwrap_or(taker.0), end, now);
    let payment = (closed_at.is_some()
        && (topic.category == "payment" && rng.random_bool(0.6)
            || topic.category == "balance_inquiry" && rng.random_bool(0.15)))
    .then(|| PastPayment {
        customer_id,
        call_id: None,
        amount: Money::from_cents(rng.random_range(10..250) * 100 + *pick(rng, &[0, 50, 99])),
        description: if es { "Pago de cuota".into() } else { "Monthly fee".into() },
        method: ["card", "card", "transfer", "cash", "check"][rng.random_range(0..5)],
        processed_by: Some(assigned_to.unwrap_or(people.overseer.0)),
        at: end,
    });
    CallPlan {
        key: format!("demo-history-{}-{i}", now.unix_seconds()),
        channel: if rng.random_bool(0.75) { "web" } else { "api" },
        customer_id,
        status,
        topic,
        ai_category,
        sentiment,
        priority,
        confidence: rng.random_range(0.55..0.98),
        language: if es { "es" } else { "en" },
        assigned_to,
        outcome,
        csat,
        reason,
        created_at: created,
        updated_at: end,
        closed_at,
        queued_at,
        human_involved,
        summary_offered: closed_at.is_some() && rng.random_bool(0.4),
        corrected,
        quality: rng.random_range(0.55..0.98),
        messages,
        runs,
        ticket,
        payment,
    }
}

/// A ticket for calls about problems (about a third of them), its status by its age
/// (the first five go through every status, so each shows up).
#[allow(clippy::too_many_arguments)]
fn ticket_for(
    rng: &mut StdRng,
    people: &People<'_>,
    topic: &Topic,
    customer_id: i64,
    worker: i64,
    opened: Timestamp,
    now: Timestamp,
) -> Option<PastTicket> {
    let problem = matches!(
        topic.category,
        "technical_issue" | "service_outage" | "account_access" | "charge_dispute" | "refund" | "invoice"
    ) || topic.department == "complaints";
    if !rng.random_bool(if problem { 0.35 } else { 0.03 }) {
        return None;
    }
    const PATH: [&str; 5] = ["open", "in_progress", "pending", "resolved", "closed"];
    let age_days = (now.unix_seconds() - opened.unix_seconds()) / 86_400;
    let made = people.tickets.replace(people.tickets.get() + 1);
    let stage = if made < 5 {
        made
    } else if age_days < 2 {
        weighted(rng, &[50, 40, 10, 0, 0])
    } else {
        weighted(rng, &[5, 10, 10, 35, 40])
    };
    let name =
        |id: i64| people.takers.iter().find(|t| t.0 == id).map_or_else(|| people.overseer.1.clone(), |t| t.1.clone());
    let mut history = vec![PastChange {
        actor_id: Some(worker),
        actor: name(worker),
        field: "created",
        old_value: None,
        new_value: Some(topic.category.to_owned()),
        at: opened,
    }];
    let mut at = opened;
    let mut resolved_at = None;
    for w in PATH[..=stage].windows(2) {
        if w[1] == "pending" && stage > 2 && rng.random_bool(0.6) {
            continue;
        }
        at = secs(at, rng.random_range(1800..86_400)).min(now);
        let old = history
            .last()
            .and_then(|h| (h.field == "status").then(|| h.new_value.clone()))
            .flatten()
            .unwrap_or_else(|| w[0].to_owned());
        history.push(PastChange {
            actor_id: Some(worker),
            actor: name(worker),
            field: "status",
            old_value: Some(old),
            new_value: Some(w[1].to_owned()),
            at,
        });
        if w[1] == "resolved" {
            resolved_at = Some(at);
        }
    }
    let priority = ["low", "medium", "high", "critical"][weighted(rng, &[15, 50, 28, 7])];
    Some(PastTicket {
        customer_id,
        call_id: 0,
        title: topic.ask.0.trim_end_matches(['.', '?']).chars().take(60).collect(),
        description: format!("{} / {}", topic.ask.0, topic.ask.1),
        status: PATH[stage],
        priority,
        assigned_to: (stage > 0).then_some(worker),
        created_by: Some(worker),
        created_at: opened,
        updated_at: at,
        resolved_at,
        history,
    })
}

/// Inserts a batch of calls, then their messages, steps, tickets and payments.
async fn write_batch(tx: &mut Tx, calls: &[CallPlan], report: &mut HistoryReport) -> anyhow::Result<()> {
    let ids: Vec<(i64, String)> = on_tx!(tx, |conn| {
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO calls (access_hash, channel, customer_id, status, department, category, sentiment, priority, \
             confidence, language, assigned_to, outcome, csat, escalation_reason, created_at, updated_at, closed_at, \
             queued_at, human_involved, summary_offered, ai_department, ai_category, ai_sentiment, ai_priority, \
             corrected_by, corrected_at, quality, recommendations) ",
        );
        qb.push_values(calls, |mut b, c| {
            b.push_bind(&c.key)
                .push_bind(c.channel)
                .push_bind(c.customer_id)
                .push_bind(c.status)
                .push_bind(c.topic.department)
                .push_bind(c.topic.category)
                .push_bind(c.sentiment)
                .push_bind(c.priority)
                .push_bind(c.confidence)
                .push_bind(c.language)
                .push_bind(c.assigned_to)
                .push_bind(c.outcome)
                .push_bind(c.csat)
                .push_bind(c.reason)
                .push_bind(c.created_at)
                .push_bind(c.updated_at)
                .push_bind(c.closed_at)
                .push_bind(c.queued_at)
                .push_bind(c.human_involved)
                .push_bind(c.summary_offered)
                .push_bind(c.topic.department)
                .push_bind(c.ai_category)
                .push_bind(c.sentiment)
                .push_bind(c.priority)
                .push_bind(c.corrected.map(|c| c.0))
                .push_bind(c.corrected.map(|c| c.1))
                .push_bind(c.quality)
                .push_bind("[]");
        });
        qb.push(" RETURNING id, access_hash");
        qb.build_query_as().fetch_all(&mut *conn).await
    })?;
    let ids: HashMap<String, i64> = ids.into_iter().map(|(id, key)| (key, id)).collect();
    let id_of = |c: &CallPlan| ids.get(&c.key).copied();
    let messages: Vec<(i64, &MessagePlan)> = calls
        .iter()
        .filter_map(|c| id_of(c).map(|id| (id, c)))
        .flat_map(|(id, c)| c.messages.iter().map(move |m| (id, m)))
        .collect();
    for rows in messages.chunks(CHILD_ROWS) {
        on_tx!(tx, |conn| {
            let mut qb =
                sqlx::QueryBuilder::new("INSERT INTO messages (call_id, role, agent, content, author_id, at) ");
            qb.push_values(rows, |mut b, (id, m)| {
                b.push_bind(*id).push_bind(m.0).push_bind(m.1).push_bind(&m.2).push_bind(m.3).push_bind(m.4);
            });
            qb.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    let runs: Vec<(i64, &RunPlan)> = calls
        .iter()
        .filter_map(|c| id_of(c).map(|id| (id, c)))
        .flat_map(|(id, c)| c.runs.iter().map(move |r| (id, r)))
        .collect();
    for rows in runs.chunks(CHILD_ROWS) {
        on_tx!(tx, |conn| {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO agent_runs (call_id, turn, agent, backend, model, prompt_tokens, completion_tokens, latency_ms, \
                 tool_calls, output, outcome, at) ",
            );
            qb.push_values(rows, |mut b, (id, r)| {
                b.push_bind(*id)
                    .push_bind(r.0)
                    .push_bind(r.1)
                    .push_bind("builtin")
                    .push_bind(MODEL_NAME)
                    .push_bind(r.2)
                    .push_bind(r.3)
                    .push_bind(r.4)
                    .push_bind("[]")
                    .push_bind("")
                    .push_bind(r.5)
                    .push_bind(r.6);
            });
            qb.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    let tickets: Vec<PastTicket> =
        calls.iter().filter_map(|c| Some(PastTicket { call_id: id_of(c)?, ..c.ticket.clone()? })).collect();
    past::insert_tickets(tx, &tickets).await?;
    let payments: Vec<PastPayment> =
        calls.iter().filter_map(|c| Some(PastPayment { call_id: id_of(c), ..c.payment.clone()? })).collect();
    past::insert_payments(tx, &payments).await?;
    report.calls += ids.len();
    report.messages += messages.len();
    report.runs += runs.len();
    report.tickets += tickets.len();
    report.payments += payments.len();
    Ok(())
}
