//! Payments registered by hand: exact money, the balance lowered in the same
//! transaction (20 at once lose nothing), who may register them, bad input, the list
//! with its filters, and the audit trail.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::customers::{create_customer, set_balance};
use crate::helpers::{TestApp, new_client, post_json};
use crate::on_both;

on_both!(
    payments_lower_the_balance_by_exactly_their_amount,
    only_supervisors_and_admins_register_payments_and_bad_input_is_named,
    twenty_concurrent_payments_on_one_customer_lose_no_update,
    payments_are_listed_by_customer_and_date_range_page_by_page,
);

async fn balance_cents(app: &TestApp, id: i64) -> i64 {
    let db = app.state.db();
    centralita::with_db!(db, |pool| sqlx::query_scalar::<_, i64>("SELECT balance_cents FROM customers WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await)
    .unwrap()
}

async fn pay(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    post_json(app.url("/api/v1/payments"), token, body).await
}

async fn payments_lower_the_balance_by_exactly_their_amount(app: &TestApp) {
    let sup = app.token_for("sergio", "supervisor").await;
    let c = create_customer(app, &sup, json!({"name": "Lucía Vega", "email": "lucia@example.com"})).await;
    let id = c["id"].as_i64().unwrap();
    set_balance(app, id, 100).await;
    for expected in ["0.90", "0.80", "0.70"] {
        let r = pay(app, &sup, json!({"customer_id": id, "amount": "0,10", "method": "cash", "description": "Cambio"}))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["balance"], expected);
        assert_eq!(v["payment"]["amount"], "0.10");
        assert_eq!(v["payment"]["amount_cents"], 10);
        assert_eq!(v["payment"]["processed_by_name"], "sergio Test");
    }
    assert_eq!(balance_cents(app, id).await, 70);
    // An admin may too; a payment larger than the debt leaves a credit.
    let admin = app.admin_token().await;
    let r = pay(app, &admin, json!({"customer_id": id, "amount": "50", "method": "transfer", "description": ""})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["balance"].as_str(), v["balance_cents"].as_i64()), (Some("-49.30"), Some(-4930)));
    let detail: Value = new_client()
        .get(app.url(&format!("/api/v1/customers/{id}")))
        .bearer_auth(&sup)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["balance"], "-49.30");
    assert_eq!(detail["payments"].as_array().unwrap().len(), 4);
    assert_eq!(detail["payments"][0]["method"], "transfer", "newest first");

    let rows = centralita::audit::list(app.state.db(), None, 100).await.unwrap();
    let paid: Vec<_> = rows.iter().filter(|r| r.action == "payment.register").collect();
    assert_eq!(paid.len(), 4);
    assert_eq!(paid[0].target.as_deref(), Some(format!("customer:{id}").as_str()));
    assert!(paid[0].metadata.contains("\"amount\":\"50.00\""), "{}", paid[0].metadata);
}

