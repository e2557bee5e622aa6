//! Issue 9 (outside security probe): slow or unfinished requests are cut off, oversized
//! declared bodies are refused before upload, start-up errors say what to fix, and the
//! smaller findings (language cookie, `/lang` redirect, path ids, exponent amounts).
//!
//! The transport tests speak raw HTTP/1.1 over a `TcpStream`, because reqwest always
//! finishes its requests; they run on SQLite only, since the database plays no part.

use std::time::{Duration, Instant};

use centralita::app::Application;
use centralita::config::Config;
use centralita::db::Backend;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{ADMIN_PASSWORD, EventStream, TestApp, csrf_in, location, new_client, set_cookies};
use crate::on_both;

/// What a raw connection saw: the bytes the server sent, and when it closed the
/// connection (`None`: still open when we stopped waiting).
struct Seen {
    text: String,
    closed_after: Option<Duration>,
}

/// Opens a connection, sends `bytes`, and reads until the server closes it or `wait`
/// has passed (counted from the last byte sent).
async fn raw(app: &TestApp, bytes: &[u8], wait: Duration) -> Seen {
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let started = Instant::now();
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    let closed_after = loop {
        let left = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => break None,
            Ok(Ok(0) | Err(_)) => break Some(started.elapsed()),
            Ok(Ok(n)) => text.extend_from_slice(&buf[..n]),
        }
    };
    Seen { text: String::from_utf8_lossy(&text).into_owned(), closed_after }
}

