//! Customer text is shown as text on every page that shows it: the staff call list,
//! the call page, the board and the customer's own page.

use reqwest::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, TestApp, location};
use crate::on_both;

on_both!(customer_markup_is_escaped_on_every_page_that_shows_it);

const NAME: &str = "Eve <script>alert(1)</script>";
const MESSAGE: &str = "Hola <img src=x onerror=alert(2)> quiero hablar con una persona";

async fn customer_markup_is_escaped_on_every_page_that_shows_it(app: &TestApp) {
    let customer = app.browser();
    let fields = [("name", "Eve Tester"), ("email", "eve@example.com"), ("phone", ""), ("message", MESSAGE)];
    let r = customer.post("/call", "/call", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let link = location(&r);
    // The claimed name is refused as a name (markup is not a name), so put it where
    // a name may carry anything: a second call's contact name through the API.
    let call = customer.call_id(&link).await;
    let token = app.admin_token().await;
    let body = serde_json::json!({"customer": {"name": "Eve Markup", "email": "eve2@example.com"}, "message": NAME});
    let r = crate::helpers::new_client()
        .post(app.url("/api/v1/calls"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let second = r.json::<serde_json::Value>().await.unwrap()["call_id"].as_i64().unwrap();

    let staff = app.browser();
    staff.login("admin", ADMIN_PASSWORD).await;
    let pages = [
        ("customer page", customer.page(&link).await),
        ("call list", staff.page("/calls").await),
        ("call page", staff.page(&format!("/calls/{call}")).await),
        ("second call page", staff.page(&format!("/calls/{second}")).await),
        ("board", staff.page("/board").await),
        ("board live", staff.page("/board/live").await),
        ("conversation", customer.page(&format!("{link}/conversation")).await),
    ];
    for (what, html) in &pages {
        for raw in ["<script>alert(1)", "<img src=x onerror"] {
            assert!(!html.contains(raw), "{what} shows markup unescaped: {raw}");
        }
    }
    // askama writes `<` and `>` as numeric references.
    let call_page = &pages[2].1;
    assert!(call_page.contains("&#60;img src=x onerror=alert(2)&#62;"), "shown as text on the call page");
    let second_page = &pages[3].1;
    assert!(second_page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "shown as text on the call page");
}