async fn only_supervisors_and_admins_register_payments_and_bad_input_is_named(app: &TestApp) {
    let sup = app.token_for("sabela", "supervisor").await;
    let agent = app.token_for("aaron", "agent").await;
    let viewer = app.token_for("veva", "viewer").await;
    let c = create_customer(app, &sup, json!({"name": "Rosa", "email": "rosa@example.com"})).await;
    let id = c["id"].as_i64().unwrap();
    let good = json!({"customer_id": id, "amount": "50.00", "method": "card", "description": "Factura"});
    for token in [&agent, &viewer] {
        assert_eq!(pay(app, token, good.clone()).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(pay(app, token, json!({"nonsense": 1})).await.status(), StatusCode::FORBIDDEN, "before the body");
    }
    assert_eq!(balance_cents(app, id).await, 0, "nothing moved");

    for (body, field) in [
        (json!({"customer_id": id, "amount": "0", "method": "card"}), "amount"),
        (json!({"customer_id": id, "amount": "-5", "method": "card"}), "amount"),
        (json!({"customer_id": id, "amount": "5.001", "method": "card"}), "amount"),
        (json!({"customer_id": id, "amount": "99999999", "method": "card"}), "amount"),
        (json!({"customer_id": id, "amount": "5", "method": "bitcoin"}), "method"),
        (json!({"amount": "5", "method": "cash"}), "customer_id"),
        (json!({"customer_id": 999_999, "amount": "5", "method": "cash"}), "customer_id"),
        (json!({"customer_id": id, "amount": "5", "method": "cash", "description": "x".repeat(201)}), "description"),
        (json!({"customer_id": id, "amount": "5", "method": "cash", "call_id": 999_999}), "call_id"),
    ] {
        let r = pay(app, &sup, body.clone()).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(e["fields"][field].is_string(), "{body}: {e}");
    }
    let r = pay(app, &sup, json!({"customer_id": id, "amount": 50, "method": "cash"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a JSON number is not an amount");
    let e: Value =
        pay(app, &sup, json!({"customer_id": 999_999, "amount": "5", "method": "cash"})).await.json().await.unwrap();
    assert_eq!(e["fields"]["customer_id"], "There is no such customer.");

    // A call of another customer is refused; a deactivated customer pays nothing.
    let other = create_customer(app, &sup, json!({"name": "Otro", "email": "otro@example.com"})).await;
    let call = app.start_call(&agent, json!({"customer_id": other["id"], "message": "Hola"})).await;
    let r =
        pay(app, &sup, json!({"customer_id": id, "amount": "5", "method": "cash", "call_id": call["call_id"]})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = new_client()
        .patch(app.url(&format!("/api/v1/customers/{id}")))
        .bearer_auth(&sup)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = pay(app, &sup, good.clone()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("deactivated"));
    assert_eq!(balance_cents(app, id).await, 0);
    let count: Value = new_client()
        .get(app.url(&format!("/api/v1/payments?customer_id={id}")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["total"], 0, "no refused payment was stored");
}

async fn twenty_concurrent_payments_on_one_customer_lose_no_update(app: &TestApp) {
    let sup = app.token_for("susana", "supervisor").await;
    let c = create_customer(app, &sup, json!({"name": "Concurrente", "email": "conc@example.com"})).await;
    let id = c["id"].as_i64().unwrap();
    set_balance(app, id, 100_000).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let url = app.url("/api/v1/payments");
        let token = sup.clone();
        tasks.push(tokio::spawn(async move {
            let body =
                json!({"customer_id": id, "amount": "12,34", "method": "card", "description": format!("Pago {i}")});
            post_json(url, &token, body).await.status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    assert_eq!(balance_cents(app, id).await, 100_000 - 20 * 1234, "every payment lowered the balance once");
    let db = app.state.db();
    let (rows, sum): (i64, i64) = centralita::with_db!(db, |pool| sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM payments WHERE customer_id = $1"
    )
    .bind(id)
    .fetch_one(pool)
    .await)
    .unwrap();
    assert_eq!((rows, sum), (20, 20 * 1234));
}

async fn payments_are_listed_by_customer_and_date_range_page_by_page(app: &TestApp) {
    let sup = app.token_for("sandra", "supervisor").await;
    let viewer = app.token_for("valeria", "viewer").await;
    let a = create_customer(app, &sup, json!({"name": "A", "email": "a@example.com"})).await["id"].as_i64().unwrap();
    let b = create_customer(app, &sup, json!({"name": "B", "email": "b@example.com"})).await["id"].as_i64().unwrap();
    for (who, amount) in [(a, "1"), (a, "2"), (a, "3"), (b, "4")] {
        let r = pay(app, &sup, json!({"customer_id": who, "amount": amount, "method": "check"})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let list = |query: String| {
        let token = viewer.clone();
        let url = app.url(&format!("/api/v1/payments?{query}"));
        async move { new_client().get(url).bearer_auth(token).send().await.unwrap() }
    };
    let all: Value = list(String::new()).await.json().await.unwrap();
    assert_eq!(all["total"], 4);
    let page: Value = list(format!("customer_id={a}&per_page=2&page=2")).await.json().await.unwrap();
    assert_eq!((page["total"].as_i64(), page["page"].as_i64()), (Some(3), Some(2)));
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["amount"], "1.00", "oldest last");
    let today = time::OffsetDateTime::now_utc().date();
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let (d, d_next) = (today.format(fmt).unwrap(), today.next_day().unwrap().format(fmt).unwrap());
    let r: Value = list(format!("from={d}&to={d}")).await.json().await.unwrap();
    assert_eq!(r["total"], 4, "today's payments");
    let r: Value = list(format!("from={d_next}&to={d_next}")).await.json().await.unwrap();
    assert_eq!(r["total"], 0, "none tomorrow");
    for bad in ["from=yesterday", "customer_id=abc", "per_page=0", "from=2026-12-02&to=2026-12-01"] {
        assert_eq!(list(bad.to_owned()).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let r = new_client().get(app.url("/api/v1/payments")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
