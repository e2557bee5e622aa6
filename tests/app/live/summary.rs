//! After the call: the summary offer and the rating are asked once and recorded, and the
//! confirmed summary is delivered to the address on file.

use reqwest::StatusCode;

use crate::helpers::{TestApp, eventually, location};
use crate::on_both;

on_both!(summary_offer_and_rating_are_asked_once_and_recorded,);

async fn summary_offer_and_rating_are_asked_once_and_recorded(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let b = app.browser();
    let db = app.state.db();
    let phone = app.phone_on_file("maria.lopez@example.com").await;
    let r = b
        .post(
            "/call",
            "/call",
            &[
                ("name", "María"),
                ("email", "maria.lopez@example.com"),
                ("phone", &phone),
                ("message", "¿Cuál es mi saldo?"),
            ],
        )
        .await;
    let link = location(&r);
    let page = b.page(&link).await;
    assert!(!page.contains("summary-offer"), "not offered yet");
    // Answering before an offer is refused.
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "yes")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // "Thanks, that's all": the supervisor agent offers a summary to the masked address.
    b.post(&format!("{link}/messages"), &link, &[("message", "Muchas gracias, eso es todo")]).await;
    let page = b.page(&link).await;
    assert!(page.contains("summary-offer"), "offered: {page}");
    assert!(page.contains("m•••@example.com") && !page.contains("maria.lopez@"), "masked address");
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "maybe")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "send")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "nothing to send before the customer asks");
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "yes")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "no")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "answered once");
    let (consent, at): (Option<String>, Option<String>) =
        centralita::with_db!(db, |pool| sqlx::query_as::<_, (Option<String>, Option<String>)>(
            "SELECT summary_consent, CAST(summary_consent_at AS TEXT) FROM calls ORDER BY id DESC LIMIT 1"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
    assert_eq!(consent.as_deref(), Some("yes"));
    assert!(at.is_some(), "when is recorded");

    // The supervisor agent's summary is shown before anything is sent.
    let page = b.page(&link).await;
    assert!(page.contains("id=\"summary-draft\"") && page.contains("m•••@example.com"), "{page}");
    assert!(page.contains("Consulta de saldo") && page.contains("Próximos pasos"), "{page}");
    let call_id: i64 = centralita::with_db!(db, |pool| sqlx::query_scalar::<_, i64>("SELECT MAX(id) FROM calls")
        .fetch_one(pool)
        .await)
    .unwrap();
    let draft = centralita::email::summary_of_call(db, call_id).await.unwrap().unwrap();
    assert_eq!(draft.status.as_str(), "waiting_confirmation");
    assert!(draft.confirmed_by_customer_at.is_none());
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "send")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "cancel")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "confirmed once");
    let page = b.page(&link).await;
    assert!(page.contains("summary-answer") && !page.contains("summary-draft"));
    let confirmed = centralita::email::get(db, draft.id).await.unwrap();
    assert_eq!(confirmed.confirmed_via.as_deref(), Some("customer"));
    assert!(confirmed.confirmed_by_customer_at.is_some());
    assert_eq!(confirmed.to_address, "maria.lopez@example.com", "only the address on file");
    // Who, when and what: the audit entry names the customer and the content's hash.
    let audit = centralita::audit::list(db, None, 50).await.unwrap();
    let entry = audit.iter().find(|e| e.action == "email.confirm").expect("confirmation audited");
    assert_eq!(entry.actor, format!("customer:{maria}"));
    assert!(entry.metadata.contains("content_sha256"), "{}", entry.metadata);

    // With no relay configured, the file mailbox under the data folder receives it.
    // (The file is written before the row is marked sent: wait for the row.)
    eventually("the summary is marked sent", || async {
        (centralita::email::get(db, draft.id).await.unwrap().status.as_str() == "sent").then_some(())
    })
    .await;
    let path = centralita::email::deliver::eml_path(app.state.config(), draft.id);
    let eml = std::fs::read_to_string(&path).expect("the .eml file is written");
    assert!(eml.contains(&format!("Message-ID: {}", draft.message_id)), "{eml}");
    assert!(eml.contains("To: ") && eml.contains("maria.lopez@example.com"));
    assert!(eml.contains("multipart/alternative"));
    assert!(b.page(&link).await.contains("Te enviamos el resumen"));
}
