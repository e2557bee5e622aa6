//! The simulated people: customers holding a conversation through the public call
//! page (plain form posts, as the page works without JavaScript: each post runs the
//! turn to its end and redirects to the call), and staff with the board open on its
//! live stream who also read the calls list and the figures over the API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use tokio::sync::{Barrier, watch};

use super::report::Recorder;

/// What customers say, in turn.
const MESSAGES: &[&str] = &[
    "Hola, ¿cuál es mi saldo?",
    "No tengo internet desde esta mañana",
    "What plans do you have for fibre?",
    "Quiero cambiar mi dirección de facturación",
    "My invoice this month looks higher than usual",
    "¿Qué horario tiene la tienda?",
];

/// Time allowed for one ordinary request (a turn waits on the model).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The cookies one simulated browser holds.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let first = value.split(';').next().unwrap_or_default();
            let Some((name, val)) = first.split_once('=') else { continue };
            let gone = val.is_empty() || value.to_ascii_lowercase().contains("max-age=0");
            self.0.retain(|(n, _)| n != name);
            if !gone {
                self.0.push((name.trim().to_owned(), val.trim().to_owned()));
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// One simulated browser: a client shared with everyone (connections are reused by
/// whoever comes next, so with several nodes nobody sticks to one), its own cookies and
/// client address.
struct Browser {
    http: Client,
    base: String,
    jar: Jar,
    ip: String,
}

impl Browser {
    fn request(&self, builder: RequestBuilder) -> RequestBuilder {
        let builder = builder.header("x-forwarded-for", &self.ip);
        if self.jar.0.is_empty() { builder } else { builder.header(COOKIE, self.jar.header()) }
    }

    async fn send(&mut self, builder: RequestBuilder) -> Result<Response, String> {
        let r = self.request(builder).send().await.map_err(|e| short(&e))?;
        self.jar.take(r.headers());
        Ok(r)
    }

    async fn get(&mut self, path: &str) -> Result<Response, String> {
        let b = self.http.get(format!("{}{path}", self.base)).timeout(REQUEST_TIMEOUT);
        self.send(b).await
    }

    async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Result<Response, String> {
        let body = serde_urlencoded::to_string(fields).map_err(|e| e.to_string())?;
        let b = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(REQUEST_TIMEOUT)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(b).await
    }

    /// GET a page expecting 200; returns its CSRF token.
    async fn page(&mut self, rec: &Recorder, kind: &'static str, path: &str) -> Option<String> {
        let started = Instant::now();
        let result = match self.get(path).await {
            Ok(r) if r.status() == StatusCode::OK => r.text().await.map_err(|e| short(&e)),
            Ok(r) => Err(status(&r)),
            Err(e) => Err(e),
        };
        match result {
            Ok(html) => {
                rec.ok(kind, started.elapsed());
                Some(csrf_in(&html).unwrap_or_default())
            }
            Err(e) => {
                rec.error(kind, e);
                None
            }
        }
    }

    /// POST a form expecting a redirect; returns where to.
    async fn redirect(
        &mut self,
        rec: &Recorder,
        kind: &'static str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Option<String> {
        let started = Instant::now();
        match self.post_form(path, form).await {
            Ok(r) if r.status() == StatusCode::SEE_OTHER => {
                rec.ok(kind, started.elapsed());
                r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned)
            }
            Ok(r) => {
                rec.error(kind, status(&r));
                None
            }
            Err(e) => {
                rec.error(kind, e);
                None
            }
        }
    }
}

fn short(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    format!("{what}: {e}")
}

fn status(r: &Response) -> String {
    format!("HTTP {}", r.status().as_u16())
}

/// The CSRF token in a page's hidden field.
pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    html[start..].split('"').next().map(str::to_owned)
}

/// What every simulated person shares.
#[derive(Clone)]
pub struct Shared {
    /// The HTTP client.
    pub http: Client,
    /// The server (or proxy) base URL.
    pub base: String,
    /// Where outcomes go.
    pub rec: Arc<Recorder>,
}

