//! Pipeline benchmark: drives customer turns through routing → service → supervisor
//! against the shared mock OpenAI-compatible server (zero model latency), and reports
//! per-turn time and CPU, throughput at concurrency 10 and 100, peak memory, and model
//! requests and prompt tokens per turn.
//!
//! `cargo bench --bench pipeline` (starts `../shared/bench/mock_openai.py` itself; set
//! `CENTRALITA_BENCH_MOCK_URL=http://127.0.0.1:PORT/v1` to use a running one, and
//! `CENTRALITA_BENCH_TURNS` for the number of sequential turns, default 300;
//! `CENTRALITA_BENCH_STREAM=0` to read replies whole instead of streaming them;
//! `CENTRALITA_BENCH_RUNTIME=single` for tokio's current-thread runtime).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use centralita::agents::model::ChatModel;
use centralita::agents::openai::{OpenAiConfig, OpenAiModel};
use centralita::agents::pipeline::Pipeline;
use centralita::agents::tools::CallerScope;
use centralita::config::AgentLimits;
use centralita::db::Db;
use tokio::sync::mpsc;

const MESSAGES: &[&str] = &[
    "Hola, ¿cuál es mi saldo?",
    "I was charged twice this month and I want a refund",
    "No tengo internet desde esta mañana",
    "Can I talk to a human please?",
    "Quiero contratar la fibra de 1 giga",
];

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn start_mock() -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = std::env::var("CENTRALITA_BENCH_MOCK").unwrap_or_else(|_| "../shared/bench/mock_openai.py".into());
    let child = Command::new("python3")
        .args([script.as_str(), "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 and the mock server script");
    (child, format!("http://127.0.0.1:{port}/v1"))
}

async fn stats(http: &reqwest::Client, base: &str) -> serde_json::Value {
    let root = base.trim_end_matches("/v1");
    http.get(format!("{root}/mock/stats")).send().await.unwrap().json().await.unwrap()
}

fn streaming() -> bool {
    std::env::var("CENTRALITA_BENCH_STREAM").map_or(true, |v| v != "0")
}

async fn turn(pipeline: &Pipeline, db: &Db, i: usize) -> Duration {
    let (tx, mut rx) = mpsc::channel::<String>(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let started = Instant::now();
    let scope = CallerScope { call_id: 1, customer_id: None };
    let deltas = streaming().then_some(&tx);
    pipeline.run_turn(db, scope, &[], MESSAGES[i % MESSAGES.len()], None, deltas).await.unwrap();
    let took = started.elapsed();
    drop(tx);
    let _ = drain.await;
    took
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // The server runs tokio's multi-thread runtime; a single-thread runtime shows how
    // much of the CPU is the runtime handing work between threads.
    let single = std::env::var("CENTRALITA_BENCH_RUNTIME").is_ok_and(|v| v == "single");
    let runtime = if single {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
    };
    println!("tokio runtime             {}", if single { "current-thread" } else { "multi-thread" });
    runtime.block_on(run());
}

async fn run() {
    let turns: usize = std::env::var("CENTRALITA_BENCH_TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let (mut mock, base) = match std::env::var("CENTRALITA_BENCH_MOCK_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let (child, url) = start_mock();
            (Some(child), url)
        }
    };
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{}/mock/stats", base.trim_end_matches("/v1"))).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}", dir.path().join("bench.db").display()), 20).await.unwrap();
    db.migrate().await.unwrap();
    let model = OpenAiModel::new(OpenAiConfig {
        base_url: base.clone(),
        api_key: None,
        model: "gpt-4o-mini".into(),
        per_agent: Default::default(),
        timeout: Duration::from_secs(30),
        max_retries: 0,
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
    })
    .unwrap();
    let model: Arc<dyn ChatModel> = Arc::new(model);
    let limits = AgentLimits { max_tool_rounds: 4, max_tokens: 256, turn_budget: Duration::from_secs(60) };
    let pipeline = Pipeline::new(model, limits);

    // Warm-up (connections, SQLite pages).
    for i in 0..10 {
        turn(&pipeline, &db, i).await;
    }
    let before = stats(&http, &base).await;
    let cpu0 = cpu_seconds();
    let mut times = Vec::with_capacity(turns);
    for i in 0..turns {
        times.push(turn(&pipeline, &db, i).await);
    }
    let cpu = cpu_seconds() - cpu0;
    let after = stats(&http, &base).await;
    times.sort();
    let mean = times.iter().sum::<Duration>() / turns as u32;
    let requests = after["requests"].as_f64().unwrap_or(0.0) - before["requests"].as_f64().unwrap_or(0.0);
    let prompt = after["prompt_tokens"].as_f64().unwrap_or(0.0) - before["prompt_tokens"].as_f64().unwrap_or(0.0);
    println!("turns (sequential)        {turns}, reply streaming {}", if streaming() { "on" } else { "off" });
    println!(
        "turn time mean / p95      {:.2} ms / {:.2} ms  (mock model latency 0: all of it is HTTP + orchestration)",
        mean.as_secs_f64() * 1e3,
        percentile(&times, 0.95).as_secs_f64() * 1e3
    );
    println!("CPU per turn (centralita) {:.3} ms", cpu / turns as f64 * 1e3);
    println!("model requests per turn   {:.2}", requests / turns as f64);
    println!("prompt tokens per turn    {:.0}  (tokenizer: {})", prompt / turns as f64, after["tokenizer"]);

    for concurrency in [10usize, 100] {
        let total = concurrency * 20;
        let started = Instant::now();
        let pipeline = Arc::new(pipeline.clone());
        let mut handles = Vec::new();
        for worker in 0..concurrency {
            let p = pipeline.clone();
            let db = db.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..total / concurrency {
                    turn(&p, &db, worker + i).await;
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "throughput @{concurrency:<3}           {:.0} turns/s ({total} turns in {secs:.2} s)",
            total as f64 / secs
        );
    }
    // The offline engine's routing classifier on its own.
    let started = Instant::now();
    let n = 2000;
    for i in 0..n {
        std::hint::black_box(centralita::agents::builtin::classify(MESSAGES[i % MESSAGES.len()]));
    }
    println!("builtin classify          {:.1} µs per message", started.elapsed().as_secs_f64() / n as f64 * 1e6);
    println!("peak memory (RSS)         {:.1} MB", peak_rss_mb());
    if let Some(child) = mock.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
