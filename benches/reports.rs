//! Reports benchmark: seeds 100,000 calls of history (90 days) into a fresh database,
//! starts the release binary on it as a child process and measures over HTTP the
//! reports page for a 30-day and a 90-day range, the stats API, and the CSV export of
//! every call (time, bytes, and the server's peak memory, VmHWM from /proc).
//!
//! `cargo bench --bench reports` (`CENTRALITA_BENCH_CALLS` sets the number of calls,
//! default 100000; `DATABASE_URL` an empty PostgreSQL database to use instead of a
//! fresh SQLite file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use centralita::config::{Config, Secret};
use centralita::db::Timestamp;
use centralita::period::Zone;
use centralita::seed::HistoryPlan;
use futures_util::StreamExt;

const PASSWORD: &str = "bench-admin-password";

fn vm_kb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn mb(kb: f64) -> f64 {
    kb / 1024.0
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn timed_get(client: &reqwest::Client, url: &str, token: Option<&str>, runs: usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        bytes = r.bytes().await.unwrap().len();
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], bytes)
}

fn main() {
    let calls: usize = std::env::var("CENTRALITA_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut config = Config::for_database(url.clone(), dir.path()).unwrap();
        config.admin_password = Some(Secret::new(PASSWORD));
        let (db, _) = centralita::app::prepare(&config).await.unwrap();
        let started = Instant::now();
        let report = centralita::seed::seed_demo_with(&db, HistoryPlan { calls, days: 90 }).await.unwrap();
        let seeded = started.elapsed();
        let history = report.lines().find(|l| l.starts_with("history")).unwrap_or_default().to_owned();
        println!("seeded in {:.1} s: {history}", seeded.as_secs_f64());
        drop(db);

        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_centralita"))
            .arg("serve")
            .env("DATABASE_URL", &url)
            .env("CENTRALITA_DATA_DIR", dir.path())
            .env("CENTRALITA_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Server(child);
        let pid = server.0.id();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut up = false;
        for _ in 0..200 {
            if client.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status().is_success()) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "the server did not start");
        println!("server started: RSS {:.0} MB", mb(vm_kb(pid, "VmRSS:")));

        // Sign in like a browser (the page needs a session) and over the API.
        let login = client.get(format!("{base}/login")).send().await.unwrap().text().await.unwrap();
        let marker = "name=\"csrf_token\" value=\"";
        let at = login.find(marker).unwrap() + marker.len();
        let csrf = login[at..].split('"').next().unwrap().to_owned();
        let r = client
            .post(format!("{base}/login"))
            .form(&[("username", "admin"), ("password", PASSWORD), ("csrf_token", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
        let login: serde_json::Value = reqwest::Client::new()
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_owned();

        let today = Zone::default().date_of(Timestamp::now());
        let back = |days: i64| today.saturating_sub(jiff::Span::new().days(days));
        for (label, days) in [("30 days", 29), ("90 days", 89)] {
            let q = format!("from={}&to={today}", back(days));
            let (t, bytes) = timed_get(&client, &format!("{base}/reports?{q}"), None, 5).await;
            println!("reports page, {label}: {:.0} ms median of 5 ({} KB)", t.as_secs_f64() * 1000.0, bytes / 1024);
            let (t, bytes) = timed_get(&client, &format!("{base}/api/v1/stats?{q}"), Some(&token), 5).await;
            println!("stats API,    {label}: {:.0} ms median of 5 ({} KB)", t.as_secs_f64() * 1000.0, bytes / 1024);
        }
        let before = vm_kb(pid, "VmHWM:");
        let q = format!("from={}&to={today}", back(100));
        let started = Instant::now();
        let r = client.get(format!("{base}/reports/calls.csv?{q}")).send().await.unwrap();
        assert!(r.status().is_success());
        let first = started.elapsed();
        let (mut bytes, mut rows) = (0usize, 0usize);
        let mut body = r.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.unwrap();
            bytes += chunk.len();
            rows += chunk.iter().filter(|b| **b == b'\n').count();
        }
        let total = started.elapsed();
        let after = vm_kb(pid, "VmHWM:");
        println!(
            "calls.csv: {} rows, {:.1} MB in {:.2} s (first bytes after {:.0} ms); server peak RSS {:.0} MB before, {:.0} MB after (+{:.1} MB)",
            rows.saturating_sub(1),
            bytes as f64 / 1_048_576.0,
            total.as_secs_f64(),
            first.as_secs_f64() * 1000.0,
            mb(before),
            mb(after),
            mb(after - before)
        );
        drop(server);
    });
}