/// How a customer behaves.
#[derive(Clone, Copy, Debug)]
pub struct CustomerPlan {
    /// Messages per call, the first included.
    pub turns: u32,
    /// Pause between reading an answer and sending the next message.
    pub think: Duration,
}

/// A customer: opens the start page, starts a call (its first turn), waits at `phase`
/// until every customer had a first answer, then sends the follow-up messages, viewing
/// the call page after each. Always reaches `phase` once, whatever fails.
pub async fn customer(shared: Shared, i: usize, plan: CustomerPlan, phase: Arc<Barrier>) {
    let mut b = Browser { http: shared.http.clone(), base: shared.base.clone(), jar: Jar::default(), ip: ip_of(i) };
    let rec = &shared.rec;
    let link = start_call(&mut b, rec, i).await;
    phase.wait().await;
    let Some((link, mut token)) = link else { return };
    for t in 1..plan.turns as usize {
        if !plan.think.is_zero() {
            tokio::time::sleep(plan.think).await;
        }
        let message = MESSAGES[(i + t) % MESSAGES.len()];
        let path = format!("{link}/messages");
        if b.redirect(rec, "follow-up turn", &path, &[("message", message), ("csrf_token", &token)]).await.is_none() {
            return;
        }
        match b.page(rec, "call page view", &link).await {
            Some(t) if !t.is_empty() => token = t,
            Some(_) => {}
            None => return,
        }
    }
}

/// The start page and the first turn; the call's link and the CSRF token.
async fn start_call(b: &mut Browser, rec: &Recorder, i: usize) -> Option<(String, String)> {
    let token = b.page(rec, "public start page", "/call").await?;
    let name = format!("Load Customer {i}");
    let email = format!("load{i}@loadtest.example.com");
    let message = MESSAGES[i % MESSAGES.len()];
    let form =
        [("name", name.as_str()), ("email", &email), ("phone", ""), ("message", message), ("csrf_token", &token)];
    let link = b.redirect(rec, "call start (first turn)", "/call", &form).await?;
    if !link.starts_with("/c/") {
        rec.error("call start (first turn)", format!("redirected to {link}"));
        return None;
    }
    let token = b.page(rec, "call page view", &link).await?;
    Some((link, token))
}

