//! The routing classifier over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_client};
use crate::on_both;

on_both!(any_staff_role_classifies_text_and_bad_input_is_a_clear_422);

async fn any_staff_role_classifies_text_and_bad_input_is_a_clear_422(app: &TestApp) {
    let (_, pw) = app.ready_user("vera", "viewer").await;
    let token = app.api_login("vera", &pw).await["access_token"].as_str().unwrap().to_owned();
    let c = new_client();
    let post = |body: Value| c.post(app.url("/api/v1/classify")).bearer_auth(&token).json(&body).send();

    let r = post(json!({"text": "Me cobraron dos veces la factura y estoy harto"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["department"], "billing");
    assert_eq!(got["category"], "charge_dispute");
    assert_eq!(got["sentiment"], "negative");
    assert_eq!(got["language"], "es");
    assert_eq!(got["priority"], "high");
    let conf = got["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&conf));
    assert!(got["recommendations"].is_array());

    let got: Value = post(json!({"text": "I want to talk to a human"})).await.unwrap().json().await.unwrap();
    assert_eq!(
        (got["department"].as_str(), got["category"].as_str(), got["language"].as_str()),
        (Some("general"), Some("human_request"), Some("en"))
    );

    for (body, field) in [(json!({"text": "   "}), "text"), (json!({"text": "x".repeat(4001)}), "text")] {
        let r = post(body).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e: Value = r.json().await.unwrap();
        assert!(e["fields"][field].is_string());
    }
    assert_eq!(post(json!({"text": 5})).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(post(json!({"txt": "hola"})).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = new_client().post(app.url("/api/v1/classify")).json(&json!({"text": "hola"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "staff only");
}
