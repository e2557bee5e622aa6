//! What a load test measures, started by the load test itself: the mock model server,
//! one Centralita node on a temporary SQLite file or two on a temporary PostgreSQL
//! database, and a round-robin TCP proxy in front of several nodes. Everything listens
//! on the loopback interface and is removed when the run ends.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use sqlx::Connection as _;
use tokio::net::{TcpListener, TcpStream};

/// The model the spawned nodes talk to.
#[derive(Clone, Debug)]
pub enum Model {
    /// The built-in engine (no remote model).
    Builtin,
    /// The mock OpenAI-compatible server script, started here with this latency.
    MockScript { script: PathBuf, latency_ms: u64 },
    /// A mock already running at this base URL (up to `/v1`).
    MockUrl(String),
}

/// The database the spawned nodes share.
#[derive(Clone, Debug)]
pub enum Database {
    /// A new SQLite file in the temporary folder.
    Sqlite,
    /// A new database on this PostgreSQL server (any database URL on it; the load
    /// test creates its own database next to it and drops it afterwards).
    Postgres(String),
}

/// What to start.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The centralita binary.
    pub bin: PathBuf,
    /// The database.
    pub database: Database,
    /// Nodes (1 or 2).
    pub nodes: usize,
    /// The model.
    pub model: Model,
    /// Staff accounts to create (`loadstaff0` …) with this password.
    pub staff: usize,
    /// Their password.
    pub staff_password: String,
}

/// A started node.
pub struct Node {
    /// Its child process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Everything started for a run; dropping it stops the processes and removes the files.
pub struct Cluster {
    /// Where the load goes: the node, or the proxy in front of the nodes.
    pub base_url: String,
    /// The nodes.
    pub nodes: Vec<Node>,
    mock: Option<Child>,
    proxy: Option<tokio::task::JoinHandle<()>>,
    dir: PathBuf,
    postgres: Option<(String, String)>,
}

impl Cluster {
    /// Starts what `plan` asks for.
    pub async fn start(plan: &Plan) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("centralita-loadtest-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut cluster =
            Self { base_url: String::new(), nodes: Vec::new(), mock: None, proxy: None, dir, postgres: None };
        let database_url = match &plan.database {
            Database::Sqlite => format!("sqlite://{}", cluster.dir.join("load.db").display()),
            Database::Postgres(url) => {
                let (admin, name, url) = create_postgres_database(url).await?;
                cluster.postgres = Some((admin, name));
                url
            }
        };
        let model_url = match &plan.model {
            Model::Builtin => None,
            Model::MockUrl(url) => Some(url.clone()),
            Model::MockScript { script, latency_ms } => {
                let (child, url) = start_mock(script, *latency_ms).await?;
                cluster.mock = Some(child);
                Some(url)
            }
        };
        let env = NodeEnv { database_url, model_url, dir: cluster.dir.clone() };
        create_staff(plan, &env)?;
        for i in 0..plan.nodes {
            let node = start_node(&plan.bin, &env, i + 1)?;
            cluster.nodes.push(node);
        }
        cluster.base_url = if cluster.nodes.len() == 1 {
            format!("http://{}", cluster.nodes[0].addr)
        } else {
            let (handle, addr) = round_robin(cluster.nodes.iter().map(|n| n.addr).collect()).await?;
            cluster.proxy = Some(handle);
            format!("http://{addr}")
        };
        Ok(cluster)
    }

    /// Stops everything and drops the temporary PostgreSQL database.
    pub async fn stop(mut self) {
        self.kill();
        if let Some((admin, name)) = self.postgres.take()
            && let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                .execute(&mut conn)
                .await;
        }
    }

    fn kill(&mut self) {
        if let Some(proxy) = self.proxy.take() {
            proxy.abort();
        }
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        self.nodes.clear();
        if let Some(mut mock) = self.mock.take() {
            let _ = mock.kill();
            let _ = mock.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Refuses a URL whose host is not the loopback interface (`localhost`, 127.0.0.0/8, ::1).
pub fn require_loopback(what: &str, url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).map_err(|e| anyhow!("{what}: not a URL ({e})"))?;
    let host = parsed.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("{what}: the load test only runs against this machine (localhost, 127.0.0.1 or ::1), not {host:?}");
    }
    Ok(())
}

/// CPU time (user + system) of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces and ends with ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // Linux reports in USER_HZ, 100 per second on every mainstream architecture.
    Some(ticks / 100.0)
}

/// Peak resident memory (VmHWM) of a process, in MB.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

struct NodeEnv {
    database_url: String,
    model_url: Option<String>,
    dir: PathBuf,
}

