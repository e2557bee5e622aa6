//! CSRF variants beyond the basic ones (tests/app/csrf.rs): the anonymous token is
//! bound to its own nonce cookie, a signed-in session needs its own token, and behind
//! HTTPS a plain-HTTP origin on the same host is another origin.

use centralita::db::Backend;
use reqwest::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, TestApp, csrf_in, new_client};
use crate::on_both;

on_both!(tokens_only_work_with_their_own_cookie_or_session, only_pages_issue_the_nonce);

async fn only_pages_issue_the_nonce(app: &TestApp) {
    let b = app.browser();
    let token = b.csrf("/login").await;
    // What a browser fetches next without the cookie jar's help must not replace the
    // nonce the form's token signs: a fresh client's 404, asset or probe gets none.
    for path in ["/favicon.ico", "/static/app.css", "/health", "/nope"] {
        let r = new_client().get(app.url(path)).send().await.unwrap();
        let cookies = crate::helpers::set_cookies(r.headers());
        assert!(!cookies.iter().any(|c| c.contains("centralita_csrf")), "{path}: {cookies:?}");
    }
    // And the browser's own 404 does not either: its form still works.
    b.get("/favicon.ico").await;
    assert_eq!(b.post_raw("/login", &login_form(&token)).await.status(), StatusCode::SEE_OTHER);
}

fn login_form(token: &str) -> [(&str, &str); 3] {
    [("username", "admin"), ("password", ADMIN_PASSWORD), ("csrf_token", token)]
}

async fn tokens_only_work_with_their_own_cookie_or_session(app: &TestApp) {
    let a = app.browser();
    let b = app.browser();
    let token_a = a.csrf("/login").await;
    b.csrf("/login").await;
    // B presents A's token with B's own nonce cookie: refused.
    let r = b.post_raw("/login", &login_form(&token_a)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A made-up nonce cookie with any token: refused.
    let r = new_client()
        .post(app.url("/login"))
        .header("cookie", "centralita_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .form(&login_form("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // No cookie at all: refused.
    let r = new_client().post(app.url("/login")).form(&login_form(&token_a)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A's own pair works.
    assert_eq!(a.post_raw("/login", &login_form(&token_a)).await.status(), StatusCode::SEE_OTHER);
    // Signed in, the anonymous token no longer does: the session's token is needed.
    let r = a.post_raw("/presence", &[("status", "away"), ("csrf_token", &token_a)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let session_token = csrf_in(&a.page("/board").await);
    assert_ne!(session_token, token_a);
    let r = a.post_raw("/presence", &[("status", "away"), ("csrf_token", &session_token)]).await;
    assert!(r.status().is_redirection(), "{}", r.status());
    // An opaque `null` origin is refused.
    let r = a
        .client
        .post(app.url("/presence"))
        .header("origin", "null")
        .form(&[("status", "online"), ("csrf_token", session_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_https_a_plain_http_origin_is_cross_origin() {
    let app = TestApp::spawn(Backend::Sqlite, |c| c.secure_cookies = true).await;
    let r = new_client().get(app.url("/login")).send().await.unwrap();
    let nonce = crate::helpers::set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("__Host-centralita_csrf="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = csrf_in(&r.text().await.unwrap());
    let host = app.base.trim_start_matches("http://").to_owned();
    let post = |origin: String| {
        new_client()
            .post(app.url("/login"))
            .header("cookie", nonce.clone())
            .header("origin", origin)
            .form(&login_form(&token))
            .send()
    };
    assert_eq!(post(format!("http://{host}")).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post(format!("https://{host}")).await.unwrap().status(), StatusCode::SEE_OTHER);
    app.finish().await;
}
