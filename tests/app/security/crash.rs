//! The probe's reproduction, with the real binary: kill -9 while many customer turns
//! wait for the model, start again, and no call stays silently stuck with the
//! customer's message unanswered.

use std::time::Duration;

use centralita::db::Backend;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::email::{Running, admin_token_at, wait_healthy};
use crate::helpers::new_client;

crate::on_both_backends!(a_node_killed_mid_turn_leaves_no_call_unanswered);

/// Calls whose newest message is the customer's (a turn nobody finished).
async fn unanswered(url: &str) -> i64 {
    let db = centralita::db::Db::connect(url, 1).await.unwrap();
    let n = centralita::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM calls c WHERE c.status <> 'closed' AND (SELECT m.role FROM messages m WHERE m.call_id = c.id ORDER BY m.id DESC LIMIT 1) = 'customer'",
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    db.close().await;
    n
}

fn serve(dir: &std::path::Path, url: &str, port: u16, model: &str, extra: &[(&str, &str)]) -> Running {
    let mut command = crate::email::binary(dir, url, port);
    command
        .env("CENTRALITA_LLM_BASE_URL", model)
        .env("CENTRALITA_LLM_MODEL", "test-model")
        .env("CENTRALITA_LLM_MAX_RETRIES", "0");
    for (k, v) in extra {
        command.env(k, v);
    }
    Running(command.spawn().unwrap())
}

async fn a_node_killed_mid_turn_leaves_no_call_unanswered(backend: Backend) {
    // A model that takes 20 s to answer: every turn is under way when the node dies.
    let model = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(20)).set_body_json(json!({})))
        .mount(&model)
        .await;
    let model_url = format!("{}/v1", model.uri());
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_name) = crate::helpers::fresh_database(backend, dir.path()).await;
    let port = crate::smtp::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = serve(dir.path(), &url, port, &model_url, &[]);
    wait_healthy(&base).await;
    let token = admin_token_at(&base).await;
    // Twenty calls started at once; their first turns wait for the model.
    for n in 0..20 {
        let (base, token) = (base.clone(), token.clone());
        tokio::spawn(async move {
            let body = json!({"customer": {"name": "Cliente Prueba", "email": format!("c{n}@example.com")},
                              "message": format!("Hola, pregunta número {n}")});
            let _ = new_client().post(format!("{base}/api/v1/calls")).bearer_auth(token).json(&body).send().await;
        });
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while unanswered(&url).await < 20 {
        assert!(tokio::time::Instant::now() < deadline, "the calls never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.kill();
    assert_eq!(unanswered(&url).await, 20, "the crash left every turn unanswered");

    // The next start (a short grace, so the test need not wait minutes) hands every
    // one of them to a person.
    // The grace may not be shorter than a turn can last (budget plus the routing and
    // supervisor requests' timeouts), so the restarted node gets short ones.
    let recovery = [
        ("CENTRALITA_AGENT_TURN_BUDGET_SECONDS", "1"),
        ("CENTRALITA_LLM_TIMEOUT_SECONDS", "1"),
        ("CENTRALITA_TURN_RECOVERY_GRACE_SECONDS", "3"),
        ("CENTRALITA_TURN_RECOVERY_INTERVAL_SECONDS", "1"),
    ];
    let second = serve(dir.path(), &url, port, &model_url, &recovery);
    wait_healthy(&base).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while unanswered(&url).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "{} calls still unanswered", unanswered(&url).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let board = crate::helpers::get_json(format!("{base}/api/v1/board"), &token).await;
    let queued = board.to_string().matches("interrupted").count();
    assert!(queued >= 1, "the calls wait in the human queue: {board}");
    drop(second);
    if let Some(name) = pg_name {
        crate::helpers::drop_database(&name).await;
    }
}
