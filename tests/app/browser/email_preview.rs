//! Writing an email in a real browser: the preview renders in a sandboxed frame with the
//! markup as text, and the sent email's page shows its delivery.

use centralita::db::Backend;
use serde_json::json;

use super::{Driver, assert_no_csp_errors, sign_in};
use crate::helpers::{TestApp, eventually};
use crate::on_both_backends;

on_both_backends!(agent_previews_an_email_in_a_sandboxed_frame_and_sends_it);

async fn agent_previews_an_email_in_a_sandboxed_frame_and_sends_it(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    app.demo_customer("emily.johnson@example.com").await;
    let (_, pw) = app.ready_user("iris", "agent").await;
    let d = Driver::start().await;
    sign_in(&d, &app, "iris", &pw).await;
    d.goto(&app.url("/emails/new?kind=information&customer=emily.johnson@example.com")).await;
    d.click("#language option[value=en]").await;
    d.type_into("#topic", "Opening hours").await;
    d.type_into("#body", "Monday to Friday, 9 to 18.\n<script>alert(1)</script>").await;
    d.execute("window.__sameDocument = 5; return true;").await;
    d.click("#email-form button[formaction='/emails/preview']").await;
    d.wait_text("#preview-subject", "The information you asked for: Opening hours").await;
    let text = d.text("#preview-text").await;
    assert!(text.contains("<script>alert(1)</script>"), "shown as text: {text}");
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(5), "previewed in place");
    // The HTML part renders inside the sandboxed frame, styled, with the markup as text.
    d.enter_frame("#preview iframe.email-frame").await;
    let body = d.wait_text("body", "Monday to Friday").await;
    assert!(body.contains("<script>alert(1)</script>"), "{body}");
    let styled = d.execute("return getComputedStyle(document.querySelector('table table td')).backgroundColor;").await;
    assert_eq!(styled, json!("rgb(31, 78, 121)"), "the email's inline CSS applies in the frame");
    d.leave_frame().await;
    d.screenshot("10-email-preview").await;

    d.click("#email-form input[name=customer_confirmed]").await;
    d.click("#email-form button.primary").await;
    d.wait_until("return /^\\/emails\\/\\d+$/.test(location.pathname)", "the email's page").await;
    d.wait_text("#email-confirmation", "Recorded by iris Test").await;
    // The page shows the state when it loads: reload until the worker has sent it.
    eventually("the email page says Sent", || async {
        if d.text("#email-status").await.contains("Sent") {
            return Some(());
        }
        d.execute("location.reload(); return true;").await;
        None
    })
    .await;
    d.find("#eml").await;
    d.screenshot("11-email-sent").await;
    assert_no_csp_errors(&d.console().await);
    d.quit().await;
    app.finish().await;
}
