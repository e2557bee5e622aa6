//! Role enforcement: only admins manage users and read the audit log.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, new_client};
use crate::on_both;

on_both!(non_admins_get_403_on_admin_pages_and_api);

async fn non_admins_get_403_on_admin_pages_and_api(app: &TestApp) {
    for role in ["supervisor", "agent", "viewer"] {
        let name = format!("{role}1");
        let (user, pw) = app.ready_user(&name, role).await;
        let token = app.api_login(&name, &pw).await["access_token"].as_str().unwrap().to_owned();
        let c = new_client();
        for path in ["/api/v1/users", "/api/v1/audit", &format!("/api/v1/users/{}", user["id"])] {
            let r = c.get(app.url(path)).bearer_auth(&token).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{role} GET {path}");
        }
        let r = c
            .post(app.url("/api/v1/users"))
            .bearer_auth(&token)
            .json(&json!({"username": "x", "email": "x@example.com", "full_name": "X", "role": "admin", "password": "long-enough-pw"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = c
            .patch(app.url(&format!("/api/v1/users/{}", user["id"])))
            .bearer_auth(&token)
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{role} cannot promote themselves");

        let b = app.browser();
        b.login(&name, &pw).await;
        for path in ["/users", "/audit", &format!("/users/{}", user["id"])] {
            let r = b.get(path).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{role} GET {path}");
            assert!(r.text().await.unwrap().contains("403"));
        }
        let r = b.post(&format!("/users/{}/role", user["id"]), "/", &[("role", "admin")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let me: serde_json::Value =
            c.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["role"], role, "role unchanged");
    }
}
