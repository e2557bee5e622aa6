//! The role matrix: every route of the web app and the API, read from the router's
//! own source, with the least role allowed to use it. A route added without a line
//! here fails the test; every line is tried as anonymous, viewer, agent, supervisor
//! and admin, and roles below the line are refused (401/403, or the sign-in page)
//! before anything is looked up, so a lower role cannot even learn which ids exist.
//! Every answer on the way is checked for the security headers.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Browser, TestApp, location, new_client};
use crate::on_both;

on_both!(every_route_refuses_roles_below_its_line);

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Min {
    /// No account needed (sign-in, the customer's pages, assets, probes).
    Public,
    /// Any signed-in staff member.
    Viewer,
    /// Agents, supervisors, admins.
    Agent,
    /// Supervisors and admins.
    Supervisor,
    /// Admins only.
    Admin,
}

use Min::*;

/// (method, path as routed, least role). Web paths as they are; API paths with their
/// `/api/v1` prefix.
const MATRIX: &[(&str, &str, Min)] = &[
    ("GET", "/", Public),
    ("GET", "/login", Public),
    ("POST", "/login", Public),
    ("POST", "/logout", Public),
    ("POST", "/lang", Public),
    // A plain redirect to the password page.
    ("GET", "/account", Public),
    ("GET", "/account/password", Viewer),
    ("POST", "/account/password", Viewer),
    ("GET", "/users", Admin),
    ("POST", "/users", Admin),
    ("GET", "/users/{id}", Admin),
    ("POST", "/users/{id}/role", Admin),
    ("POST", "/users/{id}/disable", Admin),
    ("POST", "/users/{id}/enable", Admin),
    ("POST", "/users/{id}/password", Admin),
    ("GET", "/audit", Admin),
    ("GET", "/calls", Viewer),
    ("GET", "/calls/{id}", Viewer),
    ("GET", "/calls/{id}/live", Viewer),
    ("GET", "/calls/{id}/controls", Viewer),
    ("POST", "/calls/{id}/takeover", Agent),
    ("POST", "/calls/{id}/handback", Agent),
    ("POST", "/calls/{id}/reply", Agent),
    ("POST", "/calls/{id}/close", Agent),
    ("POST", "/calls/{id}/verify-customer", Agent),
    ("GET", "/actions", Viewer),
    ("POST", "/actions/{id}/{decision}", Supervisor),
    ("GET", "/emails", Agent),
    ("POST", "/emails", Agent),
    ("GET", "/emails/table", Agent),
    ("GET", "/emails/new", Agent),
    ("POST", "/emails/preview", Agent),
    ("GET", "/emails/preview.html", Agent),
    ("GET", "/emails/{id}", Agent),
    ("GET", "/emails/{id}/html", Agent),
    ("POST", "/emails/{id}/{action}", Agent),
    ("GET", "/board", Viewer),
    ("GET", "/board/live", Viewer),
    ("POST", "/presence", Viewer),
    ("GET", "/events", Viewer),
    ("GET", "/call", Public),
    ("POST", "/call", Public),
    ("GET", "/c/{token}", Public),
    ("GET", "/c/{token}/conversation", Public),
    ("GET", "/c/{token}/composer", Public),
    ("POST", "/c/{token}/messages", Public),
    ("POST", "/c/{token}/summary", Public),
    ("POST", "/c/{token}/rating", Public),
    ("POST", "/c/{token}/end", Public),
    ("GET", "/c/{token}/events", Public),
    ("GET", "/static/{file}", Public),
    ("POST", "/api/v1/auth/login", Public),
    ("POST", "/api/v1/auth/refresh", Public),
    ("POST", "/api/v1/auth/logout", Public),
    ("GET", "/api/v1/me", Viewer),
    ("POST", "/api/v1/me/password", Viewer),
    ("GET", "/api/v1/users", Admin),
    ("POST", "/api/v1/users", Admin),
    ("GET", "/api/v1/users/{id}", Admin),
    ("PATCH", "/api/v1/users/{id}", Admin),
    ("GET", "/api/v1/audit", Admin),
    ("POST", "/api/v1/classify", Viewer),
    ("POST", "/api/v1/calls", Agent),
    ("GET", "/api/v1/calls/{id}", Viewer),
    ("POST", "/api/v1/calls/{id}/messages", Agent),
    ("POST", "/api/v1/calls/{id}/takeover", Agent),
    ("POST", "/api/v1/calls/{id}/handback", Agent),
    ("POST", "/api/v1/calls/{id}/close", Agent),
    ("POST", "/api/v1/calls/{id}/verify-customer", Agent),
    ("GET", "/api/v1/pending-actions", Viewer),
    ("POST", "/api/v1/pending-actions/{id}/approve", Supervisor),
    ("POST", "/api/v1/pending-actions/{id}/reject", Supervisor),
    ("GET", "/api/v1/emails", Agent),
    ("POST", "/api/v1/emails", Agent),
    ("GET", "/api/v1/emails/{id}", Agent),
    ("POST", "/api/v1/emails/{id}/{action}", Agent),
    ("GET", "/api/v1/events", Viewer),
    ("POST", "/api/v1/presence", Viewer),
    ("GET", "/api/v1/board", Viewer),
    ("GET", "/calls/{id}/customer", Viewer),
    ("GET", "/customers", Viewer),
    ("POST", "/customers", Supervisor),
    ("GET", "/customers/new", Supervisor),
    ("GET", "/customers/{id}", Viewer),
    ("GET", "/customers/{id}/edit", Supervisor),
    ("POST", "/customers/{id}/edit", Supervisor),
    ("POST", "/customers/{id}/payments", Supervisor),
    ("POST", "/customers/{id}/deactivate", Supervisor),
    ("POST", "/customers/{id}/reactivate", Supervisor),
    ("GET", "/api/v1/customers", Viewer),
    ("POST", "/api/v1/customers", Supervisor),
    ("GET", "/api/v1/customers/{id}", Viewer),
    ("PATCH", "/api/v1/customers/{id}", Supervisor),
    ("GET", "/api/v1/payments", Viewer),
    ("POST", "/api/v1/payments", Supervisor),
    ("GET", "/tickets", Viewer),
    ("POST", "/tickets", Agent),
    ("GET", "/tickets/new", Agent),
    ("GET", "/tickets/{id}", Viewer),
    ("POST", "/tickets/{id}", Agent),
    ("GET", "/api/v1/tickets", Viewer),
    ("POST", "/api/v1/tickets", Agent),
    ("GET", "/api/v1/tickets/{id}", Viewer),
    ("PATCH", "/api/v1/tickets/{id}", Agent),
    // Call history and teamwork (issue 11).
    ("GET", "/api/v1/calls", Viewer),
    ("PATCH", "/api/v1/calls/{id}", Agent),
    ("POST", "/api/v1/calls/{id}/transfer", Agent),
    ("POST", "/api/v1/calls/{id}/notes", Agent),
    ("POST", "/calls", Agent),
    ("POST", "/calls/{id}/classification", Agent),
    ("POST", "/calls/{id}/transfer", Agent),
    ("POST", "/calls/{id}/notes", Agent),
    ("POST", "/board/alerts", Viewer),
    ("POST", "/users/{id}/department", Admin),
    ("GET", "/reports", Viewer),
    ("GET", "/reports/print", Viewer),
    // CSV exports carry customer data.
    ("GET", "/reports/{file}", Supervisor),
    ("GET", "/api/v1/stats", Viewer),
    ("GET", "/api/v1/reports/{file}", Supervisor),
    ("GET", "/assistant", Viewer),
    ("POST", "/assistant", Viewer),
    ("POST", "/assistant/stream", Viewer),
    ("POST", "/assistant/confirm/{id}", Supervisor),
    ("POST", "/assistant/cancel/{id}", Supervisor),
    ("POST", "/api/v1/assistant", Viewer),
    ("POST", "/api/v1/assistant/confirm/{id}", Supervisor),
    ("POST", "/api/v1/assistant/cancel/{id}", Supervisor),
    ("GET", "/inquiries", Viewer),
    ("GET", "/inquiries/{id}", Viewer),
    ("POST", "/inquiries/{id}", Agent),
    ("POST", "/inquiries/{id}/reply", Agent),
    // Anyone may leave a written inquiry (limited per client address).
    ("POST", "/api/v1/inquiries", Public),
    ("GET", "/api/v1/inquiries", Viewer),
    ("GET", "/api/v1/inquiries/{id}", Viewer),
    ("PATCH", "/api/v1/inquiries/{id}", Agent),
    ("POST", "/api/v1/inquiries/{id}/reply", Agent),
    // Canned responses and the suggested reply (issue 13).
    ("GET", "/canned-responses", Agent),
    ("POST", "/canned-responses", Supervisor),
    ("GET", "/canned-responses/new", Supervisor),
    ("GET", "/canned-responses/{id}/edit", Supervisor),
    ("POST", "/canned-responses/{id}/edit", Supervisor),
    ("POST", "/canned-responses/{id}/delete", Supervisor),
    ("POST", "/calls/{id}/suggest", Agent),
    ("POST", "/calls/{id}/compose", Agent),
    ("GET", "/api/v1/canned-responses", Agent),
    ("POST", "/api/v1/canned-responses", Supervisor),
    ("GET", "/api/v1/canned-responses/{id}", Agent),
    ("PATCH", "/api/v1/canned-responses/{id}", Supervisor),
    ("DELETE", "/api/v1/canned-responses/{id}", Supervisor),
    ("GET", "/api/v1/calls/{id}/canned-responses", Agent),
    ("GET", "/api/v1/calls/{id}/suggested-reply", Agent),
    // WhatsApp: the provider's webhook is public (the handshake needs the verify
    // token, a notification the app secret's signature); conversations are staff's.
    ("GET", "/api/v1/channels/whatsapp/webhook", Public),
    ("POST", "/api/v1/channels/whatsapp/webhook", Public),
    ("GET", "/api/v1/channels/whatsapp/conversations", Viewer),
    ("GET", "/api/v1/channels/whatsapp/conversations/{call_id}", Viewer),
    ("POST", "/api/v1/channels/whatsapp/conversations/{call_id}/read", Agent),
    ("POST", "/calls/{id}/whatsapp/read", Agent),
    ("POST", "/calls/{id}/whatsapp/template", Agent),
    ("GET", "/whatsapp/templates", Viewer),
    ("POST", "/whatsapp/templates", Supervisor),
    ("GET", "/whatsapp/templates/new", Supervisor),
    ("POST", "/whatsapp/templates/preview", Viewer),
    ("GET", "/whatsapp/templates/{id}/edit", Supervisor),
    ("POST", "/whatsapp/templates/{id}/edit", Supervisor),
    ("POST", "/whatsapp/templates/{id}/delete", Supervisor),
    ("POST", "/api/v1/channels/whatsapp/conversations/{call_id}/send-template", Agent),
    ("GET", "/api/v1/channels/whatsapp/templates", Viewer),
    ("POST", "/api/v1/channels/whatsapp/templates", Supervisor),
    ("POST", "/api/v1/channels/whatsapp/templates/preview", Viewer),
    ("GET", "/api/v1/channels/whatsapp/templates/{id}", Viewer),
    ("PATCH", "/api/v1/channels/whatsapp/templates/{id}", Supervisor),
    ("DELETE", "/api/v1/channels/whatsapp/templates/{id}", Supervisor),
    ("GET", "/settings/whatsapp", Admin),
    ("POST", "/settings/whatsapp", Admin),
    ("GET", "/settings/hours", Admin),
    ("POST", "/settings/hours", Admin),
    ("POST", "/settings/hours/reset", Admin),
    // The API's OpenAPI document and its docs page (public).
    ("GET", "/api/v1/openapi.json", Public),
    ("GET", "/api/v1/docs", Public),
    ("GET", "/health", Public),
    ("GET", "/metrics", Public),
];

