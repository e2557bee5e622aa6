//! `centralita loadtest`: a load test anyone can run on their own machine. It starts
//! what it measures (one node on a temporary SQLite file, or two nodes on a temporary
//! PostgreSQL database behind a round-robin proxy, with the built-in engine or the mock
//! model server) or uses a server already running on loopback, plays customers,
//! dashboards and staff reads against it, and prints latencies, errors, memory and
//! CPU per turn. Bounded in count and time; loopback only.

pub mod actors;
pub mod cluster;
pub mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, ValueEnum};
use tokio::sync::{Barrier, mpsc, watch};

use actors::{CustomerPlan, Shared, StaffPlan};
use cluster::{Cluster, Database, Model, Plan};
use report::{ProcessRow, Recorder, Report};

/// What to play.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Customers, dashboards on the live stream, staff API reads and page views together.
    Mix,
    /// One call, one turn at a time: the latency a lone customer sees.
    Sequential,
    /// Ten calls sending follow-up turns at once: CPU per follow-up turn.
    Ten,
    /// 1,000 calls at once against a model answering in 1 s: errors and memory.
    Thousand,
}

/// The model behind the spawned nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// The built-in engine (nothing else to start).
    Builtin,
    /// The OpenAI-compatible mock server (`--mock-script`, or `--mock-url`).
    Mock,
}

/// The database behind the spawned nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DbKind {
    /// A temporary SQLite file (one node).
    Sqlite,
    /// A temporary database on the PostgreSQL server of `--postgres-url`.
    Postgres,
}

