//! First start: migrations, the first admin account, and the forced password change.

use centralita::app::{Application, FirstAdmin};
use centralita::config::{Config, Secret};
use centralita::db::Backend;
use reqwest::StatusCode;

use crate::helpers::{Browser, drop_database, fresh_database, location, new_client};
use crate::on_both_backends;

on_both_backends!(
    first_start_creates_admin_with_printed_password,
    admin_password_from_environment_is_used_and_not_temporary,
);

async fn first_start_creates_admin_with_printed_password(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = fresh_database(backend, dir.path()).await;
    let config = Config::for_database(url.clone(), dir.path()).unwrap();
    let app = Application::build(config.clone()).await.unwrap();
    let FirstAdmin::Generated(password) = app.first_admin().clone() else { panic!("expected a generated password") };
    assert!(password.len() >= 20);
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));

    // The printed password works once, and the admin must replace it before anything else.
    let browser = Browser { base: base.clone(), client: new_client() };
    let r = browser.login("admin", &password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account/password");
    let r = browser.get("/users").await;
    assert_eq!(location(&r), "/account/password", "temporary password blocks other pages");
    let r = browser.change_password(&password, "a brand new passphrase", "a brand new passphrase").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(browser.page("/users").await.contains("admin@centralita.local"));
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();

    // A second start finds the admin and creates nothing, even with a password set.
    let mut again = config;
    again.admin_password = Some(Secret::new("another-password-x"));
    let app = Application::build(again).await.unwrap();
    assert_eq!(app.first_admin(), &FirstAdmin::NotNeeded);
    app.state().db().close().await;
    drop(app);
    if let Some(name) = pg {
        drop_database(&name).await;
    }
}

async fn admin_password_from_environment_is_used_and_not_temporary(backend: Backend) {
    let app = crate::helpers::TestApp::spawn(backend, |_| {}).await;
    let browser = app.browser();
    let r = browser.login("admin", crate::helpers::ADMIN_PASSWORD).await;
    assert_eq!(location(&r), "/");
    app.finish().await;
}
