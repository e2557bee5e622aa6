//! Configuration from environment variables (and a `.env` file when present).
//!
//! Every variable is documented in README.md with its default. An invalid value stops
//! start-up with a message naming the variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A secret string whose `Debug` never prints the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Every environment variable the configuration reads, the one list that deployment
/// files and their tests are checked against. Reading a name missing here is a bug
/// that debug builds (and so every test) stop at.
pub const VARIABLES: &[&str] = &[
    "CENTRALITA_ACCESS_TOKEN_MINUTES",
    "CENTRALITA_ADDR",
    "CENTRALITA_ADMIN_PASSWORD",
    "CENTRALITA_AGENT_MAX_TOKENS",
    "CENTRALITA_AGENT_MAX_TOOL_ROUNDS",
    "CENTRALITA_AGENT_TURN_BUDGET_SECONDS",
    "CENTRALITA_AUTH_CACHE_MS",
    "CENTRALITA_BODY_READ_TIMEOUT_SECONDS",
    "CENTRALITA_BUSINESS_HOURS",
    "CENTRALITA_CALL_TOKEN_BUDGET",
    "CENTRALITA_DATA_DIR",
    "CENTRALITA_DB_MAX_CONNECTIONS",
    "CENTRALITA_EVENTS_POLL_MS",
    "CENTRALITA_HEADER_READ_TIMEOUT_SECONDS",
    "CENTRALITA_INQUIRY_RATE_LIMIT",
    "CENTRALITA_INQUIRY_RATE_WINDOW_SECONDS",
    "CENTRALITA_JOB_CONCURRENCY",
    "CENTRALITA_JOB_MAX_ATTEMPTS",
    "CENTRALITA_JOB_POLL_MS",
    "CENTRALITA_JOB_RETRY_BASE_MS",
    "CENTRALITA_JOB_RETRY_MAX_SECONDS",
    "CENTRALITA_JOB_TIMEOUT_SECONDS",
    "CENTRALITA_JWT_SECRET",
    "CENTRALITA_LLM_API_KEY",
    "CENTRALITA_LLM_BACKOFF_MS",
    "CENTRALITA_LLM_BASE_URL",
    "CENTRALITA_LLM_MAX_BACKOFF_MS",
    "CENTRALITA_LLM_MAX_RETRIES",
    "CENTRALITA_LLM_MODEL",
    "CENTRALITA_LLM_MODEL_ROUTING",
    "CENTRALITA_LLM_MODEL_SERVICE",
    "CENTRALITA_LLM_MODEL_SUPERVISOR",
    "CENTRALITA_LLM_TIMEOUT_SECONDS",
    "CENTRALITA_LOGIN_IP_MAX_FAILURES",
    "CENTRALITA_LOGIN_LOCKOUT_SECONDS",
    "CENTRALITA_LOGIN_MAX_FAILURES",
    "CENTRALITA_LOG_FORMAT",
    "CENTRALITA_MAIL_CONCURRENCY",
    "CENTRALITA_MAIL_DIR",
    "CENTRALITA_MAIL_FROM",
    "CENTRALITA_MAIL_MAX_ATTEMPTS",
    "CENTRALITA_MAIL_POLL_MS",
    "CENTRALITA_MAIL_RETRY_BASE_MS",
    "CENTRALITA_MAIL_RETRY_MAX_SECONDS",
    "CENTRALITA_MAX_BODY_BYTES",
    "CENTRALITA_PRICE_PER_1K_COMPLETION_TOKENS",
    "CENTRALITA_PRICE_PER_1K_PROMPT_TOKENS",
    "CENTRALITA_REFRESH_TOKEN_DAYS",
    "CENTRALITA_SECURE_COOKIES",
    "CENTRALITA_SESSION_IDLE_MINUTES",
    "CENTRALITA_SESSION_MAX_HOURS",
    "CENTRALITA_SMTP_HOST",
    "CENTRALITA_SMTP_PASSWORD",
    "CENTRALITA_SMTP_PORT",
    "CENTRALITA_SMTP_TIMEOUT_SECONDS",
    "CENTRALITA_SMTP_TLS",
    "CENTRALITA_SMTP_USERNAME",
    "CENTRALITA_STREAM_RECHECK_SECONDS",
    "CENTRALITA_TIMEZONE",
    "CENTRALITA_TRUST_PROXY",
    "CENTRALITA_TURN_RECOVERY_GRACE_SECONDS",
    "CENTRALITA_TURN_RECOVERY_INTERVAL_SECONDS",
    "CENTRALITA_WHATSAPP_API_BASE",
    "CENTRALITA_WHATSAPP_APP_SECRET",
    "CENTRALITA_WHATSAPP_PHONE_NUMBER_ID",
    "CENTRALITA_WHATSAPP_TOKEN",
    "CENTRALITA_WHATSAPP_VERIFY_TOKEN",
    "DATABASE_URL",
];

/// Settings for login throttling.
#[derive(Clone, Debug)]
pub struct LoginPolicy {
    /// Consecutive failures for one account name before it is locked.
    pub max_failures: i64,
    /// Consecutive failures from one client IP before it is locked.
    pub ip_max_failures: i64,
    /// How long a lock lasts.
    pub lockout: Duration,
}

