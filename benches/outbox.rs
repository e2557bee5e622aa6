//! Outbox benchmark: queues N confirmed emails and measures how long the delivery
//! worker takes to deliver them all, through the test SMTP server process
//! (`tests/app/smtp_sink.py`, aiosmtpd, on loopback) and through the file mailbox.
//! Reports emails per second, time from queueing to the last delivery, and peak memory.
//!
//! `cargo bench --bench outbox` (needs Python 3 with aiosmtpd; `CENTRALITA_BENCH_EMAILS`
//! sets N, default 500; `DATABASE_URL` a PostgreSQL database to use instead of a fresh
//! SQLite file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use centralita::app::Application;
use centralita::config::{Config, SmtpConfig, SmtpTls};
use centralita::email::render::Content;
use centralita::email::{self, Confirmation, NewEmail, Recipient};

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

async fn run(label: &str, n: usize, smtp: Option<SmtpConfig>) {
    let dir = tempfile::tempdir().unwrap();
    let url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let mut config = Config::for_database(url, dir.path()).unwrap();
    config.mail.smtp = smtp;
    config.mail.poll = Duration::from_millis(50);
    let app = Application::build(config).await.unwrap();
    let state = app.state();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let db = state.db();
    let customer_id: i64 = centralita::with_db!(db, |pool| sqlx::query_scalar(
        "INSERT INTO customers (name, email, phone, balance_cents, active, created_at) VALUES ('Bench Customer', $1, NULL, 0, TRUE, $2) RETURNING id",
    ).bind(format!("bench-{}@example.com", uuid::Uuid::new_v4().simple())).bind(centralita::db::Timestamp::now()).fetch_one(pool).await).unwrap();
    let recipient = email::recipient(db, customer_id).await.unwrap().unwrap();
    let started = Instant::now();
    for i in 0..n {
        let email = NewEmail {
            content: Content::Information { topic: format!("Benchmark {i}"), body: "Line one.\nLine two.".repeat(20) },
            recipient: Recipient { ..recipient.clone() },
            call_id: None,
            lang: centralita::i18n::Lang::En,
            dedupe_key: format!("bench:{}", uuid::Uuid::new_v4().simple()),
        };
        email::create(&state, email, None, Confirmation::Customer, None).await.unwrap();
    }
    let queued = started.elapsed();
    loop {
        let counts = email::counts(db).await.unwrap();
        let sent = counts.iter().find(|(s, _)| s == "sent").map_or(0, |(_, n)| *n);
        if sent as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    println!(
        "{label:<12} {n} emails: queued in {:.2} s, all delivered after {:.2} s → {:.0} emails/s; peak RSS {:.0} MB",
        queued.as_secs_f64(),
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        peak_rss_mb()
    );
    let _ = stop.send(());
    let _ = server.await;
}

fn main() {
    let n: usize = std::env::var("CENTRALITA_BENCH_EMAILS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sink_dir = tempfile::tempdir().unwrap();
    let mut sink = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/app/smtp_sink.py"))
        .args(["--port", &port.to_string(), "--dir"])
        .arg(sink_dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with aiosmtpd");
    let mut line = String::new();
    BufReader::new(sink.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "READY");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        run("file mailbox", n, None).await;
        let smtp = SmtpConfig { host: "127.0.0.1".into(), port, tls: SmtpTls::None, username: None, password: None };
        run("smtp", n, Some(smtp)).await;
    });
    let _ = sink.kill();
    let _ = sink.wait();
}
