//! The per-call token budget (`CENTRALITA_CALL_TOKEN_BUDGET`): once a call has used
//! it up on the remote model, the call goes to a person instead of the model being
//! asked again, and staff see why.

use std::time::Duration;

use centralita::agents::openai::OpenAiConfig;
use centralita::db::Backend;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, get_json, post_json};
use crate::on_both_backends;

on_both_backends!(a_call_that_used_up_its_token_budget_goes_to_a_person_instead_of_asking_the_model_again);

/// Every request answers 100 prompt and 50 completion tokens: a routing
/// classification, a verdict or a reply, by what it asks for.
async fn model_server() -> MockServer {
    let server = MockServer::start().await;
    let answer = |content: &str| {
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50}})
    };
    let routing = r#"{"department":"billing","category":"invoice","sentiment":"neutral","priority":"low","language":"es","confidence":0.9,"recommendations":[]}"#;
    for (marker, content, priority) in [
        (r#""name":"classification""#, routing, 1),
        (r#""name":"verdict""#, r#"{"action":"continue","reason":null,"quality":0.8}"#, 1),
        ("", "Le explico su factura con gusto.", 2),
    ] {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(wiremock::matchers::body_string_contains(marker))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer(content)))
            .with_priority(priority)
            .mount(&server)
            .await;
    }
    server
}

async fn a_call_that_used_up_its_token_budget_goes_to_a_person_instead_of_asking_the_model_again(backend: Backend) {
    let server = model_server().await;
    let base_url = format!("{}/v1", server.uri());
    let app = TestApp::spawn(backend, move |c| {
        c.llm = Some(OpenAiConfig {
            base_url,
            api_key: None,
            model: "test-model".into(),
            per_agent: Default::default(),
            timeout: Duration::from_secs(5),
            max_retries: 0,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        });
        // One turn costs 3 × 150 tokens: the second turn crosses the budget.
        c.call_token_budget = 600;
    })
    .await;
    let token = app.token_for("agente", "agent").await;

    let first = app.start_call(&token, json!({"message": "Tengo una duda con mi factura de este mes"})).await;
    assert_eq!(first["status"], "ai", "{first}");
    let call = first["call_id"].as_i64().unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 3);

    // The turn that crosses the budget is answered, and the call goes to a person.
    let second = app.say(&token, call, "¿Y por qué sube el importe cada mes?").await;
    assert_eq!(second["reply"], "Le explico su factura con gusto.");
    assert_eq!((&second["status"], &second["verdict"]["action"]), (&json!("queued"), &json!("escalate")), "{second}");
    let details = get_json(app.url(&format!("/api/v1/calls/{call}")), &token).await;
    assert_eq!(details["call"]["escalation_reason"], "token_budget", "{details}");
    let asked = server.received_requests().await.unwrap().len();

    // Handed back to the AI, the call's next turn does not reach the model: the customer
    // is told a person will continue, and the call is queued again with the same reason.
    for step in ["takeover", "handback"] {
        let r = post_json(app.url(&format!("/api/v1/calls/{call}/{step}")), &token, json!({})).await;
        assert!(r.status().is_success(), "{step}: {:?}", r.text().await);
    }
    let third = app.say(&token, call, "¿Sigue ahí?").await;
    assert_eq!(server.received_requests().await.unwrap().len(), asked, "no model request once the budget is spent");
    assert_eq!(third["status"], "queued", "{third}");
    assert!(third["reply"].as_str().unwrap().contains("persona"), "{third}");
    let steps: Vec<Value> = third["steps"].as_array().unwrap().clone();
    assert!(steps.iter().all(|s| s["prompt_tokens"] == 0 && s["backend"] == "builtin"), "{steps:?}");
    let details = get_json(app.url(&format!("/api/v1/calls/{call}")), &token).await;
    assert_eq!(details["call"]["escalation_reason"], "token_budget");

    // Staff read the reason in their language (English here) on the call's page.
    let page = app.signed_in("supervisora", "supervisor").await.page(&format!("/calls/{call}")).await;
    assert!(page.contains("Used up the AI token budget"), "the reason's label on the call page");
    app.finish().await;
}