/// Everything the application needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Listen address (`CENTRALITA_ADDR`).
    pub addr: SocketAddr,
    /// Data folder for the SQLite file and other local state (`CENTRALITA_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Database URL (`DATABASE_URL`); a SQLite file in the data folder by default.
    pub database_url: String,
    /// Maximum pooled database connections (`CENTRALITA_DB_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
    /// Password of the first admin, used only when no user exists (`CENTRALITA_ADMIN_PASSWORD`).
    pub admin_password: Option<Secret>,
    /// HMAC key for API access tokens (`CENTRALITA_JWT_SECRET`); generated and kept in
    /// the database when unset so that every node agrees.
    pub jwt_secret: Option<Secret>,
    /// True when users reach the app over HTTPS (`CENTRALITA_SECURE_COOKIES`): cookies
    /// get `Secure` and responses carry HSTS.
    pub secure_cookies: bool,
    /// Trust `X-Forwarded-For` for the client IP (`CENTRALITA_TRUST_PROXY`).
    pub trust_proxy: bool,
    /// Session idle timeout (`CENTRALITA_SESSION_IDLE_MINUTES`).
    pub session_idle: Duration,
    /// Session absolute lifetime (`CENTRALITA_SESSION_MAX_HOURS`).
    pub session_max: Duration,
    /// API access token lifetime (`CENTRALITA_ACCESS_TOKEN_MINUTES`).
    pub access_token_ttl: Duration,
    /// API refresh token lifetime (`CENTRALITA_REFRESH_TOKEN_DAYS`).
    pub refresh_token_ttl: Duration,
    /// Login throttling (`CENTRALITA_LOGIN_MAX_FAILURES`, `CENTRALITA_LOGIN_IP_MAX_FAILURES`,
    /// `CENTRALITA_LOGIN_LOCKOUT_SECONDS`).
    pub login: LoginPolicy,
    /// Largest accepted request body in bytes (`CENTRALITA_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Time a client has to send a whole request head, on a new connection or an idle
    /// kept-alive one (`CENTRALITA_HEADER_READ_TIMEOUT_SECONDS`).
    pub header_read_timeout: Duration,
    /// Time a client has to send a whole request body, counted from when the request
    /// head arrived (`CENTRALITA_BODY_READ_TIMEOUT_SECONDS`).
    pub body_read_timeout: Duration,
    /// Log output format (`CENTRALITA_LOG_FORMAT`: `text` or `json`).
    pub log_json: bool,
    /// The remote model, when `CENTRALITA_LLM_BASE_URL` is set; the built-in engine otherwise.
    pub llm: Option<LlmConfig>,
    /// Guards on each customer turn.
    pub agent_limits: AgentLimits,
    /// Finding turns a crashed node left unanswered.
    pub turn_recovery: TurnRecovery,
    /// How often each process looks for new events even without a wake-up (the
    /// safety net under PostgreSQL NOTIFY; how other processes on one SQLite file
    /// hear each other).
    pub events_poll: Duration,
    /// How long a credential's account is memoised in memory, so that authenticating
    /// a request reads no database (`CENTRALITA_AUTH_CACHE_MS`; zero turns it off). A
    /// change on another node or by the command line is seen within this time.
    pub auth_cache: Duration,
    /// How often an open live stream re-checks that its user may still see it
    /// (account enabled, session or token family alive); token expiry ends a stream
    /// on the dot.
    pub stream_recheck: Duration,
    /// Email delivery: transport, sender and retry policy.
    pub mail: MailConfig,
    /// The background jobs' retry policy and worker.
    pub jobs: JobsConfig,
    /// The first WhatsApp number, when `CENTRALITA_WHATSAPP_PHONE_NUMBER_ID` is set
    /// (admins may add more in the database).
    pub whatsapp: Option<WhatsappConfig>,
    /// The time zone days and hours are counted and shown in (`CENTRALITA_TIMEZONE`,
    /// an IANA name; UTC by default).
    pub timezone: crate::period::Zone,
    /// What the model costs, for the reports' estimates.
    pub token_prices: TokenPrices,
    /// Tokens (prompt and completion) a call may use on the remote model before it is
    /// handed to a person instead of asking the model again (`CENTRALITA_CALL_TOKEN_BUDGET`).
    pub call_token_budget: u64,
    /// Business hours per department (`CENTRALITA_BUSINESS_HOURS`); the settings page
    /// may override them in the database. None set: every department always open.
    pub business_hours: crate::hours::BusinessHours,
    /// Written inquiries accepted per client address (or IPv6 /64) in
    /// [`Config::inquiry_rate_window`] (`CENTRALITA_INQUIRY_RATE_LIMIT`).
    pub inquiry_rate_limit: u32,
    /// The window the inquiry limit counts over (`CENTRALITA_INQUIRY_RATE_WINDOW_SECONDS`).
    pub inquiry_rate_window: Duration,
}

/// Model prices per 1,000 tokens, in the team's billing currency
/// (`CENTRALITA_PRICE_PER_1K_PROMPT_TOKENS`, `CENTRALITA_PRICE_PER_1K_COMPLETION_TOKENS`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenPrices {
    /// Price of 1,000 prompt (input) tokens.
    pub prompt_per_1k: f64,
    /// Price of 1,000 completion (output) tokens.
    pub completion_per_1k: f64,
}

impl TokenPrices {
    /// Estimated cost of a number of tokens.
    pub fn cost(&self, prompt_tokens: i64, completion_tokens: i64) -> f64 {
        (prompt_tokens as f64 * self.prompt_per_1k + completion_tokens as f64 * self.completion_per_1k) / 1000.0
    }
}

fn price(var: &impl Fn(&'static str) -> Option<String>, name: &'static str, default: f64) -> Result<f64, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(raw) => match raw.replace(',', ".").parse::<f64>() {
            Ok(v) if v.is_finite() && (0.0..=1000.0).contains(&v) => Ok(v),
            _ => Err(ConfigError {
                var: name,
                message: format!("expected a price from 0 to 1000 like 0.15, got {raw:?}"),
            }),
        },
    }
}

