//! The live board (queues, presence, KPIs, escaped names) and read-only viewers, who see
//! everything and can change nothing.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{EventStream, TestApp, post_json};
use crate::on_both;

on_both!(the_board_shows_queues_presence_and_kpis_escaped, viewers_see_everything_and_can_change_nothing,);

async fn the_board_shows_queues_presence_and_kpis_escaped(app: &TestApp) {
    let agent = app.token_for("alba", "agent").await;
    let body = json!({"customer": {"name": "Eve <script>alert(1)</script>", "email": "eve@example.com"}, "message": "¡Es urgente! Quiero hablar con una persona ya, no funciona nada"});
    let call = app.start_call(&agent, body).await["call_id"].as_i64().unwrap();
    let b = app.signed_in("sam", "supervisor").await;
    let html = b.page("/board").await;
    assert!(html.contains("Eve &#60;script&#62;alert(1)&#60;/script&#62;"), "escaped");
    assert!(!html.contains("<script>alert(1)"));
    let escalations = &html[html.find("id=\"escalations\"").unwrap()..html.find("id=\"queues\"").unwrap()];
    assert!(escalations.contains(&format!("board-call-{call}")), "queued call at the top");
    assert!(html.contains("id=\"kpi-calls\">1<"), "one call today");
    assert!(html.contains("id=\"kpi-escalations\">1<"));
    assert!(html.contains("<svg"), "charts drawn on the server");
    // Presence: the supervisor is online by opening the board; "busy" is shown to all.
    let r = b.post("/presence", "/board", &[("status", "busy")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let board = crate::helpers::get_json(app.url("/api/v1/board"), &agent).await;
    let sam = board["staff"].as_array().unwrap().iter().find(|s| s["name"] == "sam Test").cloned().unwrap();
    assert_eq!(sam["status"], "busy");
    let r = b.post("/presence", "/board", &[("status", "sleeping")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_json(app.url("/api/v1/presence"), &agent, json!({"status": "away"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Holding a call shows next to the name.
    post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &agent, json!({})).await;
    let board = crate::helpers::get_json(app.url("/api/v1/board"), &agent).await;
    let ana = board["staff"].as_array().unwrap().iter().find(|s| s["name"] == "alba Test").cloned().unwrap();
    assert_eq!(ana["status"], "away");
    assert_eq!(ana["holding"], json!([call]));
    assert_eq!(board["kpis"]["open"], 1);
    // The live fragment is the board's body alone.
    let fragment = b.page("/board/live").await;
    assert!(!fragment.contains("<html") && fragment.contains("id=\"escalations\""));
}

async fn viewers_see_everything_and_can_change_nothing(app: &TestApp) {
    let agent = app.token_for("alba", "agent").await;
    let viewer = app.token_for("vera", "viewer").await;
    let body = json!({"customer": {"name": "Look Only", "email": "look@example.com"}, "message": "Quiero hablar con una persona"});
    let call = app.start_call(&agent, body).await["call_id"].as_i64().unwrap();
    for path in ["takeover", "handback"] {
        let r = post_json(app.url(&format!("/api/v1/calls/{call}/{path}")), &viewer, json!({})).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &viewer, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/messages")), &viewer, json!({"text": "hola"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        post_json(app.url("/api/v1/pending-actions/1/approve"), &viewer, json!({})).await.status(),
        StatusCode::FORBIDDEN
    );
    let mut stream = EventStream::open(app.staff_stream(&viewer)).await;
    post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &agent, json!({})).await;
    stream.until_kind("taken_over").await;
    stream.close();

    // In the browser: the board and the call page, without controls; the forms'
    // endpoints refuse even with a valid CSRF token.
    let b = app.signed_in("vicky", "viewer").await;
    let board = b.page("/board").await;
    assert!(board.contains("Look Only"));
    let page = b.page(&format!("/calls/{call}")).await;
    assert!(!page.contains("id=\"takeover\"") && !page.contains("id=\"close-call\""));
    let r = b.post(&format!("/calls/{call}/close"), &format!("/calls/{call}"), &[("outcome", "resolved")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b.post("/actions/1/approve", "/actions", &[("back", "/actions")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let detail = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert_eq!(detail["call"]["status"], "human");
}
