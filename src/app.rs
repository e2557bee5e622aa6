//! Building and running the application: state, router, background tasks, shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use tokio::net::TcpListener;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::audit::Entry;
use crate::auth::tokens::Keys;
use crate::auth::{Role, password};
use crate::config::Config;
use crate::context::Ctx;
use crate::db::Db;
use crate::db::session_store::DbSessionStore;
use crate::i18n::Lang;
use crate::metrics::Metrics;
use crate::users::{self, input::NewUserForm};
use crate::web::rate::PublicLimits;
use crate::{api, web};

/// Name of the browser session cookie.
pub const SESSION_COOKIE: &str = "centralita_session";

/// Shared, cheaply clonable application state: the domain's [`Ctx`] plus what only the
/// HTTP layers need. It dereferences to the context, so handlers call `state.db()`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    ctx: Ctx,
    csrf_key: [u8; 32],
    metrics: Metrics,
    public: PublicLimits,
    started: Instant,
}

impl std::ops::Deref for AppState {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        &self.0.ctx
    }
}

impl axum::extract::FromRef<AppState> for Ctx {
    fn from_ref(state: &AppState) -> Ctx {
        state.0.ctx.clone()
    }
}

impl AppState {
    /// The domain context.
    pub fn ctx(&self) -> &Ctx {
        &self.0.ctx
    }
    /// Key signing anonymous visitors' CSRF tokens (derived from the JWT secret, so
    /// every node sharing it accepts the others' tokens).
    pub fn csrf_key(&self) -> &[u8] {
        &self.0.csrf_key
    }
    /// Limits on the public call pages.
    pub fn public_limits(&self) -> &PublicLimits {
        &self.0.public
    }
    /// Request and login counters.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
    /// Seconds since start.
    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }
}

/// What start-up did about the first admin account, for the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstAdmin {
    /// Users already existed.
    NotNeeded,
    /// Created with `CENTRALITA_ADMIN_PASSWORD`.
    FromEnv,
    /// Created with this random temporary password (print it once).
    Generated(String),
}

/// Connects, migrates and makes sure an admin exists.
pub async fn prepare(config: &Config) -> anyhow::Result<(Db, FirstAdmin)> {
    let db = Db::connect(&config.database_url, config.db_max_connections).await?;
    db.migrate().await?;
    let first = ensure_first_admin(&db, config).await?;
    Ok((db, first))
}

async fn ensure_first_admin(db: &Db, config: &Config) -> anyhow::Result<FirstAdmin> {
    if users::count(db).await? > 0 {
        return Ok(FirstAdmin::NotNeeded);
    }
    let (password, outcome) = match &config.admin_password {
        Some(p) => (p.expose().to_owned(), FirstAdmin::FromEnv),
        None => {
            let p = password::generate();
            (p.clone(), FirstAdmin::Generated(p))
        }
    };
    let form = NewUserForm {
        username: "admin".into(),
        email: "admin@centralita.local".into(),
        full_name: "Administrator".into(),
        role: Role::Admin.as_str().into(),
        language: Lang::Es.code().into(),
        password,
        csrf_token: None,
    };
    let new = form.parse().map_err(|e| anyhow::anyhow!("first admin: {e:?}"))?;
    let temporary = matches!(outcome, FirstAdmin::Generated(_));
    match users::insert(db, &new, temporary, &Entry::new(None, "system", "user.create")).await {
        Ok(_) => Ok(outcome),
        // Another node created it first.
        Err(crate::error::AppError::Validation(_)) => Ok(FirstAdmin::NotNeeded),
        Err(e) => Err(anyhow::anyhow!("creating the first admin: {e}")),
    }
}

/// The agents over the remote model when one is configured, else the built-in engine.
pub fn build_pipeline(config: &Config) -> anyhow::Result<crate::agents::pipeline::Pipeline> {
    use crate::agents::model::ChatModel;
    let model: Arc<dyn ChatModel> = match &config.llm {
        Some(llm) => Arc::new(crate::agents::openai::OpenAiModel::new(llm.clone())?),
        None => Arc::new(crate::agents::builtin::engine::BuiltinModel),
    };
    Ok(crate::agents::pipeline::Pipeline::new(model, config.agent_limits.clone()))
}

/// A built application bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    first_admin: FirstAdmin,
}

