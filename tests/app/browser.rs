//! Headless Chromium drives the pages that matter, through a minimal WebDriver client
//! (W3C WebDriver over HTTP with reqwest; chromedriver from Debian's packages).
//!
//! Set `CENTRALITA_SCREENSHOTS=DIR` to keep a PNG of each step for people to look at.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use centralita::db::Backend;
use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session in it.
pub struct Driver {
    child: Child,
    http: Client,
    session: String,
    base: String,
}

impl Driver {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        use std::os::unix::process::CommandExt;
        // Its own process group, so that Chromium goes with it even when a test panics.
        let child = Command::new(&binary)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} not found ({e}); install chromium and chromium-driver (see README)"));
        let base = format!("http://127.0.0.1:{port}");
        let http = Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US",
            ]}
        }}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session =
            r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {r}")).to_owned();
        Self { child, http, session, base }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req.send().await.unwrap().json().await.unwrap();
        r["value"].clone()
    }

    /// Navigates to a URL.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// Waits up to 10 s for an element matching `css` (a loaded CI machine can take
    /// several seconds for a swap that follows a turn or an email).
    pub async fn find(&self, css: &str) -> String {
        for _ in 0..100 {
            let v = self
                .call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
                .await;
            if let Some(id) = v[ELEMENT_KEY].as_str() {
                return id.to_owned();
            }
            if std::env::var("WEBDRIVER_DEBUG").is_ok() {
                eprintln!("find {css}: {v}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element {css} on {}", self.url().await);
    }

    /// Types into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        // A live page may redraw the element between finding and clicking it (a stale
        // element): find it again.
        for _ in 0..10 {
            let id = self.find(css).await;
            let v = self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
            if v.get("error").is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not click {css}");
    }

    /// Visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The `value` property of an input.
    pub async fn value(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/property/value"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits up to 5 s until the text of `css` contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        for _ in 0..50 {
            last = self.text(css).await;
            if last.contains(needle) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {needle:?}; last text: {last:?}");
    }

    /// Accepts a confirm() dialog, waiting for it to appear.
    pub async fn accept_dialog(&self) {
        for _ in 0..50 {
            let v = self.call(reqwest::Method::POST, "/alert/accept", Some(json!({}))).await;
            if v.is_null() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no dialog appeared");
    }

    /// Runs a script in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// Waits up to 10 s for a script to return `true`.
    pub async fn wait_until(&self, script: &str, what: &str) {
        for _ in 0..100 {
            if self.execute(script).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never happened: {what}");
    }

    /// Browser console entries (CSP violations show up here).
    pub async fn console(&self) -> Vec<String> {
        let v = self.call(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"}))).await;
        v.as_array()
            .map(|a| a.iter().map(|e| e["message"].as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default()
    }

    /// Saves a screenshot as `DIR/name.png` when `CENTRALITA_SCREENSHOTS=DIR` is set.
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("CENTRALITA_SCREENSHOTS") else { return };
        use base64::Engine;
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the session and the driver.
    pub async fn quit(self) {
        // Closing can stall while a page holds an event stream open; the process
        // group is killed on drop in any case.
        let close = self.http.delete(format!("{}/session/{}", self.base, self.session)).send();
        let _ = tokio::time::timeout(Duration::from_secs(3), close).await;
        drop(self);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver and every browser process it started.
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_signs_in_and_manages_users_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    let d = Driver::start().await;

    d.goto(&app.url("/login")).await;
    d.screenshot("01-login").await;
    d.type_into("input[name=username]", "admin").await;
    d.type_into("input[name=password]", ADMIN_PASSWORD).await;
    d.click("button[type=submit].primary").await;
    d.wait_text("main h1", "Administrator").await;
    assert_eq!(d.url().await, app.url("/"));
    d.screenshot("02-home").await;

    // Create a user with the plain form.
    d.goto(&app.url("/users")).await;
    d.type_into("#new-user input[name=username]", "bruno").await;
    d.type_into("#new-user input[name=full_name]", "Bruno <b>Díaz</b>").await;
    d.type_into("#new-user input[name=email]", "bruno@example.com").await;
    d.type_into("#new-user input[name=password]", "temporary-pw-9").await;
    d.click("#new-user button[type=submit]").await;
    // The click returns before the browser has posted the form: wait for the row to exist.
    let mut created = None;
    for _ in 0..100 {
        created = centralita::users::find_for_login(app.state.db(), "bruno").await.unwrap();
        if created.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bruno = created.expect("the form created the user").0;
    let row = format!("#user-{}", bruno.id);
    let shown = d.wait_text(&row, "bruno").await;
    assert!(shown.contains("Bruno <b>Díaz</b>"), "markup shown as text: {shown}");

    // htmx: change the role in place. Text typed in the create form survives, so the
    // page was not reloaded.
    d.type_into("#new-user input[name=username]", "still-here").await;
    d.click(&format!("{row} select[name=role] option[value=supervisor]")).await;
    d.click(&format!("{row} form[action$='/role'] button")).await;
    for _ in 0..50 {
        if centralita::users::get(app.state.db(), bruno.id).await.unwrap().unwrap().role == "supervisor" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(centralita::users::get(app.state.db(), bruno.id).await.unwrap().unwrap().role, "supervisor");
    assert_eq!(d.value("#new-user input[name=username]").await, "still-here", "no page reload");

    // Disable asks for confirmation, then the row updates in place.
    d.click(&format!("{row} form[action$='/disable'] button")).await;
    d.accept_dialog().await;
    d.find(&format!("{row}.is-disabled form[action$='/enable']")).await;
    assert!(centralita::users::get(app.state.db(), bruno.id).await.unwrap().unwrap().disabled);
    assert_eq!(d.value("#new-user input[name=username]").await, "still-here", "no page reload");
    d.screenshot("03-users").await;

    // A call's page: transcript and agent steps, with the customer's markup as text.
    centralita::seed::seed_demo(app.state.db()).await.unwrap();
    let call = centralita::calls::create(&app.state, centralita::calls::Channel::Web, Some(1), None, None, None)
        .await
        .unwrap();
    let text = "No tengo internet desde esta mañana <img src=x onerror=alert(1)>";
    centralita::calls::post_customer_message(&app.state, call, text, None, None).await.unwrap();
    d.goto(&app.url(&format!("/calls/{call}"))).await;
    let transcript = d.wait_text(".transcript", "No tengo internet").await;
    assert!(transcript.contains("<img src=x onerror=alert(1)>"), "shown as text: {transcript}");
    d.find("table.steps details").await;
    d.screenshot("04-call").await;

    let console = d.console().await;
    assert!(!console.iter().any(|m| m.contains("Content Security Policy") || m.contains("Refused")), "{console:?}");
    d.quit().await;
    app.finish().await;
}

/// Signs a ready user in through the login form.
async fn sign_in(d: &Driver, app: &TestApp, username: &str, password: &str) {
    d.goto(&app.url("/login")).await;
    d.type_into("input[name=username]", username).await;
    d.type_into("input[name=password]", password).await;
    d.click("button[type=submit].primary").await;
    d.wait_until("return location.pathname === '/'", "signed in").await;
}

fn assert_no_csp_errors(console: &[String]) {
    assert!(!console.iter().any(|m| m.contains("Content Security Policy") || m.contains("Refused")), "{console:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sees_a_new_call_on_the_board_takes_it_over_and_replies() {
    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    let (_, pw) = app.ready_user("alba", "agent").await;
    let admin = app.admin_token().await;
    let d = Driver::start().await;
    sign_in(&d, &app, "alba", &pw).await;

    d.goto(&app.url("/board")).await;
    d.find("#escalations").await;
    d.execute("window.__sameDocument = 42; return true;").await;
    // A refused htmx request shows the server's message instead of failing silently.
    d.execute(
        "var s = document.querySelector('#presence-form select'); s.add(new Option('?', 'sleeping')); \
         s.value = 'sleeping'; return true;",
    )
    .await;
    d.click("#presence-form button").await;
    d.find(".htmx-error[role=alert]").await;
    d.wait_until("return document.body.classList.contains('is-live')", "event stream connected").await;

    // A customer asks for a person; the call appears at the top of the board by itself.
    let body = json!({"customer": {"name": "Nora <em>Board</em>", "email": "nora@example.com"},
        "message": "Quiero hablar con una persona, por favor"});
    let r = reqwest::Client::new().post(app.url("/api/v1/calls")).bearer_auth(&admin).json(&body).send().await.unwrap();
    let call = r.json::<Value>().await.unwrap()["call_id"].as_i64().unwrap();
    let row = d.wait_text("#escalations", "Nora <em>Board</em>").await;
    assert!(row.contains("Nora <em>Board</em>"), "markup shown as text");
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(42), "the board was not reloaded");
    d.wait_text("#kpi-calls", "1").await;
    d.screenshot("05-board").await;

    // Open it, take it over, reply.
    d.click(&format!("#board-call-{call} td a")).await;
    d.wait_until(&format!("return location.pathname === '/calls/{call}'"), "call page").await;
    d.click("#takeover").await;
    d.find("#reply-form textarea").await;
    d.type_into("#reply-form textarea", "Hola Nora, soy Alba. Ya estoy contigo.").await;
    d.click("#reply-form button[type=submit]").await;
    d.wait_text("#call-live .transcript", "Ya estoy contigo").await;
    d.wait_text("#call-live .transcript", "took over").await;
    let db = app.state.db();
    let roles: Vec<String> = centralita::with_db!(db, |pool| sqlx::query_scalar::<_, String>(
        "SELECT role FROM messages WHERE call_id = $1 ORDER BY id"
    )
    .bind(call)
    .fetch_all(pool)
    .await)
    .unwrap();
    assert_eq!(roles.last().map(String::as_str), Some("human"));
    assert_eq!(centralita::calls::get(db, call).await.unwrap().status.as_str(), "human");
    d.screenshot("06-call-taken-over").await;

    assert_no_csp_errors(&d.console().await);
    d.quit().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_sees_the_answer_stream_in_and_a_person_join() {
    // A relay that takes 2.5 s to accept: the summary is delivered after the page's
    // own redraws, so only the delivery's event can tell the page.
    let mut sink = crate::smtp::SmtpSink::new().with_delay(2.5);
    sink.run();
    let app = TestApp::spawn(Backend::Sqlite, |c| sink.apply(c)).await;
    let agent = {
        let (_, pw) = app.ready_user("alba", "agent").await;
        app.api_login("alba", &pw).await["access_token"].as_str().unwrap().to_owned()
    };
    let d = Driver::start().await;
    d.goto(&app.url("/call")).await;
    d.type_into("input[name=name]", "Carmen Ruiz").await;
    d.type_into("input[name=email]", "carmen@example.com").await;
    d.type_into("textarea[name=message]", "Hola, buenas tardes").await;
    d.click("#start button[type=submit]").await;
    d.wait_until("return location.pathname.startsWith('/c/')", "the call's private page").await;
    d.find("#conversation .msg-ai").await;
    d.wait_until("return document.body.classList.contains('is-live')", "event stream connected").await;

    // Watch for the bubble that shows the reply while it is being written.
    d.execute(
        "window.__sameDocument = 7; window.__sawTyping = false;
         new MutationObserver(function () { if (document.getElementById('typing')) window.__sawTyping = true; })
           .observe(document.body, {subtree: true, childList: true, characterData: true});
         return true;",
    )
    .await;
    d.type_into("#composer textarea", "Mi internet no funciona desde ayer, ¿podéis ayudarme?").await;
    d.click("#composer button[type=submit]").await;
    d.wait_until("return document.querySelectorAll('#conversation .msg-ai').length === 2", "second answer").await;
    d.wait_until("return window.__sawTyping === true", "the answer streamed in").await;
    d.wait_until("return document.getElementById('typing') === null", "streaming bubble replaced").await;
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(7), "no reload");
    assert_eq!(d.value("#composer textarea").await, "", "the box is ready for the next message");
    d.screenshot("07-customer-streamed").await;

    // A person joins and answers: the customer sees both without reloading.
    let call = centralita::calls::recent(app.state.db(), 1).await.unwrap()[0].id;
    let client = reqwest::Client::new();
    let r = client
        .post(app.url(&format!("/api/v1/calls/{call}/takeover")))
        .bearer_auth(&agent)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    d.wait_text("#conversation", "has joined").await;
    d.wait_text("#conversation .status-line", "alba is with you").await;
    let r = client
        .post(app.url(&format!("/api/v1/calls/{call}/messages")))
        .bearer_auth(&agent)
        .json(&json!({"text": "Hola Carmen, reviso tu línea ahora mismo."}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    d.wait_text("#conversation .msg-human", "reviso tu línea").await;
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(7), "no reload");
    d.screenshot("08-customer-person-joined").await;

    // The agent closes the call: the page offers the summary and asks for a rating, and
    // the message box goes away — all without a reload.
    let r = client
        .post(app.url(&format!("/api/v1/calls/{call}/close")))
        .bearer_auth(&agent)
        .json(&json!({"outcome": "resolved"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    d.find("#summary-offer button[value=yes]").await;
    d.wait_until("return document.querySelector('#composer textarea') === null", "message box gone").await;
    d.click("#summary-offer button[value=yes]").await;
    // The supervisor agent's summary shows before anything is sent.
    d.wait_text("#summary-draft", "Next steps").await;
    d.click("#summary-draft button[value=send]").await;
    d.wait_text("#summary-answer", "summary").await;
    // The worker delivers it and the page says so without a reload.
    d.wait_text("#summary-answer", "on its way").await;
    d.wait_text("#summary-answer", "We sent the summary").await;
    assert_eq!(sink.messages().len(), 1);
    d.click("#rating input[value='5']").await;
    d.click("#rating button[type=submit]").await;
    d.wait_text("#rating", "5/5").await;
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(7), "no reload");
    let ended = centralita::calls::get(app.state.db(), call).await.unwrap();
    assert_eq!((ended.summary_consent.as_deref(), ended.csat), (Some("yes"), Some(5)));
    d.screenshot("09-customer-rated").await;

    assert_no_csp_errors(&d.console().await);
    d.quit().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_previews_an_email_in_a_sandboxed_frame_and_sends_it() {
    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    crate::calls::customer(&app, "emily.johnson@example.com").await;
    let (_, pw) = app.ready_user("iris", "agent").await;
    let d = Driver::start().await;
    sign_in(&d, &app, "iris", &pw).await;
    d.goto(&app.url("/emails/new?kind=information&customer=emily.johnson@example.com")).await;
    d.click("#language option[value=en]").await;
    d.type_into("#topic", "Opening hours").await;
    d.type_into("#body", "Monday to Friday, 9 to 18.\n<script>alert(1)</script>").await;
    d.execute("window.__sameDocument = 5; return true;").await;
    d.click("#email-form button[formaction='/emails/preview']").await;
    d.wait_text("#preview-subject", "The information you asked for: Opening hours").await;
    let text = d.text("#preview-text").await;
    assert!(text.contains("<script>alert(1)</script>"), "shown as text: {text}");
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(5), "previewed in place");
    // The HTML part renders inside the sandboxed frame, styled, with the markup as text.
    let frame = d.find("#preview iframe.email-frame").await;
    d.call(reqwest::Method::POST, "/frame", Some(json!({"id": {ELEMENT_KEY: frame}}))).await;
    let body = d.wait_text("body", "Monday to Friday").await;
    assert!(body.contains("<script>alert(1)</script>"), "{body}");
    let styled = d.execute("return getComputedStyle(document.querySelector('table table td')).backgroundColor;").await;
    assert_eq!(styled, json!("rgb(31, 78, 121)"), "the email's inline CSS applies in the frame");
    d.call(reqwest::Method::POST, "/frame/parent", Some(json!({}))).await;
    d.screenshot("10-email-preview").await;

    d.click("#email-form input[name=customer_confirmed]").await;
    d.click("#email-form button.primary").await;
    d.wait_until("return /^\\/emails\\/\\d+$/.test(location.pathname)", "the email's page").await;
    d.wait_text("#email-confirmation", "Recorded by iris Test").await;
    for _ in 0..50 {
        if d.text("#email-status").await.contains("Sent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        d.execute("location.reload(); return true;").await;
    }
    d.wait_text("#email-status", "Sent").await;
    d.find("#eml").await;
    d.screenshot("11-email-sent").await;
    assert_no_csp_errors(&d.console().await);
    d.quit().await;
    app.finish().await;
}