/// `centralita loadtest` flags.
#[derive(Clone, Debug, Args)]
pub struct Options {
    /// What to play; the scenario sets the defaults of the counts below.
    #[arg(long, value_enum, default_value_t = Scenario::Mix)]
    pub scenario: Scenario,
    /// A running server to measure (loopback only) instead of starting one. Start it with
    /// CENTRALITA_TRUST_PROXY=true: each simulated customer sends its own X-Forwarded-For.
    #[arg(long)]
    pub url: Option<String>,
    /// With --url: process ids of the servers to report memory and CPU of.
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// With --url: the staff account the dashboards sign in with (no dashboards without it).
    #[arg(long)]
    pub staff_user: Option<String>,
    /// With --url: its password.
    #[arg(long, env = "CENTRALITA_LOADTEST_STAFF_PASSWORD", hide_env_values = true)]
    pub staff_password: Option<String>,
    /// Database of the spawned nodes.
    #[arg(long, value_enum, default_value_t = DbKind::Sqlite)]
    pub db: DbKind,
    /// Nodes to start (2 needs PostgreSQL; they get a round-robin proxy in front).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub nodes: Option<u8>,
    /// PostgreSQL server for --db postgres (loopback; a temporary database is created
    /// on it and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Model of the spawned nodes.
    #[arg(long, value_enum, default_value_t = ModelKind::Builtin)]
    pub model: ModelKind,
    /// The mock model server script (python3) for --model mock.
    #[arg(long, default_value = "../shared/bench/mock_openai.py")]
    pub mock_script: PathBuf,
    /// A mock model server already running (base URL up to /v1, loopback) for --model mock.
    #[arg(long)]
    pub mock_url: Option<String>,
    /// Delay of the started mock before each answer, in ms (three model requests per turn).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub model_latency_ms: Option<u64>,
    /// The centralita binary to start (this one by default).
    #[arg(long)]
    pub bin: Option<PathBuf>,
    /// Concurrent customer calls.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub calls: Option<u32>,
    /// Messages per call, the first included.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub turns: Option<u32>,
    /// Customer pause between an answer and the next message, in ms.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub think_ms: Option<u64>,
    /// Staff dashboards (board live stream open, API reads).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=500))]
    pub dashboards: Option<u32>,
    /// Pause between two API reads of one staff member, in ms.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub read_every_ms: u64,
    /// Longest the measured run may last; what is unfinished then counts as cut short.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=1800))]
    pub max_seconds: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The counts a run uses, after the scenario's defaults.
#[derive(Clone, Copy, Debug)]
struct Counts {
    calls: u32,
    turns: u32,
    think_ms: u64,
    dashboards: u32,
    latency_ms: u64,
}

impl Options {
    fn counts(&self) -> Counts {
        let (calls, turns, think_ms, dashboards, latency_ms) = match self.scenario {
            Scenario::Mix => (200, 4, 500, 50, 0),
            Scenario::Sequential => (1, 21, 0, 0, 0),
            Scenario::Ten => (10, 21, 0, 0, 0),
            Scenario::Thousand => (1000, 3, 0, 50, 1000),
        };
        Counts {
            calls: self.calls.unwrap_or(calls),
            turns: self.turns.unwrap_or(turns),
            think_ms: self.think_ms.unwrap_or(think_ms),
            dashboards: self.dashboards.unwrap_or(dashboards),
            latency_ms: self.model_latency_ms.unwrap_or(latency_ms),
        }
    }
}

/// Runs the load test and prints its report; fails (exit 1) when anything failed.
pub async fn main(options: Options) -> anyhow::Result<std::process::ExitCode> {
    let report = run(&options).await?;
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    let failed = report.errors > 0 || report.timed_out;
    Ok(if failed { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS })
}

/// Runs the load test and returns its report.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let counts = options.counts();
    let nodes = usize::from(options.nodes.unwrap_or(1));
    if nodes > 1 && options.db == DbKind::Sqlite {
        bail!("--nodes 2 needs --db postgres (nodes on one SQLite file would share one disk lock, not scale out)");
    }
    let staff_password = format!("load-{}-{}", rand::random::<u64>(), rand::random::<u64>());
    let (cluster, base_url, staff) = match &options.url {
        Some(url) => {
            cluster::require_loopback("--url", url)?;
            let staff = match (&options.staff_user, &options.staff_password) {
                (Some(u), Some(p)) => Some((u.clone(), p.clone())),
                _ => None,
            };
            (None, url.trim_end_matches('/').to_owned(), staff)
        }
        None => {
            let database = match options.db {
                DbKind::Sqlite => Database::Sqlite,
                DbKind::Postgres => {
                    cluster::require_loopback("--postgres-url", &options.postgres_url)?;
                    Database::Postgres(options.postgres_url.clone())
                }
            };
            let model = match (options.model, &options.mock_url) {
                (ModelKind::Builtin, _) => Model::Builtin,
                (ModelKind::Mock, Some(url)) => {
                    cluster::require_loopback("--mock-url", url)?;
                    Model::MockUrl(url.clone())
                }
                (ModelKind::Mock, None) => {
                    Model::MockScript { script: options.mock_script.clone(), latency_ms: counts.latency_ms }
                }
            };
            let bin = match &options.bin {
                Some(b) => b.clone(),
                None => std::env::current_exe()?,
            };
            let plan = Plan {
                bin,
                database,
                nodes,
                model,
                staff: counts.dashboards as usize,
                staff_password: staff_password.clone(),
            };
            eprintln!("loadtest: starting {nodes} node(s) and {} staff account(s)…", plan.staff);
            let cluster = Cluster::start(&plan).await?;
            let base = cluster.base_url.clone();
            (Some(cluster), base, Some((String::new(), staff_password)))
        }
    };
    let setup = describe(options, &counts, nodes);
    let result = drive(options, counts, &base_url, cluster.as_ref(), staff, setup).await;
    if let Some(c) = cluster {
        c.stop().await;
    }
    result
}

fn describe(options: &Options, counts: &Counts, nodes: usize) -> String {
    let target = match &options.url {
        Some(url) => format!("server at {url}"),
        None => {
            let db = match options.db {
                DbKind::Sqlite => "SQLite",
                DbKind::Postgres => "PostgreSQL",
            };
            let model = match options.model {
                ModelKind::Builtin => "built-in engine".to_owned(),
                ModelKind::Mock if options.mock_url.is_some() => "mock model (running)".to_owned(),
                ModelKind::Mock => format!("mock model answering in {} ms", counts.latency_ms),
            };
            format!("{nodes} node(s) on {db}, {model}")
        }
    };
    format!(
        "Scenario {}: {} · {} calls × {} turns, think {} ms · {} dashboards, API read every {} ms",
        format!("{:?}", options.scenario).to_lowercase(),
        target,
        counts.calls,
        counts.turns,
        counts.think_ms,
        counts.dashboards,
        options.read_every_ms
    )
}

/// The processes measured: the spawned nodes, or the `--pid`s given.
fn measured(options: &Options, cluster: Option<&Cluster>) -> Vec<(String, u32)> {
    match cluster {
        Some(c) => c.nodes.iter().enumerate().map(|(i, n)| (format!("node {}", i + 1), n.child.id())).collect(),
        None => options.pids.iter().map(|p| (format!("pid {p}"), *p)).collect(),
    }
}

fn total_cpu(processes: &[(String, u32)]) -> Vec<f64> {
    processes.iter().map(|(_, pid)| cluster::cpu_seconds(*pid).unwrap_or(0.0)).collect()
}