/// How emails leave: through an SMTP relay when `CENTRALITA_SMTP_HOST` is set, else
/// as `.eml` files in the mail folder.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// The relay, when one is configured.
    pub smtp: Option<SmtpConfig>,
    /// The sender mailbox (`CENTRALITA_MAIL_FROM`), already validated.
    pub from: String,
    /// Where the file mailbox writes (`CENTRALITA_MAIL_DIR`; `<data dir>/mail` when unset).
    pub dir: Option<PathBuf>,
    /// Delivery attempts before an email is marked failed (`CENTRALITA_MAIL_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Delay before the first retry; later ones double (`CENTRALITA_MAIL_RETRY_BASE_MS`).
    pub retry_base: Duration,
    /// Longest delay between two attempts (`CENTRALITA_MAIL_RETRY_MAX_SECONDS`).
    pub retry_max: Duration,
    /// Timeout of each SMTP exchange (`CENTRALITA_SMTP_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    /// How often the worker looks for due emails without a wake-up (`CENTRALITA_MAIL_POLL_MS`).
    pub poll: Duration,
    /// Emails one process sends at the same time (`CENTRALITA_MAIL_CONCURRENCY`).
    pub concurrency: usize,
}

/// How background jobs (the `jobs` table) run and retry.
#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// Attempts before a job is dead (`CENTRALITA_JOB_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Delay before the first retry; later ones double (`CENTRALITA_JOB_RETRY_BASE_MS`).
    pub retry_base: Duration,
    /// Longest delay between two attempts (`CENTRALITA_JOB_RETRY_MAX_SECONDS`).
    pub retry_max: Duration,
    /// The longest one attempt may run before it is cut off and retried
    /// (`CENTRALITA_JOB_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    /// How often an idle worker looks for due jobs without a wake-up: the way jobs
    /// queued on another node, retries and expired leases are found
    /// (`CENTRALITA_JOB_POLL_MS`).
    pub poll: Duration,
    /// Jobs one process runs at the same time (`CENTRALITA_JOB_CONCURRENCY`).
    pub concurrency: usize,
}

