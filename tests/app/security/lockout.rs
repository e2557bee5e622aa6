//! Parallel wrong passwords cannot outrun the lock: counting and locking are one
//! atomic step taken before any password is checked.

use centralita::db::Backend;
use reqwest::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, TestApp};
use crate::{on_both, on_both_backends};

on_both!(
    fifty_parallel_guesses_check_at_most_the_limit_then_lock,
    parallel_guesses_from_one_ip_cannot_outrun_the_ip_lock,
    guessing_the_current_password_counts_against_the_sign_in_lock,
);

on_both_backends!(behind_a_proxy_a_client_cannot_pick_its_own_throttle_key);

/// Sends `n` wrong passwords at once (one for each made-up password) and returns the
/// statuses.
async fn burst(app: &TestApp, names: impl Fn(usize) -> String, n: usize) -> Vec<StatusCode> {
    let tries = (0..n).map(|i| {
        let name = names(i);
        async move { app.login_attempt(&name, &format!("guess-number-{i}")).await.status() }
    });
    futures_util::future::join_all(tries).await
}

async fn fifty_parallel_guesses_check_at_most_the_limit_then_lock(app: &TestApp) {
    let statuses = burst(app, |_| "admin".into(), 50).await;
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + refused, 50, "only 401 or 429: {statuses:?}");
    assert!(checked <= 5, "{checked} passwords were checked; the limit is 5");
    // Every password check leaves one audit entry: the server agrees.
    let failures = app.audit_actions().await.iter().filter(|a| *a == "login.failure").count();
    assert!(failures <= 5, "{failures} password checks recorded");
    // The lock holds, for the right password too, and again after a second burst.
    assert_eq!(app.login_attempt("admin", ADMIN_PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let again = burst(app, |_| "admin".into(), 20).await;
    assert!(again.iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{again:?}");
    assert_eq!(app.login_attempt("admin", ADMIN_PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn parallel_guesses_from_one_ip_cannot_outrun_the_ip_lock(app: &TestApp) {
    // Fifty different names from one address: the per-name limit never trips, the
    // per-IP limit (50 by default) must, and no more than 50 passwords are checked.
    let statuses = burst(app, |i| format!("spray-{i}"), 80).await;
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert!(checked <= 50, "{checked} passwords checked from one IP");
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(app.login_attempt("admin", ADMIN_PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn behind_a_proxy_a_client_cannot_pick_its_own_throttle_key(backend: Backend) {
    let app = TestApp::spawn(backend, |c| {
        c.trust_proxy = true;
        c.login.ip_max_failures = 3;
    })
    .await;
    // The client varies what it sends first; the proxy appends the address it saw.
    let mut statuses = Vec::new();
    for i in 0..5 {
        let r = crate::helpers::new_client()
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", format!("10.9.{i}.1, 203.0.113.7"))
            .json(&serde_json::json!({"username": format!("sprayed-{i}"), "password": "guess-password"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
    }
    assert_eq!(&statuses[..3], &[StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(&statuses[3..], &[StatusCode::TOO_MANY_REQUESTS; 2], "one client, one key");
    // Addresses of one IPv6 /64 share a key as well.
    for i in 0..3 {
        let r = crate::helpers::new_client()
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", format!("2001:db8:1:2::{i:x}"))
            .json(&serde_json::json!({"username": format!("v6-{i}"), "password": "guess-password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = crate::helpers::new_client()
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "2001:db8:1:2:ffff::9")
        .json(&serde_json::json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    app.finish().await;
}

async fn guessing_the_current_password_counts_against_the_sign_in_lock(app: &TestApp) {
    let (_, pw) = app.ready_user("holder", "agent").await;
    let token = app.api_login("holder", &pw).await["access_token"].as_str().unwrap().to_owned();
    let change = |current: String| {
        let token = token.clone();
        async move {
            crate::helpers::new_client()
                .post(app.url("/api/v1/me/password"))
                .bearer_auth(token)
                .json(&serde_json::json!({"current_password": current, "new_password": "a-brand-new-password"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Parallel guesses through a stolen token: at most the limit are checked.
    let guesses = futures_util::future::join_all((0..20).map(|i| change(format!("guess-{i}")))).await;
    let checked = guesses.iter().filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY).count();
    assert!(checked <= 5, "{checked} guesses checked: {guesses:?}");
    assert!(guesses.contains(&StatusCode::TOO_MANY_REQUESTS));
    // The account is locked for sign-in too, and the right password waits as well.
    assert_eq!(change(pw.clone()).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.login_attempt("holder", &pw).await.status(), StatusCode::TOO_MANY_REQUESTS);
}