/// Every (method, path) the router's source declares with `.route(...)`.
pub(crate) fn routes_in_source() -> BTreeSet<(String, String)> {
    let sources = [
        ("", include_str!("../../../src/web/mod.rs")),
        ("/api/v1", include_str!("../../../src/api/mod.rs")),
        ("", include_str!("../../../src/ops.rs")),
    ];
    let mut found = BTreeSet::new();
    for (prefix, source) in sources {
        for chunk in source.split(".route(\"").skip(1) {
            let path = chunk.split('"').next().unwrap();
            let handlers = chunk[path.len()..].lines().next().unwrap_or_default();
            for method in ["get", "post", "patch", "put", "delete"] {
                let call = format!("{method}(");
                let declared = handlers
                    .match_indices(&call)
                    .any(|(at, _)| at > 0 && matches!(handlers.as_bytes()[at - 1], b' ' | b'.' | b'('));
                if declared {
                    found.insert((method.to_uppercase(), format!("{prefix}{path}")));
                }
            }
        }
    }
    found
}

#[test]
fn every_routed_path_has_a_line_in_the_matrix() {
    let routed = routes_in_source();
    assert!(routed.len() > 60, "the router's routes were read: {routed:?}");
    let listed: BTreeSet<(String, String)> =
        MATRIX.iter().map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned())).collect();
    let missing: Vec<_> = routed.difference(&listed).collect();
    assert!(missing.is_empty(), "routes without a line in the role matrix: {missing:?}");
    let stale: Vec<_> = listed.difference(&routed).collect();
    assert!(stale.is_empty(), "matrix lines for routes that no longer exist: {stale:?}");
}

