//! Staff pages in a real browser: signing in, managing users in place, the live board
//! and taking a call over.

use centralita::db::Backend;
use serde_json::{Value, json};

use super::{Driver, assert_no_csp_errors, sign_in};
use crate::helpers::{ADMIN_PASSWORD, TestApp, eventually};
use crate::on_both_backends;

on_both_backends!(
    admin_signs_in_and_manages_users_in_a_real_browser,
    agent_sees_a_new_call_on_the_board_takes_it_over_and_replies,
);

async fn admin_signs_in_and_manages_users_in_a_real_browser(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    let d = Driver::start().await;

    d.goto(&app.url("/login")).await;
    d.screenshot("01-login").await;
    d.type_into("input[name=username]", "admin").await;
    d.type_into("input[name=password]", ADMIN_PASSWORD).await;
    d.click("button[type=submit].primary").await;
    d.wait_text("main h1", "Administrator").await;
    assert_eq!(d.url().await, app.url("/"));
    d.screenshot("02-home").await;

    // Create a user with the plain form.
    d.goto(&app.url("/users")).await;
    d.type_into("#new-user input[name=username]", "bruno").await;
    d.type_into("#new-user input[name=full_name]", "Bruno <b>Díaz</b>").await;
    d.type_into("#new-user input[name=email]", "bruno@example.com").await;
    d.type_into("#new-user input[name=password]", "temporary-pw-9").await;
    d.click("#new-user button[type=submit]").await;
    // The click returns before the browser has posted the form: wait for the row to exist.
    let bruno = eventually("the form created the user", || async {
        centralita::users::find_for_login(app.state.db(), "bruno").await.unwrap()
    })
    .await
    .0;
    let row = format!("#user-{}", bruno.id);
    let shown = d.wait_text(&row, "bruno").await;
    assert!(shown.contains("Bruno <b>Díaz</b>"), "markup shown as text: {shown}");

    // htmx: change the role in place. Text typed in the create form survives, so the
    // page was not reloaded.
    d.type_into("#new-user input[name=username]", "still-here").await;
    d.click(&format!("{row} select[name=role] option[value=supervisor]")).await;
    d.click(&format!("{row} form[action$='/role'] button")).await;
    eventually("the role changed to supervisor", || async {
        let role = centralita::users::get(app.state.db(), bruno.id).await.unwrap().unwrap().role;
        (role == "supervisor").then_some(())
    })
    .await;
    assert_eq!(d.value("#new-user input[name=username]").await, "still-here", "no page reload");

    // Disable asks for confirmation, then the row updates in place.
    d.click(&format!("{row} form[action$='/disable'] button")).await;
    d.accept_dialog().await;
    d.find(&format!("{row}.is-disabled form[action$='/enable']")).await;
    assert!(centralita::users::get(app.state.db(), bruno.id).await.unwrap().unwrap().disabled);
    assert_eq!(d.value("#new-user input[name=username]").await, "still-here", "no page reload");
    d.screenshot("03-users").await;

    // A call's page: transcript and agent steps, with the customer's markup as text.
    centralita::seed::seed_demo(app.state.db()).await.unwrap();
    let text = "No tengo internet desde esta mañana <img src=x onerror=alert(1)>";
    let call = app.web_call_for(1, text).await;
    d.goto(&app.url(&format!("/calls/{call}"))).await;
    let transcript = d.wait_text(".transcript", "No tengo internet").await;
    assert!(transcript.contains("<img src=x onerror=alert(1)>"), "shown as text: {transcript}");
    d.find("table.steps details").await;
    d.screenshot("04-call").await;

    assert_no_csp_errors(&d.console().await);
    d.quit().await;
    app.finish().await;
}

async fn agent_sees_a_new_call_on_the_board_takes_it_over_and_replies(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    let (_, pw) = app.ready_user("alba", "agent").await;
    let admin = app.admin_token().await;
    let d = Driver::start().await;
    sign_in(&d, &app, "alba", &pw).await;

    d.goto(&app.url("/board")).await;
    d.find("#escalations").await;
    d.execute("window.__sameDocument = 42; return true;").await;
    // A refused htmx request shows the server's message instead of failing silently.
    d.execute(
        "var s = document.querySelector('#presence-form select'); s.add(new Option('?', 'sleeping')); \
         s.value = 'sleeping'; return true;",
    )
    .await;
    d.click("#presence-form button").await;
    d.find(".htmx-error[role=alert]").await;
    d.wait_until("return document.body.classList.contains('is-live')", "event stream connected").await;

    // A customer asks for a person; the call appears at the top of the board by itself.
    let body = json!({"customer": {"name": "Nora <em>Board</em>", "email": "nora@example.com"},
        "message": "Quiero hablar con una persona, por favor"});
    let r = reqwest::Client::new().post(app.url("/api/v1/calls")).bearer_auth(&admin).json(&body).send().await.unwrap();
    let call = r.json::<Value>().await.unwrap()["call_id"].as_i64().unwrap();
    let row = d.wait_text("#escalations", "Nora <em>Board</em>").await;
    assert!(row.contains("Nora <em>Board</em>"), "markup shown as text");
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(42), "the board was not reloaded");
    d.wait_text("#kpi-calls", "1").await;
    d.screenshot("05-board").await;

    // Open it, take it over, reply.
    d.click(&format!("#board-call-{call} td a")).await;
    d.wait_until(&format!("return location.pathname === '/calls/{call}'"), "call page").await;
    d.click("#takeover").await;
    d.find("#reply-form textarea").await;
    d.type_into("#reply-form textarea", "Hola Nora, soy Alba. Ya estoy contigo.").await;
    // On a slow network, a redraw of the controls that an event asks for while the
    // reply is on its way does not cancel it.
    d.slow_requests("/reply", 1500).await;
    d.click("#reply-form button[type=submit]").await;
    d.execute("htmx.trigger(document.body, 'call-state'); return true;").await;
    d.wait_text("#call-live .transcript", "Ya estoy contigo").await;
    d.wait_text("#call-live .transcript", "took over").await;
    let db = app.state.db();
    let roles: Vec<String> = centralita::with_db!(db, |pool| sqlx::query_scalar::<_, String>(
        "SELECT role FROM messages WHERE call_id = $1 ORDER BY id"
    )
    .bind(call)
    .fetch_all(pool)
    .await)
    .unwrap();
    assert_eq!(roles.last().map(String::as_str), Some("human"));
    assert_eq!(centralita::calls::get(db, call).await.unwrap().status.as_str(), "human");
    d.screenshot("06-call-taken-over").await;

    assert_no_csp_errors(&d.console().await);
    d.quit().await;
    app.finish().await;
}
