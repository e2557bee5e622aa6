//! Canned responses (managed by supervisors, read and inserted by agents, filled in
//! from the call's customer) and the suggested reply the customer-service agent drafts
//! for the person holding a call, over the API and the pages.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Browser, TestApp, csrf_in, get_json, location, new_client, post_json};
use crate::on_both;

on_both!(
    supervisors_manage_canned_responses_and_lower_roles_only_read,
    canned_responses_are_filled_in_from_the_calls_customer_and_escaped_on_the_page,
    the_canned_responses_page_checks_csrf_and_shows_form_errors,
    the_suggested_reply_answers_the_last_message_and_changes_nothing,
    only_the_holder_gets_a_suggested_reply,
);

async fn patch_json(url: String, token: &str, body: Value) -> reqwest::Response {
    new_client().patch(url).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let db = app.state.db();
    let sql = format!("SELECT COUNT(*) FROM {table}");
    centralita::with_db!(db, |pool| sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await)
        .unwrap()
}

/// Creates a canned response as `token` (asserting 201) and returns it.
async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let r = post_json(app.url("/api/v1/canned-responses"), token, body).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    r.json().await.unwrap()
}

/// A browser signed in as a new user with `role`, and an API token of the same user.
async fn staff(app: &TestApp, name: &str, role: &str) -> (Browser, String) {
    let (_, pw) = app.ready_user(name, role).await;
    let b = app.browser();
    assert_eq!(b.login(name, &pw).await.status(), StatusCode::SEE_OTHER);
    let token = app.api_login(name, &pw).await["access_token"].as_str().unwrap().to_owned();
    (b, token)
}