/// A concrete URL path: ids that do not exist (so nothing changes), fixed words.
fn concrete(path: &str) -> String {
    path.replace("{id}", "999999")
        .replace("{decision}", "approve")
        .replace("{action}", "retry")
        .replace("{file}", "app.css")
        .replace("{token}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
}

/// A signed-in caller of one role: a browser and an API token.
struct Caller {
    role: Min,
    browser: Browser,
    token: Option<String>,
}

async fn caller(app: &TestApp, role: Min) -> Caller {
    let browser = app.browser();
    let name = match role {
        Public => return Caller { role, browser, token: None },
        Viewer => "m-viewer",
        Agent => "m-agent",
        Supervisor => "m-super",
        Admin => "m-admin",
    };
    let role_name = format!("{role:?}").to_lowercase();
    let (_, pw) = app.ready_user(name, &role_name).await;
    let r = browser.login(name, &pw).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let token = app.api_login(name, &pw).await["access_token"].as_str().unwrap().to_owned();
    Caller { role, browser, token: Some(token) }
}

async fn send(app: &TestApp, who: &Caller, method: &str, path: &str) -> reqwest::Response {
    let url = app.url(&concrete(path));
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    if path.starts_with("/api/") {
        let mut rb = new_client().request(method.clone(), &url);
        if let Some(t) = &who.token {
            rb = rb.bearer_auth(t);
        }
        if method != reqwest::Method::GET {
            rb = rb.json(&json!({}));
        }
        return rb.send().await.unwrap();
    }
    if method == reqwest::Method::GET {
        return who.browser.get(&concrete(path)).await;
    }
    let token_page = if who.role == Public { "/login" } else { "/account/password" };
    let token = who.browser.csrf(token_page).await;
    who.browser.client.request(method, &url).form(&[("csrf_token", token.as_str())]).send().await.unwrap()
}

async fn every_route_refuses_roles_below_its_line(app: &TestApp) {
    let mut callers = Vec::new();
    for role in [Public, Viewer, Agent, Supervisor, Admin] {
        callers.push(caller(app, role).await);
    }
    let mut failures = Vec::new();
    for (method, path, min) in MATRIX {
        // Signing out, signing in and the public pages are tried anonymously only:
        // the check there is that nothing breaks.
        let who: Vec<&Caller> = if *min == Public { vec![&callers[0]] } else { callers.iter().collect() };
        for c in who {
            let r = send(app, c, method, path).await;
            let status = r.status();
            let to_login = status == StatusCode::SEE_OTHER && location(&r).starts_with("/login");
            let refused = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN || to_login;
            // Every answer, allowed or refused, carries the security headers.
            for header in ["content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy"] {
                if !r.headers().contains_key(header) {
                    failures.push(format!("{method} {path} as {:?}: no {header}", c.role));
                }
            }
            drop(r);
            if status.is_server_error() {
                failures.push(format!("{method} {path} as {:?}: {status}", c.role));
            } else if *min != Public && c.role < *min && !refused {
                failures.push(format!("{method} {path} as {:?}: {status}, expected a refusal", c.role));
            } else if *min != Public && c.role >= *min && refused {
                failures.push(format!("{method} {path} as {:?}: refused with {status}", c.role));
            }
        }
    }
    assert!(failures.is_empty(), "role matrix violations:\n{}", failures.join("\n"));
}
