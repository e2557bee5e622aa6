//! A customer's live stream replays only its own call's events, and opening streams
//! is rate-limited like the other public routes.

use reqwest::StatusCode;

use crate::helpers::{EventStream, TestApp, new_client};
use crate::on_both;

/// Event kinds a customer's page is told about.
const VISIBLE: [&str; 6] = ["message", "call_updated", "escalated", "taken_over", "handed_back", "closed"];

on_both!(a_customer_replay_reads_only_its_own_call, opening_customer_streams_is_rate_limited);

async fn a_customer_replay_reads_only_its_own_call(app: &TestApp) {
    let (_, mine) = app.customer_starts("Uno Cliente", "uno@example.com", "Hola, ¿qué tal?").await;
    for i in 0..3 {
        app.customer_starts("Otro Cliente", &format!("otro{i}@example.com"), "Hola").await;
    }
    let mut stream = EventStream::open(new_client().get(app.url(&format!("{mine}/events?after=0")))).await;
    let mut ids = Vec::new();
    // The replay: this call's events only (its creation, messages, updates).
    let own: Vec<i64> = {
        let all = app.state.bus().since(0, 10_000).await.unwrap();
        let mine_id = all.iter().find(|e| e.kind == "call_created").and_then(|e| e.call_id).unwrap();
        all.iter().filter(|e| e.call_id == Some(mine_id) && VISIBLE.contains(&e.kind.as_str())).map(|e| e.id).collect()
    };
    assert!(!own.is_empty());
    for _ in 0..own.len() {
        let e = stream.next().await;
        ids.push(e.id.unwrap().parse::<i64>().unwrap());
    }
    assert_eq!(ids, own, "exactly this call's visible events, in order");
    stream.close();
}

async fn opening_customer_streams_is_rate_limited(app: &TestApp) {
    let (_, link) = app.customer_starts("Tres Cliente", "tres@example.com", "Hola").await;
    let mut codes = Vec::new();
    for _ in 0..35 {
        let r = new_client().get(app.url(&format!("{link}/events?after=0"))).send().await.unwrap();
        codes.push(r.status());
        drop(r);
    }
    assert!(codes[..30].iter().all(|c| *c == StatusCode::OK), "{codes:?}");
    assert_eq!(codes[34], StatusCode::TOO_MANY_REQUESTS);
    // Unknown tokens are refused as before (and count too).
    let r = new_client().get(app.url("/c/nope/events")).send().await.unwrap();
    assert!(r.status() == StatusCode::NOT_FOUND || r.status() == StatusCode::TOO_MANY_REQUESTS);
}