impl JobsConfig {
    /// How long a claim lasts: the cut-off plus a margin (half of it, at least one
    /// second and at most thirty), so nobody claims a job still running elsewhere.
    pub fn lease(&self) -> Duration {
        self.timeout + (self.timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }
}

/// A WhatsApp Cloud API number (or a provider speaking the same API). `Debug` shows no
/// secret: the token, app secret and verify token are [`Secret`]s.
#[derive(Clone, Debug)]
pub struct WhatsappConfig {
    /// The provider's base URL, a Cloud API version URL (`CENTRALITA_WHATSAPP_API_BASE`).
    pub api_base: String,
    /// Bearer token for sending (`CENTRALITA_WHATSAPP_TOKEN`).
    pub token: Secret,
    /// The app secret webhooks are signed with (`CENTRALITA_WHATSAPP_APP_SECRET`).
    pub app_secret: Secret,
    /// The token the subscription handshake must present (`CENTRALITA_WHATSAPP_VERIFY_TOKEN`).
    pub verify_token: Secret,
    /// The number's id at the provider (`CENTRALITA_WHATSAPP_PHONE_NUMBER_ID`).
    pub phone_number_id: String,
}

/// Whether `id` looks like a provider's identifier (a phone number id, a message id):
/// 1–256 characters of letters, digits and `-_.=:+`, so it is safe to store, log and
/// put in a URL path.
pub fn is_provider_id(id: &str) -> bool {
    (1..=256).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.=:+".contains(&b))
}

/// The default `CENTRALITA_WHATSAPP_API_BASE`: Meta's Graph API.
pub const WHATSAPP_API_BASE: &str = "https://graph.facebook.com/v21.0";

fn whatsapp_config(var: &impl Fn(&'static str) -> Option<String>) -> Result<Option<WhatsappConfig>, ConfigError> {
    const NAMES: [&str; 4] = [
        "CENTRALITA_WHATSAPP_PHONE_NUMBER_ID",
        "CENTRALITA_WHATSAPP_TOKEN",
        "CENTRALITA_WHATSAPP_APP_SECRET",
        "CENTRALITA_WHATSAPP_VERIFY_TOKEN",
    ];
    let values = NAMES.map(var);
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    // All four or none: a number that can receive but not send (or the reverse) would
    // fail later, on a customer's message.
    if let Some(i) = values.iter().position(Option::is_none) {
        return Err(ConfigError {
            var: NAMES[i],
            message: "must be set together with the other CENTRALITA_WHATSAPP_* variables".into(),
        });
    }
    let [Some(phone_number_id), Some(token), Some(app_secret), Some(verify_token)] = values else {
        return Ok(None);
    };
    if !is_provider_id(&phone_number_id) {
        return Err(ConfigError {
            var: "CENTRALITA_WHATSAPP_PHONE_NUMBER_ID",
            message: "expected the number's id at the provider (letters, digits, '-', '_', '.')".into(),
        });
    }
    if app_secret.len() < 8 || verify_token.len() < 8 {
        let var = if app_secret.len() < 8 { NAMES[2] } else { NAMES[3] };
        return Err(ConfigError { var, message: "must be at least 8 characters".into() });
    }
    let api_base = var("CENTRALITA_WHATSAPP_API_BASE").unwrap_or_else(|| WHATSAPP_API_BASE.into());
    if !(api_base.starts_with("http://") || api_base.starts_with("https://")) {
        return Err(ConfigError {
            var: "CENTRALITA_WHATSAPP_API_BASE",
            message: "must start with http:// or https://".into(),
        });
    }
    Ok(Some(WhatsappConfig {
        api_base: api_base.trim_end_matches('/').to_owned(),
        token: Secret::new(token),
        app_secret: Secret::new(app_secret),
        verify_token: Secret::new(verify_token),
        phone_number_id,
    }))
}

fn jobs_config(var: &impl Fn(&'static str) -> Option<String>) -> Result<JobsConfig, ConfigError> {
    Ok(JobsConfig {
        max_attempts: bounded(var, "CENTRALITA_JOB_MAX_ATTEMPTS", 5, 1, 100)? as u32,
        retry_base: Duration::from_millis(bounded(var, "CENTRALITA_JOB_RETRY_BASE_MS", 5_000, 10, 3_600_000)?),
        retry_max: Duration::from_secs(bounded(var, "CENTRALITA_JOB_RETRY_MAX_SECONDS", 900, 1, 86_400)?),
        timeout: Duration::from_secs(bounded(var, "CENTRALITA_JOB_TIMEOUT_SECONDS", 300, 1, 3_600)?),
        poll: Duration::from_millis(bounded(var, "CENTRALITA_JOB_POLL_MS", 30_000, 10, 3_600_000)?),
        concurrency: bounded(var, "CENTRALITA_JOB_CONCURRENCY", 2, 1, 64)? as usize,
    })
}

/// An SMTP relay.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    /// Host name (`CENTRALITA_SMTP_HOST`).
    pub host: String,
    /// Port (`CENTRALITA_SMTP_PORT`; 587 for STARTTLS, 465 for TLS, 25 for none).
    pub port: u16,
    /// Transport security (`CENTRALITA_SMTP_TLS`).
    pub tls: SmtpTls,
    /// Login name (`CENTRALITA_SMTP_USERNAME`).
    pub username: Option<String>,
    /// Password (`CENTRALITA_SMTP_PASSWORD`).
    pub password: Option<Secret>,
}

/// Transport security towards the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption (a relay on localhost or a test sink).
    None,
}

impl Config {
    /// The folder of the file mailbox.
    pub fn mail_dir(&self) -> PathBuf {
        self.mail.dir.clone().unwrap_or_else(|| self.data_dir.join("mail"))
    }
}

fn mail_config(var: &impl Fn(&'static str) -> Option<String>) -> Result<MailConfig, ConfigError> {
    let smtp = match var("CENTRALITA_SMTP_HOST") {
        None => None,
        Some(host) => {
            let tls = match var("CENTRALITA_SMTP_TLS").map(|v| v.to_ascii_lowercase()).as_deref() {
                None | Some("starttls") => SmtpTls::StartTls,
                Some("tls") => SmtpTls::Tls,
                Some("none") => SmtpTls::None,
                Some(_) => {
                    return Err(ConfigError {
                        var: "CENTRALITA_SMTP_TLS",
                        message: "must be starttls, tls or none".into(),
                    });
                }
            };
            let default_port = match tls {
                SmtpTls::StartTls => 587,
                SmtpTls::Tls => 465,
                SmtpTls::None => 25,
            };
            let username = var("CENTRALITA_SMTP_USERNAME");
            let password = var("CENTRALITA_SMTP_PASSWORD").map(Secret::new);
            if username.is_some() != password.is_some() {
                return Err(ConfigError {
                    var: "CENTRALITA_SMTP_USERNAME",
                    message: "set both CENTRALITA_SMTP_USERNAME and CENTRALITA_SMTP_PASSWORD, or neither".into(),
                });
            }
            Some(SmtpConfig {
                host,
                port: bounded(var, "CENTRALITA_SMTP_PORT", default_port, 1, 65_535)? as u16,
                tls,
                username,
                password,
            })
        }
    };
    let from = var("CENTRALITA_MAIL_FROM").unwrap_or_else(|| "Centralita <no-reply@centralita.localhost>".into());
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(ConfigError {
            var: "CENTRALITA_MAIL_FROM",
            message: format!("expected an address like Centralita <no-reply@example.com>, got {from:?}"),
        });
    }
    Ok(MailConfig {
        smtp,
        from,
        dir: var("CENTRALITA_MAIL_DIR").map(PathBuf::from),
        max_attempts: bounded(var, "CENTRALITA_MAIL_MAX_ATTEMPTS", 8, 1, 100)? as u32,
        retry_base: Duration::from_millis(bounded(var, "CENTRALITA_MAIL_RETRY_BASE_MS", 2_000, 10, 3_600_000)?),
        retry_max: Duration::from_secs(bounded(var, "CENTRALITA_MAIL_RETRY_MAX_SECONDS", 600, 1, 86_400)?),
        timeout: Duration::from_secs(bounded(var, "CENTRALITA_SMTP_TIMEOUT_SECONDS", 15, 1, 600)?),
        poll: Duration::from_millis(bounded(var, "CENTRALITA_MAIL_POLL_MS", 30_000, 10, 3_600_000)?),
        concurrency: bounded(var, "CENTRALITA_MAIL_CONCURRENCY", 4, 1, 64)? as usize,
    })
}

/// Caps that keep one customer turn bounded whatever the model does.
#[derive(Clone, Debug)]
pub struct AgentLimits {
    /// Tool-calling rounds per turn (`CENTRALITA_AGENT_MAX_TOOL_ROUNDS`).
    pub max_tool_rounds: u32,
    /// Tokens a model may generate per request (`CENTRALITA_AGENT_MAX_TOKENS`).
    pub max_tokens: u32,
    /// Wall-clock budget for the customer-service step of a turn
    /// (`CENTRALITA_AGENT_TURN_BUDGET_SECONDS`); routing and supervisor are bounded by
    /// the model timeout and retries instead.
    pub turn_budget: Duration,
}

/// When a customer turn counts as abandoned (its node died mid-turn) and how often
/// every node looks for such turns.
#[derive(Clone, Debug)]
pub struct TurnRecovery {
    /// A customer message unanswered for this long is handed to a person
    /// (`CENTRALITA_TURN_RECOVERY_GRACE_SECONDS`; twice the longest a turn can run by
    /// default and never less than that, so a turn still running on a live node is
    /// never taken from it).
    pub grace: Duration,
    /// How often each node looks (`CENTRALITA_TURN_RECOVERY_INTERVAL_SECONDS`).
    pub interval: Duration,
}

/// The longest a customer turn can run on a live node: the customer-service step's
/// budget, plus the routing and supervisor requests, each of which may wait for its
/// timeout on every attempt and back off between retries before it falls back to the
/// built-in engine. The recovery grace is never shorter, so a slow turn is not taken
/// from the node still running it.
fn longest_turn(llm: Option<&LlmConfig>, turn_budget: Duration) -> Duration {
    let request = llm.map_or(Duration::ZERO, |m| m.timeout * (m.max_retries + 1) + m.max_backoff * m.max_retries);
    turn_budget + request * 2
}

/// A configuration error naming the offending variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl Config {
    /// Reads the configuration from the process environment, after loading `.env`
    /// (variables already set in the environment win).
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is worth stopping for.
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            return Err(ConfigError { var: ".env", message: err.to_string() });
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| {
            debug_assert!(VARIABLES.contains(&name), "{name} is read but missing from config::VARIABLES");
            get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        };
        let addr = parse(&var, "CENTRALITA_ADDR", "127.0.0.1:8080", "an address like 127.0.0.1:8080")?;
        let data_dir = PathBuf::from(var("CENTRALITA_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = match var("DATABASE_URL") {
            Some(url) => {
                if crate::db::Backend::from_url(&url).is_none() {
                    return Err(ConfigError {
                        var: "DATABASE_URL",
                        message: "must start with sqlite: or postgres:// (or postgresql://)".into(),
                    });
                }
                url
            }
            None => format!("sqlite://{}", data_dir.join("centralita.db").display()),
        };
        let events_poll_default = default_events_poll_ms(&database_url);
        let admin_password = var("CENTRALITA_ADMIN_PASSWORD").map(Secret::new);
        if let Some(p) = &admin_password
            && let Err(msg) = password_rules::check_strength(p.expose())
        {
            return Err(ConfigError { var: "CENTRALITA_ADMIN_PASSWORD", message: msg.into() });
        }
        let jwt_secret = var("CENTRALITA_JWT_SECRET").map(Secret::new);
        if jwt_secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
            return Err(ConfigError { var: "CENTRALITA_JWT_SECRET", message: "must be at least 32 characters".into() });
        }
        let log_json = match var("CENTRALITA_LOG_FORMAT").as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(_) => {
                return Err(ConfigError { var: "CENTRALITA_LOG_FORMAT", message: "must be text or json".into() });
            }
        };
        let llm = match var("CENTRALITA_LLM_BASE_URL") {
            None => None,
            Some(base_url) => {
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                    return Err(ConfigError {
                        var: "CENTRALITA_LLM_BASE_URL",
                        message: "must start with http:// or https://".into(),
                    });
                }
                let per_agent = AgentModels {
                    routing: var("CENTRALITA_LLM_MODEL_ROUTING"),
                    service: var("CENTRALITA_LLM_MODEL_SERVICE"),
                    supervisor: var("CENTRALITA_LLM_MODEL_SUPERVISOR"),
                };
                Some(LlmConfig {
                    base_url,
                    api_key: var("CENTRALITA_LLM_API_KEY").map(Secret::new),
                    model: var("CENTRALITA_LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
                    per_agent,
                    timeout: Duration::from_secs(bounded(&var, "CENTRALITA_LLM_TIMEOUT_SECONDS", 30, 1, 600)?),
                    max_retries: bounded(&var, "CENTRALITA_LLM_MAX_RETRIES", 3, 0, 10)? as u32,
                    backoff: Duration::from_millis(bounded(&var, "CENTRALITA_LLM_BACKOFF_MS", 500, 1, 60_000)?),
                    max_backoff: Duration::from_millis(bounded(
                        &var,
                        "CENTRALITA_LLM_MAX_BACKOFF_MS",
                        8_000,
                        1,
                        600_000,
                    )?),
                })
            }
        };
        let agent_limits = AgentLimits {
            max_tool_rounds: bounded(&var, "CENTRALITA_AGENT_MAX_TOOL_ROUNDS", 4, 1, 20)? as u32,
            max_tokens: bounded(&var, "CENTRALITA_AGENT_MAX_TOKENS", 512, 16, 32_768)? as u32,
            turn_budget: Duration::from_secs(bounded(&var, "CENTRALITA_AGENT_TURN_BUDGET_SECONDS", 60, 1, 3600)?),
        };
        let longest_turn = longest_turn(llm.as_ref(), agent_limits.turn_budget).as_secs();
        let turn_recovery = TurnRecovery {
            grace: Duration::from_secs(bounded(
                &var,
                "CENTRALITA_TURN_RECOVERY_GRACE_SECONDS",
                2 * longest_turn,
                longest_turn,
                86_400,
            )?),
            interval: Duration::from_secs(bounded(&var, "CENTRALITA_TURN_RECOVERY_INTERVAL_SECONDS", 60, 1, 3600)?),
        };
        Ok(Self {
            llm,
            agent_limits,
            turn_recovery,
            addr,
            data_dir,
            database_url,
            db_max_connections: bounded(&var, "CENTRALITA_DB_MAX_CONNECTIONS", 10, 1, 1000)? as u32,
            admin_password,
            jwt_secret,
            secure_cookies: boolean(&var, "CENTRALITA_SECURE_COOKIES", false)?,
            trust_proxy: boolean(&var, "CENTRALITA_TRUST_PROXY", false)?,
            session_idle: Duration::from_secs(60 * bounded(&var, "CENTRALITA_SESSION_IDLE_MINUTES", 30, 1, 24 * 60)?),
            session_max: Duration::from_secs(3600 * bounded(&var, "CENTRALITA_SESSION_MAX_HOURS", 12, 1, 24 * 30)?),
            access_token_ttl: Duration::from_secs(
                60 * bounded(&var, "CENTRALITA_ACCESS_TOKEN_MINUTES", 15, 1, 24 * 60)?,
            ),
            refresh_token_ttl: Duration::from_secs(
                86_400 * bounded(&var, "CENTRALITA_REFRESH_TOKEN_DAYS", 14, 1, 365)?,
            ),
            login: LoginPolicy {
                max_failures: bounded(&var, "CENTRALITA_LOGIN_MAX_FAILURES", 5, 1, 1000)? as i64,
                ip_max_failures: bounded(&var, "CENTRALITA_LOGIN_IP_MAX_FAILURES", 50, 1, 100_000)? as i64,
                lockout: Duration::from_secs(bounded(&var, "CENTRALITA_LOGIN_LOCKOUT_SECONDS", 900, 1, 86_400 * 7)?),
            },
            max_body_bytes: bounded(&var, "CENTRALITA_MAX_BODY_BYTES", 64 * 1024, 1024, 64 * 1024 * 1024)? as usize,
            header_read_timeout: Duration::from_secs(bounded(
                &var,
                "CENTRALITA_HEADER_READ_TIMEOUT_SECONDS",
                10,
                1,
                600,
            )?),
            body_read_timeout: Duration::from_secs(bounded(&var, "CENTRALITA_BODY_READ_TIMEOUT_SECONDS", 30, 1, 3600)?),
            events_poll: Duration::from_millis(bounded(
                &var,
                "CENTRALITA_EVENTS_POLL_MS",
                events_poll_default,
                50,
                3_600_000,
            )?),
            auth_cache: Duration::from_millis(bounded(&var, "CENTRALITA_AUTH_CACHE_MS", 1000, 0, 60_000)?),
            stream_recheck: Duration::from_secs(bounded(&var, "CENTRALITA_STREAM_RECHECK_SECONDS", 30, 1, 3600)?),
            log_json,
            mail: mail_config(&var)?,
            jobs: jobs_config(&var)?,
            whatsapp: whatsapp_config(&var)?,
            timezone: match var("CENTRALITA_TIMEZONE") {
                None => crate::period::Zone::default(),
                Some(name) => crate::period::Zone::parse(&name).ok_or_else(|| ConfigError {
                    var: "CENTRALITA_TIMEZONE",
                    message: format!("expected a time zone name like Europe/Madrid or UTC, got {name:?}"),
                })?,
            },
            call_token_budget: bounded(&var, "CENTRALITA_CALL_TOKEN_BUDGET", 20_000, 500, 10_000_000)?,
            business_hours: match var("CENTRALITA_BUSINESS_HOURS") {
                None => crate::hours::BusinessHours::default(),
                Some(text) => crate::hours::BusinessHours::parse(&text)
                    .map_err(|e| ConfigError { var: "CENTRALITA_BUSINESS_HOURS", message: e.to_string() })?,
            },
            inquiry_rate_limit: bounded(&var, "CENTRALITA_INQUIRY_RATE_LIMIT", 10, 1, 1_000_000)? as u32,
            inquiry_rate_window: Duration::from_secs(bounded(
                &var,
                "CENTRALITA_INQUIRY_RATE_WINDOW_SECONDS",
                600,
                1,
                86_400,
            )?),
            token_prices: TokenPrices {
                prompt_per_1k: price(&var, "CENTRALITA_PRICE_PER_1K_PROMPT_TOKENS", 0.00015)?,
                completion_per_1k: price(&var, "CENTRALITA_PRICE_PER_1K_COMPLETION_TOKENS", 0.0006)?,
            },
        })
    }

    /// A configuration for tests and embedding: defaults, a given database, port 0.
    pub fn for_database(database_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let mut config = Self::from_lookup(|_| None)?;
        config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.database_url = database_url.into();
        config.events_poll = Duration::from_millis(default_events_poll_ms(&config.database_url));
        config.data_dir = data_dir.into();
        Ok(config)
    }
}

