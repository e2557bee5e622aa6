//! Login throttling per account and per IP, without revealing which accounts exist.

use centralita::db::Backend;
use reqwest::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, TestApp};
use crate::{on_both, on_both_backends};

on_both!(five_failures_lock_real_and_made_up_accounts_alike);

on_both_backends!(
    lock_expires_after_the_configured_time_and_success_resets_the_streak,
    one_ip_guessing_many_accounts_is_locked,
);

async fn five_failures_lock_real_and_made_up_accounts_alike(app: &TestApp) {
    for name in ["admin", "no-such-user"] {
        for i in 0..5 {
            assert_eq!(
                app.login_attempt(name, "wrong-password").await.status(),
                StatusCode::UNAUTHORIZED,
                "{name} attempt {i}"
            );
        }
    }
    let real = app.login_attempt("admin", ADMIN_PASSWORD).await;
    let fake = app.login_attempt("no-such-user", "whatever-password").await;
    assert_eq!(real.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits out the lock");
    assert_eq!(fake.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = real.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900);
    assert!(fake.headers().contains_key("retry-after"));
    assert_eq!(real.text().await.unwrap(), fake.text().await.unwrap(), "same body for both");

    // The browser form is throttled by the same counter.
    let b = app.browser();
    let r = b.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));

    let actions = app.audit_actions().await;
    assert!(actions.iter().filter(|a| *a == "login.failure").count() >= 10);
    assert!(actions.contains(&"login.locked".to_owned()));
    assert!(actions.contains(&"login.blocked".to_owned()));
}

async fn lock_expires_after_the_configured_time_and_success_resets_the_streak(backend: Backend) {
    let app = TestApp::spawn(backend, |c| c.login.lockout = std::time::Duration::from_secs(1)).await;
    for _ in 0..5 {
        app.login_attempt("admin", "wrong-password").await;
    }
    assert_eq!(app.login_attempt("admin", ADMIN_PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.login_attempt("admin", ADMIN_PASSWORD).await.status(), StatusCode::OK);
    // After a success, four failures do not lock.
    for _ in 0..4 {
        app.login_attempt("admin", "wrong-password").await;
    }
    assert_eq!(app.login_attempt("admin", ADMIN_PASSWORD).await.status(), StatusCode::OK);
    app.finish().await;
}

async fn one_ip_guessing_many_accounts_is_locked(backend: Backend) {
    let app = TestApp::spawn(backend, |c| c.login.ip_max_failures = 3).await;
    for name in ["a1", "a2", "a3"] {
        assert_eq!(app.login_attempt(name, "wrong-password").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login_attempt("admin", ADMIN_PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    app.finish().await;
}
