//! Headless Chromium through chromedriver (Debian's `chromium-driver`), driven with the
//! `fantoccini` WebDriver client. Every wait polls a condition until a generous deadline,
//! so a loaded machine only makes a test slower, never wrong.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// The longest any wait lasts before the test fails: a swap that follows an AI turn or
/// an email delivery can take several seconds on a busy 2-core CI machine.
const PATIENCE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// A chromedriver process and one browser session in it.
pub struct Driver {
    child: Child,
    client: Client,
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
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let caps: Capabilities = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US",
            ]}
        }))
        .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        // chromedriver takes a moment to listen.
        let client = loop {
            match ClientBuilder::new(HttpConnector::new()).capabilities(caps.clone()).connect(&url).await {
                Ok(client) => break client,
                Err(e) if started.elapsed() < PATIENCE => {
                    if std::env::var("WEBDRIVER_DEBUG").is_ok() {
                        eprintln!("connect {url}: {e}");
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => panic!("no WebDriver session at {url}: {e}"),
            }
        };
        Self { child, client }
    }

    /// Navigates to a URL.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.client.current_url().await.map(String::from).unwrap_or_default()
    }

    /// Waits for an element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        match self.client.wait().at_most(PATIENCE).every(POLL).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => {
                let shown = self.execute("return document.body ? document.body.innerText : '';").await;
                panic!("no element {css} on {} ({e}); the page shows: {shown}", self.url().await)
            }
        }
    }

    /// Types into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap();
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        // A live page may redraw the element between finding and clicking it (a stale
        // element): find it again.
        let started = Instant::now();
        loop {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(e) if started.elapsed() < PATIENCE => {
                    if std::env::var("WEBDRIVER_DEBUG").is_ok() {
                        eprintln!("click {css}: {e}");
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => panic!("could not click {css}: {e}"),
            }
        }
    }

    /// Clicks the element matching `css` until the script `done` returns `true`. A live
    /// page may redraw a form between the click and its submission (an event arrived),
    /// which drops the click as it would drop a person's; a person clicks again, and so
    /// does this — only while no htmx request is under way, so an answer on its way is
    /// never asked for twice.
    pub async fn click_until(&self, css: &str, done: &str, what: &str) {
        let started = Instant::now();
        let idle = "return document.querySelector('.htmx-request') === null";
        loop {
            if self.client.execute(done, Vec::new()).await.ok() == Some(Value::Bool(true)) {
                return;
            }
            if started.elapsed() > PATIENCE {
                panic!("never happened: {what} (after clicking {css})");
            }
            if self.client.execute(idle, Vec::new()).await.ok() == Some(Value::Bool(true))
                && let Ok(element) = self.client.find(Locator::Css(css)).await
            {
                // A stale element or one being swapped is simply tried again.
                let _ = element.click().await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Visible text of the element matching `css` (empty when it was redrawn meanwhile).
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_default()
    }

    /// The `value` property of an input.
    pub async fn value(&self, css: &str) -> String {
        self.find(css).await.prop("value").await.ok().flatten().unwrap_or_default()
    }

    /// Waits until the text of `css` contains `needle`, and returns that text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let last = self.text(css).await;
            if last.contains(needle) {
                return last;
            }
            if started.elapsed() > PATIENCE {
                panic!("{css} never showed {needle:?}; last text: {last:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A slow network for the requests whose URL contains `part`: each is held `ms`
    /// before it leaves the page, so that it is still on its way while whatever the
    /// test does next happens. One the page aborts meanwhile never leaves (as an
    /// aborted request in flight never answers).
    pub async fn slow_requests(&self, part: &str, ms: u64) {
        let script = r#"
            var part = arguments[0], ms = arguments[1], proto = XMLHttpRequest.prototype;
            var open = proto.open, send = proto.send, abort = proto.abort;
            proto.open = function (method, url) { this.__url = String(url); return open.apply(this, arguments); };
            proto.abort = function () { this.__aborted = true; return abort.apply(this, arguments); };
            proto.send = function () {
              var xhr = this, args = arguments;
              if (xhr.__url.indexOf(part) < 0) return send.apply(xhr, args);
              setTimeout(function () { if (!xhr.__aborted) send.apply(xhr, args); }, ms);
            };
            return true;"#;
        self.client.execute(script, vec![json!(part), json!(ms)]).await.unwrap();
    }

    /// Accepts a confirm() dialog, waiting for it to appear.
    pub async fn accept_dialog(&self) {
        let started = Instant::now();
        while let Err(e) = self.client.accept_alert().await {
            if started.elapsed() > PATIENCE {
                panic!("no dialog appeared: {e}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs a script in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// Waits for a script to return `true`.
    pub async fn wait_until(&self, script: &str, what: &str) {
        let started = Instant::now();
        while self.client.execute(script, Vec::new()).await.ok() != Some(Value::Bool(true)) {
            if started.elapsed() > PATIENCE {
                panic!("never happened: {what}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Switches into the frame of the element matching `css` (until [`Driver::leave_frame`]).
    pub async fn enter_frame(&self, css: &str) {
        self.find(css).await.enter_frame().await.unwrap();
    }

    /// Switches back to the page that holds the current frame.
    pub async fn leave_frame(&self) {
        self.client.enter_parent_frame().await.unwrap();
    }

    /// Browser console entries (CSP violations show up here).
    pub async fn console(&self) -> Vec<String> {
        let v = self.client.issue_cmd(BrowserLog).await.unwrap();
        v.as_array()
            .map(|a| a.iter().map(|e| e["message"].as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default()
    }

    /// Saves a screenshot as `DIR/name.png` when `CENTRALITA_SCREENSHOTS=DIR` is set.
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("CENTRALITA_SCREENSHOTS") else { return };
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the session and the driver.
    pub async fn quit(self) {
        // Closing can stall while a page holds an event stream open; the process
        // group is killed on drop in any case.
        let _ = tokio::time::timeout(Duration::from_secs(3), self.client.clone().close()).await;
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

/// chromedriver's (non-W3C) command for the browser console log.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &reqwest::Url, session: Option<&str>) -> Result<reqwest::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}
