//! Fuzz targets for every parser that takes outside input and is public: request
//! bodies (JSON and forms) into the handlers' input types, the checks behind them,
//! email addresses, phone numbers, money, customer messages and the agents' tool
//! arguments. Properties: nothing panics, what is accepted is well-formed, and valid
//! input round-trips. Crate-private parsers have their own `fuzz` modules in `src`.
//! Case counts stay small so the set runs in seconds inside the normal test run.

use centralita::agents::model::ToolCall;
use centralita::agents::tools::{self, CallerScope};
use centralita::calls;
use centralita::customers::contact::{EmailAddress, Phone};
use centralita::customers::{self, CustomerInput};
use centralita::db::{Db, Money, Timestamp};
use centralita::error::AppError;
use centralita::users::input::{NewUserForm, UserPatch};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Cases per property: enough to shake out panics, few enough to stay fast.
fn config() -> ProptestConfig {
    ProptestConfig::with_cases(std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256))
}

/// Text as hostile input comes: any Unicode, with control characters, separators
/// and markup over-represented.
fn hostile_text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => any::<char>(),
        2 => prop::sample::select(vec!['\0', '\u{1}', '\u{7f}', '\u{85}', '\u{9b}', '\r', '\n', '\t', ' ', '\u{a0}', '\u{2028}', '\u{feff}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{200d}']),
        1 => prop::sample::select(vec!['&', '=', '+', '%', '"', '\\', '<', '>', '@', '.', ',', '-', '(', ')', '{', '}', '[', ']', ':']),
    ];
    prop::collection::vec(c, 0..48).prop_map(String::from_iter)
}

/// Field names the handlers know, and others.
const FIELDS: &[&str] = &[
    "username",
    "password",
    "name",
    "email",
    "phone",
    "message",
    "text",
    "customer",
    "customer_id",
    "channel",
    "outcome",
    "csat",
    "status",
    "refresh_token",
    "current_password",
    "new_password",
    "confirm_password",
    "role",
    "full_name",
    "language",
    "disabled",
    "kind",
    "call_id",
    "topic",
    "body",
    "dedupe_key",
    "csrf_token",
    "choice",
    "lang",
    "back",
    "after",
    "before",
    "limit",
    "customer_confirmed",
    "amount",
    "method",
    "description",
    "title",
    "priority",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(FIELDS).prop_map(str::to_owned), 1 => hostile_text()]
}

/// Any JSON document, biased towards objects with the handlers' field names.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        hostile_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A form body: `key=value` pairs, encoded properly or not at all.
fn form_body() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec((key(), hostile_text()), 0..8)
            .prop_map(|pairs| serde_urlencoded::to_string(pairs).unwrap_or_default()),
        hostile_text(),
        prop::collection::vec(
            prop_oneof![
                hostile_text(),
                Just("&".to_owned()),
                Just("=".to_owned()),
                Just("%".to_owned()),
                Just("%zz".to_owned()),
                Just("%ff%fe".to_owned())
            ],
            0..10
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// Deserialises `body` as every handler's JSON input would; runs the checks that
/// follow in the handler on whatever deserialises. Panics are the failure.
fn every_json_body(body: &[u8]) {
    fn de<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
        serde_json::from_slice(body).ok()
    }
    let _ = de::<centralita::api::auth::LoginRequest>(body);
    let _ = de::<centralita::api::auth::RefreshRequest>(body);
    let _ = de::<centralita::api::auth::PasswordRequest>(body);
    let _ = de::<centralita::api::calls::CreateCall>(body);
    let _ = de::<centralita::api::calls::PostMessage>(body);
    let _ = de::<centralita::api::calls::CloseCall>(body);
    let _ = de::<centralita::api::classify::ClassifyRequest>(body);
    let _ = de::<centralita::api::events::PresenceBody>(body);
    let _ = de::<centralita::email::compose::Request>(body);
    if let Some(form) = de::<NewUserForm>(body) {
        let _ = form.parse();
    }
    if let Some(patch) = de::<UserPatch>(body) {
        let _ = patch.parse();
    }
    if let Some(input) = de::<CustomerInput>(body) {
        let _ = customers::check_customer(&input);
    }
    if let Some(form) = de::<centralita::calls::canned::CannedForm>(body) {
        let _ = form.parse(true);
        let _ = form.parse(false);
    }
}

