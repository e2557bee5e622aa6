//! What an outside probe of the records features found, each as the behaviour a user
//! should see: parallel writes wait their turn (SQLite included) instead of failing,
//! the NUL character and other control characters get a clear answer and are never
//! stored where they do not belong, the staff assistant pays only active customers
//! through the same registration as the payment form (balance, `updated_at`, audit,
//! the open call's panel told), a call is not transferred to the person holding it,
//! and a bad query parameter is named, in the user's language.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::assistant::{ask, customer, scalar, tools};
use crate::helpers::{EventStream, TestApp, csrf_in, get_json, new_client, post_json};
use crate::on_both;

on_both!(
    parallel_tickets_and_assistant_confirms_all_succeed,
    the_nul_character_gets_a_clear_answer_everywhere_and_control_characters_stay_out,
    a_deactivated_customer_gets_no_payment_through_the_assistant,
    a_payment_confirmed_through_the_assistant_is_registered_like_any_other,
    a_call_is_not_transferred_to_the_person_holding_it,
    query_errors_name_the_parameter_in_the_users_language,
);

async fn parallel_tickets_and_assistant_confirms_all_succeed(app: &TestApp) {
    let camila = app.demo_customer("camila.rojas@example.com").await;
    let agent = app.token_for("omar", "agent").await;
    let call =
        app.start_call(&agent, json!({"customer_id": camila, "message": "hola"})).await["call_id"].as_i64().unwrap();

    // Twenty tickets at once, half of them from a call: every one is opened.
    let opened = join_all((0..20).map(|n| {
        let body = if n % 2 == 0 {
            json!({"customer_id": camila, "title": format!("par{n}")})
        } else {
            json!({"customer_id": camila, "title": format!("par{n}"), "call_id": call})
        };
        post_json(app.url("/api/v1/tickets"), &agent, body)
    }))
    .await;
    for r in opened {
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    }
    assert_eq!(scalar(app, "SELECT COUNT(*) FROM tickets WHERE title LIKE 'par%'").await, 20);

    // Forty payments the assistant prepared, confirmed eight at a time.
    let maria = customer(app, "María García", "maria.garcia@example.com", "+34 611 222 333", "120.50").await;
    let sup = app.token_for("sara", "supervisor").await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        let a = ask(app, &sup, &format!("registra un pago de 1,00 € en efectivo del cliente {maria}")).await;
        ids.push(a["pending_action"]["id"].as_i64().unwrap_or_else(|| panic!("{a}")));
    }
    for batch in ids.chunks(8) {
        let confirmed = join_all(
            batch.iter().map(|id| post_json(app.url(&format!("/api/v1/assistant/confirm/{id}")), &sup, json!({}))),
        )
        .await;
        for r in confirmed {
            assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
        }
    }
    assert_eq!(scalar(app, &format!("SELECT COUNT(*) FROM payments WHERE customer_id = {maria}")).await, 40);
    assert_eq!(scalar(app, &format!("SELECT balance_cents FROM customers WHERE id = {maria}")).await, 8_050);
}

