//! CSRF: every state-changing browser request needs the session token and a same-origin
//! request; cookie-authenticated API calls must be JSON.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, TestApp, new_client};
use crate::on_both;

on_both!(forms_without_a_valid_token_are_refused, cross_origin_requests_are_refused, cookie_api_calls_must_be_json);

async fn forms_without_a_valid_token_are_refused(app: &TestApp) {
    let b = app.browser();
    // Even the login form.
    let r = b.post_raw("/login", &[("username", "admin"), ("password", ADMIN_PASSWORD)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    b.login("admin", ADMIN_PASSWORD).await;
    let fields = [
        ("username", "mallory"),
        ("email", "m@example.com"),
        ("full_name", "M"),
        ("role", "admin"),
        ("password", "long-enough-pw"),
    ];
    let r = b.post_raw("/users", &fields).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("<html"), "browsers get a page, not JSON");
    let mut with_wrong: Vec<(&str, &str)> = fields.to_vec();
    with_wrong.push(("csrf_token", "not-the-token"));
    assert_eq!(b.post_raw("/users", &with_wrong).await.status(), StatusCode::FORBIDDEN);
    assert!(
        centralita::users::find_for_login(app.state.db(), "mallory").await.unwrap().is_none(),
        "nothing was created"
    );
    // The htmx header works as well as the field.
    let token = b.csrf("/users").await;
    let r = b.client.post(app.url("/users")).header("x-csrf-token", token).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

async fn cross_origin_requests_are_refused(app: &TestApp) {
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    let token = b.csrf("/users").await;
    let fields = [
        ("username", "eve"),
        ("email", "e@example.com"),
        ("full_name", "E"),
        ("role", "admin"),
        ("password", "long-enough-pw"),
        ("csrf_token", token.as_str()),
    ];
    let r =
        b.client.post(app.url("/users")).header("origin", "https://evil.example").form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b.client.post(app.url("/users")).header("sec-fetch-site", "cross-site").form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let admin = app.admin_token().await;
    // Bearer-authenticated API calls carry no ambient credential: Origin does not matter
    // for them unless it is cross-site.
    let r = new_client()
        .get(app.url("/api/v1/users"))
        .bearer_auth(admin)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "reads are not state changes");
    // Same origin passes.
    let r = b.client.post(app.url("/users")).header("origin", app.base.clone()).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

async fn cookie_api_calls_must_be_json(app: &TestApp) {
    let c = new_client();
    c.post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    // A cross-site form would arrive as urlencoded with the cookie: refused.
    let r = c
        .post(app.url("/api/v1/users"))
        .form(&[
            ("username", "x"),
            ("email", "x@example.com"),
            ("full_name", "X"),
            ("role", "admin"),
            ("password", "long-enough-pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = c.post(app.url("/api/v1/auth/logout")).header("content-type", "text/plain").body("").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A junk Authorization header does not unlock the cookie for a form body.
    let r = c
        .post(app.url("/api/v1/users"))
        .header("authorization", "Basic eDp4")
        .form(&[
            ("username", "x"),
            ("email", "x@example.com"),
            ("full_name", "X"),
            ("role", "admin"),
            ("password", "long-enough-pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::OK, "still signed in");
}