/// Deserialises `body` as every handler's form or query input would.
fn every_form_body(body: &str) {
    fn de<T: DeserializeOwned>(body: &str) -> Option<T> {
        serde_urlencoded::from_str(body).ok()
    }
    let _ = de::<centralita::web::login::LoginForm>(body);
    let _ = de::<centralita::web::login::LoginQuery>(body);
    let _ = de::<centralita::web::public::StartForm>(body);
    let _ = de::<centralita::web::public::MessageForm>(body);
    let _ = de::<centralita::web::public::SummaryForm>(body);
    let _ = de::<centralita::web::public::RatingForm>(body);
    let _ = de::<centralita::web::public::AfterQuery>(body);
    let _ = de::<centralita::web::calls::ReplyForm>(body);
    let _ = de::<centralita::web::calls::CloseForm>(body);
    let _ = de::<centralita::web::calls::DecideForm>(body);
    let _ = de::<centralita::web::account::PasswordForm>(body);
    let _ = de::<centralita::web::account::LangForm>(body);
    let _ = de::<centralita::web::email::EmailForm>(body);
    let _ = de::<centralita::web::email::ListQuery>(body);
    let _ = de::<centralita::web::board::PresenceForm>(body);
    let _ = de::<centralita::web::users::RoleForm>(body);
    let _ = de::<centralita::web::users::ResetForm>(body);
    let _ = de::<centralita::web::users::UsersQuery>(body);
    let _ = de::<centralita::web::users::DetailQuery>(body);
    let _ = de::<centralita::web::audit::AuditQuery>(body);
    let _ = de::<centralita::api::audit::AuditQuery>(body);
    let _ = de::<centralita::api::email::ListQuery>(body);
    let _ = de::<centralita::api::actions::ListQuery>(body);
    let _ = de::<centralita::web::calls::ComposeForm>(body);
    let _ = de::<centralita::web::canned::FormFields>(body);
    let _ = de::<centralita::web::canned::ListQuery>(body);
    if let Some(q) = de::<centralita::api::canned::CannedQuery>(body) {
        let _ = q.filter();
    }
    if let Some(form) = de::<NewUserForm>(body) {
        let _ = form.parse();
    }
}

fn required_error(result: Result<String, AppError>) -> bool {
    matches!(result, Err(AppError::Validation(f)) if f.get("message") == Some(&"field.required") && f.len() == 1)
}