async fn drive(
    options: &Options,
    counts: Counts,
    base: &str,
    cluster: Option<&Cluster>,
    staff: Option<(String, String)>,
    setup: String,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let rec = Arc::new(Recorder::default());
    let shared = Shared { http, base: base.to_owned(), rec: rec.clone() };
    let processes = measured(options, cluster);
    let cpu_start = total_cpu(&processes);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(options.max_seconds);

    // Dashboards first, so that they see the calls arrive.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::channel(16);
    let mut dashboards = Vec::new();
    if let Some((user, password)) = &staff {
        for j in 0..counts.dashboards as usize {
            let username = if user.is_empty() { format!("loadstaff{j}") } else { user.clone() };
            let plan = StaffPlan {
                username,
                password: password.clone(),
                read_every: Duration::from_millis(options.read_every_ms),
            };
            dashboards.push(tokio::spawn(actors::staff(shared.clone(), j, plan, ready_tx.clone(), stop_rx.clone())));
        }
    }
    drop(ready_tx);
    let mut timed_out = false;
    for _ in 0..dashboards.len() {
        match tokio::time::timeout_at(deadline, ready_rx.recv()).await {
            Ok(Some(())) => {}
            Ok(None) => break,
            Err(_) => {
                timed_out = true;
                break;
            }
        }
    }

    // Customers; the phase barrier marks the moment every call had its first answer.
    let phase = Arc::new(Barrier::new(counts.calls as usize + 1));
    let plan = CustomerPlan { turns: counts.turns, think: Duration::from_millis(counts.think_ms) };
    let mut customers = tokio::task::JoinSet::new();
    if !timed_out {
        for i in 0..counts.calls as usize {
            customers.spawn(actors::customer(shared.clone(), i, plan, phase.clone()));
        }
    }
    let mut follow_up = None;
    if !timed_out {
        match tokio::time::timeout_at(deadline, phase.wait()).await {
            Ok(_) => follow_up = Some((total_cpu(&processes), rec.count("follow-up turn"))),
            Err(_) => timed_out = true,
        }
    }
    while !timed_out {
        match tokio::time::timeout_at(deadline, customers.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => timed_out = true,
        }
    }
    customers.abort_all();
    let elapsed = started.elapsed();
    let cpu_end = total_cpu(&processes);
    let _ = stop_tx.send(true);
    for d in dashboards {
        let _ = tokio::time::timeout(Duration::from_secs(10), d).await;
    }

    let kinds = rec.rows(elapsed);
    let (stream_events, streams_dropped) = rec.events();
    let turns = (rec.count("call start (first turn)") + rec.count("follow-up turn")) as u64;
    let errors = kinds.iter().map(|k| k.errors).sum::<u64>() + streams_dropped;
    let rows: Vec<ProcessRow> = processes
        .iter()
        .zip(cpu_start.iter().zip(&cpu_end))
        .map(|((name, pid), (a, b))| ProcessRow {
            name: name.clone(),
            pid: *pid,
            peak_rss_mb: cluster::peak_rss_mb(*pid).unwrap_or(0.0),
            cpu_seconds: b - a,
        })
        .collect();
    let cpu_total: f64 = rows.iter().map(|r| r.cpu_seconds).sum();
    let per_turn = |cpu: f64, turns: u64| (!processes.is_empty() && turns > 0).then(|| cpu * 1000.0 / turns as f64);
    let follow_ups = rec.count("follow-up turn");
    let (follow_up_turns, cpu_ms_per_follow_up_turn) = match follow_up {
        Some((cpu_at, before)) => {
            let n = follow_ups.saturating_sub(before) as u64;
            let cpu: f64 = cpu_end.iter().sum::<f64>() - cpu_at.iter().sum::<f64>();
            (n, per_turn(cpu, n))
        }
        None => (0, None),
    };
    let follow_up_p50_ms = kinds.iter().find(|k| k.kind == "follow-up turn").map_or(0.0, |k| k.p50_ms);
    Ok(Report {
        setup,
        seconds: elapsed.as_secs_f64(),
        turns,
        turns_per_second: turns as f64 / elapsed.as_secs_f64().max(1e-9),
        errors,
        kinds,
        stream_events,
        streams_dropped,
        processes: rows,
        cpu_ms_per_turn: per_turn(cpu_total, turns),
        follow_up_turns,
        follow_up_p50_ms,
        cpu_ms_per_follow_up_turn,
        timed_out,
    })
}
