//! API login, `/me`, refresh rotation with reuse detection, logout, and disabled users.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, new_client, set_cookies};
use crate::on_both;

on_both!(
    api_login_returns_bearer_tokens_and_sets_strict_http_only_cookies,
    me_answers_for_bearer_and_for_the_cookie,
    refresh_rotates_and_reuse_revokes_the_whole_family,
    logout_revokes_tokens_at_once,
    unknown_user_and_wrong_password_get_identical_401,
    disabled_user_loses_web_session_and_tokens_immediately,
    forged_or_tampered_tokens_are_refused,
    temporary_password_only_allows_changing_it_over_the_api,
    a_hash_with_earlier_argon2_parameters_is_replaced_at_sign_in,
);

async fn temporary_password_only_allows_changing_it_over_the_api(app: &TestApp) {
    app.create_user("tempadmin", "admin", "temporary-pw-1").await;
    let token = app.api_login("tempadmin", "temporary-pw-1").await["access_token"].as_str().unwrap().to_owned();
    let c = new_client();
    let r = c.get(app.url("/api/v1/users")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "password_change_required");
    assert_eq!(c.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().status(), StatusCode::OK);
    let r = c
        .post(app.url("/api/v1/me/password"))
        .bearer_auth(&token)
        .json(&json!({"current_password": "wrong-one-here", "new_password": "my-own-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = c
        .post(app.url("/api/v1/me/password"))
        .bearer_auth(&token)
        .json(&json!({"current_password": "temporary-pw-1", "new_password": "my-own-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The change ends the old token; a new login works fully.
    assert_eq!(
        c.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let fresh = app.api_login("tempadmin", "my-own-password").await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(c.get(app.url("/api/v1/users")).bearer_auth(&fresh).send().await.unwrap().status(), StatusCode::OK);
}

async fn api_login_returns_bearer_tokens_and_sets_strict_http_only_cookies(app: &TestApp) {
    let r = new_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookies = set_cookies(r.headers());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3, "a JWT");
    assert!(body["refresh_token"].as_str().unwrap().len() >= 40);
    for name in ["centralita_access=", "centralita_refresh="] {
        let c = cookies.iter().find(|c| c.starts_with(name)).unwrap_or_else(|| panic!("{name} cookie"));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"), "{c}");
        assert!(!c.contains("Secure"), "plain HTTP by default: {c}");
    }
}

async fn me_answers_for_bearer_and_for_the_cookie(app: &TestApp) {
    let token = app.admin_token().await;
    let me: Value = crate::helpers::get_json(app.url("/api/v1/me"), &token).await;
    assert_eq!(
        me,
        json!({"id": me["id"], "username": "admin", "email": "admin@centralita.local", "full_name": "Administrator", "role": "admin", "language": "es"})
    );
    // Cookie-only client (what a browser gets from the API login).
    let c = new_client();
    c.post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let r = c.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(new_client().get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    new_client().post(app.url("/api/v1/auth/refresh")).json(&json!({"refresh_token": token})).send().await.unwrap()
}

async fn refresh_rotates_and_reuse_revokes_the_whole_family(app: &TestApp) {
    let first = app.api_login("admin", ADMIN_PASSWORD).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let second: Value = {
        let r = refresh(app, r1).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    };
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2, "refresh token rotates");
    let a2 = second["access_token"].as_str().unwrap();
    assert_eq!(new_client().get(app.url("/api/v1/me")).bearer_auth(a2).send().await.unwrap().status(), StatusCode::OK);

    // Replaying the used token: 401, and the newer token of the same family dies too.
    assert_eq!(refresh(app, r1).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(app, r2).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        new_client().get(app.url("/api/v1/me")).bearer_auth(a2).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(app.audit_actions().await.contains(&"token.reuse_detected".to_owned()));

    // Another login (another family) is unaffected.
    let other = app.api_login("admin", ADMIN_PASSWORD).await;
    assert_eq!(refresh(app, other["refresh_token"].as_str().unwrap()).await.status(), StatusCode::OK);
    assert_eq!(refresh(app, "made-up-token").await.status(), StatusCode::UNAUTHORIZED);
}

async fn logout_revokes_tokens_at_once(app: &TestApp) {
    let pair = app.api_login("admin", ADMIN_PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap();
    let r =
        new_client().post(app.url("/api/v1/auth/logout")).bearer_auth(access).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(set_cookies(r.headers()).iter().any(|c| c.starts_with("centralita_access=;") && c.contains("Max-Age=0")));
    assert_eq!(
        new_client().get(app.url("/api/v1/me")).bearer_auth(access).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(refresh(app, pair["refresh_token"].as_str().unwrap()).await.status(), StatusCode::UNAUTHORIZED);
}

async fn unknown_user_and_wrong_password_get_identical_401(app: &TestApp) {
    let login = |u: &'static str| {
        let url = app.url("/api/v1/auth/login");
        async move {
            new_client().post(url).json(&json!({"username": u, "password": "wrong-password"})).send().await.unwrap()
        }
    };
    let a = login("admin").await;
    let b = login("ghost").await;
    assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(b.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    // Same work for both: the stand-in hash for unknown users is a real argon2id hash
    // with the same parameters as stored passwords.
    let stored = centralita::users::find_for_login(app.state.db(), "admin").await.unwrap().unwrap().1;
    let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
    assert_eq!(params(app.state.dummy_hash()), params(&stored));
}

async fn disabled_user_loses_web_session_and_tokens_immediately(app: &TestApp) {
    let (user, pw) = app.ready_user("luis", "agent").await;
    let id = user["id"].as_i64().unwrap();
    let browser = app.browser();
    browser.login("luis", &pw).await;
    assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    let pair = app.api_login("luis", &pw).await;
    let access = pair["access_token"].as_str().unwrap();

    app.set_disabled(id, true).await;

    assert_eq!(browser.get("/").await.status(), StatusCode::SEE_OTHER, "web session ended");
    assert_eq!(
        new_client().get(app.url("/api/v1/me")).bearer_auth(access).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(refresh(app, pair["refresh_token"].as_str().unwrap()).await.status(), StatusCode::UNAUTHORIZED);
    let r = new_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "luis", "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let actions = app.audit_actions().await;
    assert!(actions.contains(&"user.disable".to_owned()));

    // Enabling again lets them back in.
    app.set_disabled(id, false).await;
    app.api_login("luis", &pw).await;
}

async fn forged_or_tampered_tokens_are_refused(app: &TestApp) {
    let token = app.admin_token().await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    // alg=none with the same claims.
    let none_header = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
    let forged = format!("{none_header}.{}.", parts[1]);
    parts[2] = parts[2].chars().rev().collect();
    let tampered = parts.join(".");
    for bad in [forged.as_str(), tampered.as_str(), "garbage", ""] {
        let r = new_client().get(app.url("/api/v1/me")).bearer_auth(bad).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored password hash of an account, read from the database.
async fn stored_hash(app: &TestApp, username: &str) -> String {
    let db = app.state.db();
    centralita::with_db!(db, |pool| sqlx::query_scalar::<_, String>(
        "SELECT password_hash FROM users WHERE username = $1"
    )
    .bind(username)
    .fetch_one(pool)
    .await
    .unwrap())
}

/// An account whose hash was stored with the earlier argon2 parameters (m=19456, t=2)
/// still signs in, and its hash is replaced with today's then; a wrong password
/// changes nothing.
async fn a_hash_with_earlier_argon2_parameters_is_replaced_at_sign_in(app: &TestApp) {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
    app.create_user("oldhash", "agent", "old-params-pass-1").await;
    let params = Params::new(19_456, 2, 1, None).unwrap();
    let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(b"old-params-pass-1")
        .unwrap()
        .to_string();
    let db = app.state.db();
    centralita::with_db!(db, |pool| sqlx::query("UPDATE users SET password_hash = $1 WHERE username = 'oldhash'")
        .bind(&old)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        .unwrap());
    assert_eq!(app.login_attempt("oldhash", "not-the-password").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(stored_hash(app, "oldhash").await, old, "a failed sign-in changes nothing");
    let r = app.login_attempt("oldhash", "old-params-pass-1").await;
    assert_eq!(r.status(), StatusCode::OK);
    let new = stored_hash(app, "oldhash").await;
    assert!(new.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{new}");
    assert_eq!(app.login_attempt("oldhash", "old-params-pass-1").await.status(), StatusCode::OK);
    assert_eq!(stored_hash(app, "oldhash").await, new, "rehashed once");
}
