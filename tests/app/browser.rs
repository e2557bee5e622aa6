//! Headless Chromium drives the pages that matter (chromedriver from Debian's packages,
//! the `fantoccini` WebDriver client), on both databases.
//!
//! Set `CENTRALITA_SCREENSHOTS=DIR` to keep a PNG of each step for people to look at.

mod call_records;
mod canned;
mod customer_page;
mod driver;
mod email_preview;
mod staff;
mod whatsapp;

use driver::Driver;

use crate::helpers::TestApp;

/// Signs a ready user in through the login form.
async fn sign_in(d: &Driver, app: &TestApp, username: &str, password: &str) {
    d.goto(&app.url("/login")).await;
    d.type_into("input[name=username]", username).await;
    d.type_into("input[name=password]", password).await;
    d.click("button[type=submit].primary").await;
    d.wait_until("return location.pathname === '/'", "signed in").await;
}

/// The page loaded nothing that its Content Security Policy refused.
fn assert_no_csp_errors(console: &[String]) {
    assert!(!console.iter().any(|m| m.contains("Content Security Policy") || m.contains("Refused")), "{console:?}");
}
