//! The API's OpenAPI document (`/api/v1/openapi.json`) and the docs page drawn from it
//! (`/api/v1/docs`): every routed API operation is documented and nothing else is, the
//! document is OpenAPI 3.1 with bearer security, the documented response shapes are
//! the ones the API sends, and the page works under the strict CSP. On SQLite only:
//! the document is built at compile time and the shapes do not depend on the backend.

use std::collections::BTreeSet;

use centralita::db::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, get_json, new_client};
use crate::security::matrix::routes_in_source;

/// API routes that describe the API rather than being part of it.
const UNDOCUMENTED: &[(&str, &str)] = &[("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/docs")];

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

fn lines(set: &[&(String, String)]) -> String {
    set.iter().map(|(m, p)| format!("  {m} {p}")).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_api_route_is_documented_and_every_documented_operation_is_routed() {
    let routed: BTreeSet<(String, String)> = routes_in_source()
        .into_iter()
        .filter(|(m, p)| p.starts_with("/api/v1/") && !UNDOCUMENTED.contains(&(m.as_str(), p.as_str())))
        .collect();
    assert!(routed.len() > 20, "the API router's routes were read: {routed:?}");
    assert!(routed.len() > 20, "the API router's routes were read: {routed:?}");
    let doc = serde_json::to_value(centralita::api::openapi::document()).unwrap();
    let documented = documented(&doc);
    let missing: Vec<_> = routed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "API routes with no documented operation: annotate each handler with #[utoipa::path(...)] and list it in \
         `paths(...)` of src/api/openapi.rs:\n{}",
        lines(&missing)
    );
    let stale: Vec<_> = documented.difference(&routed).collect();
    assert!(stale.is_empty(), "documented operations that src/api/mod.rs does not route:\n{}", lines(&stale));
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|x| refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_public_openapi_3_1_with_bearer_security() {
    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    let r = new_client().get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let bearer = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!((bearer["type"].as_str(), bearer["scheme"].as_str()), (Some("http"), Some("bearer")), "{bearer}");
    assert_eq!(doc["security"], json!([{"bearerAuth": []}]));
    // Signing in needs no token; everything else inherits the bearer requirement.
    assert_eq!(doc["paths"]["/api/v1/auth/login"]["post"]["security"], json!([{}]));
    assert!(doc["paths"]["/api/v1/me"]["get"].get("security").is_none());
    // Full paths: a client resolves them against the origin alone.
    assert_eq!(doc["servers"], json!([{"url": "/", "description": "This server"}]));
    let me = new_client().get(app.url("/api/v1/me")).bearer_auth(app.admin_token().await).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // Every reference resolves, every operation documents its refusals with the error body.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "dangling ref {r}");
    }
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error", "message"]), "{error}");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path}: no success answer");
            if op.get("security").is_none() {
                let unauthorized = &responses.get("401").unwrap_or_else(|| panic!("{method} {path}: no 401"));
                assert_eq!(unauthorized["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error");
            }
        }
    }
    assert_eq!(
        doc["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["text/event-stream"]
    );
}

