//! Test harness: spawns the app per test on SQLite or PostgreSQL and speaks HTTP to it.

use std::sync::LazyLock;

use centralita::app::{AppState, Application};
use centralita::config::{Config, Secret};
use centralita::db::Backend;
use reqwest::header::HeaderMap;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

mod calls;
pub use calls::post_json;

/// Password of the `admin` account every test app starts with.
pub const ADMIN_PASSWORD: &str = "admin-password-123";

/// The PostgreSQL server tests create their databases on.
pub static PG_ADMIN_URL: LazyLock<String> = LazyLock::new(|| {
    std::env::var("CENTRALITA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
});

/// Runs an `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::TestApp::spawn(centralita::db::Backend::Sqlite, |_| {}).await;
                    super::$name(&app).await;
                    app.finish().await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let app = $crate::helpers::TestApp::spawn(centralita::db::Backend::Postgres, |_| {}).await;
                    super::$name(&app).await;
                    app.finish().await;
                }
            }
        )*
    };
}

/// Runs an `async fn(Backend)` once on SQLite and once on PostgreSQL (for tests that
/// start the app themselves, the real binary for instance).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(centralita::db::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(centralita::db::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// A fresh database of the given backend: its URL and, for PostgreSQL, its name.
pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> (String, Option<String>) {
    match backend {
        Backend::Sqlite => (format!("sqlite://{}", dir.join("test.db").display()), None),
        Backend::Postgres => {
            let name = format!("centralita_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&PG_ADMIN_URL)
                .await
                .expect("PostgreSQL must be running for the tests (see README)");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
            let base = PG_ADMIN_URL.rsplit_once('/').unwrap().0;
            (format!("{base}/{name}"), Some(name))
        }
    }
}

/// Drops a test database created by [`fresh_database`].
pub async fn drop_database(name: &str) {
    if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&PG_ADMIN_URL).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&mut conn)
            .await;
    }
}