/// How often the events pump looks without a wake-up, by default: rarely on
/// PostgreSQL, where `NOTIFY` wakes every node; every 2 s on SQLite, where polling the
/// shared file is how another process (the command line) is heard.
fn default_events_poll_ms(database_url: &str) -> u64 {
    match crate::db::Backend::from_url(database_url) {
        Some(crate::db::Backend::Postgres) => 30_000,
        _ => 2_000,
    }
}

fn parse<T: std::str::FromStr>(
    var: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: &str,
    expected: &str,
) -> Result<T, ConfigError> {
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    raw.parse().map_err(|_| ConfigError { var: name, message: format!("expected {expected}, got {raw:?}") })
}

fn bounded(
    var: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let value: u64 = parse(var, name, &default.to_string(), &format!("a whole number from {min} to {max}"))?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError { var: name, message: format!("expected a whole number from {min} to {max}, got {value}") })
    }
}

fn boolean(
    var: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match var(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError { var: name, message: format!("expected true or false, got {other:?}") }),
    }
}

/// Connection settings for the remote model.
#[derive(Clone, Debug)]
pub struct LlmConfig {
    /// Base URL up to and including `/v1` (`CENTRALITA_LLM_BASE_URL`).
    pub base_url: String,
    /// Bearer key, if the server wants one (`CENTRALITA_LLM_API_KEY`).
    pub api_key: Option<Secret>,
    /// Model for every agent (`CENTRALITA_LLM_MODEL`).
    pub model: String,
    /// Per-agent overrides (`CENTRALITA_LLM_MODEL_ROUTING`, `_SERVICE`, `_SUPERVISOR`).
    pub per_agent: AgentModels,
    /// Time allowed for one HTTP attempt (`CENTRALITA_LLM_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    /// Retries after the first attempt on 429, 5xx and timeouts (`CENTRALITA_LLM_MAX_RETRIES`).
    pub max_retries: u32,
    /// First backoff; doubles each retry, with full jitter (`CENTRALITA_LLM_BACKOFF_MS`).
    pub backoff: Duration,
    /// Longest single wait, including a server's `Retry-After`.
    pub max_backoff: Duration,
}

