//! Signing in and out in the browser, landing pages and language.

use centralita::db::Backend;
use reqwest::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, TestApp, location, set_cookies};
use crate::{on_both, on_both_backends};

on_both!(
    login_page_signs_in_renews_session_and_lands_on_role_page,
    wrong_password_shows_the_same_error_as_unknown_user,
    logout_ends_the_session,
    agent_lands_on_agent_page_without_admin_links,
    language_follows_accept_language_and_the_switch,
    sessions_and_tokens_work_on_any_node,
);

on_both_backends!(
    sessions_end_after_the_idle_timeout,
    sessions_end_after_the_absolute_lifetime_even_when_active,
    expired_session_on_an_htmx_request_asks_htmx_to_go_to_the_login_page,
);

async fn sessions_and_tokens_work_on_any_node(app: &TestApp) {
    let node_b = app.second_node().await;
    let (user, pw) = app.ready_user("nodo", "agent").await;
    // Signed in through node A; the same browser is served by node B.
    let a = app.browser();
    a.login("nodo", &pw).await;
    let on_b = crate::helpers::Browser { base: node_b.base.clone(), client: a.client.clone() };
    assert_eq!(on_b.get("/").await.status(), StatusCode::OK);
    let token = app.api_login("nodo", &pw).await["access_token"].as_str().unwrap().to_owned();
    let me = crate::helpers::new_client().get(node_b.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // Disabled through node B: node A stops serving them at once.
    let admin = node_b.admin_token().await;
    crate::helpers::new_client()
        .patch(node_b.url(&format!("/api/v1/users/{}", user["id"])))
        .bearer_auth(admin)
        .json(&serde_json::json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(a.get("/").await.status(), StatusCode::SEE_OTHER);
    node_b.finish().await;
}

async fn login_page_signs_in_renews_session_and_lands_on_role_page(app: &TestApp) {
    let b = app.browser();
    let r = b.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    let first = b.get("/login").await;
    let before: Vec<String> = set_cookies(first.headers());
    let r = b.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let after = set_cookies(r.headers());
    let session_after = after.iter().find(|c| c.starts_with("centralita_session=")).expect("session cookie re-issued");
    assert!(!before.contains(session_after), "session id renewed at login");
    let home = b.page("/").await;
    assert!(home.contains("Administrator"));
    assert!(home.contains("href=\"/users\""), "admins see user management");
}

async fn wrong_password_shows_the_same_error_as_unknown_user(app: &TestApp) {
    let b = app.browser();
    let wrong = b.login("admin", "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_html = wrong.text().await.unwrap();
    let unknown = b.login("nobody-here", "not-the-password").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown_html = unknown.text().await.unwrap();
    let msg = |html: &str| html.split("id=\"login-error\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert_eq!(msg(&wrong_html), msg(&unknown_html));
    // The typed username is kept but escaped.
    let r = b.login("<script>alert(1)</script>", "x").await;
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
}

async fn logout_ends_the_session(app: &TestApp) {
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(b.get("/").await.status(), StatusCode::OK);
    let r = b.post("/logout", "/", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?signed_out=1");
    assert_eq!(location(&b.get("/").await), "/login");
    assert!(app.audit_actions().await.contains(&"logout".to_owned()));
}

async fn agent_lands_on_agent_page_without_admin_links(app: &TestApp) {
    let (_, pw) = app.ready_user("ana", "agent").await;
    let b = app.browser();
    assert_eq!(location(&b.login("ana", &pw).await), "/");
    let home = b.page("/").await;
    assert!(home.contains("ana Test"));
    assert!(home.contains("Agent") || home.contains("Agente"));
    assert!(!home.contains("href=\"/users\""));
}

async fn language_follows_accept_language_and_the_switch(app: &TestApp) {
    let b = app.browser();
    let en = b.page_in("/login", "en-GB,en;q=0.9").await;
    assert!(en.contains("lang=\"en\"") && en.contains("Sign in"));
    let es = b.page_in("/login", "es-MX,es;q=0.9,en;q=0.5").await;
    assert!(es.contains("lang=\"es\"") && es.contains("Iniciar sesión"));
    // The switch sets a cookie that wins over the header.
    let r = b.post("/lang", "/login", &[("lang", "en")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html =
        b.client.get(app.url("/login")).header("accept-language", "es").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Sign in"));
    // A signed-in user's choice is stored on the account.
    b.login("admin", ADMIN_PASSWORD).await;
    b.post("/lang", "/", &[("lang", "en")]).await;
    let admin = centralita::users::find_for_login(app.state.db(), "admin").await.unwrap().unwrap().0;
    assert_eq!(admin.language, "en");
    assert!(b.page("/").await.contains("Hello"));
}

async fn sessions_end_after_the_idle_timeout(backend: Backend) {
    let app = TestApp::spawn(backend, |c| c.session_idle = std::time::Duration::from_secs(1)).await;
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(b.get("/").await.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(location(&b.get("/").await), "/login");
    app.finish().await;
}

async fn sessions_end_after_the_absolute_lifetime_even_when_active(backend: Backend) {
    let app = TestApp::spawn(backend, |c| c.session_max = std::time::Duration::from_secs(2)).await;
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    // Keep the session busy; it still ends when its lifetime is over.
    for _ in 0..3 {
        assert_eq!(b.get("/").await.status(), StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    assert_eq!(location(&b.get("/").await), "/login");
    app.finish().await;
}

async fn expired_session_on_an_htmx_request_asks_htmx_to_go_to_the_login_page(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    let b = app.browser();
    let r = b.client.get(app.url("/users")).header("hx-request", "true").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["hx-redirect"], "/login");
    app.finish().await;
}