/// A distinct client address per simulated person (10.0.0.0/8), for per-IP limits.
fn ip_of(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

/// How a staff member behaves.
#[derive(Clone, Debug)]
pub struct StaffPlan {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Pause between two API reads.
    pub read_every: Duration,
}

/// A staff member: signs in on the web, opens the board and its live stream and keeps
/// it open, signs in on the API and reads the calls list and the figures in turn,
/// until `stop` says the customers are done. Sends one message on `ready` once the
/// stream is open (or failed to open).
pub async fn staff(
    shared: Shared,
    j: usize,
    plan: StaffPlan,
    ready: tokio::sync::mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) {
    let rec = shared.rec.clone();
    let mut b = Browser {
        http: shared.http.clone(),
        base: shared.base.clone(),
        jar: Jar::default(),
        ip: format!("10.255.{}.{}", (j >> 8) & 255, j & 255),
    };
    let stream = open_board(&mut b, &rec, &plan).await;
    let _ = ready.send(()).await;
    let watcher = stream.map(|r| tokio::spawn(follow_stream(r, rec.clone(), stop.clone())));
    if let Some(access) = api_sign_in(&b, &rec, &plan).await {
        let mut n = 0usize;
        loop {
            let (kind, path) =
                if n.is_multiple_of(2) { ("api calls list", "/api/v1/calls") } else { ("api stats", "/api/v1/stats") };
            n += 1;
            let started = Instant::now();
            let r = b.http.get(format!("{}{path}", b.base)).timeout(REQUEST_TIMEOUT).bearer_auth(&access).send().await;
            match r {
                Ok(r) if r.status() == StatusCode::OK => match r.bytes().await {
                    Ok(_) => rec.ok(kind, started.elapsed()),
                    Err(e) => rec.error(kind, short(&e)),
                },
                Ok(r) => rec.error(kind, status(&r)),
                Err(e) => rec.error(kind, short(&e)),
            }
            tokio::select! {
                _ = stop.changed() => break,
                () = tokio::time::sleep(plan.read_every) => {}
            }
        }
    }
    if let Some(w) = watcher {
        let _ = w.await;
    }
}

async fn open_board(b: &mut Browser, rec: &Recorder, plan: &StaffPlan) -> Option<Response> {
    let token = b.page(rec, "sign-in page", "/login").await?;
    let form = [("username", plan.username.as_str()), ("password", &plan.password), ("csrf_token", &token)];
    b.redirect(rec, "staff sign-in", "/login", &form).await?;
    b.page(rec, "board page", "/board").await?;
    let started = Instant::now();
    let request = b.http.get(format!("{}/events", b.base)).header("accept", "text/event-stream");
    match b.send(request).await {
        Ok(r) if r.status() == StatusCode::OK => {
            rec.ok("board stream open", started.elapsed());
            Some(r)
        }
        Ok(r) => {
            rec.error("board stream open", status(&r));
            None
        }
        Err(e) => {
            rec.error("board stream open", e);
            None
        }
    }
}

/// Reads a live stream until `stop`, counting the events in it.
async fn follow_stream(r: Response, rec: Arc<Recorder>, mut stop: watch::Receiver<bool>) {
    let mut body = r.bytes_stream();
    let (mut events, mut dropped) = (0u64, false);
    let (mut line, mut has_data) = (Vec::new(), false);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            chunk = body.next() => match chunk {
                Some(Ok(bytes)) => {
                    // An event is a block of lines with a data line, ended by a blank
                    // line; keep-alive comments are not events.
                    for &byte in bytes.iter() {
                        if byte != b'\n' {
                            line.push(byte);
                            continue;
                        }
                        if line.is_empty() || line == b"\r" {
                            events += u64::from(has_data);
                            has_data = false;
                        } else if line.starts_with(b"data:") {
                            has_data = true;
                        }
                        line.clear();
                    }
                }
                Some(Err(_)) | None => {
                    dropped = true;
                    break;
                }
            }
        }
    }
    rec.stream_closed(events, dropped);
}

async fn api_sign_in(b: &Browser, rec: &Recorder, plan: &StaffPlan) -> Option<String> {
    let started = Instant::now();
    let body = serde_json::json!({"username": plan.username, "password": plan.password});
    let r = b.http.post(format!("{}/api/v1/auth/login", b.base)).timeout(REQUEST_TIMEOUT).json(&body).send().await;
    let r = match r {
        Ok(r) if r.status() == StatusCode::OK => r,
        Ok(r) => {
            rec.error("api sign-in", status(&r));
            return None;
        }
        Err(e) => {
            rec.error("api sign-in", short(&e));
            return None;
        }
    };
    match r.json::<serde_json::Value>().await {
        Ok(v) => match v.get("access_token").and_then(|t| t.as_str()) {
            Some(t) => {
                rec.ok("api sign-in", started.elapsed());
                Some(t.to_owned())
            }
            None => {
                rec.error("api sign-in", "no access_token in the answer".into());
                None
            }
        },
        Err(e) => {
            rec.error("api sign-in", short(&e));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jar_keeps_the_latest_value_and_forgets_removed_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, "a=1; Path=/; HttpOnly".parse().unwrap());
        headers.append(SET_COOKIE, "b=2; Path=/".parse().unwrap());
        let mut jar = Jar::default();
        jar.take(&headers);
        let mut again = HeaderMap::new();
        again.append(SET_COOKIE, "a=3; Path=/".parse().unwrap());
        again.append(SET_COOKIE, "b=; Max-Age=0".parse().unwrap());
        jar.take(&again);
        assert_eq!(jar.header(), "a=3");
    }

    #[test]
    fn customers_get_distinct_addresses_and_pages_give_their_token() {
        assert_ne!(ip_of(1), ip_of(257));
        assert_eq!(csrf_in(r#"<input type="hidden" name="csrf_token" value="abc">"#).as_deref(), Some("abc"));
        assert_eq!(csrf_in("<p>none</p>"), None);
    }
}
