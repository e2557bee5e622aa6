//! Bad input gets a clear 4xx, never a 500, and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, new_client};
use crate::on_both;

on_both!(malformed_oversized_and_mistyped_bodies_get_clear_4xx, unicode_and_hostile_strings_are_handled);

async fn malformed_oversized_and_mistyped_bodies_get_clear_4xx(app: &TestApp) {
    let token = app.admin_token().await;
    let c = new_client();
    // A fresh connection per case: after a 413 the server closes the connection, and a
    // pooled one could be reused by the next case and fail with a broken pipe.
    let post = |path: &str, body: String| {
        new_client().post(app.url(path)).bearer_auth(&token).header("content-type", "application/json").body(body)
    };
    let cases: Vec<(&str, String, StatusCode)> = vec![
        ("/api/v1/users", "{not json".into(), StatusCode::BAD_REQUEST),
        ("/api/v1/users", "".into(), StatusCode::BAD_REQUEST),
        (
            "/api/v1/users",
            r#"{"username": 5, "email": [], "full_name": null, "role": {}, "password": true}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/v1/users", r#"{"username": "x", "is_admin": true}"#.into(), StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/v1/users", format!(r#"{{"username": "{}"}}"#, "a".repeat(200_000)), StatusCode::PAYLOAD_TOO_LARGE),
        ("/api/v1/auth/login", r#"{"username": "admin"}"#.into(), StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/v1/auth/login", "[]".into(), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (path, body, expected) in cases {
        let shown: String = body.chars().take(60).collect();
        let r = post(path, body).send().await.unwrap();
        assert_eq!(r.status(), expected, "{path} {shown}");
        if expected == StatusCode::PAYLOAD_TOO_LARGE {
            // The server answers before reading the rest of the body and closes the
            // connection; the client may see a reset while still sending, so only the
            // status is reliable here (the body is checked in error.rs's unit tests).
            continue;
        }
        let e: Value = r.json().await.unwrap();
        assert!(e["message"].as_str().is_some_and(|m| m.len() > 10), "a human message: {e}");
    }
    let r = c.post(app.url("/api/v1/users")).bearer_auth(&token).body("username=x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = c.patch(app.url("/api/v1/users/not-a-number")).bearer_auth(&token).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r =
        c.patch(app.url("/api/v1/users/1")).bearer_auth(&token).json(&json!({"disabled": "yes"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = c.get(app.url("/api/v1/audit?limit=lots")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "bad_request");
    assert!(e["message"].as_str().unwrap().contains("limit"), "axum's explanation kept: {e}");
    let r = c.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Oversized form in the browser.
    let b = app.browser();
    let big = "x".repeat(200_000);
    let r = b.post("/login", "/login", &[("username", big.as_str()), ("password", "p")]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let list: Value = c.get(app.url("/api/v1/users")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["users"].as_array().unwrap().len(), 1, "nothing was created");
}

async fn unicode_and_hostile_strings_are_handled(app: &TestApp) {
    let token = app.admin_token().await;
    let c = new_client();
    // Unicode where it belongs is kept exactly.
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"username": "zoe", "email": "zoë@correo.es", "full_name": "Zoë Ñúñez 日本 🙂", "role": "agent", "password": "contraseña-ñ-🙂"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let u: Value = r.json().await.unwrap();
    assert_eq!(u["full_name"], "Zoë Ñúñez 日本 🙂");
    let r = c
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "zoe", "password": "contraseña-ñ-🙂"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Where it does not belong it is a field error.
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"username": "ñandú", "email": "a@b.es", "full_name": "x\u{7}y", "role": "agent", "password": "long-enough-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    assert!(e["fields"]["username"].is_string() && e["fields"]["full_name"].is_string());
    // Markup in names is stored as text and escaped in pages.
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"username": "xss", "email": "xss@example.com", "full_name": "<img src=x onerror=alert(1)>", "role": "agent", "password": "long-enough-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    let html = b.page("/users").await;
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&#60;img src=x onerror=alert(1)&#62;") || html.contains("&lt;img"));
    // SQL-looking input is just a wrong login.
    let r = c
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin' OR '1'='1", "password": "' OR 1=1 --"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