/// The property names of a documented schema (following one `$ref`).
fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    let mut keys: BTreeSet<String> =
        schema["properties"].as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
    // `#[serde(flatten)]` shows as allOf with a reference.
    for part in schema["allOf"].as_array().into_iter().flatten() {
        if let Some(r) = part["$ref"].as_str() {
            keys.extend(properties(doc, r.rsplit('/').next().unwrap()));
        }
        if let Some(p) = part["properties"].as_object() {
            keys.extend(p.keys().cloned());
        }
    }
    keys
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_response_shapes_are_the_answers_sent() {
    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    let doc = serde_json::to_value(centralita::api::openapi::document()).unwrap();
    let token = app.admin_token().await;
    let r = new_client()
        .post(app.url("/api/v1/calls"))
        .bearer_auth(&token)
        .json(&json!({"customer": {"name": "Ana Ruiz", "email": "ana@example.com"}, "message": "Quiero pagar"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let turn: Value = r.json().await.unwrap();
    assert_eq!(keys(&turn), properties(&doc, "TurnResult"));
    let id = turn["call_id"].as_i64().unwrap();
    let detail = get_json(app.url(&format!("/api/v1/calls/{id}")), &token).await;
    assert_eq!(keys(&detail), properties(&doc, "CallDetail"));
    assert_eq!(keys(&detail["call"]), properties(&doc, "Call"));
    assert_eq!(keys(&detail["classification"]), properties(&doc, "CallClassification"));
    assert_eq!(keys(&detail["messages"][0]), properties(&doc, "Message"));
    assert_eq!(keys(&detail["steps"][0]), properties(&doc, "StepView"));
    assert_eq!(keys(&get_json(app.url("/api/v1/me"), &token).await), properties(&doc, "Me"));
    let users = get_json(app.url("/api/v1/users"), &token).await;
    assert_eq!(keys(&users["users"][0]), properties(&doc, "UserView"));
    let audit = get_json(app.url("/api/v1/audit"), &token).await;
    assert_eq!(keys(&audit), properties(&doc, "AuditPage"));
    assert_eq!(keys(&audit["entries"][0]), properties(&doc, "AuditEntry"));
    let board = get_json(app.url("/api/v1/board"), &token).await;
    assert_eq!(keys(&board), properties(&doc, "Board"));
    assert_eq!(keys(&board["kpis"]), properties(&doc, "Kpis"));
    let email = new_client()
        .post(app.url("/api/v1/emails"))
        .bearer_auth(&token)
        .json(&json!({"kind": "summary", "call_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(email.status(), StatusCode::CREATED);
    let email: Value = email.json().await.unwrap();
    assert_eq!(keys(&email), properties(&doc, "EmailView"));
    let one = get_json(app.url(&format!("/api/v1/emails/{}", email["id"])), &token).await;
    assert_eq!(keys(&one), properties(&doc, "EmailDetail"));
    let customer = new_client()
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&token)
        .json(&json!({"name": "Luis Gómez", "email": "luis@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(customer.status(), StatusCode::CREATED);
    let customer: Value = customer.json().await.unwrap();
    assert_eq!(keys(&customer), properties(&doc, "CustomerOut"));
    let ticket = new_client()
        .post(app.url("/api/v1/tickets"))
        .bearer_auth(&token)
        .json(&json!({"customer_id": customer["id"], "title": "No llega la factura"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ticket.status(), StatusCode::CREATED);
    let ticket: Value = ticket.json().await.unwrap();
    assert_eq!(keys(&ticket), properties(&doc, "Ticket"));
    let record = get_json(app.url(&format!("/api/v1/customers/{}", customer["id"])), &token).await;
    assert_eq!(keys(&record), properties(&doc, "CustomerDetail"));
    assert_eq!(keys(&record["tickets"][0]), properties(&doc, "TicketLine"));
    let one = get_json(app.url(&format!("/api/v1/tickets/{}", ticket["id"])), &token).await;
    assert_eq!(keys(&one), properties(&doc, "TicketDetail"));
    assert_eq!(keys(&one["customer"]), properties(&doc, "TicketCustomer"));
    assert_eq!(keys(&one["history"][0]), properties(&doc, "HistoryEntry"));
    let refused = new_client().get(app.url("/api/v1/users/999999")).bearer_auth(&token).send().await.unwrap();
    let refused: Value = refused.json().await.unwrap();
    assert!(keys(&refused).is_subset(&properties(&doc, "Error")), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_lists_every_operation_without_script_under_the_strict_csp() {
    let app = TestApp::spawn(Backend::Sqlite, |_| {}).await;
    let r = new_client().get(app.url("/api/v1/docs")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(r.headers()["content-security-policy"], centralita::web::layers::CSP);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script") && !html.contains("style="), "the page needs no script or inline style");
    let doc = serde_json::to_value(centralita::api::openapi::document()).unwrap();
    for (method, path) in documented(&doc) {
        assert!(html.contains(&format!("<code>{method} {path}</code>")), "{method} {path} not on the page");
    }
    // Bodies and fields link to their schemas, and every schema is on the page.
    assert!(html.contains(r##"<a href="#schema-TurnResult"><code>TurnResult</code></a>"##), "no link to TurnResult");
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(html.contains(&format!(r#"id="schema-{name}""#)), "schema {name} not on the page");
    }
    for text in ["LoginRequest", "TurnResult", "text/event-stream", "Bearer", "/api/v1/openapi.json", "Last-Event-ID"] {
        assert!(html.contains(text), "{text} not on the page");
    }
}
