//! Admin user management in the browser (forms and htmx) and over the API.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, location, new_client};
use crate::on_both;

on_both!(
    admin_creates_a_user_in_the_browser_who_must_change_the_temporary_password,
    create_form_shows_field_errors_and_keeps_input,
    admin_changes_role_and_disables_with_htmx_row_updates,
    admin_cannot_demote_or_disable_the_last_admin,
    api_user_management_validates_and_audits,
    admin_resets_a_password,
);

async fn admin_creates_a_user_in_the_browser_who_must_change_the_temporary_password(app: &TestApp) {
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    let r = b
        .post(
            "/users",
            "/users",
            &[
                ("username", "Marta.Diaz"),
                ("email", "Marta@Example.com"),
                ("full_name", "Marta Díaz"),
                ("role", "supervisor"),
                ("language", "es"),
                ("password", "temporal-123"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/users?created=marta.diaz");
    let list = b.page("/users?created=marta.diaz").await;
    assert!(list.contains("marta@example.com") && list.contains("Marta Díaz"));

    let marta = app.browser();
    assert_eq!(location(&marta.login("marta.diaz", "temporal-123").await), "/account/password");
    let r = marta.change_password("temporal-123", "mi-clave-nueva", "otra-distinta").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("data-field=\"confirm_password\""));
    let r = marta.change_password("temporal-123", "mi-clave-nueva", "mi-clave-nueva").await;
    assert_eq!(r.status(), StatusCode::OK);
    let home = marta.page("/").await;
    assert!(home.contains("Supervisión"), "Spanish landing for a Spanish user");
}

async fn create_form_shows_field_errors_and_keeps_input(app: &TestApp) {
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    let r = b
        .post(
            "/users",
            "/users",
            &[
                ("username", "a b"),
                ("email", "not-an-email"),
                ("full_name", "Keep Me"),
                ("role", "overlord"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    for field in ["username", "email", "role", "password"] {
        assert!(html.contains(&format!("data-field=\"{field}\"")), "error for {field}");
    }
    assert!(html.contains("value=\"Keep Me\""), "typed values are kept");
    // Duplicate username and email are form errors, not 500s.
    b.post(
        "/users",
        "/users",
        &[
            ("username", "dup"),
            ("email", "dup@example.com"),
            ("full_name", "D"),
            ("role", "agent"),
            ("password", "long-enough-pw"),
        ],
    )
    .await;
    let r = b
        .post(
            "/users",
            "/users",
            &[
                ("username", "DUP"),
                ("email", "other@example.com"),
                ("full_name", "D"),
                ("role", "agent"),
                ("password", "long-enough-pw"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("data-field=\"username\""));
    let r = b
        .post(
            "/users",
            "/users",
            &[
                ("username", "dup2"),
                ("email", "DUP@example.com"),
                ("full_name", "D"),
                ("role", "agent"),
                ("password", "long-enough-pw"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("data-field=\"email\""));
}

async fn admin_changes_role_and_disables_with_htmx_row_updates(app: &TestApp) {
    let (user, _) = app.ready_user("pablo", "agent").await;
    let id = user["id"].as_i64().unwrap();
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    let token = b.csrf("/users").await;
    let r = b
        .client
        .post(app.url(&format!("/users/{id}/role")))
        .header("hx-request", "true")
        .header("x-csrf-token", &token)
        .form(&[("role", "supervisor")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let row = r.text().await.unwrap();
    assert!(row.trim_start().starts_with(&format!("<tr id=\"user-{id}\"")), "a row fragment, not a page");
    assert!(row.contains("value=\"supervisor\" selected"));
    let r = b
        .client
        .post(app.url(&format!("/users/{id}/disable")))
        .header("hx-request", "true")
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    let row = r.text().await.unwrap();
    assert!(row.contains("is-disabled") && row.contains(&format!("/users/{id}/enable")));
    // Without htmx the same action redirects to the detail page.
    let r = b.post(&format!("/users/{id}/enable"), "/users", &[]).await;
    assert_eq!(location(&r), format!("/users/{id}?saved=1"));
    let actions = app.audit_actions().await;
    for a in ["user.role_change", "user.disable", "user.enable"] {
        assert!(actions.contains(&a.to_owned()), "{a}");
    }
    // The audit page shows them.
    let audit = b.page("/audit").await;
    assert!(audit.contains("user.role_change") && audit.contains("login.success"));
}

async fn admin_cannot_demote_or_disable_the_last_admin(app: &TestApp) {
    let token = app.admin_token().await;
    let me: Value = crate::helpers::get_json(app.url("/api/v1/me"), &token).await;
    let id = me["id"].as_i64().unwrap();
    for body in [json!({"role": "agent"}), json!({"disabled": true})] {
        let r = new_client()
            .patch(app.url(&format!("/api/v1/users/{id}")))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "validation");
    }
    // With two admins, one may disable the other, but still not demote themselves.
    let (other, pw) = app.ready_user("root2", "admin").await;
    let t2 = app.api_login("root2", &pw).await["access_token"].as_str().unwrap().to_owned();
    let r = new_client()
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&t2)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "two admins: one may disable the other");
    let r = new_client()
        .patch(app.url(&format!("/api/v1/users/{}", other["id"])))
        .bearer_auth(&t2)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn api_user_management_validates_and_audits(app: &TestApp) {
    let token = app.admin_token().await;
    let c = new_client();
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .json(
            &json!({"username": "", "email": "bad", "full_name": "", "role": "god", "language": "fr", "password": "x"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    for f in ["username", "email", "full_name", "role", "language", "password"] {
        assert!(e["fields"][f].as_str().is_some_and(|m| !m.is_empty()), "message for {f}: {e}");
    }
    let created: Value = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"username": "nuria", "email": "nuria@example.com", "full_name": "Nuria Peña", "role": "viewer", "language": "es", "password": "temporal-456"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["must_change_password"], true);
    assert!(created.get("password_hash").is_none());
    let id = created["id"].as_i64().unwrap();
    let got: Value =
        c.get(app.url(&format!("/api/v1/users/{id}"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["full_name"], "Nuria Peña");
    let list: Value = c.get(app.url("/api/v1/users")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["users"].as_array().unwrap().len(), 2);
    let r = c
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&token)
        .json(&json!({"role": "agent", "language": "en"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        c.get(app.url("/api/v1/users/999999")).bearer_auth(&token).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let audit: Value = c.get(app.url("/api/v1/audit")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let entries = audit["entries"].as_array().unwrap();
    let change = entries.iter().find(|e| e["action"] == "user.role_change").expect("role change audited");
    assert_eq!(change["metadata"], json!({"from": "viewer", "to": "agent"}));
    assert_eq!(change["actor"], "admin");
    assert_eq!(change["target"], format!("user:{id}"));
    assert_eq!(change["ip"], "127.0.0.1");
}

async fn admin_resets_a_password(app: &TestApp) {
    let (user, old) = app.ready_user("rosa", "agent").await;
    let id = user["id"].as_i64().unwrap();
    let rosa = app.browser();
    rosa.login("rosa", &old).await;
    let b = app.browser();
    b.login("admin", ADMIN_PASSWORD).await;
    let r = b.post(&format!("/users/{id}/password"), &format!("/users/{id}"), &[("password", "short")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r =
        b.post(&format!("/users/{id}/password"), &format!("/users/{id}"), &[("password", "reset-by-admin-1")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(rosa.get("/").await.status(), StatusCode::SEE_OTHER, "old session ended by the reset");
    let r = new_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "rosa", "password": old}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let fresh = app.browser();
    assert_eq!(location(&fresh.login("rosa", "reset-by-admin-1").await), "/account/password");
    assert!(app.audit_actions().await.contains(&"user.password_reset".to_owned()));
}