/// The answer's status and JSON body.
async fn answer(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn the_nul_character_gets_a_clear_answer_everywhere_and_control_characters_stay_out(app: &TestApp) {
    let camila = app.demo_customer("camila.rojas@example.com").await;
    let agent = app.token_for("omar", "agent").await;
    let tickets = app.url("/api/v1/tickets");

    // NUL anywhere in a JSON body: 422 naming the problem, whichever field holds it.
    for body in [
        json!({"customer_id": camila, "title": "a\u{0}b"}),
        json!({"customer_id": camila, "title": "ok", "description": "x\u{0}"}),
    ] {
        let (status, e) = answer(post_json(tickets.clone(), &agent, body).await).await;
        assert_eq!((status, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_text")), "{e}");
        assert!(e["message"].as_str().unwrap().contains("NUL"), "{e}");
    }
    // Other control characters: a title is one line without them; a description keeps
    // its lines and tabs but nothing else.
    let (status, e) =
        answer(post_json(tickets.clone(), &agent, json!({"customer_id": camila, "title": "ring\u{7}"})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["fields"]["title"], "The text contains characters that are not allowed.");
    let body = json!({"customer_id": camila, "title": "x", "description": "a\u{1b}[31m"});
    let (status, e) = answer(post_json(tickets.clone(), &agent, body).await).await;
    assert_eq!((status, e["fields"]["description"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true), "{e}");
    let body = json!({"customer_id": camila, "title": "two\nlines\there", "description": "first\n\tsecond\r\n"});
    let (status, t) = answer(post_json(tickets.clone(), &agent, body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!((t["title"].as_str(), t["description"].as_str()), (Some("two lines here"), Some("first\n\tsecond")));
    let id = t["id"].as_i64().unwrap();
    let patch = |body: Value| {
        new_client().patch(app.url(&format!("/api/v1/tickets/{id}"))).bearer_auth(&agent).json(&body).send()
    };
    let (status, e) = answer(patch(json!({"comment": "x\u{0}"})).await.unwrap()).await;
    assert_eq!((status, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_text")));
    let (status, e) = answer(patch(json!({"comment": "bell\u{7}"})).await.unwrap()).await;
    assert_eq!((status, e["fields"]["comment"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true), "{e}");
    assert_eq!(patch(json!({"comment": "fine\nreally"})).await.unwrap().status(), StatusCode::OK);

    // Searches and filters, in the API and on the pages.
    for path in ["/api/v1/customers?q=%00", "/api/v1/tickets?q=a%00b", "/api/v1/calls?q=%00"] {
        let r = new_client().get(app.url(path)).bearer_auth(&agent).send().await.unwrap();
        let (status, e) = answer(r).await;
        assert_eq!((status, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_text")), "{path}");
    }
    let b = app.signed_in("olga", "agent").await;
    for path in ["/customers?q=%00", "/tickets?q=%00"] {
        let r = b.get(path).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(r.text().await.unwrap().contains("U+0000"), "{path}: the error page says why");
    }
    // Refused before anything else, so even the sign-in redirect: in the asker's language.
    let es = app.browser().page_in("/customers?q=%00", "es").await;
    assert!(es.contains("carácter NUL") || es.contains("car&#225;cter NUL"), "in the user's language: {es}");

    // The new-ticket form: NUL is refused, other control characters are a form error.
    let token = csrf_in(&b.page("/tickets/new").await);
    let camila_s = camila.to_string();
    let form = |title: &'static str| {
        vec![("csrf_token", token.clone()), ("customer_id", camila_s.clone()), ("title", title.to_owned())]
    };
    let r = post_form(&b, "/tickets", form("web\u{0}title")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_form(&b, "/tickets", form("web\u{7}title")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("The text contains characters that are not allowed."));

    // Nothing stored holds a control character, on either database.
    let all = get_json(app.url("/api/v1/tickets?per_page=200"), &agent).await;
    for t in all["items"].as_array().unwrap() {
        assert!(!t["title"].as_str().unwrap().chars().any(char::is_control), "{t}");
    }

    // Emails: NUL refused, a body keeps lines but no other control character.
    let email = |topic: &str, body: &str| json!({"kind": "information", "customer_id": camila, "topic": topic, "body": body, "language": "en"});
    for body in [email("Topic\u{0}", "Body"), email("Topic", "Body\u{0}")] {
        let (status, e) = answer(post_json(app.url("/api/v1/emails"), &agent, body).await).await;
        assert_eq!((status, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_text")), "{e}");
    }
    let (status, e) = answer(post_json(app.url("/api/v1/emails"), &agent, email("Topic", "Body\u{7}")).await).await;
    assert_eq!((status, e["fields"]["body"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true), "{e}");

    // Signing in with NUL in the name is an ordinary failed login, over the API and
    // on the page: the same answer as any unknown name.
    for name in ["admin\u{0}", "nobody-here"] {
        let r = app.login_attempt(name, "not-the-password").await;
        let (status, e) = answer(r).await;
        assert_eq!((status, e["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")), "{name:?}");
    }
    let web = app.browser();
    let msg = |html: &str| html.split("id=\"login-error\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let nul = web.login("admin\u{0}", "not-the-password").await;
    assert_eq!(nul.status(), StatusCode::UNAUTHORIZED);
    let nul = nul.text().await.unwrap();
    let unknown = web.login("nobody-here", "not-the-password").await.text().await.unwrap();
    assert_eq!(msg(&nul), msg(&unknown));
}

/// POSTs a form as the signed-in browser `b` (its cookies), fields as given.
async fn post_form(b: &crate::helpers::Browser, path: &str, fields: Vec<(&str, String)>) -> reqwest::Response {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post_raw(path, &fields).await
}

async fn a_deactivated_customer_gets_no_payment_through_the_assistant(app: &TestApp) {
    let jorge = customer(app, "Jorge Pérez", "jorge.perez@example.com", "+34 622 333 444", "40.00").await;
    let sup = app.token_for("sara", "supervisor").await;
    let a = ask(app, &sup, &format!("registra un pago de 10,00 € en efectivo del cliente {jorge}")).await;
    let id = a["pending_action"]["id"].as_i64().unwrap_or_else(|| panic!("{a}"));

    // Deactivated between the proposal and the click: the confirm pays nothing.
    let r = new_client()
        .patch(app.url(&format!("/api/v1/customers/{jorge}")))
        .bearer_auth(&sup)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, e) =
        answer(post_json(app.url(&format!("/api/v1/assistant/confirm/{id}")), &sup, json!({})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["fields"]["customer_id"], "This customer is deactivated: reactivate them to register payments.");
    assert_eq!(scalar(app, &format!("SELECT COUNT(*) FROM payments WHERE customer_id = {jorge}")).await, 0);
    assert_eq!(scalar(app, &format!("SELECT balance_cents FROM customers WHERE id = {jorge}")).await, 4_000);
    let waiting = format!("SELECT COUNT(*) FROM assistant_actions WHERE id = {id} AND status = 'waiting'");
    assert_eq!(scalar(app, &waiting).await, 1, "nothing was decided");

    // A new request for them is refused up front, with the reason.
    let a = ask(app, &sup, &format!("registra un pago de 10,00 € en efectivo del cliente {jorge}")).await;
    assert_eq!(tools(&a), ["register_payment"], "{a}");
    assert_eq!(a["pending_action"], Value::Null, "{a}");
    let error = a["steps"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("deactivated") || error.contains("desactivado"), "{a}");
    assert_eq!(scalar(app, "SELECT COUNT(*) FROM assistant_actions").await, 1);
}

async fn a_payment_confirmed_through_the_assistant_is_registered_like_any_other(app: &TestApp) {
    let camila = app.demo_customer("camila.rojas@example.com").await;
    let agent = app.token_for("omar", "agent").await;
    let sup = app.token_for("sara", "supervisor").await;
    let call =
        app.start_call(&agent, json!({"customer_id": camila, "message": "hola"})).await["call_id"].as_i64().unwrap();
    let before = get_json(app.url(&format!("/api/v1/customers/{camila}")), &sup).await;
    let a = ask(app, &sup, &format!("registra un pago de 12,25 € con tarjeta del cliente {camila}")).await;
    let id = a["pending_action"]["id"].as_i64().unwrap_or_else(|| panic!("{a}"));

    // The open call's page hears of it, as after a payment registered by hand.
    let mut stream = EventStream::open(app.staff_stream(&agent)).await;
    let (status, done) =
        answer(post_json(app.url(&format!("/api/v1/assistant/confirm/{id}")), &sup, json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let seen = stream.until_kind("customer_changed").await;
    let ev = seen.last().unwrap();
    assert_eq!((ev["call_id"].as_i64(), ev["data"]["customer_id"].as_i64()), (Some(call), Some(camila)));
    assert_eq!(ev["data"]["what"], "payment");
    stream.close();

    let after = get_json(app.url(&format!("/api/v1/customers/{camila}")), &sup).await;
    assert_eq!(after["balance_cents"].as_i64().unwrap(), before["balance_cents"].as_i64().unwrap() - 1_225, "{after}");
    assert_eq!(after["balance"], done["balance"]);
    assert_ne!(after["updated_at"], before["updated_at"], "the record shows it changed");
    let audit = app.audit_actions().await;
    assert!(
        audit.contains(&"payment.register".to_owned()) && audit.contains(&"assistant.payment_confirmed".to_owned())
    );
    let b = app.signed_in("olga", "agent").await;
    let panel = b.page(&format!("/calls/{call}/customer")).await;
    assert!(panel.contains("12.25 €"), "{panel}");
}

async fn a_call_is_not_transferred_to_the_person_holding_it(app: &TestApp) {
    let (ana_user, ana_pw) = app.ready_user("ana", "agent").await;
    let ana_id = ana_user["id"].as_i64().unwrap();
    let ana = app.api_login("ana", &ana_pw).await["access_token"].as_str().unwrap().to_owned();
    let r = app.start_call(&ana, json!({"message": "I want to talk to a human, please"})).await;
    let call = r["call_id"].as_i64().unwrap();
    let takeover = post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &ana, json!({})).await;
    assert_eq!(takeover.status(), StatusCode::OK);

    let url = app.url(&format!("/api/v1/calls/{call}/transfer"));
    for _ in 0..2 {
        let (status, e) =
            answer(post_json(url.clone(), &ana, json!({"to_user_id": ana_id, "reason": "x"})).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert_eq!(
            e["fields"]["to_user_id"],
            "This person already holds the call: choose someone else or a department."
        );
    }
    let got = get_json(app.url(&format!("/api/v1/calls/{call}")), &ana).await;
    assert_eq!(got["transfers"], json!([]), "nothing recorded");
    assert!(!app.audit_actions().await.contains(&"call.transfer".to_owned()));
    // A department is still a transfer; taking an unheld call for oneself too.
    let r = post_json(url.clone(), &ana, json!({"department": "billing", "reason": "invoice"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post_json(url, &ana, json!({"to_user_id": ana_id, "reason": "mine"})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn query_errors_name_the_parameter_in_the_users_language(app: &TestApp) {
    let sup = app.token_for("sara", "supervisor").await;
    for (path, name) in [
        ("/api/v1/stats?from=abc", "from"),
        ("/api/v1/stats?to=9999-12-31", "to"),
        ("/api/v1/payments?page=0", "page"),
        ("/api/v1/payments?per_page=201", "per_page"),
        ("/api/v1/tickets?page=0", "page"),
        ("/api/v1/reports/calls.csv?from=2026-02-01&to=2026-01-01", "from"),
    ] {
        let (status, e) = answer(new_client().get(app.url(path)).bearer_auth(&sup).send().await.unwrap()).await;
        assert_eq!((status, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_param")), "{path}");
        assert!(e["fields"][name].is_string(), "{path}: {e}");
        assert!(e["message"].as_str().unwrap().contains(&format!("({name})")), "{path}: {e}");
    }

    // Pages say which parameter is wrong, not "the body does not have the expected shape".
    let (user, pw) = app.ready_user("sofia", "supervisor").await;
    let b = app.browser();
    b.login("sofia", &pw).await;
    for (path, name) in
        [("/tickets?page=0", "page"), ("/customers?page=0", "page"), ("/reports/print?to=9999-12-31", "to")]
    {
        let r = b.get(path).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!("({name})")) && !html.contains("expected shape"), "{path}: {html}");
    }
    // In Spanish for a Spanish-speaking user.
    let id = user["id"].as_i64().unwrap();
    let r = new_client()
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(app.admin_token().await)
        .json(&json!({"language": "es"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = b.get("/reports?from=abc").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("La fecha de inicio (from)") && !html.contains("expected a date"), "{html}");
}
