//! Live streams end when their user may no longer see them: disabled, signed out,
//! token expired.

use std::time::Duration;

use centralita::db::Backend;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, TestApp, new_client, post_json};
use crate::on_both_backends;

on_both_backends!(streams_end_when_the_user_is_disabled_or_signs_out, a_token_stream_ends_when_the_token_expires);

/// Reads the stream until it ends; panics if it is still open after `limit`.
async fn ends_within(r: reqwest::Response, limit: Duration) {
    use futures_util::StreamExt;
    let mut body = r.bytes_stream();
    let ended = tokio::time::timeout(limit, async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream was still open after {limit:?}");
}

async fn open(request: reqwest::RequestBuilder) -> reqwest::Response {
    let r = request.header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r
}

fn quick(c: &mut centralita::config::Config) {
    c.stream_recheck = Duration::from_secs(1);
}

async fn streams_end_when_the_user_is_disabled_or_signs_out(backend: Backend) {
    let app = TestApp::spawn(backend, quick).await;
    let (user, pw) = app.ready_user("leaver", "agent").await;
    let token = app.api_login("leaver", &pw).await["access_token"].as_str().unwrap().to_owned();
    let stream = open(new_client().get(app.url("/api/v1/events")).bearer_auth(&token)).await;
    app.set_disabled(user["id"].as_i64().unwrap(), true).await;
    ends_within(stream, Duration::from_secs(5)).await;

    // A browser's page stream ends when that browser signs out.
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    let page_stream = open(b.client.get(app.url("/events"))).await;
    let r = b.post("/logout", "/board", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    ends_within(page_stream, Duration::from_secs(5)).await;

    // An API logout ends the token's stream.
    let (_, pw) = app.ready_user("quitter", "agent").await;
    let login = app.api_login("quitter", &pw).await;
    let access = login["access_token"].as_str().unwrap().to_owned();
    let stream = open(new_client().get(app.url("/api/v1/events")).bearer_auth(&access)).await;
    let r = post_json(app.url("/api/v1/auth/logout"), &access, json!({"refresh_token": login["refresh_token"]})).await;
    assert!(r.status().is_success(), "{}", r.status());
    ends_within(stream, Duration::from_secs(5)).await;
    app.finish().await;
}

async fn a_token_stream_ends_when_the_token_expires(backend: Backend) {
    let app = TestApp::spawn(backend, |c| {
        c.access_token_ttl = Duration::from_secs(3);
        c.stream_recheck = Duration::from_secs(600);
    })
    .await;
    let token = app.admin_token().await;
    let stream = open(new_client().get(app.url("/api/v1/events")).bearer_auth(&token)).await;
    ends_within(stream, Duration::from_secs(8)).await;
    app.finish().await;
}
