//! Access-token variants beyond tampering (tests/app/api_auth.rs): only an HS256 token
//! signed with the server's key, for this audience and purpose, unexpired, of a live
//! family and the user's current epoch, opens the API.

use centralita::config::Secret;
use centralita::db::Backend;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_client};
use crate::on_both_backends;

on_both_backends!(only_genuine_current_access_tokens_open_the_api);

const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256-0123456789";

fn mint(alg: Algorithm, key: &[u8], claims: &Value) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

async fn status_with(app: &TestApp, token: &str) -> StatusCode {
    new_client().get(app.url("/api/v1/me")).bearer_auth(token).send().await.unwrap().status()
}

async fn only_genuine_current_access_tokens_open_the_api(backend: Backend) {
    let app = TestApp::spawn(backend, |c| c.jwt_secret = Some(Secret::new(SECRET))).await;
    let real =
        app.api_login("admin", crate::helpers::ADMIN_PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(status_with(&app, &real).await, StatusCode::OK);
    // The genuine token's claims, as a starting point for each variant.
    let payload = real.split('.').nth(1).unwrap();
    let claims: Value = {
        use base64::Engine;
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    // Re-signing the genuine claims with the right key works (the test mints correctly).
    assert_eq!(status_with(&app, &mint(Algorithm::HS256, SECRET.as_bytes(), &claims)).await, StatusCode::OK);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let with = |field: &str, value: Value| {
        let mut c = claims.clone();
        c[field] = value;
        c
    };
    let without = |field: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(field);
        c
    };
    let variants = [
        ("another key", mint(Algorithm::HS256, b"another-secret-another-secret-another", &claims)),
        ("HS512 with the right key", mint(Algorithm::HS512, SECRET.as_bytes(), &claims)),
        ("HS384 with the right key", mint(Algorithm::HS384, SECRET.as_bytes(), &claims)),
        ("expired", mint(Algorithm::HS256, SECRET.as_bytes(), &with("exp", json!(now - 60)))),
        ("no expiry", mint(Algorithm::HS256, SECRET.as_bytes(), &without("exp"))),
        ("other audience", mint(Algorithm::HS256, SECRET.as_bytes(), &with("aud", json!("someone-else")))),
        ("no audience", mint(Algorithm::HS256, SECRET.as_bytes(), &without("aud"))),
        ("refresh purpose", mint(Algorithm::HS256, SECRET.as_bytes(), &with("purpose", json!("refresh")))),
        ("old epoch", mint(Algorithm::HS256, SECRET.as_bytes(), &with("epoch", json!(-1)))),
        ("unknown family", mint(Algorithm::HS256, SECRET.as_bytes(), &with("fam", json!("made-up-family")))),
        ("unknown user", mint(Algorithm::HS256, SECRET.as_bytes(), &with("sub", json!("999999")))),
        ("non-numeric subject", mint(Algorithm::HS256, SECRET.as_bytes(), &with("sub", json!("admin")))),
    ];
    for (what, token) in &variants {
        assert_eq!(status_with(&app, token).await, StatusCode::UNAUTHORIZED, "{what}");
    }
    // Another scheme than Bearer is not a token.
    let r =
        new_client().get(app.url("/api/v1/me")).header("authorization", format!("Basic {real}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.finish().await;
}