/// A model per agent, where one is set instead of [`LlmConfig::model`].
#[derive(Clone, Debug, Default)]
pub struct AgentModels {
    /// The routing agent's model.
    pub routing: Option<String>,
    /// The customer-service agent's model.
    pub service: Option<String>,
    /// The supervisor agent's model.
    pub supervisor: Option<String>,
}

/// The length rules every password follows (the first admin's from the environment,
/// and every password set later), kept here so configuration can check the former.
pub mod password_rules {
    /// Shortest accepted password (characters).
    pub const MIN_LEN: usize = 10;
    /// Longest accepted password (characters); bounds hashing cost.
    pub const MAX_LEN: usize = 256;

    /// Checks length rules; returns the i18n key of the problem.
    pub fn check_strength(password: &str) -> Result<(), &'static str> {
        let n = password.chars().count();
        if n < MIN_LEN {
            Err("field.password_short")
        } else if n > MAX_LEN {
            Err("field.password_long")
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn whatsapp_is_all_four_variables_or_none_and_never_shows_its_secrets() {
        assert!(with(&[]).unwrap().whatsapp.is_none());
        let err = with(&[("CENTRALITA_WHATSAPP_PHONE_NUMBER_ID", "1234")]).unwrap_err();
        assert_eq!(err.var, "CENTRALITA_WHATSAPP_TOKEN");
        let full = [
            ("CENTRALITA_WHATSAPP_PHONE_NUMBER_ID", "1234"),
            ("CENTRALITA_WHATSAPP_TOKEN", "token-value-1"),
            ("CENTRALITA_WHATSAPP_APP_SECRET", "secret-value-1"),
            ("CENTRALITA_WHATSAPP_VERIFY_TOKEN", "verify-value-1"),
        ];
        let c = with(&full).unwrap().whatsapp.unwrap();
        assert_eq!(c.api_base, WHATSAPP_API_BASE);
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("token-value-1") && !shown.contains("secret-value-1") && !shown.contains("verify-value-1")
        );
        let mut bad = full.to_vec();
        bad.push(("CENTRALITA_WHATSAPP_API_BASE", "graph.facebook.com"));
        assert_eq!(with(&bad).unwrap_err().var, "CENTRALITA_WHATSAPP_API_BASE");
        let mut bad = full.to_vec();
        bad[0] = ("CENTRALITA_WHATSAPP_PHONE_NUMBER_ID", "12/34");
        assert_eq!(with(&bad).unwrap_err().var, "CENTRALITA_WHATSAPP_PHONE_NUMBER_ID");
    }