/// A plausible address: `local@label.label`.
fn valid_email() -> impl Strategy<Value = String> {
    ("[a-zA-Z0-9][a-zA-Z0-9_+]{0,15}", "[a-zA-Z0-9]{1,12}", "[a-zA-Z]{2,6}")
        .prop_map(|(l, d, t)| format!("{l}@{d}.{t}"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_json_bodies_never_panic(v in json_value()) {
        every_json_body(v.to_string().as_bytes());
    }

    #[test]
    fn fuzz_json_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        every_json_body(&bytes);
    }

    #[test]
    fn fuzz_form_bodies_never_panic(body in form_body()) {
        every_form_body(&body);
    }

    #[test]
    fn fuzz_customer_messages_are_clean_when_accepted(text in hostile_text()) {
        match calls::parse_message(&text) {
            Ok(m) => {
                prop_assert!(!m.is_empty() && m.chars().count() <= calls::MAX_MESSAGE);
                prop_assert!(m.chars().all(|c| !c.is_control() || c == '\n'), "control character kept: {m:?}");
                prop_assert!(!m.chars().any(|c| matches!(c, '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')), "invisible character kept: {m:?}");
                prop_assert_eq!(m.trim(), m.as_str());
                // Cleaning is done once and for all.
                prop_assert_eq!(calls::parse_message(&m).ok(), Some(m.clone()));
            }
            Err(AppError::Validation(f)) => prop_assert!(f.contains_key("message")),
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    #[test]
    fn fuzz_messages_of_control_characters_only_are_required(
        text in prop::collection::vec(prop::sample::select(vec!['\0', '\u{1}', '\u{8}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}', '\r', '\t', ' ', '\n']), 0..40)
            .prop_map(String::from_iter)
    ) {
        prop_assert!(required_error(calls::parse_message(&text)), "{text:?} must be refused as empty");
    }

    #[test]
    fn fuzz_printable_messages_round_trip(text in "[^\\p{C}]{1,200}") {
        prop_assume!(!text.trim().is_empty());
        prop_assert_eq!(calls::parse_message(&text).ok(), Some(text.trim().to_owned()));
    }

    #[test]
    fn fuzz_emails_are_safe_and_stable_when_accepted(text in hostile_text()) {
        if let Some(e) = EmailAddress::parse(&text) {
            let s = e.as_str();
            prop_assert!(s.len() <= 254 && s.matches('@').count() == 1, "{s:?}");
            prop_assert!(!s.chars().any(|c| c.is_control() || c.is_whitespace() || "<>,;:\"\\".contains(c)), "{s:?}");
            prop_assert_eq!(EmailAddress::parse(s), Some(e.clone()));
        }
    }

    #[test]
    fn fuzz_valid_emails_round_trip_lowercased(email in valid_email()) {
        prop_assert_eq!(EmailAddress::parse(&format!(" {email} ")).map(|e| e.as_str().to_owned()), Some(email.to_lowercase()));
    }

    #[test]
    fn fuzz_customer_details_accepted_only_when_well_formed(name in hostile_text(), email in prop_oneof![valid_email(), hostile_text()], phone in prop::option::of(prop_oneof![hostile_text(), "[0-9 +()-]{0,40}", "[ +().-]{1,6}"])) {
        let input = CustomerInput { name: name.clone(), email: email.clone(), phone: phone.clone() };
        if let Ok(c) = customers::check_customer(&input) {
            prop_assert_eq!(Some(c.email), EmailAddress::parse(&email));
            prop_assert!(!c.name.is_empty() && !c.name.chars().any(char::is_control));
            if let Some(p) = c.phone.as_ref().map(Phone::as_str) {
                prop_assert!(p.len() <= 32 && p.chars().all(|ch| ch.is_ascii_digit() || " +-().".contains(ch)), "{p:?}");
                prop_assert!(p.chars().any(|ch| ch.is_ascii_digit()), "a phone without a single digit: {p:?}");
            }
        }
    }

    #[test]
    fn fuzz_valid_customer_details_round_trip(name in "[A-Za-zÁÉÍÓÚáéíóúñÑ]{1,20}( [A-Za-zñ]{1,20})?", email in valid_email(), phone in "\\+?[0-9]{6,12}") {
        let c = customers::check_customer(&CustomerInput { name: name.clone(), email: email.clone(), phone: Some(phone.clone()) });
        let c = c.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!((c.name, c.email.as_str().to_owned(), c.phone.map(|p| p.as_str().to_owned())), (name, email.to_lowercase(), Some(phone)));
    }

    #[test]
    fn fuzz_canned_bodies_are_refused_or_filled_in_whole(text in prop_oneof![hostile_text(), "[a-z {}_]{0,60}"]) {
        use centralita::calls::canned::{CannedForm, body::{Body, Values}};
        let form = CannedForm { body: Some(text), ..CannedForm::default() };
        if form.parse(false).is_ok() {
            let body = Body::parse(form.body.as_deref().unwrap_or_default().trim());
            prop_assert!(body.is_ok());
            if let Ok(body) = body {
                let values = Values { customer_name: Some("{{balance}}".into()), agent_name: "A".into(), ..Values::default() };
                let (text, _) = body.render(&values);
                prop_assert!(!text.contains("{{agent_name}}"));
            }
        }
    }

    #[test]
    fn fuzz_money_parses_exactly_or_not_at_all(text in prop_oneof![hostile_text(), "-?[0-9]{0,22}([.,][0-9]{0,4})?"]) {
        if let Some(m) = Money::parse(&text) {
            let t = text.trim();
            prop_assert!(t.bytes().all(|b| b.is_ascii_digit() || b"-.,".contains(&b)), "{text:?}");
            // Shown again it parses to the same amount.
            prop_assert_eq!(Money::parse(&m.to_string()), Some(m));
        }
    }

    #[test]
    fn fuzz_money_in_euros_and_cents_round_trips(euros in 0i64..92_233_720_368_547, cents in 0i64..100, comma in any::<bool>(), negative in any::<bool>()) {
        let sep = if comma { ',' } else { '.' };
        let sign = if negative { "-" } else { "" };
        let expected = (euros * 100 + cents) * if negative { -1 } else { 1 };
        prop_assert_eq!(Money::parse(&format!("{sign}{euros}{sep}{cents:02}")), Some(Money::from_cents(expected)));
    }

    #[test]
    fn fuzz_valid_json_bodies_round_trip(username in "[a-z0-9._-]{3,32}", email in valid_email(), name in "[A-Za-z]{1,30}", password in "[ -~]{12,64}") {
        let body = json!({"username": username, "email": email, "full_name": name, "role": "agent", "language": "en", "password": password});
        let form: NewUserForm = serde_json::from_value(body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let user = form.parse().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(user.username.as_str(), username.as_str());
        prop_assert_eq!(user.email.as_str(), email.to_lowercase());
        prop_assert_eq!(&user.password, &password);
        // The same fields as a browser form.
        let encoded = serde_urlencoded::to_string([("username", username.as_str()), ("email", email.as_str()), ("full_name", name.as_str()), ("role", "agent"), ("language", "en"), ("password", password.as_str())]).unwrap_or_default();
        let again: NewUserForm = serde_urlencoded::from_str(&encoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.password, password);
    }
}

#[test]
fn fuzz_a_message_of_control_characters_only_is_refused_like_an_empty_one() {
    assert!(required_error(calls::parse_message("")));
    assert!(required_error(calls::parse_message("\u{0}\u{1}\u{7}\u{1b}\u{7f}")));
    assert!(required_error(calls::parse_message(" \r\n\t\u{85} ")));
    assert_eq!(calls::parse_message(" \u{0}hola\u{7}\r\n").ok().as_deref(), Some("hola"));
}

#[test]
fn fuzz_direction_overrides_and_zero_width_spaces_are_removed_from_messages() {
    // "Trojan source": the override makes the text display as something else.
    assert_eq!(calls::parse_message("pay \u{202e}00.001\u{202c} now").ok().as_deref(), Some("pay 00.001 now"));
    assert_eq!(calls::parse_message("ho\u{200b}la\u{2066}\u{2069}").ok().as_deref(), Some("hola"));
    assert!(required_error(calls::parse_message("\u{202e}\u{200b}\u{feff}")));
    // Joiners stay: emoji sequences need them.
    assert_eq!(calls::parse_message("👩\u{200d}💻").ok().as_deref(), Some("👩\u{200d}💻"));
}

/// A migrated SQLite database with one customer and a call of theirs, for the tools.
async fn tool_db(dir: &std::path::Path) -> (Db, CallerScope) {
    let db = Db::connect(&format!("sqlite://{}", dir.join("tools.db").display()), 2).await.unwrap();
    db.migrate().await.unwrap();
    let customer = customers::NewCustomer {
        name: "Ana Gil".into(),
        email: EmailAddress::parse("ana@example.com").unwrap(),
        phone: Phone::parse("600000000"),
    };
    let customer_id = customers::store_customer(&db, &customer).await.unwrap();
    let call_id: i64 = centralita::with_db!(&db, |pool| sqlx::query_scalar(
        "INSERT INTO calls (channel, customer_id, status, created_at, updated_at) VALUES ('api', $1, 'ai', $2, $2) RETURNING id",
    )
    .bind(customer_id)
    .bind(Timestamp::now())
    .fetch_one(pool)
    .await)
    .unwrap();
    (db, CallerScope { call_id, customer_id: Some(customer_id) })
}

/// Tool names the model may send: the real ones and made-up ones.
fn tool_name() -> impl Strategy<Value = String> {
    let real: Vec<String> = tools::specs().iter().map(|t| t.name.to_string()).collect();
    prop_oneof![4 => prop::sample::select(real), 1 => hostile_text()]
}

/// Argument texts a model may send: JSON of any shape, near-misses of the real
/// arguments, and text that is not JSON at all.
fn tool_arguments() -> impl Strategy<Value = String> {
    let near = prop::collection::vec(
        (
            prop::sample::select(vec![
                "status",
                "title",
                "description",
                "priority",
                "limit",
                "amount",
                "method",
                "customer_id",
            ]),
            prop_oneof![
                json_value(),
                hostile_text().prop_map(Value::from),
                Just(json!("cash")),
                Just(json!("open")),
                Just(json!("high")),
                Just(json!(3))
            ],
        ),
        0..5,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()).to_string());
    prop_oneof![2 => json_value().prop_map(|v| v.to_string()), 3 => near, 1 => hostile_text()]
}

#[test]
fn fuzz_tool_arguments_give_an_error_value_never_a_panic() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (db, scope) = rt.block_on(tool_db(dir.path()));
    let mut runner = TestRunner::new(config());
    runner
        .run(&(tool_name(), tool_arguments()), |(name, arguments)| {
            let call = ToolCall { id: "call_1".into(), name: name.clone(), arguments: arguments.clone() };
            let outcome = rt.block_on(tools::run(&db, scope, &call)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let is_object =
                arguments.trim().is_empty() || serde_json::from_str::<Value>(&arguments).is_ok_and(|v| v.is_object());
            if !is_object {
                prop_assert!(!outcome.ok, "{name}({arguments}) accepted: {}", outcome.result);
            }
            if !outcome.ok {
                prop_assert!(outcome.result["error"].is_string(), "an error value for the model: {}", outcome.result);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn fuzz_payment_amounts_from_the_model_are_exact_and_bounded() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (db, scope) = rt.block_on(tool_db(dir.path()));
    let amount = prop_oneof![hostile_text(), "-?[0-9]{0,8}([.,][0-9]{0,3})?", "[0-9]{1,5}[.,][0-9]{2}"];
    TestRunner::new(config())
        .run(&amount, |amount| {
            let arguments = json!({"amount": amount, "method": "transfer"}).to_string();
            let call = ToolCall { id: "call_1".into(), name: "request_payment_registration".into(), arguments };
            let outcome = rt.block_on(tools::run(&db, scope, &call)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let expected = Money::parse(&amount).filter(|m| m.cents() > 0 && m.cents() <= 1_000_000);
            prop_assert_eq!(outcome.ok, expected.is_some(), "{:?}: {}", amount, outcome.result);
            if let Some(m) = expected {
                prop_assert_eq!(outcome.result["amount"].as_str().map(str::to_owned), Some(m.to_string()));
            }
            Ok(())
        })
        .unwrap();
}
