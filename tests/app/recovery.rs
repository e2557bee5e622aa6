//! Customer turns cut short or crowded: those a crashed node left unanswered go to a
//! person with a note, exactly once however many nodes look, and live turns are left
//! alone; a client that stops waiting still gets its answer stored; a message sent
//! while the agents still answer the last one waits for that answer.

use std::time::Duration;

use centralita::calls::recovery::{self, INTERRUPTED};
use centralita::db::{Backend, Timestamp};
use centralita::with_db;
use reqwest::StatusCode;

use centralita::agents::openai::OpenAiConfig;
use centralita::config::Secret;
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{ADMIN_PASSWORD, TestApp, eventually, get_json};

crate::on_both_backends!(
    a_turn_whose_client_left_is_still_answered,
    a_message_sent_while_the_ai_answers_is_answered_after_that_answer,
    a_turn_cut_short_by_a_crash_goes_to_a_person_once,
    racing_nodes_hand_over_each_abandoned_call_once,
    a_message_queued_behind_a_turn_when_its_node_died_goes_to_a_person,
);

/// The grace the recovering nodes use in these tests.
const GRACE: Duration = Duration::from_secs(60);

/// How a crash can leave a call.
#[derive(Clone, Copy)]
enum Left {
    /// `ai`, the customer's message only: died while the agents ran.
    MidTurn,
    /// `queued` by the supervisor, agent steps stored, no reply: died before the reply.
    EscalatedWithoutReply,
    /// `queued`, the AI's reply stored, then the customer wrote while waiting for a
    /// person: nothing was lost, the call just waits.
    WaitingForPerson,
}