impl Application {
    /// Prepares the database, binds the listener and assembles the router.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let (db, first_admin) = prepare(&config).await?;
        let secret = match &config.jwt_secret {
            Some(s) => s.expose().to_owned(),
            None => db.setting_or_insert("jwt_secret", &password::generate().repeat(3)).await?,
        };
        let dummy_hash = tokio::task::spawn_blocking(|| password::hash_blocking(&password::generate())).await??;
        let listener = TcpListener::bind(config.addr).await?;
        let pipeline = build_pipeline(&config)?;
        let bus = Arc::new(crate::events::Bus::new(db.clone(), config.events_poll));
        let mailer = Arc::new(crate::email::deliver::Mailer::new(db.clone(), bus.clone(), &config)?);
        let csrf_key = {
            use sha2::Digest;
            sha2::Sha256::new().chain_update(b"centralita-csrf-key:").chain_update(secret.as_bytes()).finalize().into()
        };
        crate::auth::cache::cache().set_ttl(config.auth_cache);
        let public = PublicLimits::new(&config);
        let ctx = Ctx::new(crate::context::Parts {
            pipeline,
            keys: Keys::new(secret.as_bytes()),
            config,
            bus,
            mailer,
            db,
            dummy_hash,
        });
        let state =
            AppState(Arc::new(Inner { ctx, csrf_key, public, metrics: Metrics::default(), started: Instant::now() }));
        let router = router(state.clone());
        Ok(Self { listener, router, state, first_admin })
    }

    /// The bound port (tests bind port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// What happened about the first admin account.
    pub fn first_admin(&self) -> &FirstAdmin {
        &self.first_admin
    }

    /// The shared state (tests reach the database through it).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let bus = self.state.bus_handle();
        let mut tasks = bus.start().await?;
        // Open event streams never finish on their own: end them when shutdown begins.
        let shutdown = async move {
            shutdown.await;
            bus.stop();
        };
        tasks.push(tokio::spawn(sweep(self.state.clone())));
        // Turns a crashed node left unanswered go to a person, now and periodically.
        tasks.push(tokio::spawn(crate::calls::recovery::watch(self.state.ctx().clone())));
        let mailer = self.state.mailer_handle();
        let delivery = tokio::spawn(mailer.clone().run());
        let ctx = self.state.ctx().clone();
        let jobs =
            tokio::spawn(Arc::new(ctx.jobs().worker(ctx.db().clone(), crate::work::Kinds::new(ctx.clone()))).run());
        let header_read_timeout = self.state.config().header_read_timeout;
        let result = crate::server::serve(self.listener, self.router, header_read_timeout, shutdown).await;
        // Turns already under way finish and store their reply.
        self.state.turns().drain(Duration::from_secs(30)).await;
        // The email being sent finishes (bounded by its own cut-off); the outbox keeps
        // everything else for the next start.
        mailer.stop();
        let _ = tokio::time::timeout(self.state.config().mail.timeout * 2 + Duration::from_secs(1), delivery).await;
        // Jobs under way get a few seconds; one cut short keeps its lease, which
        // expires, and runs again on this or another node.
        self.state.jobs().stop();
        let _ = tokio::time::timeout(Duration::from_secs(10), jobs).await;
        for task in tasks {
            task.abort();
        }
        self.state.db().close().await;
        result.map_err(Into::into)
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

fn router(state: AppState) -> Router {
    let config = state.config().clone();
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db().clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies)
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(config.session_idle.as_secs() as i64)));
    // Layers run outermost-last: metrics and the common stack see every request, then
    // the session is loaded, errors become pages for browsers, a query string holding
    // NUL is refused, then CSRF is checked.
    let app = Router::new()
        .merge(web::router())
        .nest("/api/v1", api::router())
        .merge(crate::ops::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), web::csrf::guard))
        .layer(axum::middleware::from_fn(web::layers::refuse_nul_in_query))
        .layer(axum::middleware::from_fn(web::errors::render))
        .layer(axum::middleware::from_fn_with_state(state.clone(), web::keepalive::refresh))
        .layer(sessions);
    web::layers::apply(app, &config)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .with_state(state)
}

/// Deletes expired sessions and day-old events every five minutes.
async fn sweep(state: AppState) {
    let store = DbSessionStore::new(state.db().clone());
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        if let Err(err) = store.delete_expired().await {
            tracing::warn!(error = %err, "expired-session sweep failed");
        }
        if let Err(err) = state.bus().prune(time::Duration::days(1)).await {
            tracing::warn!(error = %err, "old-event sweep failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
