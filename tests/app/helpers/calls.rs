//! Steps of a call that many tests take: staff tokens, starting calls from the public
//! page or the API, saying something in them, and snapshots of the demo data.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Browser, TestApp, location, new_client};

impl TestApp {
    /// Creates a ready user with `role` and returns a fresh API access token for it.
    pub async fn token_for(&self, username: &str, role: &str) -> String {
        let (_, pw) = self.ready_user(username, role).await;
        self.api_login(username, &pw).await["access_token"].as_str().unwrap().to_owned()
    }

    /// A request for the staff event stream with `token`, to open with `EventStream::open`.
    pub fn staff_stream(&self, token: &str) -> reqwest::RequestBuilder {
        new_client().get(self.url("/api/v1/events")).bearer_auth(token)
    }

    /// Starts a call through the public page; returns the customer's browser and the
    /// call's private path (`/c/...`).
    pub async fn customer_starts(&self, name: &str, email: &str, message: &str) -> (Browser, String) {
        let b = self.browser();
        let r =
            b.post("/call", "/call", &[("name", name), ("email", email), ("phone", ""), ("message", message)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
        let link = location(&r);
        assert!(link.starts_with("/c/") && link.len() > 40, "private link: {link}");
        (b, link)
    }

    /// Opens a web call for customer `customer_id` with `text` and runs its first turn,
    /// as the public page does but without the private link; returns the call's id.
    pub async fn web_call_for(&self, customer_id: i64, text: &str) -> i64 {
        use centralita::calls::{self, Channel, NewCall};
        let new = NewCall {
            channel: Channel::Web,
            customer_id: Some(customer_id),
            created_by: None,
            access_hash: None,
            contact: None,
        };
        let opened =
            calls::open_call(&self.state, self.state.db().begin().await.unwrap(), &new, text, None).await.unwrap();
        let id = opened.call.id;
        calls::first_answer(&self.state, opened, text, None).await.unwrap();
        id
    }

    /// Starts a call over the API (asserting 201) and returns its JSON.
    pub async fn start_call(&self, token: &str, body: Value) -> Value {
        let r = post_json(self.url("/api/v1/calls"), token, body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        r.json().await.unwrap()
    }

    /// Says `text` in a call over the API (asserting 200) and returns the turn's JSON.
    pub async fn say(&self, token: &str, call: i64, text: &str) -> Value {
        let r = post_json(self.url(&format!("/api/v1/calls/{call}/messages")), token, json!({"text": text})).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Says `text` in a call over the API asking for the reply as server-sent events;
    /// returns the response as it comes.
    pub async fn say_streamed(&self, token: &str, call: i64, text: &str) -> reqwest::Response {
        new_client()
            .post(self.url(&format!("/api/v1/calls/{call}/messages")))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .json(&json!({"text": text}))
            .send()
            .await
            .unwrap()
    }

    /// Seeds the demo data; returns the id of the customer with `email`.
    pub async fn demo_customer(&self, email: &str) -> i64 {
        // The accounts and customers, without the weeks of history.
        let plan = centralita::seed::HistoryPlan { calls: 0, days: 0 };
        centralita::seed::seed_demo_with(self.state.db(), plan).await.unwrap();
        let db = self.state.db();
        centralita::with_db!(db, |pool| sqlx::query_scalar::<_, i64>("SELECT id FROM customers WHERE email = $1")
            .bind(email)
            .fetch_one(pool)
            .await)
        .unwrap()
    }

    /// The phone number on file for the customer with `email`.
    pub async fn phone_on_file(&self, email: &str) -> String {
        let db = self.state.db();
        centralita::with_db!(db, |pool| sqlx::query_scalar::<_, String>("SELECT phone FROM customers WHERE email = $1")
            .bind(email)
            .fetch_one(pool)
            .await)
        .unwrap()
    }

    /// Snapshot of everything money-related: balances, payments, pending actions.
    pub async fn money_state(&self) -> (i64, i64, i64) {
        let db = self.state.db();
        centralita::with_db!(db, |pool| {
            let b =
                sqlx::query_scalar::<_, i64>("SELECT CAST(COALESCE(SUM(balance_cents), 0) AS BIGINT) FROM customers")
                    .fetch_one(pool)
                    .await
                    .unwrap();
            let p = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM payments").fetch_one(pool).await.unwrap();
            let a = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pending_actions").fetch_one(pool).await.unwrap();
            (b, p, a)
        })
    }
}

impl Browser {
    /// The number of the call whose private page is `link`, as the page shows it.
    pub async fn call_id(&self, link: &str) -> i64 {
        let html = self.page(link).await;
        let start = html.find("<span class=\"muted\">#").expect("call number shown") + 21;
        html[start..].split('<').next().unwrap().parse().unwrap()
    }
}

/// POST a JSON body with a bearer token.
pub async fn post_json(url: String, token: &str, body: Value) -> reqwest::Response {
    new_client().post(url).bearer_auth(token).json(&body).send().await.unwrap()
}
