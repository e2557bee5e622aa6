//! Security headers and cookie flags.

use centralita::db::Backend;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, TestApp, new_client, set_cookies};

fn assert_security_headers(r: &reqwest::Response, hsts: bool) {
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(h.contains_key("x-request-id"));
    assert_eq!(h.contains_key("strict-transport-security"), hsts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    for path in ["/login", "/api/v1/me", "/health", "/nope", "/static/app.css"] {
        let r = new_client().get(app.url(path)).send().await.unwrap();
        assert_security_headers(&r, false);
    }
    let login = new_client().get(app.url("/login")).send().await.unwrap();
    // Looking at the login page stores no session: only the anonymous CSRF nonce.
    let cookies = set_cookies(login.headers());
    assert!(!cookies.iter().any(|c| c.starts_with("centralita_session=")), "{cookies:?}");
    let csrf = cookies.iter().find(|c| c.starts_with("centralita_csrf=")).unwrap();
    assert!(csrf.contains("HttpOnly") && csrf.contains("SameSite=Lax") && !csrf.contains("Secure"), "{csrf}");
    let b = app.browser();
    let signed_in = b.login("admin", ADMIN_PASSWORD).await;
    let session = set_cookies(signed_in.headers()).into_iter().find(|c| c.starts_with("centralita_session=")).unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax") && !session.contains("Secure"),
        "{session}"
    );
    // Pages load no inline script: every <script> has a src.
    let html = login.text().await.unwrap();
    assert!(html.matches("<script").count() == html.matches("<script src=\"/static/").count());
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_tls_cookies_are_secure_and_hsts_is_sent() {
    let app = TestApp::spawn(Backend::Sqlite, |c| c.secure_cookies = true).await;
    let r = new_client().get(app.url("/login")).send().await.unwrap();
    assert_security_headers(&r, true);
    // Behind HTTPS the nonce cookie takes the `__Host-` prefix.
    let csrf = set_cookies(r.headers()).into_iter().find(|c| c.starts_with("__Host-centralita_csrf=")).unwrap();
    assert!(csrf.contains("Secure") && csrf.contains("Path=/") && !csrf.contains("Domain"), "{csrf}");
    // A client over plain HTTP would not send Secure cookies back: sign in by hand.
    let nonce = csrf.split(';').next().unwrap().to_owned();
    let token = crate::helpers::csrf_in(&r.text().await.unwrap());
    let r = new_client()
        .post(app.url("/login"))
        .header("cookie", nonce)
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(r.headers()).iter().any(|c| c.starts_with("centralita_session=") && c.contains("Secure")));
    let r = new_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookies(r.headers()).iter().all(|c| c.contains("Secure")));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htmx_is_served_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    let r = new_client().get(app.url("/static/htmx.min.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(r.text().await.unwrap().contains("htmx"));
    assert_eq!(
        new_client().get(app.url("/static/../Cargo.toml")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    app.finish().await;
}