/// Writes a call the way `left` describes, its last customer message at `at`;
/// returns the call id and the customer's private link token.
async fn crashed_call(app: &TestApp, left: Left, at: Timestamp) -> (i64, String) {
    let (token, hash) = centralita::calls::customer::new_token();
    let earlier = at.plus(time::Duration::seconds(-5));
    let status = match left {
        Left::MidTurn => "ai",
        Left::EscalatedWithoutReply | Left::WaitingForPerson => "queued",
    };
    let db = app.state.db();
    let id = with_db!(db, |pool| {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO calls (channel, status, department, priority, escalation_reason, queued_at, access_hash, created_at, updated_at) \
             VALUES ('web', $1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(status)
        .bind((status == "queued").then_some("billing"))
        .bind((status == "queued").then_some("high"))
        .bind((status == "queued").then_some("customer_request"))
        .bind((status == "queued").then_some(earlier))
        .bind(&hash)
        .bind(earlier)
        .fetch_one(pool)
        .await
        .unwrap();
        let insert = "INSERT INTO messages (call_id, role, agent, content, at) VALUES ($1, $2, $3, $4, $5)";
        if matches!(left, Left::WaitingForPerson) {
            for (role, agent, text) in [
                ("customer", None, "Quiero hablar con una persona"),
                ("ai", Some("service"), "Te paso con una persona."),
            ] {
                sqlx::query(insert)
                    .bind(id)
                    .bind(role)
                    .bind(agent)
                    .bind(text)
                    .bind(earlier)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
        // A turn was under way for it unless the call was just waiting for a person.
        sqlx::query(
            "INSERT INTO messages (call_id, role, content, at, awaiting_turn) VALUES ($1, 'customer', $2, $3, $4)",
        )
        .bind(id)
        .bind("¿Sigue ahí alguien?")
        .bind(at)
        .bind(!matches!(left, Left::WaitingForPerson))
        .execute(pool)
        .await
        .unwrap();
        if matches!(left, Left::EscalatedWithoutReply) {
            sqlx::query(
                "INSERT INTO agent_runs (call_id, turn, agent, backend, model, prompt_tokens, completion_tokens, latency_ms, tool_calls, output, outcome, at) \
                 VALUES ($1, 1, 'supervisor', 'builtin', 'builtin', 1, 1, 1, '[]', '{}', 'ok', $2)",
            )
            .bind(id)
            .bind(at)
            .execute(pool)
            .await
            .unwrap();
        }
        id
    });
    (id, token)
}

/// The call's status, escalation reason and queue time.
async fn state_of(app: &TestApp, id: i64) -> (String, Option<String>, Option<Timestamp>, Option<String>) {
    let db = app.state.db();
    with_db!(db, |pool| sqlx::query_as(
        "SELECT status, escalation_reason, queued_at, department FROM calls WHERE id = $1"
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap())
}

/// How many recovery notes and `escalated` events the call has, read at one instant.
async fn notes_and_escalations(app: &TestApp, id: i64) -> (i64, i64) {
    with_db!(app.state.db(), |pool| sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM messages WHERE call_id = $1 AND role = 'system' AND agent = $2), \
         (SELECT COUNT(*) FROM events WHERE call_id = $1 AND kind = 'escalated')"
    )
    .bind(id)
    .bind(INTERRUPTED)
    .fetch_one(pool)
    .await
    .unwrap())
}

/// Waits until the call has its note and its `escalated` event, which are committed
/// together: the note is never seen without the event.
async fn until_handed_over(app: &TestApp, id: i64) {
    for _ in 0..200 {
        let (notes, escalations) = notes_and_escalations(app, id).await;
        assert!(notes == 0 || escalations > 0, "call {id}: a recovery note without its event");
        if notes > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("call {id} was never handed over: {:?}", state_of(app, id).await);
}

/// A node that never recovers anything itself (a day's grace, a sweep an hour),
/// which the tests use to build the crashed database.
async fn builder_node(backend: Backend) -> TestApp {
    TestApp::spawn(backend, |c| {
        c.turn_recovery.grace = Duration::from_secs(86_400);
        c.turn_recovery.interval = Duration::from_secs(3600);
    })
    .await
}

/// A recovering node with the test grace and no periodic sweep during the test.
async fn recovering_node(app: &TestApp) -> TestApp {
    app.second_node_with(|c| {
        c.turn_recovery.grace = GRACE;
        c.turn_recovery.interval = Duration::from_secs(3600);
    })
    .await
}

async fn a_turn_cut_short_by_a_crash_goes_to_a_person_once(backend: Backend) {
    let app = builder_node(backend).await;
    let long_ago = Timestamp::now().plus(time::Duration::minutes(-10));
    let (mid_turn, token) = crashed_call(&app, Left::MidTurn, long_ago).await;
    let (escalated, _) = crashed_call(&app, Left::EscalatedWithoutReply, long_ago).await;
    let (waiting, _) = crashed_call(&app, Left::WaitingForPerson, long_ago).await;
    // A turn well inside the grace may still be running on a live node.
    let (recent, _) = crashed_call(&app, Left::MidTurn, Timestamp::now()).await;

    // Two nodes start at the same moment (a restart behind a load balancer); each
    // sweeps at start.
    let (a, b) = tokio::join!(recovering_node(&app), recovering_node(&app));
    until_handed_over(&app, mid_turn).await;
    until_handed_over(&app, escalated).await;
    // Whatever sweeps come after (the other node's start-up one may still be under
    // way) find nothing left to hand over.
    let (again_a, again_b) = tokio::join!(recovery::sweep(&a.state, GRACE), recovery::sweep(&b.state, GRACE));
    assert_eq!((again_a.unwrap(), again_b.unwrap()), (vec![], vec![]));

    let (status, reason, queued_at, department) = state_of(&app, mid_turn).await;
    assert_eq!((status.as_str(), reason.as_deref()), ("queued", Some(INTERRUPTED)));
    assert!(queued_at.is_some_and(|t| t > long_ago), "queued now, not when the call began");
    assert_eq!(department.as_deref(), Some("general"), "never routed: the general queue takes it");
    assert_eq!(notes_and_escalations(&app, mid_turn).await, (1, 1), "one note and one escalation, not one per node");
    // Escalated by the supervisor before the crash: its reason and queue time stay.
    let (status, reason, queued_at, _) = state_of(&app, escalated).await;
    assert_eq!((status.as_str(), reason.as_deref()), ("queued", Some("customer_request")));
    assert!(queued_at.is_some_and(|t| t < long_ago));
    assert_eq!(notes_and_escalations(&app, escalated).await, (1, 1));
    // Nothing was lost on these two: they stay as they were.
    assert_eq!(notes_and_escalations(&app, waiting).await, (0, 0));
    assert_eq!(state_of(&app, recent).await.0, "ai");
    assert_eq!(notes_and_escalations(&app, recent).await, (0, 0));

    // Staff see it waiting on the board, with the note in the transcript.
    let token_admin = app.admin_token().await;
    let board = get_json(a.url("/api/v1/board"), &token_admin).await;
    let queued: Vec<i64> =
        board["escalations"].as_array().unwrap().iter().map(|e| e["call"]["id"].as_i64().unwrap()).collect();
    assert!(queued.contains(&mid_turn) && queued.contains(&escalated), "{queued:?}");
    assert!(!queued.contains(&recent));
    let staff = app.browser();
    assert_eq!(staff.login("admin", ADMIN_PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let page = staff.page(&format!("/calls/{mid_turn}")).await;
    assert!(page.contains("La IA no llegó a responder"), "the staff note, in the admin's Spanish");
    assert!(page.contains("Respuesta interrumpida"), "the escalation reason, translated");
    // The customer is told a person will continue.
    let customer = app.browser().page_in(&format!("/c/{token}"), "en").await;
    assert!(customer.contains("A person will continue the conversation with you shortly."), "{customer}");
    assert!(customer.contains("We are passing you to a person"));

    a.finish().await;
    b.finish().await;
    app.finish().await;
}

async fn racing_nodes_hand_over_each_abandoned_call_once(backend: Backend) {
    let app = builder_node(backend).await;
    let (a, b) = tokio::join!(recovering_node(&app), recovering_node(&app));
    let long_ago = Timestamp::now().plus(time::Duration::minutes(-10));
    let mut raced = 0;
    for round in 0..5 {
        let mut calls = Vec::new();
        for _ in 0..4 {
            calls.push(crashed_call(&app, Left::MidTurn, long_ago).await.0);
        }
        // The nodes' own start-up sweeps may still be running in the first round and
        // join the race; that is one more contender, not a different rule.
        let (x, y) = tokio::join!(recovery::sweep(&a.state, GRACE), recovery::sweep(&b.state, GRACE));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(x.iter().all(|id| !y.contains(id)), "round {round}: both nodes handed over {x:?} / {y:?}");
        assert!(x.iter().chain(&y).all(|id| calls.contains(id)));
        raced += x.len() + y.len();
        for id in calls {
            until_handed_over(&app, id).await;
            assert_eq!(notes_and_escalations(&app, id).await, (1, 1), "round {round}, call {id}");
        }
    }
    assert!(raced >= 16, "the direct sweeps did the work of at least the last four rounds ({raced})");
    a.finish().await;
    b.finish().await;
    app.finish().await;
}

/// A model that takes `delay` over each answer (routing, reply, supervisor); the reply
/// is "Enseguida lo miro." unless the request holds one of `replies`' words (the
/// first of them that does).
async fn slow_model(server: &MockServer, delay: Duration, replies: &[(&str, &str)]) {
    let reply = |content: &str| {
        ResponseTemplate::new(200)
            .set_body_json(json!({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}))
            .set_delay(delay)
    };
    let classification = r#"{"department":"billing","category":"balance_inquiry","sentiment":"neutral","priority":"low","language":"es","confidence":0.9,"recommendations":[]}"#;
    for (marker, body, priority) in [
        (r#""name":"classification""#, reply(classification), 1),
        (r#""name":"verdict""#, reply(r#"{"action":"continue","reason":null,"quality":0.8}"#), 1),
        ("", reply("Enseguida lo miro."), 10),
    ]
    .into_iter()
    .chain(replies.iter().enumerate().map(|(i, (words, answer))| (*words, reply(answer), 2 + i as u8)))
    {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(body_string_contains(marker))
            .respond_with(body)
            .with_priority(priority)
            .mount(server)
            .await;
    }
}

/// A client that stops waiting (a timeout, a closed tab) while the agents run: the turn
/// still runs to its end and the reply is stored, rather than the customer's message
/// waiting unanswered for the recovery to hand it to a person.
async fn a_turn_whose_client_left_is_still_answered(backend: Backend) {
    let server = MockServer::start().await;
    slow_model(&server, Duration::from_millis(400), &[]).await;
    let app = on_model(backend, &server).await;
    let give_up = Duration::from_millis(250);
    // Over the API: a call opened, and a follow-up.
    let token = app.token_for("impaciente", "agent").await;
    let api = |path: &str, body: serde_json::Value| {
        reqwest::Client::new().post(app.url(path)).bearer_auth(&token).json(&body).timeout(give_up).send()
    };
    let cut = api("/api/v1/calls", json!({"message": "Mi saldo, cliente uno"})).await;
    assert!(cut.is_err_and(|e| e.is_timeout()), "the client gave up before the answer");
    let call = app.start_call(&token, json!({"message": "Mi saldo, cliente dos"})).await["call_id"].as_i64().unwrap();
    let cut = api(&format!("/api/v1/calls/{call}/messages"), json!({"text": "Y mis facturas, cliente dos"})).await;
    assert!(cut.is_err_and(|e| e.is_timeout()));
    // The public page without scripts (the turn runs before the page is drawn again).
    let b = app.browser();
    let csrf = b.csrf("/call").await;
    let fields = [
        ("name", "Visitante Impaciente"),
        ("email", "impaciente@example.com"),
        ("phone", ""),
        ("message", "Hola, mi saldo, visitante tres"),
        ("csrf_token", &csrf),
    ];
    let cut = b.client.post(app.url("/call")).form(&fields).timeout(give_up).send().await;
    assert!(cut.is_err_and(|e| e.is_timeout()));
    for words in ["cliente uno", "cliente dos", "visitante tres"] {
        eventually(&format!("the answer to {words:?}"), || async {
            let roles: Vec<String> = with_db!(app.state.db(), |pool| sqlx::query_scalar(
                "SELECT role FROM messages WHERE call_id = \
                 (SELECT call_id FROM messages WHERE content LIKE $1 ORDER BY id LIMIT 1) ORDER BY id"
            )
            .bind(format!("%{words}%"))
            .fetch_all(pool)
            .await)
            .unwrap();
            roles.ends_with(&["customer".to_owned(), "ai".to_owned()]).then_some(())
        })
        .await;
    }
    app.finish().await;
}

/// An app whose agents use the model at `server`.
async fn on_model(backend: Backend, server: &MockServer) -> TestApp {
    let base_url = format!("{}/v1", server.uri());
    TestApp::spawn(backend, move |c| {
        c.llm = Some(OpenAiConfig {
            base_url,
            api_key: Some(Secret::new("sk-test")),
            model: "m".into(),
            per_agent: Default::default(),
            timeout: Duration::from_secs(10),
            max_retries: 0,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        });
    })
    .await
}

/// People chat in short messages: one sent while the agents still answer the last is
/// answered once that answer is stored, by agents that read it, rather than alongside
/// it by agents blind to it.
async fn a_message_sent_while_the_ai_answers_is_answered_after_that_answer(backend: Backend) {
    let server = MockServer::start().await;
    let replies = [("Segunda pregunta", "Respuesta dos"), ("Primera pregunta", "Respuesta uno")];
    slow_model(&server, Duration::from_millis(300), &replies).await;
    let app = on_model(backend, &server).await;
    let token = app.token_for("rapida", "agent").await;
    let call = app.start_call(&token, json!({"message": "Hola"})).await["call_id"].as_i64().unwrap();
    let before = server.received_requests().await.unwrap().len();
    // The second message goes while the first one's agents are still at work.
    let second = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        app.say(&token, call, "Segunda pregunta").await
    };
    let (first, second) = tokio::join!(app.say(&token, call, "Primera pregunta"), second);
    assert_eq!((first["reply"].as_str(), second["reply"].as_str()), (Some("Respuesta uno"), Some("Respuesta dos")));
    let transcript: Vec<(String, String)> = with_db!(app.state.db(), |pool| sqlx::query_as(
        "SELECT role, content FROM messages WHERE call_id = $1 AND role <> 'system' ORDER BY id"
    )
    .bind(call)
    .fetch_all(pool)
    .await)
    .unwrap();
    let roles: Vec<&str> = transcript.iter().map(|(role, _)| role.as_str()).collect();
    assert_eq!(roles, ["customer", "ai", "customer", "customer", "ai", "ai"], "both messages stored at once");
    let answers: Vec<&str> = transcript[4..].iter().map(|(_, content)| content.as_str()).collect();
    assert_eq!(answers, ["Respuesta uno", "Respuesta dos"], "answered in order");
    // The second message's reply was written knowing the first answer.
    let requests = server.received_requests().await.unwrap();
    let second_reply: Vec<String> = requests[before..]
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .filter(|b| b.contains("Segunda pregunta") && !b.contains(r#""name":"classification""#))
        .filter(|b| !b.contains(r#""name":"verdict""#))
        .collect();
    assert!(!second_reply.is_empty(), "the second message was answered by the model");
    assert!(second_reply.iter().all(|b| b.contains("Respuesta uno")), "the agents read the first answer");
    app.finish().await;
}

/// The roles of a call's messages, system notes left out, oldest first.
async fn roles_of(app: &TestApp, call: i64) -> Vec<String> {
    with_db!(app.state.db(), |pool| sqlx::query_scalar(
        "SELECT role FROM messages WHERE call_id = $1 AND role <> 'system' ORDER BY id"
    )
    .bind(call)
    .fetch_all(pool)
    .await)
    .unwrap()
}

/// A customer who wrote again while the agents answered has that message queued behind
/// the answer, which is stored after it. When the node dies in the queued message's
/// turn, the call's last message is that earlier answer, yet the queued message was
/// never answered: it goes to a person like any turn cut short. Calls whose turns all
/// ended (answered, or left silent because the call went to the queue meanwhile) stay.
async fn a_message_queued_behind_a_turn_when_its_node_died_goes_to_a_person(backend: Backend) {
    let server = MockServer::start().await;
    // The turn of the message with "Tercera" never gets an answer while the test looks
    // (the node is as good as dead); one with "zapallo" is escalated by the supervisor.
    let never = ResponseTemplate::new(500).set_delay(Duration::from_secs(4));
    Mock::given(method("POST"))
        .and(body_string_contains("Tercera pregunta"))
        .respond_with(never)
        .with_priority(1)
        .mount(&server)
        .await;
    let escalate = r#"{"action":"escalate","reason":"customer_request","quality":0.7}"#;
    let escalate =
        ResponseTemplate::new(200).set_body_json(json!({"id": "c", "object": "chat.completion", "created": 0,
        "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": escalate},
        "finish_reason": "stop"}], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}));
    Mock::given(method("POST"))
        .and(body_string_contains("zapallo"))
        .and(body_string_contains(r#""name":"verdict""#))
        .respond_with(escalate.set_delay(Duration::from_millis(300)))
        .with_priority(1)
        .mount(&server)
        .await;
    slow_model(&server, Duration::from_millis(300), &[]).await;
    let app = on_model(backend, &server).await;
    let token = app.token_for("encadenada", "agent").await;
    let give_up = |path: String, text: &str| {
        let request = reqwest::Client::new().post(app.url(&path)).bearer_auth(&token);
        request.json(&json!({"text": text})).timeout(Duration::from_millis(400)).send()
    };
    let stored = |call: i64, n: usize| {
        let app = &app;
        async move {
            eventually(&format!("{n} messages in call {call}"), || async move {
                (roles_of(app, call).await.len() >= n).then_some(())
            })
            .await
        }
    };

    // Escalated: a message sent while the supervisor was sending the call to the queue
    // finds it there; its turn ends silent, with nothing lost.
    let escalated = app.start_call(&token, json!({"message": "Hola otra vez"})).await["call_id"].as_i64().unwrap();
    let later = async {
        stored(escalated, 3).await;
        let _ = give_up(format!("/api/v1/calls/{escalated}/messages"), "Y otra cosa").await;
    };
    let (escalating, _) = tokio::join!(app.say(&token, escalated, "Quiero hablar con una persona, zapallo"), later);
    assert_eq!(escalating["status"].as_str(), Some("queued"));
    // Answered: every turn done.
    let answered = app.start_call(&token, json!({"message": "Buenas"})).await["call_id"].as_i64().unwrap();
    app.say(&token, answered, "Gracias").await;

    // Dies: the third message, sent while the second was being answered, waits behind
    // it; the second's answer is stored after it; then the third's turn never ends.
    let dying = app.start_call(&token, json!({"message": "Hola"})).await["call_id"].as_i64().unwrap();
    let third = async {
        stored(dying, 3).await;
        let _ = give_up(format!("/api/v1/calls/{dying}/messages"), "Tercera pregunta").await;
    };
    let (second, ()) = tokio::join!(app.say(&token, dying, "Segunda pregunta"), third);
    assert_eq!(second["reply"].as_str(), Some("Enseguida lo miro."));
    assert_eq!(roles_of(&app, dying).await, ["customer", "ai", "customer", "customer", "ai"]);

    // Past the (test's) grace, another node's sweep finds the queued message.
    let grace = Duration::from_millis(700);
    tokio::time::sleep(grace + Duration::from_millis(300)).await;
    let other = app.second_node_with(|c| c.turn_recovery.interval = Duration::from_secs(3600)).await;
    assert_eq!(recovery::sweep(&other.state, grace).await.unwrap(), vec![dying]);
    assert_eq!(recovery::sweep(&other.state, grace).await.unwrap(), Vec::<i64>::new(), "handed over once");
    let (status, reason, _, _) = state_of(&app, dying).await;
    assert_eq!((status.as_str(), reason.as_deref()), ("queued", Some(INTERRUPTED)));
    assert_eq!(notes_and_escalations(&app, dying).await, (1, 1));
    for healthy in [escalated, answered] {
        assert_eq!(notes_and_escalations(&app, healthy).await.0, 0, "call {healthy} was not interrupted");
    }
    assert_eq!(state_of(&app, escalated).await.1.as_deref(), Some("customer_request"));
    other.finish().await;
    app.finish().await;
}
