//! Customers as staff work them: search by name, email or phone with paging, create
//! and edit with field errors (a duplicate email too), deactivate and reactivate,
//! audited; the customer page and the call page's customer panel over real sessions.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{EventStream, TestApp, csrf_in, location, new_client, post_json};
use crate::on_both;

on_both!(
    staff_find_customers_by_name_email_or_phone_page_by_page,
    supervisors_create_edit_and_deactivate_customers_and_others_are_refused,
    the_customer_page_shows_the_record_and_its_forms_keep_what_was_typed,
    the_call_page_shows_the_callers_record_and_redraws_it_live,
);

/// Creates a customer over the API as `token` (asserting 201).
pub async fn create_customer(app: &TestApp, token: &str, body: Value) -> Value {
    let r = post_json(app.url("/api/v1/customers"), token, body).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    r.json().await.unwrap()
}

/// Sets a customer's balance directly (what they owed before the test).
pub async fn set_balance(app: &TestApp, id: i64, cents: i64) {
    let db = app.state.db();
    centralita::with_db!(db, |pool| sqlx::query("UPDATE customers SET balance_cents = $2 WHERE id = $1")
        .bind(id)
        .bind(cents)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
}

async fn patch(app: &TestApp, token: &str, id: i64, body: Value) -> reqwest::Response {
    new_client().patch(app.url(&format!("/api/v1/customers/{id}"))).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    new_client().get(app.url(path)).bearer_auth(token).send().await.unwrap()
}

async fn staff_find_customers_by_name_email_or_phone_page_by_page(app: &TestApp) {
    let sup = app.token_for("sofia", "supervisor").await;
    let viewer = app.token_for("victor", "viewer").await;
    for (name, email, phone) in [
        ("María García", "maria.garcia@example.com", "+34 600 11 22 33"),
        ("Mario Gómez", "mgomez@example.org", "600-99-88-77"),
        ("Ana Ruiz", "ana@example.net", "(91) 555 0101"),
        ("Luis Maria Pérez", "luis@example.com", ""),
        ("Beatriz 50%_off", "bea@example.com", ""),
    ] {
        create_customer(app, &sup, json!({"name": name, "email": email, "phone": phone})).await;
    }
    let search = |q: &str| {
        let url = app.url(&format!("/api/v1/customers?{}", serde_urlencoded::to_string([("q", q)]).unwrap()));
        let viewer = viewer.clone();
        async move {
            let r = new_client().get(url).bearer_auth(viewer).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            v["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    let maris = search("MARI").await;
    // "MARI" is in Luis Maria's and Mario's names and in María García's email.
    assert_eq!(maris, ["Luis Maria Pérez", "Mario Gómez", "María García"], "any case, ordered by name");
    assert_eq!(search("example.org").await, ["Mario Gómez"]);
    assert_eq!(search("GARCIA@").await, ["María García"], "email, any case");
    assert_eq!(search("600112233").await, ["María García"], "phone digits ignore the formatting on file");
    assert_eq!(search("600 99 88").await, ["Mario Gómez"], "and the formatting typed");
    assert_eq!(search("555-0101").await, ["Ana Ruiz"]);
    assert_eq!(search("50%_").await, ["Beatriz 50%_off"], "wildcards are taken literally");
    assert!(search("zzz").await.is_empty());

    // Paging: the total over all pages, the page asked for.
    let page: Value = get(app, &viewer, "/api/v1/customers?per_page=2&page=2").await.json().await.unwrap();
    assert_eq!((page["total"].as_i64(), page["page"].as_i64(), page["per_page"].as_i64()), (Some(5), Some(2), Some(2)));
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let last: Value = get(app, &viewer, "/api/v1/customers?per_page=2&page=3").await.json().await.unwrap();
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert_eq!(last["items"][0]["balance"], "0.00");
    for bad in ["page=0", "per_page=1000", "page=abc"] {
        let r = get(app, &viewer, &format!("/api/v1/customers?{bad}")).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }

    // The same search on the staff page.
    let b = app.signed_in("vanesa", "viewer").await;
    let html = b.page("/customers?q=600112233").await;
    assert!(html.contains("María García") && !html.contains("Mario Gómez"), "{html}");
    let html = b.page("/customers?per_page=2&page=2").await;
    assert!(html.contains("5 customers found") && html.contains("Page 2 of 3") && html.contains("rel=\"next\""));
    assert!(!html.contains("href=\"/customers/new\""), "viewers are not offered the form");
}

async fn supervisors_create_edit_and_deactivate_customers_and_others_are_refused(app: &TestApp) {
    let sup = app.token_for("sara", "supervisor").await;
    let agent = app.token_for("andres", "agent").await;
    let viewer = app.token_for("vilma", "viewer").await;
    let body =
        json!({"name": "Carmen Díaz", "email": "Carmen@Example.com", "phone": "+34 611 22 33 44", "notes": "VIP"});
    for token in [&agent, &viewer] {
        let r = post_json(app.url("/api/v1/customers"), token, body.clone()).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let c = create_customer(app, &sup, body.clone()).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["email"], "carmen@example.com", "normalised");
    assert_eq!((c["verified"].as_bool(), c["active"].as_bool()), (Some(true), Some(true)));
    assert_eq!((c["balance"].as_str(), c["balance_cents"].as_i64()), (Some("0.00"), Some(0)));

    // Field errors, a duplicate email among them, never a 500.
    let r =
        post_json(app.url("/api/v1/customers"), &sup, json!({"name": "", "email": "nope", "phone": "call me"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    for field in ["name", "email", "phone"] {
        assert!(e["fields"][field].is_string(), "{field}: {e}");
    }
    let r = post_json(app.url("/api/v1/customers"), &sup, json!({"name": "Otra", "email": "carmen@example.com"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["fields"]["email"], "Another customer already has this email address.");
    let r = post_json(app.url("/api/v1/customers"), &sup, json!({"name": "X", "email": "x@example.com", "vip": true}))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused");

    // Edit: only what is given changes.
    let other = create_customer(app, &sup, json!({"name": "Pedro", "email": "pedro@example.com"})).await;
    let r = patch(app, &sup, id, json!({"notes": "Prefers email", "phone": ""})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let c: Value = r.json().await.unwrap();
    assert_eq!(
        (c["name"].as_str(), c["notes"].as_str(), c["phone"].as_str()),
        (Some("Carmen Díaz"), Some("Prefers email"), None)
    );
    let r = patch(app, &sup, id, json!({"email": "pedro@example.com"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "duplicate on edit too");
    assert!(r.text().await.unwrap().contains("Another customer"));
    for token in [&agent, &viewer] {
        assert_eq!(patch(app, token, id, json!({"name": "Hacked"})).await.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(patch(app, &sup, 999_999, json!({"name": "Ghost"})).await.status(), StatusCode::NOT_FOUND);

    // Deactivate rather than delete; reactivate.
    let r = patch(app, &sup, id, json!({"active": false})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], false);
    let detail: Value = get(app, &viewer, &format!("/api/v1/customers/{id}")).await.json().await.unwrap();
    assert_eq!(detail["active"], false, "still readable");
    assert!(detail.get("emails").is_none(), "viewers do not read customers' email");
    let detail: Value = get(app, &agent, &format!("/api/v1/customers/{id}")).await.json().await.unwrap();
    assert!(detail["emails"].is_array() && detail["tickets"].is_array() && detail["calls"].is_array());
    assert_eq!(patch(app, &sup, id, json!({"active": true})).await.status(), StatusCode::OK);
    assert_eq!(get(app, &viewer, "/api/v1/customers/999999").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(other["active"], true);

    let actions = app.audit_actions().await;
    for a in ["customer.create", "customer.update", "customer.deactivate", "customer.reactivate"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    let rows = centralita::audit::list(app.state.db(), None, 100).await.unwrap();
    let deact = rows.iter().find(|r| r.action == "customer.deactivate").unwrap();
    assert_eq!((deact.actor.as_str(), deact.target.clone()), ("sara", Some(format!("customer:{id}"))));
}

async fn the_customer_page_shows_the_record_and_its_forms_keep_what_was_typed(app: &TestApp) {
    let b = app.signed_in("sonia", "supervisor").await;
    let form = b.page("/customers/new").await;
    let token = csrf_in(&form);
    let bad = [("csrf_token", token.as_str()), ("name", "<b>Eve</b>"), ("email", "eve@"), ("phone", ""), ("notes", "")];
    let r = b.post_raw("/customers", &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Enter a valid email address."), "{html}");
    assert!(html.contains("value=\"&#60;b&#62;Eve&#60;/b&#62;\""), "kept and escaped: {html}");
    let good = [
        ("csrf_token", token.as_str()),
        ("name", "<b>Eve</b>"),
        ("email", "eve@example.com"),
        ("phone", "600 123 456"),
        ("notes", "<script>x</script>"),
    ];
    let r = b.post_raw("/customers", &good).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = location(&r);
    let id: i64 = page.trim_start_matches("/customers/").parse().unwrap();
    let r = b.post_raw("/customers", &good).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "the same email twice");
    assert!(r.text().await.unwrap().contains("Another customer already has this email address."));

    // A ticket and a payment show on the page with the balance.
    let db = app.state.db();
    set_balance(app, id, 12050).await;
    let ticket = centralita::customers::tickets::NewTicket {
        customer_id: id,
        title: "Router <i>broken</i>",
        description: "No connection",
        status: centralita::customers::tickets::TicketStatus::Open,
        priority: centralita::agents::Priority::High,
    };
    centralita::customers::tickets::open(db, &ticket).await.unwrap();
    let html = b.page(&page).await;
    assert!(html.contains("&#60;b&#62;Eve&#60;/b&#62;") && !html.contains("<b>Eve"), "name escaped");
    assert!(html.contains("&#60;script&#62;x&#60;/script&#62;") && !html.contains("<script>x"), "notes escaped");
    assert!(html.contains("120.50 €") && html.contains("owed by the customer"), "{html}");
    assert!(html.contains("Router &#60;i&#62;broken&#60;/i&#62;"), "ticket listed, escaped");
    assert!(html.contains("id=\"register-payment\"") && html.contains("Deactivate"));

    let fields = |amount: &'static str| {
        let token = token.clone();
        move || {
            vec![
                ("csrf_token", token.clone()),
                ("amount", amount.to_owned()),
                ("method", "card".into()),
                ("description", "Invoice <7>".into()),
            ]
        }
    };
    let r = b.client.post(app.url(&format!("{page}/payments"))).form(&fields("abc")()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Enter an amount like 50.00 or 50,00.") && html.contains("value=\"abc\""), "{html}");
    assert!(html.contains("value=\"Invoice &#60;7&#62;\"") && html.contains("<option value=\"card\" selected"));
    let r = b.client.post(app.url(&format!("{page}/payments"))).form(&fields("20,50")()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = b.page(&location(&r)).await;
    assert!(html.contains("Payment registered.") && html.contains("100.00 €") && html.contains("20.50 €"), "{html}");
    assert!(html.contains("Invoice &#60;7&#62;") && html.contains("sonia Test"), "who registered it");

    // Edit keeps input on errors; deactivate and reactivate from the page.
    let r = b
        .post(
            &format!("{page}/edit"),
            &format!("{page}/edit"),
            &[("name", "Eve Adams"), ("email", "bad"), ("phone", ""), ("notes", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("value=\"Eve Adams\""));
    let r = b.post(&format!("{page}/deactivate"), &page, &[]).await;
    assert_eq!(location(&r), format!("{page}?saved=1"));
    let html = b.page(&page).await;
    assert!(html.contains("Deactivated") && html.contains("Reactivate") && !html.contains("name=\"amount\""));
    b.post(&format!("{page}/reactivate"), &page, &[]).await;
    assert!(b.page(&page).await.contains("name=\"amount\""));

    // Viewers read the page without the forms; agents cannot open the forms either.
    let viewer = app.signed_in("vito", "viewer").await;
    let html = viewer.page(&page).await;
    assert!(!html.contains("120.50") && html.contains("100.00 €") && !html.contains("register-payment"));
    assert!(!html.contains("customer-emails"), "viewers do not read email");
    assert!(viewer.page("/").await.contains("href=\"/customers\""), "nav link");
    let agent = app.signed_in("alba", "agent").await;
    assert_eq!(agent.get("/customers/new").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(agent.get(&format!("{page}/edit")).await.status(), StatusCode::FORBIDDEN);
    let r = agent.post(&format!("{page}/payments"), &page, &[("amount", "1"), ("method", "cash")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(agent.page(&page).await.contains("customer-emails"));
    let es = b.page_in("/customers", "es").await;
    assert!(es.contains("Clientes") || es.contains("Customers"));
}

async fn the_call_page_shows_the_callers_record_and_redraws_it_live(app: &TestApp) {
    let sup = app.token_for("silvia", "supervisor").await;
    let c =
        create_customer(app, &sup, json!({"name": "Tom <Jones>", "email": "tom@example.com", "phone": "600 555 123"}))
            .await;
    let id = c["id"].as_i64().unwrap();
    let db = app.state.db();
    set_balance(app, id, 5000).await;
    let (_, pw) = app.ready_user("aitor", "agent").await;
    let agent = app.api_login("aitor", &pw).await["access_token"].as_str().unwrap().to_owned();
    let first = app.start_call(&agent, json!({"customer_id": id, "message": "Hola, una duda"})).await;
    let first_id = first["call_id"].as_i64().unwrap();
    let r =
        post_json(app.url(&format!("/api/v1/calls/{first_id}/close")), &agent, json!({"outcome": "resolved"})).await;
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let call = app.start_call(&agent, json!({"customer_id": id, "message": "¿Cuál es mi saldo?"})).await;
    let call_id = call["call_id"].as_i64().unwrap();
    centralita::customers::tickets::open(
        db,
        &centralita::customers::tickets::NewTicket {
            customer_id: id,
            title: "Billing question",
            description: "",
            status: centralita::customers::tickets::TicketStatus::Open,
            priority: centralita::agents::Priority::Medium,
        },
    )
    .await
    .unwrap();

    let b = app.browser();
    b.login("aitor", &pw).await;
    let html = b.page(&format!("/calls/{call_id}")).await;
    assert!(html.contains("id=\"customer-panel\"") && html.contains(&format!("href=\"/customers/{id}\"")));
    assert!(html.contains("Tom &#60;Jones&#62;") && !html.contains("Tom <Jones>"), "escaped");
    assert!(html.contains("50.00 €") && html.contains("Billing question") && html.contains("Verified"));
    assert!(html.contains(&format!("href=\"/calls/{first_id}\"")), "earlier call listed: {html}");
    assert!(html.contains("Resolved"), "with its outcome");
    assert!(html.contains("hx-get=\"/calls/") && html.contains("hx-trigger=\"customer-update from:body\""));

    // A payment on the call: the call's stream says so and the fragment redraws it.
    let mut stream = EventStream::open(app.staff_stream(&agent)).await;
    let body = json!({"customer_id": id, "amount": "12,25", "method": "cash", "description": "Cash at desk", "call_id": call_id});
    let r = post_json(app.url("/api/v1/payments"), &sup, body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let seen = stream.until_kind("customer_changed").await;
    let ev = seen.last().unwrap();
    assert_eq!((ev["call_id"].as_i64(), ev["data"]["customer_id"].as_i64()), (Some(call_id), Some(id)));
    assert_eq!(ev["data"]["what"], "payment");
    stream.close();
    let fragment = b.page(&format!("/calls/{call_id}/customer")).await;
    assert!(
        fragment.contains("37.75 €") && fragment.contains("12.25 €") && fragment.contains("Cash at desk"),
        "{fragment}"
    );
    assert!(!fragment.contains("<html"), "a fragment");
    let viewer = app.signed_in("vale", "viewer").await;
    assert!(viewer.page(&format!("/calls/{call_id}/customer")).await.contains("37.75 €"));

    // A call without a customer record has no panel.
    let bare = app.start_call(&agent, json!({"message": "hello"})).await;
    let fragment = b.page(&format!("/calls/{}/customer", bare["call_id"])).await;
    assert!(!fragment.contains("customer-panel"));
    assert_eq!(b.get("/calls/999999/customer").await.status(), StatusCode::NOT_FOUND);
}