/// A running application.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The application's state (database access for assertions).
    pub state: AppState,
    /// Which backend this app runs on.
    pub backend: Backend,
    database_url: String,
    pg_name: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts the app with test defaults; `tweak` may change the configuration.
    pub async fn spawn(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg_name) = fresh_database(backend, dir.path()).await;
        Self::start(backend, url, pg_name, dir, tweak).await
    }

    /// The URL of this app's database.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Another node (own process state, own port) sharing this app's database, as
    /// behind a load balancer.
    pub async fn second_node(&self) -> Self {
        self.second_node_with(|_| {}).await
    }

    /// [`TestApp::second_node`] with its own configuration tweak.
    pub async fn second_node_with(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start(self.backend, self.database_url.clone(), None, tempfile::tempdir().unwrap(), tweak).await
    }

    async fn start(
        backend: Backend,
        url: String,
        pg_name: Option<String>,
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::for_database(url.clone(), dir.path()).unwrap();
        config.admin_password = Some(Secret::new(ADMIN_PASSWORD));
        tweak(&mut config);
        let app = Application::build(config).await.unwrap();
        let state = app.state();
        let base = format!("http://127.0.0.1:{}", app.port());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self { base, state, backend, database_url: url, pg_name, shutdown: Some(tx), server: Some(server), _dir: dir }
    }

    /// Stops the server as SIGTERM would (graceful), keeping the database, and returns
    /// a fresh connection to it.
    pub async fn stop_server(&mut self) -> centralita::db::Db {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        centralita::db::Db::connect(&self.database_url, 2).await.unwrap()
    }

    /// Stops the server and removes the PostgreSQL database.
    pub async fn finish(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(name) = self.pg_name.take() {
            drop_database(&name).await;
        }
    }

    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A second, independent browser (own cookie jar).
    pub fn browser(&self) -> Browser {
        Browser { base: self.base.clone(), client: new_client() }
    }

    /// Logs in over the API and returns the JSON body.
    pub async fn api_login(&self, username: &str, password: &str) -> Value {
        let r = self.login_attempt(username, password).await;
        assert_eq!(r.status(), StatusCode::OK, "api login as {username}");
        r.json().await.unwrap()
    }

    /// Tries to log in over the API and returns the response, whatever it is.
    pub async fn login_attempt(&self, username: &str, password: &str) -> Response {
        new_client()
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// An admin bearer token.
    pub async fn admin_token(&self) -> String {
        self.api_login("admin", ADMIN_PASSWORD).await["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a user over the API (as admin) and returns its JSON.
    pub async fn create_user(&self, username: &str, role: &str, password: &str) -> Value {
        let token = self.admin_token().await;
        let r = new_client()
            .post(self.url("/api/v1/users"))
            .bearer_auth(token)
            .json(&json!({
                "username": username, "email": format!("{username}@example.com"), "full_name": format!("{username} Test"),
                "role": role, "language": "en", "password": password,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    /// Creates a user who has already replaced the temporary password, ready to work.
    pub async fn ready_user(&self, username: &str, role: &str) -> (Value, String) {
        let temp = format!("{username}-temporary-pw");
        let final_pw = format!("{username}-final-password");
        let user = self.create_user(username, role, &temp).await;
        let token = self.api_login(username, &temp).await["access_token"].as_str().unwrap().to_owned();
        let r = new_client()
            .post(self.url("/api/v1/me/password"))
            .bearer_auth(token)
            .json(&json!({"current_password": temp, "new_password": final_pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        (user, final_pw)
    }

    /// A browser signed in as a new ready user with `role`.
    pub async fn signed_in(&self, username: &str, role: &str) -> Browser {
        let (_, pw) = self.ready_user(username, role).await;
        let b = self.browser();
        assert_eq!(b.login(username, &pw).await.status(), StatusCode::SEE_OTHER, "sign in as {username}");
        b
    }

    /// Disables (or enables) a user over the API as admin.
    pub async fn set_disabled(&self, id: i64, disabled: bool) {
        let r = new_client()
            .patch(self.url(&format!("/api/v1/users/{id}")))
            .bearer_auth(self.admin_token().await)
            .json(&json!({"disabled": disabled}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "disable user {id}");
    }

    /// Audit actions recorded so far, oldest first.
    pub async fn audit_actions(&self) -> Vec<String> {
        let rows = centralita::audit::list(self.state.db(), None, 1000).await.unwrap();
        rows.into_iter().rev().map(|r| r.action).collect()
    }
}

/// A client that keeps cookies and does not follow redirects, like a browser tab whose
/// navigation we inspect step by step.
pub fn new_client() -> Client {
    Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A browser session against the app.
pub struct Browser {
    /// Base URL.
    pub base: String,
    /// Client with this browser's cookies.
    pub client: Client,
}

impl Browser {
    /// GET a page.
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    /// GET a page and return its HTML (asserting 200).
    pub async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.text().await.unwrap()
    }

    /// The CSRF token embedded in a page.
    pub async fn csrf(&self, path: &str) -> String {
        csrf_in(&self.page(path).await)
    }

    /// POST a form with the given fields as is (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client.post(format!("{}{path}", self.base)).form(fields).send().await.unwrap()
    }

    /// POST a form, adding the CSRF token from `token_page`.
    pub async fn post(&self, path: &str, token_page: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf(token_page).await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(path, &all).await
    }

    /// GET a page with an `Accept-Language` header and return its HTML.
    pub async fn page_in(&self, path: &str, accept_language: &str) -> String {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("accept-language", accept_language)
            .send()
            .await
            .unwrap();
        r.text().await.unwrap()
    }

    /// Submits the own-password form.
    pub async fn change_password(&self, current: &str, new: &str, confirm: &str) -> Response {
        let fields = [("current_password", current), ("new_password", new), ("confirm_password", confirm)];
        self.post("/account/password", "/account/password", &fields).await
    }

    /// Signs in through the login form; returns the response to the POST.
    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post("/login", "/login", &[("username", username), ("password", password)]).await
    }
}

/// Extracts the CSRF token from a page's hidden field.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The `Location` header of a redirect.
pub fn location(r: &Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// All `Set-Cookie` header values.
pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// Splits an SSE body into its `delta` texts and the `done` event's JSON.
pub fn read_sse(body: &str) -> (Vec<String>, Option<Value>) {
    let mut deltas = Vec::new();
    let mut done = None;
    for block in body.split("\n\n") {
        let event = block.lines().find_map(|l| l.strip_prefix("event:")).map(str::trim);
        let data: String =
            block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect::<Vec<_>>().join("\n");
        match event {
            Some("delta") => {
                deltas.push(serde_json::from_str::<Value>(&data).unwrap()["text"].as_str().unwrap().to_owned())
            }
            Some("done") => done = Some(serde_json::from_str(&data).unwrap()),
            Some("error") => panic!("error event: {data}"),
            _ => {}
        }
    }
    (deltas, done)
}

/// GET a JSON document with a bearer token (asserting success).
pub async fn get_json(url: String, token: &str) -> Value {
    let r = new_client().get(&url).bearer_auth(token).send().await.unwrap();
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r.json().await.unwrap()
}

/// One server-sent event as a client sees it.
#[derive(Clone, Debug)]
pub struct SseMessage {
    /// The `id:` field.
    pub id: Option<String>,
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines joined.
    pub data: String,
}

impl SseMessage {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// A live SSE connection read in the background, event by event.
pub struct EventStream {
    rx: tokio::sync::mpsc::UnboundedReceiver<SseMessage>,
    task: tokio::task::JoinHandle<()>,
}

impl EventStream {
    /// Opens `GET url` with the given request (headers, auth) and starts reading.
    pub async fn open(request: reqwest::RequestBuilder) -> Self {
        use futures_util::StreamExt;
        let r = request.header("accept", "text/event-stream").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "event stream refused");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut body = r.bytes_stream();
            let mut buf = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    let mut m = SseMessage { id: None, event: "message".into(), data: String::new() };
                    let mut data = Vec::new();
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            m.id = Some(v.trim().to_owned());
                        } else if let Some(v) = line.strip_prefix("event:") {
                            m.event = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                        }
                    }
                    if data.is_empty() {
                        continue; // keep-alive comments
                    }
                    m.data = data.join("\n");
                    if tx.send(m).is_err() {
                        return;
                    }
                }
            }
        });
        Self { rx, task }
    }

    /// The next event (waiting up to 15 s).
    pub async fn next(&mut self) -> SseMessage {
        match tokio::time::timeout(std::time::Duration::from_secs(15), self.rx.recv()).await {
            Ok(Some(m)) => m,
            Ok(None) => panic!("event stream ended"),
            Err(_) => panic!("no event within 15 s"),
        }
    }

    /// Events up to and including the first whose JSON `kind` is `kind` (staff stream).
    pub async fn until_kind(&mut self, kind: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let v = self.next().await.json();
            let done = v["kind"] == kind;
            seen.push(v);
            if done {
                return seen;
            }
        }
    }

    /// Stops reading (the connection closes).
    pub fn close(self) {
        self.task.abort();
    }
}

/// Polls `check` every 100 ms until it returns `Some`, and returns that value; fails the
/// test after 20 s, naming `what` (for effects the app makes in the background).
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "never happened: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
