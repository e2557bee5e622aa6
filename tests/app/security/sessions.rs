//! Browser sessions: the idle expiry moves with activity (with bounded writes), the
//! absolute lifetime does not, and looking at public pages stores nothing.

use std::time::Duration;

use centralita::db::Backend;
use reqwest::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, TestApp, location};
use crate::{on_both, on_both_backends};

on_both!(looking_at_public_pages_stores_no_session);

on_both_backends!(
    an_active_session_outlives_the_idle_time_and_an_idle_one_does_not,
    activity_does_not_extend_the_absolute_lifetime,
    the_idle_expiry_is_written_at_most_once_per_half_idle_period,
);

async fn session_rows(app: &TestApp) -> i64 {
    let db = app.state.db();
    centralita::with_db!(db, |pool| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions").fetch_one(pool).await)
        .unwrap()
}

async fn an_active_session_outlives_the_idle_time_and_an_idle_one_does_not(backend: Backend) {
    let app = TestApp::spawn(backend, |c| {
        c.session_idle = Duration::from_secs(4);
        c.session_max = Duration::from_secs(3600);
    })
    .await;
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    // A request every 1.5 s for 10 s: well past the 4 s idle time.
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let r = b.get("/board").await;
        assert_eq!(r.status(), StatusCode::OK, "still signed in while active");
    }
    // Then idle for longer than the idle time: signed out.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let r = b.get("/board").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"));
    app.finish().await;
}

async fn activity_does_not_extend_the_absolute_lifetime(backend: Backend) {
    let app = TestApp::spawn(backend, |c| {
        c.session_idle = Duration::from_secs(4);
        c.session_max = Duration::from_secs(5);
    })
    .await;
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    let mut signed_out_at = None;
    for i in 0..8 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if b.get("/board").await.status() != StatusCode::OK {
            signed_out_at = Some(i + 1);
            break;
        }
    }
    let at = signed_out_at.expect("signed out by the absolute lifetime");
    assert!((5..=7).contains(&at), "signed out after {at} s");
    app.finish().await;
}

async fn the_idle_expiry_is_written_at_most_once_per_half_idle_period(backend: Backend) {
    let app = TestApp::spawn(backend, |c| c.session_idle = Duration::from_secs(600)).await;
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    let expiry = || async {
        let db = app.state.db();
        centralita::with_db!(db, |pool| sqlx::query_scalar::<_, String>(
            "SELECT CAST(expires_at AS TEXT) FROM sessions WHERE user_id IS NOT NULL"
        )
        .fetch_one(pool)
        .await)
        .unwrap()
    };
    b.page("/board").await;
    let first = expiry().await;
    for _ in 0..5 {
        b.page("/board").await;
    }
    assert_eq!(expiry().await, first, "no write per request");
    app.finish().await;
}

async fn looking_at_public_pages_stores_no_session(app: &TestApp) {
    let b = app.browser();
    for path in ["/login", "/call", "/", "/login?signed_out=1"] {
        let r = b.get(path).await;
        assert!(r.status().is_success() || r.status().is_redirection(), "{path}");
    }
    // A public call page and its form errors, too.
    let r = b.post("/call", "/call", &[("name", "Visita"), ("email", "visita@example.com"), ("message", "Hola")]).await;
    let link = location(&r);
    b.page(&link).await;
    b.post(&format!("{link}/messages"), &link, &[("message", "   ")]).await;
    assert_eq!(session_rows(app).await, 0, "anonymous visits write no session rows");
    // The anonymous CSRF token still guards the forms, and signing in works with it.
    let r =
        b.post_raw("/login", &[("username", "admin"), ("password", ADMIN_PASSWORD), ("csrf_token", "forged")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(session_rows(app).await, 1);
}
