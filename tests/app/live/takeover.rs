//! Taking a call over: one person holds it, and only the holder replies, hands it back
//! or closes it (a supervisor may close it too).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, post_json};
use crate::on_both;

on_both!(
    only_one_person_holds_a_call_and_only_the_holder_replies,
    a_reply_whose_sender_went_away_meanwhile_is_stored_audited_and_published,
);

async fn only_one_person_holds_a_call_and_only_the_holder_replies(app: &TestApp) {
    let ana = app.token_for("alba", "agent").await;
    let liam = app.token_for("luis", "agent").await;
    let sofia = app.token_for("sara", "supervisor").await;
    let body = json!({"customer": {"name": "Race Caller", "email": "race@example.com"}, "message": "Necesito ayuda con mi router"});
    let call = app.start_call(&sofia, body).await["call_id"].as_i64().unwrap();

    // Two agents press "take over" at the same moment: exactly one wins.
    let url = app.url(&format!("/api/v1/calls/{call}/takeover"));
    let (a, b) = tokio::join!(post_json(url.clone(), &ana, json!({})), post_json(url.clone(), &liam, json!({})));
    let mut codes = [a.status(), b.status()];
    codes.sort();
    assert_eq!(codes, [StatusCode::OK, StatusCode::CONFLICT]);
    let (winner, loser) = if a.status() == StatusCode::OK { (&ana, &liam) } else { (&liam, &ana) };
    let loser_body: Value =
        if a.status() == StatusCode::OK { b.json().await.unwrap() } else { a.json().await.unwrap() };
    assert_eq!(loser_body["error"], "call_held");
    let holder = if winner == &ana { "alba Test" } else { "luis Test" };
    assert!(loser_body["message"].as_str().unwrap().contains(holder), "{loser_body}");
    // Taking it again is harmless for the holder.
    assert_eq!(post_json(url.clone(), winner, json!({})).await.status(), StatusCode::OK);

    // The other agent may not write into it (neither as staff nor as the customer),
    // hand it back or close it.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/messages")), loser, json!({"text": "hola"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "call_held");
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/handback")), loser, json!({})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), loser, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Bad close input is a clear 422; a supervisor may close a call someone holds.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &sofia, json!({"outcome": "done"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["fields"]["outcome"],
        "Choose resolved, follow_up, transferred or abandoned."
    );
    let r =
        post_json(app.url(&format!("/api/v1/calls/{call}/close")), &sofia, json!({"outcome": "follow_up", "csat": 9}))
            .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &sofia, json!({"outcome": "follow_up"})).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Unknown calls are 404.
    let r = post_json(app.url("/api/v1/calls/999999/takeover"), &ana, json!({})).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = post_json(app.url("/api/v1/calls/999999/close"), &ana, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// A person sends a reply and goes away before the answer comes (a closed tab, an
/// aborted request, a proxy that gave up): the reply is stored, audited and published
/// all the same, never half of it. The database is held busy so that the request is
/// still being handled when its connection closes.
async fn a_reply_whose_sender_went_away_meanwhile_is_stored_audited_and_published(app: &TestApp) {
    use sqlx::Connection;
    let alba = app.token_for("alba", "agent").await;
    let body = json!({"customer": {"name": "Gone Caller", "email": "gone@example.com"}, "message": "Necesito ayuda con mi router"});
    let call = app.start_call(&alba, body).await["call_id"].as_i64().unwrap();
    assert_eq!(post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &alba, json!({})).await.status(), 200);
    let mut stream = app.staff_stream(&alba).send().await.unwrap();

    // SQLite: another writer holds the file, so the reply waits to be stored. PostgreSQL:
    // the audit log is locked, so the reply is stored and waits to be audited.
    enum Holder {
        Sqlite(sqlx::SqliteConnection),
        Postgres(sqlx::PgConnection),
    }
    let mut holder = match app.backend {
        centralita::db::Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(app.database_url()).await.unwrap();
            sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut c).await.unwrap();
            Holder::Sqlite(c)
        }
        centralita::db::Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(app.database_url()).await.unwrap();
            sqlx::raw_sql("BEGIN; LOCK TABLE audit_log IN EXCLUSIVE MODE").execute(&mut c).await.unwrap();
            Holder::Postgres(c)
        }
    };
    let text = "Sigo con tu caso, dame un momento";
    let gone = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(800))
        .build()
        .unwrap()
        .post(app.url(&format!("/api/v1/calls/{call}/messages")))
        .bearer_auth(&alba)
        .json(&json!({"text": text}))
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()), "the reply waited for the database");
    // The server sees the connection close before the database is free again.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    match &mut holder {
        Holder::Sqlite(c) => sqlx::raw_sql("ROLLBACK").execute(c).await.map(|_| ()).unwrap(),
        Holder::Postgres(c) => sqlx::raw_sql("ROLLBACK").execute(c).await.map(|_| ()).unwrap(),
    }

    let heard = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut seen = String::new();
        while let Some(chunk) = stream.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(text) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(heard.ok(), Some(true), "the reply's event reached the staff stream");
    let stored: Vec<String> = centralita::with_db!(app.state.db(), |pool| sqlx::query_scalar(
        "SELECT content FROM messages WHERE call_id = $1 AND role = 'human'"
    )
    .bind(call)
    .fetch_all(pool)
    .await)
    .unwrap();
    assert_eq!(stored, [text]);
    assert!(app.audit_actions().await.iter().any(|a| a == "call.reply"), "the reply was audited");
}