    #[test]
    fn defaults_serve_on_localhost_with_sqlite_in_data_dir() {
        let c = with(&[]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://./data/centralita.db");
        assert_eq!(c.login.max_failures, 5);
        assert_eq!(c.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.body_read_timeout, Duration::from_secs(30));
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (name, value) in [
            ("CENTRALITA_ADDR", "nope"),
            ("DATABASE_URL", "mysql://x"),
            ("CENTRALITA_LOGIN_MAX_FAILURES", "0"),
            ("CENTRALITA_SECURE_COOKIES", "maybe"),
            ("CENTRALITA_JWT_SECRET", "short"),
            ("CENTRALITA_ADMIN_PASSWORD", "123"),
            ("CENTRALITA_MAIL_FROM", "not an address"),
            ("CENTRALITA_MAIL_MAX_ATTEMPTS", "0"),
            ("CENTRALITA_TURN_RECOVERY_INTERVAL_SECONDS", "0"),
            ("CENTRALITA_HEADER_READ_TIMEOUT_SECONDS", "0"),
            ("CENTRALITA_BODY_READ_TIMEOUT_SECONDS", "ten"),
            ("CENTRALITA_BUSINESS_HOURS", "billing=mon-fri 9-18"),
            ("CENTRALITA_BUSINESS_HOURS", "tz=Nowhere/City; *=always"),
            ("CENTRALITA_INQUIRY_RATE_LIMIT", "0"),
            ("CENTRALITA_INQUIRY_RATE_WINDOW_SECONDS", "soon"),
        ] {
            let err = with(&[(name, value)]).unwrap_err();
            assert_eq!(err.var, name);
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn turn_recovery_never_takes_a_turn_a_slow_remote_model_keeps_running() {
        // 30 s timeout, 3 retries, 8 s longest backoff: each of routing and supervisor
        // may take 30·4 + 8·3 = 144 s, on top of the 60 s service budget.
        let c = with(&[("CENTRALITA_LLM_BASE_URL", "http://127.0.0.1:9/v1")]).unwrap();
        assert_eq!(c.turn_recovery.grace, Duration::from_secs(2 * (60 + 2 * 144)));
        let err = with(&[
            ("CENTRALITA_LLM_BASE_URL", "http://127.0.0.1:9/v1"),
            ("CENTRALITA_TURN_RECOVERY_GRACE_SECONDS", "300"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "CENTRALITA_TURN_RECOVERY_GRACE_SECONDS");
    }

    #[test]
    fn turn_recovery_waits_twice_the_turn_budget_and_never_less_than_one_budget() {
        let c = with(&[("CENTRALITA_AGENT_TURN_BUDGET_SECONDS", "45")]).unwrap();
        assert_eq!(c.turn_recovery.grace, Duration::from_secs(90));
        assert_eq!(c.turn_recovery.interval, Duration::from_secs(60));
        let err =
            with(&[("CENTRALITA_AGENT_TURN_BUDGET_SECONDS", "45"), ("CENTRALITA_TURN_RECOVERY_GRACE_SECONDS", "30")])
                .unwrap_err();
        assert_eq!(err.var, "CENTRALITA_TURN_RECOVERY_GRACE_SECONDS");
    }

    #[test]
    fn mail_goes_to_files_unless_a_relay_is_set() {
        let c = with(&[("CENTRALITA_DATA_DIR", "/srv/cc")]).unwrap();
        assert!(c.mail.smtp.is_none());
        assert_eq!(c.mail_dir(), PathBuf::from("/srv/cc/mail"));
        let c = with(&[("CENTRALITA_SMTP_HOST", "relay.example.com"), ("CENTRALITA_SMTP_TLS", "tls")]).unwrap();
        let smtp = c.mail.smtp.unwrap();
        assert_eq!((smtp.port, smtp.tls), (465, SmtpTls::Tls));
        let err = with(&[("CENTRALITA_SMTP_HOST", "relay"), ("CENTRALITA_SMTP_TLS", "ssl")]).unwrap_err();
        assert_eq!(err.var, "CENTRALITA_SMTP_TLS");
        let err = with(&[("CENTRALITA_SMTP_HOST", "relay"), ("CENTRALITA_SMTP_USERNAME", "u")]).unwrap_err();
        assert!(err.to_string().contains("CENTRALITA_SMTP_PASSWORD"));
    }

    #[test]
    fn business_hours_and_the_inquiry_limit_come_from_the_environment() {
        let c = with(&[]).unwrap();
        assert!(c.business_hours.is_unrestricted());
        assert_eq!((c.inquiry_rate_limit, c.inquiry_rate_window), (10, Duration::from_secs(600)));
        let c = with(&[
            ("CENTRALITA_BUSINESS_HOURS", "tz=Europe/Madrid; billing=mon-fri 09:00-18:00; *=always"),
            ("CENTRALITA_INQUIRY_RATE_LIMIT", "3"),
            ("CENTRALITA_INQUIRY_RATE_WINDOW_SECONDS", "60"),
        ])
        .unwrap();
        assert_eq!(c.business_hours.zone_name(), "Europe/Madrid");
        assert!(c.business_hours.department("billing").is_some());
        assert_eq!((c.inquiry_rate_limit, c.inquiry_rate_window), (3, Duration::from_secs(60)));
    }

    #[test]
    fn secrets_never_print() {
        let c = with(&[
            ("CENTRALITA_SMTP_HOST", "relay"),
            ("CENTRALITA_SMTP_USERNAME", "mailer"),
            ("CENTRALITA_SMTP_PASSWORD", "smtp-secret-value"),
            ("CENTRALITA_ADMIN_PASSWORD", "correct horse battery"),
            ("CENTRALITA_JWT_SECRET", "x".repeat(40).as_str()),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("correct horse"));
        assert!(!shown.contains("smtp-secret-value"));
        assert!(!shown.contains(&"x".repeat(40)));
    }

    #[test]
    fn variables_lists_exactly_what_the_configuration_reads() {
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        // Set so that every conditional read (relay, model, WhatsApp) is reached.
        let vars: HashMap<&str, &str> = HashMap::from([
            ("CENTRALITA_SMTP_HOST", "relay.example.com"),
            ("CENTRALITA_LLM_BASE_URL", "http://127.0.0.1:9/v1"),
            ("CENTRALITA_WHATSAPP_PHONE_NUMBER_ID", "1234"),
            ("CENTRALITA_WHATSAPP_TOKEN", "token-value-1"),
            ("CENTRALITA_WHATSAPP_APP_SECRET", "secret-value-1"),
            ("CENTRALITA_WHATSAPP_VERIFY_TOKEN", "verify-value-1"),
        ]);
        Config::from_lookup(|k| {
            asked.borrow_mut().insert(k.to_owned());
            vars.get(k).map(|v| (*v).to_owned())
        })
        .unwrap();
        let asked = asked.into_inner();
        let listed: std::collections::BTreeSet<String> = VARIABLES.iter().map(|v| (*v).to_owned()).collect();
        assert_eq!(asked, listed);
    }
}
