//! A real SMTP server process for the email tests (`smtp_sink.py`, on aiosmtpd), and
//! what it received.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use centralita::config::{Config, SmtpConfig, SmtpTls};
use serde_json::Value;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/app/smtp_sink.py");

/// A running (or stopped) SMTP sink.
pub struct SmtpSink {
    /// Its port (kept across restarts).
    pub port: u16,
    dir: tempfile::TempDir,
    delay: f64,
    reject: String,
    child: Option<Child>,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SmtpSink {
    /// A sink on a fresh port, not started yet.
    pub fn new() -> Self {
        Self { port: free_port(), dir: tempfile::tempdir().unwrap(), delay: 0.0, reject: String::new(), child: None }
    }

    /// Started at once.
    pub fn start() -> Self {
        let mut sink = Self::new();
        sink.run();
        sink
    }

    /// Waits `seconds` after storing each message before answering.
    pub fn with_delay(mut self, seconds: f64) -> Self {
        self.delay = seconds;
        self
    }

    /// Refuses recipients containing `part` with a permanent 550.
    pub fn rejecting(mut self, part: &str) -> Self {
        self.reject = part.into();
        self
    }

    /// Starts the server process and waits until it listens.
    pub fn run(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .args(["--port", &self.port.to_string(), "--dir"])
            .arg(self.dir.path())
            .args(["--delay", &self.delay.to_string(), "--reject", &self.reject])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd is needed for the email tests (.ci/run installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "READY", "the SMTP sink did not start (is aiosmtpd installed?)");
        self.child = Some(child);
    }

    /// Stops the server process (the port goes dark).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The app's SMTP settings for this sink (plain SMTP on loopback).
    pub fn config(&self) -> SmtpConfig {
        SmtpConfig { host: "127.0.0.1".into(), port: self.port, tls: SmtpTls::None, username: None, password: None }
    }

    /// Points `config` at this sink with quick retries for tests.
    pub fn apply(&self, config: &mut Config) {
        config.mail.smtp = Some(self.config());
        config.mail.retry_base = Duration::from_millis(100);
        config.mail.retry_max = Duration::from_millis(800);
        config.mail.poll = Duration::from_millis(100);
        config.mail.timeout = Duration::from_secs(5);
        config.mail.from = "Centralita <no-reply@centralita.test>".into();
    }

    /// Every message received so far, oldest first: envelope, headers, decoded parts.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let mut v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                v["raw"] = Value::String(std::fs::read_to_string(p.with_extension("eml")).unwrap_or_default());
                v
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived (or fails after `secs`).
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "expected {n} messages, the sink has {}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