/// A command for the centralita binary with only the settings given here: nothing from
/// the caller's environment or a `.env` file leaks into what is measured.
fn centralita(bin: &Path, env: &NodeEnv, data_dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .current_dir(&env.dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", &env.database_url)
        .env("CENTRALITA_DATA_DIR", data_dir)
        .env("CENTRALITA_ADDR", "127.0.0.1:0")
        // Each simulated customer sends its own X-Forwarded-For, so the per-IP limits
        // on starting calls count customers, not the load test.
        .env("CENTRALITA_TRUST_PROXY", "true")
        .stdin(Stdio::null());
    if let Some(url) = &env.model_url {
        cmd.env("CENTRALITA_LLM_BASE_URL", url).env("CENTRALITA_LLM_API_KEY", "loadtest");
    }
    cmd
}

fn create_staff(plan: &Plan, env: &NodeEnv) -> anyhow::Result<()> {
    let data_dir = env.dir.join("cli");
    for i in 0..plan.staff {
        let name = format!("loadstaff{i}");
        let out = centralita(&plan.bin, env, &data_dir)
            .args(["user", "create", &name, "--role", "supervisor", "--language", "en"])
            .args(["--email", &format!("{name}@loadtest.example.com")])
            .env("CENTRALITA_NEW_USER_PASSWORD", &plan.staff_password)
            .output()
            .with_context(|| format!("cannot run {}", plan.bin.display()))?;
        if !out.status.success() {
            bail!("creating staff account {name} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    Ok(())
}

fn start_node(bin: &Path, env: &NodeEnv, n: usize) -> anyhow::Result<Node> {
    let log_path = env.dir.join(format!("node{n}.log"));
    let log = std::fs::File::create(&log_path)?;
    let mut child = centralita(bin, env, &env.dir.join(format!("node{n}")))
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("node {n}: no stdout"))?;
    let (tx, rx) = mpsc::channel();
    // Reads the announced address, then keeps draining so the node never blocks on a
    // full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("Centralita: http://") {
                let _ = tx.send(rest.trim_end_matches('/').to_owned());
            }
        }
    });
    let started = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(addr) => {
                let addr = addr.parse().map_err(|_| anyhow!("node {n} announced a strange address {addr:?}"))?;
                return Ok(Node { child, addr });
            }
            Err(_) if started.elapsed() > Duration::from_secs(120) => {
                let _ = child.kill();
                bail!("node {n} did not start within 120 s; its log: {}", tail(&log_path));
            }
            Err(_) => {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!("node {n} exited ({status}); its log: {}", tail(&log_path));
                }
            }
        }
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

async fn start_mock(script: &Path, latency_ms: u64) -> anyhow::Result<(Child, String)> {
    if !script.is_file() {
        bail!("mock model server script {} not found (pass --mock-script, or --model builtin)", script.display());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("MOCK_LATENCY_MS", latency_ms.to_string())
        .env("MOCK_QUIET", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start python3 for the mock model server")?;
    let root = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if http.get(format!("{root}/health")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok((child, format!("{root}/v1")));
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("the mock model server exited ({status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    bail!("the mock model server did not answer within 20 s")
}

/// Creates `centralita_load_<random>` on the server of `url`; returns the URL to
/// administer it from, its name and its own URL.
async fn create_postgres_database(url: &str) -> anyhow::Result<(String, String, String)> {
    let name = format!("centralita_load_{}", rand::random::<u32>());
    let mut conn = sqlx::PgConnection::connect(url).await.context("cannot connect to PostgreSQL")?;
    // The name is ours: a fixed prefix and a number.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await?;
    let mut own = reqwest::Url::parse(url)?;
    own.set_path(&format!("/{name}"));
    Ok((url.to_owned(), name, own.to_string()))
}

/// A TCP proxy handing each new connection to the next node in turn (no stickiness:
/// a client's next connection may land on another node).
async fn round_robin(backends: Vec<SocketAddr>) -> anyhow::Result<(tokio::task::JoinHandle<()>, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let next = Arc::new(AtomicUsize::new(0));
    let handle = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let backend = backends[next.fetch_add(1, Ordering::Relaxed) % backends.len()];
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(backend).await {
                    let _ = outbound.set_nodelay(true);
                    let _ = inbound.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Ok((handle, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        for ok in
            ["http://127.0.0.1:8080", "http://localhost:3000/", "http://[::1]:80", "postgres://postgres@127.0.0.1/test"]
        {
            assert!(require_loopback("url", ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.1", "https://example.com", "postgres://db.example.com/x", "not a url"] {
            assert!(require_loopback("url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some());
        assert!(peak_rss_mb(pid).is_some_and(|mb| mb > 0.0));
    }
}