async fn supervisors_manage_canned_responses_and_lower_roles_only_read(app: &TestApp) {
    let boss = app.token_for("marta", "supervisor").await;
    let agent = app.token_for("pablo", "agent").await;
    let viewer = app.token_for("vera", "viewer").await;
    let url = app.url("/api/v1/canned-responses");
    let greeting = json!({"title": "Saludo", "shortcut": "/saludo", "body": "Hola {{customer_name}}, soy {{agent_name}}.", "language": "es"});

    // Agents and viewers cannot write; viewers cannot even read.
    assert_eq!(post_json(url.clone(), &agent, greeting.clone()).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(post_json(url.clone(), &viewer, greeting.clone()).await.status(), StatusCode::FORBIDDEN);
    let r = new_client().get(&url).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let created = create(app, &boss, greeting.clone()).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["shortcut"], "saludo", "the leading slash is dropped");
    assert_eq!(created["department"], Value::Null, "no department: every department");
    assert_eq!(created["created_by_name"], "marta Test");

    // Validation names each field; an unknown variable is refused when saved.
    let r = post_json(
        url.clone(),
        &boss,
        json!({"title": "", "shortcut": "no spaces", "body": "Hola {{nombre}}", "language": "fr", "department": "marketing"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    for field in ["title", "shortcut", "body", "language", "department"] {
        assert!(body["fields"][field].is_string(), "{field} named: {body}");
    }
    assert!(body["fields"]["body"].as_str().unwrap().contains("customer_name"), "{body}");
    let r = post_json(
        url.clone(),
        &boss,
        json!({"title": "x", "shortcut": "xx", "body": "y".repeat(2001), "language": "en"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_json(
        url.clone(),
        &boss,
        json!({"title": "x", "shortcut": "xx", "body": "y", "language": "en", "extra": 1}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused");

    // A shortcut is unique per language: taken in Spanish, free in English.
    let r = post_json(url.clone(), &boss, greeting.clone()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("canned_shortcut_taken"));
    let english = create(
        app,
        &boss,
        json!({"title": "Greeting", "shortcut": "saludo", "body": "Hello {{customer_name}}", "language": "en", "department": "billing"}),
    )
    .await;

    // Agents read the list, filtered by language and department, and one response.
    let list = get_json(app.url("/api/v1/canned-responses?language=en"), &agent).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let list = get_json(app.url("/api/v1/canned-responses?department=support"), &agent).await;
    let ids: Vec<i64> = list["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [id], "support sees the all-department response, not billing's");
    let r = new_client().get(app.url("/api/v1/canned-responses?language=fr")).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let one = get_json(app.url(&format!("/api/v1/canned-responses/{id}")), &agent).await;
    assert_eq!(one["title"], "Saludo");

    // Supervisors change and delete; agents cannot.
    let one_url = app.url(&format!("/api/v1/canned-responses/{id}"));
    assert_eq!(patch_json(one_url.clone(), &agent, json!({"title": "Nope"})).await.status(), StatusCode::FORBIDDEN);
    let r = patch_json(one_url.clone(), &boss, json!({"title": "Saludo cordial", "department": "support"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let changed: Value = r.json().await.unwrap();
    assert_eq!((changed["title"].as_str(), changed["department"].as_str()), (Some("Saludo cordial"), Some("support")));
    let r = patch_json(one_url.clone(), &boss, json!({"department": null})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["department"], Value::Null, "null means every department again");
    let en_url = app.url(&format!("/api/v1/canned-responses/{}", english["id"]));
    let r = patch_json(en_url, &boss, json!({"language": "es"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "moving it into Spanish would repeat the shortcut");
    let r = patch_json(one_url.clone(), &boss, json!({"body": "{{balance"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let r = new_client().delete(&one_url).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = new_client().delete(&one_url).bearer_auth(&boss).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = new_client().get(&one_url).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = new_client().delete(&one_url).bearer_auth(&boss).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let audit = app.audit_actions().await;
    for action in ["canned_response.create", "canned_response.update", "canned_response.delete"] {
        assert!(audit.iter().any(|a| a == action), "{action} audited: {audit:?}");
    }
    assert_eq!(audit.iter().filter(|a| *a == "canned_response.update").count(), 2, "refused changes are not audited");
}

async fn canned_responses_are_filled_in_from_the_calls_customer_and_escaped_on_the_page(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let boss = app.token_for("marta", "supervisor").await;
    let (agent_page, agent) = staff(app, "pablo", "agent").await;
    // Maria's newest open ticket is the one opened now.
    let r = post_json(app.url("/api/v1/tickets"), &agent, json!({"customer_id": maria, "title": "Sin fibra"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ticket = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let all = create(
        app,
        &boss,
        json!({"title": "Todo", "shortcut": "todo", "language": "es", "department": "billing",
               "body": "Hola {{customer_name}}: debes {{ balance }} €, ticket #{{ticket_number}}. {{agent_name}}"}),
    )
    .await;
    create(
        app,
        &boss,
        json!({"title": "Soporte", "shortcut": "soporte", "body": "x", "language": "es", "department": "support"}),
    )
    .await;
    create(app, &boss, json!({"title": "English", "shortcut": "hello", "body": "Hi", "language": "en"})).await;

    let call =
        app.start_call(&agent, json!({"customer_id": maria, "message": "Hola, ¿cuál es mi saldo?"})).await["call_id"]
            .as_i64()
            .unwrap();
    let offered = get_json(app.url(&format!("/api/v1/calls/{call}/canned-responses")), &agent).await;
    assert_eq!(offered["language"], "es");
    let items = offered["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only Spanish and billing (or every department): {offered}");
    assert_eq!(
        items[0]["text"].as_str().unwrap(),
        format!("Hola María López: debes 125.50 €, ticket #{ticket}. pablo Test")
    );
    assert_eq!(items[0]["missing"], json!([]));

    // A customer whose name holds markup: the call page shows it as text.
    let r = post_json(
        app.url("/api/v1/customers"),
        &boss,
        json!({"name": "<b>Eve</b> & \"Co\"", "email": "eve@example.com"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let eve = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let call =
        app.start_call(&agent, json!({"customer_id": eve, "message": "Hola, ¿cuál es mi saldo?"})).await["call_id"]
            .as_i64()
            .unwrap();
    let offered = get_json(app.url(&format!("/api/v1/calls/{call}/canned-responses")), &agent).await;
    assert_eq!(offered["items"][0]["missing"], json!(["ticket_number"]));
    assert!(offered["items"][0]["text"].as_str().unwrap().starts_with("Hola <b>Eve</b> & \"Co\": debes 0.00 €"));
    let page = agent_page.page(&format!("/calls/{call}")).await;
    assert!(!page.contains("canned-pick"), "the picker is for the holder only");
    assert_eq!(post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &agent, json!({})).await.status(), 200);
    let page = agent_page.page(&format!("/calls/{call}")).await;
    assert!(page.contains("data-shortcut=\"todo\""), "the picker offers it");
    assert!(!page.contains("<b>Eve</b>"), "markup in a customer's name is escaped");
    assert!(page.contains("data-text=\"Hola &#60;b&#62;Eve&#60;/b&#62; &#38; &#34;Co&#34;: debes 0.00 €"), "{page}");

    // Without JavaScript, "Insert" posts the form: the box comes back with the text
    // added to what was typed.
    let token = csrf_in(&page);
    let id = all["id"].as_i64().unwrap().to_string();
    let r = agent_page
        .post_raw(&format!("/calls/{call}/compose"), &[("csrf_token", &token), ("message", "Buenas."), ("canned", &id)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    let start = page.find("id=\"reply-box\"").unwrap();
    let textarea = &page[start..start + page[start..].find("</textarea>").unwrap()];
    assert!(textarea.contains(">Buenas.\nHola &#60;b&#62;Eve&#60;/b&#62; &#38;"), "{textarea}");
    // A response the call does not offer is not found; without a token, refused.
    let r = agent_page
        .post_raw(&format!("/calls/{call}/compose"), &[("csrf_token", &token), ("message", ""), ("canned", "999999")])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = agent_page.post_raw(&format!("/calls/{call}/compose"), &[("message", ""), ("canned", &id)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Someone who does not hold the call is told who does, and gets no text.
    let (other, _) = staff(app, "nuria", "agent").await;
    let token = csrf_in(&other.page(&format!("/calls/{call}")).await);
    let r = other
        .post_raw(&format!("/calls/{call}/compose"), &[("csrf_token", &token), ("message", ""), ("canned", &id)])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("pablo Test") && !html.contains("debes 0.00"), "{html}");
}

async fn the_canned_responses_page_checks_csrf_and_shows_form_errors(app: &TestApp) {
    let (boss, _) = staff(app, "marta", "supervisor").await;
    let (agent, _) = staff(app, "pablo", "agent").await;
    let fields = [
        ("title", "Saldo"),
        ("shortcut", "saldo"),
        ("language", "es"),
        ("department", "billing"),
        ("body", "Tu saldo es {{balance}} €."),
    ];

    // No token, no change.
    let r = boss.post_raw("/canned-responses", &fields).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = boss.post("/canned-responses", "/canned-responses/new", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/canned-responses?saved=1");
    assert!(boss.page(&location(&r)).await.contains("Canned response saved."));
    let list = boss.page("/canned-responses?department=billing&language=es").await;
    assert!(list.contains("/saldo") && list.contains("Tu saldo es {{balance}} €."), "{list}");
    assert!(!boss.page("/canned-responses?department=support").await.contains("/saldo"), "billing's only");
    let id = list.split("data-id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();

    // The same shortcut again is a 409 beside the field; a bad variable a 422.
    let r = boss.post("/canned-responses", "/canned-responses/new", &fields).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("data-field=\"shortcut\""));
    let bad =
        [("title", "Mal"), ("shortcut", "mal"), ("language", "es"), ("department", ""), ("body", "Hola {{cliente}}")];
    let r = boss.post("/canned-responses", "/canned-responses/new", &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("data-field=\"body\"") && html.contains("Hola {{cliente}}"), "what was typed is kept");

    // Agents see the list but no forms, and are refused if they post anyway.
    let list = agent.page("/canned-responses").await;
    assert!(list.contains("/saldo") && !list.contains("/canned-responses/new"));
    assert_eq!(agent.get("/canned-responses/new").await.status(), StatusCode::FORBIDDEN);
    let r = agent.post(&format!("/canned-responses/{id}/delete"), "/canned-responses", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Edit and delete, each with its token.
    let edit = boss.page(&format!("/canned-responses/{id}/edit")).await;
    assert!(edit.contains("value=\"saldo\""));
    let changed = [
        ("title", "Saldo pendiente"),
        ("shortcut", "saldo"),
        ("language", "es"),
        ("department", ""),
        ("body", "Debes {{balance}} €."),
    ];
    let r = boss.post_raw(&format!("/canned-responses/{id}/edit"), &changed).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = boss.post(&format!("/canned-responses/{id}/edit"), "/canned-responses", &changed).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(boss.page("/canned-responses").await.contains("Saldo pendiente"));
    let r = boss.post_raw(&format!("/canned-responses/{id}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = boss.post(&format!("/canned-responses/{id}/delete"), "/canned-responses", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!boss.page("/canned-responses").await.contains("Saldo pendiente"));
    let audit = app.audit_actions().await;
    assert_eq!(audit.iter().filter(|a| a.starts_with("canned_response.")).count(), 3, "{audit:?}");
}

/// A call opened over the API by `opener` for `customer`, answered by the AI, then held
/// by `holder`; `opener` relays the customer's words from then on.
async fn held_call(app: &TestApp, customer: i64, opener: &str, holder: &str, first: &str) -> i64 {
    let call =
        app.start_call(opener, json!({"customer_id": customer, "message": first})).await["call_id"].as_i64().unwrap();
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), holder, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    call
}

async fn the_suggested_reply_answers_the_last_message_and_changes_nothing(app: &TestApp) {
    let opener = app.token_for("pablo", "agent").await;
    let (holder_page, holder) = staff(app, "irene", "agent").await;
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let call = held_call(app, maria, &opener, &holder, "Hello there").await;
    let said = app.say(&opener, call, "What is my current balance?").await;
    assert!(said["reply"].is_null(), "the AI is silent while a person holds the call");

    let before = (count(app, "messages").await, count(app, "pending_actions").await, count(app, "tickets").await);
    let runs = count(app, "agent_runs").await;
    let draft = get_json(app.url(&format!("/api/v1/calls/{call}/suggested-reply")), &holder).await;
    let text = draft["text"].as_str().unwrap();
    assert!(text.contains("125.50"), "the balance is in the draft: {draft}");
    assert_eq!(draft["language"], "en", "in the customer's language: {text}");
    assert_eq!(draft["tools"], json!(["get_balance"]));

    // A payment and a complaint would make the AI file an approval and open a ticket;
    // a draft does neither.
    app.say(&opener, call, "I paid 50 euros by card yesterday, please register it").await;
    let draft = get_json(app.url(&format!("/api/v1/calls/{call}/suggested-reply")), &holder).await;
    assert!(!draft["tools"].as_array().unwrap().iter().any(|t| t == "request_payment_registration"), "{draft}");
    app.say(&opener, call, "I want to file a formal complaint about your terrible service and rude staff").await;
    let draft = get_json(app.url(&format!("/api/v1/calls/{call}/suggested-reply")), &holder).await;
    assert!(!draft["tools"].as_array().unwrap().iter().any(|t| t == "create_ticket"), "{draft}");
    let after = (count(app, "messages").await, count(app, "pending_actions").await, count(app, "tickets").await);
    assert_eq!(after, (before.0 + 2, before.1, before.2), "only the two relayed messages were added");
    assert_eq!(count(app, "agent_runs").await, runs, "a draft records no agent step");

    // The page's button puts the draft in the reply box (htmx swaps the box alone).
    app.say(&opener, call, "What is my balance now?").await;
    let page = holder_page.page(&format!("/calls/{call}")).await;
    assert!(page.contains("id=\"suggest-reply\""));
    let token = csrf_in(&page);
    let r = holder_page
        .client
        .post(app.url(&format!("/calls/{call}/suggest")))
        .header("hx-request", "true")
        .form(&[("csrf_token", token.as_str()), ("message", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.trim_start().starts_with("<textarea id=\"reply-box\"") && html.contains("125.50"), "{html}");
    // Without JavaScript the whole page comes back with the draft in the box.
    let r = holder_page.post(&format!("/calls/{call}/suggest"), &format!("/calls/{call}"), &[("message", "")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("125.50"));
    assert_eq!(count(app, "messages").await, before.0 + 3, "nothing was sent");
}

async fn only_the_holder_gets_a_suggested_reply(app: &TestApp) {
    let opener = app.token_for("pablo", "agent").await;
    let holder = app.token_for("irene", "agent").await;
    let viewer = app.token_for("vera", "viewer").await;
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let ai_call =
        app.start_call(&opener, json!({"customer_id": maria, "message": "Hola"})).await["call_id"].as_i64().unwrap();
    let get = |token: &str, call: i64| {
        new_client().get(app.url(&format!("/api/v1/calls/{call}/suggested-reply"))).bearer_auth(token.to_owned()).send()
    };
    let r = get(&opener, ai_call).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "nobody holds it");
    assert!(r.text().await.unwrap().contains("call_not_held"));

    let call = held_call(app, maria, &opener, &holder, "Hola").await;
    let r = get(&opener, call).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "call_held");
    assert!(body["message"].as_str().unwrap().contains("irene Test"), "names who holds it: {body}");
    assert_eq!(get(&viewer, call).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(get(&holder, 999_999).await.unwrap().status(), StatusCode::NOT_FOUND);

    // Once closed, there is nobody left to answer.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &holder, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(&holder, call).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "closed");
    assert!(r.text().await.unwrap().contains("call_closed"));
}

mod remote {
    //! The suggested reply from a remote model (a scripted OpenAI-compatible server):
    //! a tool that acts is refused even when the model calls it by name, and the
    //! model's markup reaches the page as text.

    use std::time::Duration;

    use centralita::agents::openai::OpenAiConfig;
    use centralita::config::Secret;
    use centralita::db::Backend;
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use wiremock::matchers::{body_string_contains, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::{count, held_call, staff};
    use crate::helpers::{TestApp, csrf_in, get_json};
    use crate::on_both_backends;

    on_both_backends!(a_remote_models_draft_cannot_act_and_its_markup_stays_text);

    fn completion(content: &str) -> Value {
        json!({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}})
    }

    async fn mount(server: &MockServer, marker: &str, body: Value, priority: u8, times: Option<u64>) {
        let mut mock = Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(body_string_contains(marker))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .with_priority(priority);
        if let Some(n) = times {
            mock = mock.up_to_n_times(n);
        }
        mock.mount(server).await;
    }

    async fn a_remote_models_draft_cannot_act_and_its_markup_stays_text(backend: Backend) {
        let server = MockServer::start().await;
        let classification = r#"{"department":"billing","category":"balance_inquiry","sentiment":"neutral","priority":"low","language":"es","confidence":0.93,"recommendations":[]}"#;
        mount(&server, r#""name":"classification""#, completion(classification), 1, None).await;
        mount(
            &server,
            r#""name":"verdict""#,
            completion(r#"{"action":"continue","reason":null,"quality":0.9}"#),
            1,
            None,
        )
        .await;
        // The draft's requests carry the drafting note; the first asks to file a payment.
        let payment = json!({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "request_payment_registration",
                 "arguments": "{\"amount\":\"50.00\",\"method\":\"card\"}"}}]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}});
        mount(&server, "You are drafting", payment, 1, Some(1)).await;
        mount(&server, "You are drafting", completion("<script>alert(1)</script> Su saldo es 125.50 €."), 2, None)
            .await;
        mount(&server, r#""tool_choice""#, completion("Hola, ¿en qué puedo ayudarte?"), 3, None).await;
        let base_url = format!("{}/v1", server.uri());
        let app = TestApp::spawn(backend, move |c| {
            c.llm = Some(OpenAiConfig {
                base_url,
                api_key: Some(Secret::new("sk-test-key")),
                model: "test-model".into(),
                per_agent: Default::default(),
                timeout: Duration::from_secs(5),
                max_retries: 0,
                backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(50),
            });
        })
        .await;

        let opener = app.token_for("pablo", "agent").await;
        let (holder_page, holder) = staff(&app, "irene", "agent").await;
        let maria = app.demo_customer("maria.lopez@example.com").await;
        let call = held_call(&app, maria, &opener, &holder, "Hola").await;
        app.say(&opener, call, "¿Cuál es mi saldo?").await;
        let actions = count(&app, "pending_actions").await;

        let draft = get_json(app.url(&format!("/api/v1/calls/{call}/suggested-reply")), &holder).await;
        assert_eq!(draft["text"], "<script>alert(1)</script> Su saldo es 125.50 €.", "plain text over the API");
        assert_eq!(draft["tools"], json!([]), "the payment request was refused, not run");
        assert_eq!(count(&app, "pending_actions").await, actions, "no approval was filed");
        let drafts = server.received_requests().await.unwrap_or_default();
        let draft_requests: Vec<&wiremock::Request> =
            drafts.iter().filter(|r| String::from_utf8_lossy(&r.body).contains("You are drafting")).collect();
        assert_eq!(draft_requests.len(), 2, "a tool round, then the text");
        let first: Value = serde_json::from_slice(&draft_requests[0].body).unwrap();
        let offered: Vec<&str> =
            first["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
        assert_eq!(offered, ["get_balance", "list_payments"], "only tools that read are offered");
        let refusal = String::from_utf8_lossy(&draft_requests[1].body).into_owned();
        assert!(refusal.contains("not available in a draft"), "the model is told: {refusal}");

        let page = holder_page.page(&format!("/calls/{call}")).await;
        let r = holder_page
            .client
            .post(app.url(&format!("/calls/{call}/suggest")))
            .header("hx-request", "true")
            .form(&[("csrf_token", csrf_in(&page).as_str()), ("message", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(!html.contains("<script>") && html.contains("&#60;script&#62;alert(1)"), "{html}");
        app.finish().await;
    }
}