async fn spawn_with_timeouts(header: Duration, body: Duration) -> TestApp {
    TestApp::spawn(Backend::Sqlite, |c| {
        c.header_read_timeout = header;
        c.body_read_timeout = body;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_never_finishes_is_disconnected_at_the_header_timeout() {
    let app = spawn_with_timeouts(Duration::from_secs(1), Duration::from_secs(30)).await;
    // Half a request line, then silence (slowloris).
    let seen = raw(&app, b"GET /health HT", Duration::from_secs(8)).await;
    let closed = seen.closed_after.expect("the server must hang up on an unfinished request head");
    assert!(closed >= Duration::from_millis(900) && closed < Duration::from_secs(4), "closed after {closed:?}");
    assert!(!seen.text.contains("200 OK"), "{}", seen.text);
    // A connection that sends nothing at all is closed the same way.
    let seen = raw(&app, b"", Duration::from_secs(8)).await;
    assert!(seen.closed_after.is_some_and(|d| d < Duration::from_secs(4)), "idle connection kept open");
    // Whole requests are served as before.
    let r = new_client().get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_finishes_is_cut_off_at_the_body_timeout() {
    let app = spawn_with_timeouts(Duration::from_secs(10), Duration::from_secs(1)).await;
    // Complete head, a tenth of the promised body, then silence.
    let request = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
Content-Length: 100\r\n\r\n{\"username\"";
    let seen = raw(&app, request, Duration::from_secs(8)).await;
    let closed = seen.closed_after.expect("the server must give up on an unfinished body");
    assert!(closed >= Duration::from_millis(900) && closed < Duration::from_secs(4), "closed after {closed:?}");
    assert!(seen.text.starts_with("HTTP/1.1 408"), "told why: {}", seen.text);
    assert!(seen.text.contains("request_timeout"), "{}", seen.text);
    // A page form (read by the CSRF check) is told the same, as a page.
    let request = b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
Cookie: centralita_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\nContent-Length: 100\r\n\r\nusername=adm";
    let seen = raw(&app, request, Duration::from_secs(8)).await;
    assert!(seen.closed_after.is_some(), "the server must give up on an unfinished form");
    assert!(seen.text.starts_with("HTTP/1.1 408"), "told why: {}", seen.text);
    assert!(seen.text.contains("text/html"), "a page for browsers: {}", seen.text);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_declared_body_gets_413_without_100_continue() {
    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    for (path, content_type) in
        [("/api/v1/auth/login", "application/json"), ("/login", "application/x-www-form-urlencoded")]
    {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nAccept-Language: en\r\n\
Content-Length: 1000000000000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        );
        let seen = raw(&app, request.as_bytes(), Duration::from_secs(5)).await;
        assert!(seen.closed_after.is_some(), "answered and closed: {}", seen.text);
        assert!(seen.text.starts_with("HTTP/1.1 413"), "{path}: {}", seen.text);
        assert!(!seen.text.contains("100 Continue"), "{path}: never invited to upload: {}", seen.text);
        if path == "/login" {
            assert!(seen.text.contains("text/html"), "a page for browsers: {}", seen.text);
        } else {
            assert!(seen.text.contains("payload_too_large"), "JSON for the API: {}", seen.text);
        }
    }
    // Within the limit, Expect: 100-continue still works.
    let body = r#"{"username":"admin","password":"wrong-password-1"}"#;
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let seen = raw(&app, request.as_bytes(), Duration::from_secs(5)).await;
    assert!(seen.text.contains("401"), "{}", seen.text);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_outlive_the_request_timeouts() {
    let app = spawn_with_timeouts(Duration::from_secs(1), Duration::from_secs(1)).await;
    let token = app.admin_token().await;
    let mut stream = EventStream::open(new_client().get(app.url("/api/v1/events")).bearer_auth(&token)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let body = serde_json::json!({"customer": {"name": "Late Caller", "email": "late@example.com"}, "message": "hola"});
    let r = new_client().post(app.url("/api/v1/calls")).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let seen = stream.until_kind("call_created").await;
    assert_eq!(seen.last().unwrap()["kind"], "call_created", "the stream still delivers after both timeouts");
    stream.close();
    app.finish().await;
}

/// The error `Application::build` stops with, as the binary prints it (`{:#}`).
async fn build_error(database_url: String, dir: &std::path::Path) -> String {
    let config = Config::for_database(database_url, dir).unwrap();
    match Application::build(config).await {
        Ok(_) => panic!("start-up should have failed"),
        Err(err) => format!("{err:#}"),
    }
}

/// A local port that refuses connections for as long as the socket is kept: bound (so
/// no other test's server can take the port meanwhile) but not listening.
fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_fails_fast_naming_host_port_and_cause_but_not_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let (_bound, port) = refusing_port();
    let url = format!("postgres://centralita:pw-S3cret-xyz@127.0.0.1:{port}/centralita");
    let started = Instant::now();
    let err = build_error(url.clone(), dir.path()).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}: {err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert!(!err.contains("pw-S3cret-xyz") && !err.contains("pool timed out"), "{err}");

    // The binary says the same on stderr and exits with a failure.
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_centralita"))
        .arg("migrate")
        .current_dir(dir.path())
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(3), "binary took {:?}", started.elapsed());
    assert!(stderr.contains(&format!("127.0.0.1:{port}")) && stderr.to_lowercase().contains("connection refused"));
    assert!(!stderr.contains("pw-S3cret-xyz"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_sqlite_file_is_named_in_the_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, "this is not a database, just some text. ".repeat(200)).unwrap();
    let err = build_error(format!("sqlite://{}", path.display()), dir.path()).await;
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("not a SQLite database"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sqlite_file_or_data_folder_is_named_in_the_start_up_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("centralita.db");
    let url = format!("sqlite://{}", path.display());
    // A real database, made read-only.
    let db = centralita::db::Db::connect(&url, 1).await.unwrap();
    db.migrate().await.unwrap();
    db.close().await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let err = build_error(url, dir.path()).await;
    assert!(err.contains(&path.display().to_string()) && err.contains("read-only"), "{err}");

    // A data folder nobody may write to.
    let folder = dir.path().join("locked");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    let err = build_error(format!("sqlite://{}", folder.join("centralita.db").display()), dir.path()).await;
    assert!(err.contains(&folder.display().to_string()) && err.contains("read-only"), "{err}");
    // Let the temporary folder be removed.
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The `name=value` part of the `Set-Cookie` named `name`, and the whole header.
fn cookie_named(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    set_cookies(r.headers()).into_iter().find(|c| c.starts_with(&format!("{name}="))).map(|c| {
        let pair = c.split(';').next().unwrap_or_default().to_owned();
        (pair, c)
    })
}

/// Posts the language switch from a fresh anonymous browser, carrying its CSRF
/// cookie by hand (a cookie store would not send a `Secure` cookie over plain HTTP).
async fn switch_language(app: &TestApp, referer: &str) -> reqwest::Response {
    let client = new_client();
    let login = reqwest::Client::new().get(app.url("/login")).send().await.unwrap();
    // Anonymous pages store no session: the form's token goes with the CSRF nonce.
    let (nonce, _) =
        cookie_named(&login, "__Host-centralita_csrf").or_else(|| cookie_named(&login, "centralita_csrf")).unwrap();
    let token = csrf_in(&login.text().await.unwrap());
    client
        .post(app.url("/lang"))
        .header("cookie", nonce)
        .header("referer", referer)
        .form(&[("lang", "en"), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_cookie_is_secure_behind_tls() {
    let app = TestApp::spawn(Backend::Sqlite, |c| c.secure_cookies = true).await;
    let r = switch_language(&app, &app.url("/login")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, cookie) = cookie_named(&r, "centralita_lang").expect("language cookie set");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
    app.finish().await;

    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    let r = switch_language(&app, &app.url("/login")).await;
    let (_, cookie) = cookie_named(&r, "centralita_lang").expect("language cookie set");
    assert!(!cookie.contains("Secure"), "plain HTTP keeps it usable: {cookie}");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_switch_redirects_only_to_plain_local_paths() {
    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    let base = app.url("");
    for (referer, expected) in [
        (format!("{base}/calls?page=2"), "/calls?page=2"),
        (format!("{base}/\\evil.example"), "/"),
        (format!("{base}/\\/evil.example"), "/"),
        (format!("{base}//evil.example"), "/"),
        (format!("{base}/login\\..\\x"), "/"),
        (format!("{base}/\t/evil.example"), "/"),
        ("https://evil.example".to_owned(), "/"),
    ] {
        let r = switch_language(&app, &referer).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{referer:?}");
        assert_eq!(location(&r), expected, "{referer:?}");
    }
    app.finish().await;
}

on_both!(unparseable_ids_in_page_paths_get_the_not_found_page_in_the_users_language);

async fn unparseable_ids_in_page_paths_get_the_not_found_page_in_the_users_language(app: &TestApp) {
    let (_, password) = app.ready_user("ana", "agent").await;
    let english = app.browser();
    english.login("ana", &password).await;
    let spanish = app.browser();
    spanish.login("admin", ADMIN_PASSWORD).await;
    for path in ["/calls/abc", "/users/1x", "/emails/xyz", "/calls/1x/live", "/emails/abc/html"] {
        for (browser, text) in
            [(&english, "We could not find what you are looking for."), (&spanish, "No encontramos lo que buscas.")]
        {
            let r = browser.get(path).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
            let html = r.text().await.unwrap();
            assert!(html.contains(text), "{path}: {html}");
        }
    }
    // Other extractor refusals on pages are pages too, not axum's plain text.
    let r = english.get("/c/%FF%FE").await;
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    // The API keeps its JSON answer.
    let token = app.admin_token().await;
    let r = new_client().get(app.url("/api/v1/users/1x")).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
}
