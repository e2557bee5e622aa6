//! The WhatsApp channel, in the Cloud API's webhook and send formats (which providers
//! such as Kapso also speak).
//!
//! - [`webhook`]: the subscription handshake and the signed webhook. Each event is
//!   stored once under a unique key (the message id; for a status, the message id and
//!   the status), with the job that processes it, before the provider gets its 200.
//! - [`inbound`]: that job. A customer's text becomes (or continues) a call on channel
//!   `whatsapp`, which the three agents answer through the same turn code as the web
//!   page; other message types get a polite "text only" answer; statuses move an
//!   outbound message's delivery status forward, never back.
//! - [`outbound`]: every reply to a WhatsApp call (the AI's or a person's) is queued in
//!   the transaction that stores it, and sent by a job with retries (the shared
//!   [`crate::jobs`] worker); the provider's message id (`wamid`) is kept for statuses.
//! - [`conversation`]: what staff see of a conversation: unread counts, mark as read,
//!   and the 24-hour customer-service window.
//! - [`templates`]: message templates (approved in Meta's WhatsApp Manager), the only
//!   messages allowed once that window has closed: kept, previewed and sent.

pub mod conversation;
pub mod inbound;
pub mod numbers;
pub mod outbound;
pub mod templates;
pub mod webhook;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{Secret, WhatsappConfig};
use crate::context::Ctx;
use crate::db::{Db, Timestamp, with_db};

pub use crate::config::is_provider_id;

/// A number we answer on: where to send from it and how its webhooks are checked.
#[derive(Clone, Debug)]
pub struct Number {
    /// The number's id at the provider.
    pub phone_number_id: String,
    /// The provider's base URL (a Cloud API version URL).
    pub api_base: String,
    /// Bearer token for sending.
    pub token: Secret,
    /// The app secret its webhooks are signed with.
    pub app_secret: Secret,
    /// The subscription handshake's token.
    pub verify_token: Secret,
}

impl From<&WhatsappConfig> for Number {
    fn from(c: &WhatsappConfig) -> Self {
        Self {
            phone_number_id: c.phone_number_id.clone(),
            api_base: c.api_base.clone(),
            token: c.token.clone(),
            app_secret: c.app_secret.clone(),
            verify_token: c.verify_token.clone(),
        }
    }
}

type NumberRow = (String, String, String, String, String);

fn from_row((phone_number_id, api_base, token, app_secret, verify_token): NumberRow) -> Number {
    Number {
        phone_number_id,
        api_base,
        token: Secret::new(token),
        app_secret: Secret::new(app_secret),
        verify_token: Secret::new(verify_token),
    }
}

/// Every number: the one from the environment first (it wins over a stored number with
/// the same id), then the active ones admins added.
pub async fn numbers(ctx: &Ctx) -> Result<Vec<Number>, sqlx::Error> {
    let env = ctx.config().whatsapp.as_ref().map(Number::from);
    let rows: Vec<NumberRow> = stored(ctx.db()).await?;
    let mut all: Vec<Number> = env.into_iter().collect();
    for number in rows.into_iter().map(from_row) {
        if !all.iter().any(|n| n.phone_number_id == number.phone_number_id) {
            all.push(number);
        }
    }
    Ok(all)
}

async fn stored(db: &Db) -> Result<Vec<NumberRow>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_as(
        "SELECT phone_number_id, api_base, token, app_secret, verify_token FROM whatsapp_numbers WHERE active \
         ORDER BY id"
    )
    .fetch_all(pool)
    .await)
}

/// The number with this id, if we answer on it.
pub async fn number(ctx: &Ctx, phone_number_id: &str) -> Result<Option<Number>, sqlx::Error> {
    Ok(numbers(ctx).await?.into_iter().find(|n| n.phone_number_id == phone_number_id))
}

/// Whether `header` (`X-Hub-Signature-256: sha256=<hex>`) is the HMAC-SHA256 of `body`
/// under `secret`, compared in constant time
/// (<https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications>).
pub fn signature_matches(header: &str, body: &[u8], secret: &Secret) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else { return false };
    let Some(given) = decode_hex(hex) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The signature header a body gets under `secret` (tests and fakes sign with it).
pub fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect()
}

/// Byte strings compared without an early exit (verify tokens).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// A WhatsApp id (`wa_id`, the sender's number in international form without `+`) or
/// any phone number as E.164 digits: `+34 600 123 456`, `0034600123456` and
/// `34600123456` are all `34600123456`. `None` for fewer than 6 or more than 15 digits.
pub fn e164_digits(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let digits = match digits.strip_prefix("00") {
        Some(rest) if !phone.trim_start().starts_with('+') => rest.to_owned(),
        _ => digits,
    };
    (6..=15).contains(&digits.len()).then_some(digits)
}

/// Seconds in the customer-service window: free-form replies are allowed for 24 hours
/// after the customer's last message
/// (<https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages#customer-service-windows>).
pub const WINDOW_SECONDS: i64 = 24 * 3600;

/// Deletes processed webhook events received before `days` days ago (never pending
/// ones); returns how many.
pub async fn cleanup(db: &Db, days: u32) -> Result<u64, sqlx::Error> {
    let cutoff = Timestamp::now().plus(time::Duration::days(-i64::from(days)));
    with_db!(db, |pool| sqlx::query("DELETE FROM whatsapp_events WHERE status = 'processed' AND received_at < $1")
        .bind(cutoff)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_checked_against_the_raw_body() {
        let secret = Secret::new("app-secret");
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = sign(body, "app-secret");
        assert!(signature_matches(&header, body, &secret));
        assert!(!signature_matches(&header, b"{\"object\": \"whatsapp_business_account\"}", &secret));
        assert!(!signature_matches(&header, body, &Secret::new("other")));
        assert!(!signature_matches("sha256=zz", body, &secret));
        assert!(!signature_matches(header.trim_start_matches("sha256="), body, &secret));
    }

    #[test]
    fn phone_numbers_compare_as_e164_digits() {
        assert_eq!(e164_digits("+34 600 123 456").as_deref(), Some("34600123456"));
        assert_eq!(e164_digits("0034 600-123-456").as_deref(), Some("34600123456"));
        assert_eq!(e164_digits("34600123456").as_deref(), Some("34600123456"));
        assert_eq!(e164_digits("123"), None);
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd") && !same_secret(b"abc", b"abcd") && !same_secret(b"", b"a"));
    }
}
