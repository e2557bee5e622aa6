//! Delivery: the worker that claims due emails from the outbox and sends them through
//! an SMTP relay or, when none is configured, writes them as `.eml` files.
//!
//! Each attempt first claims the row (attempt counted, a claim token and a lease
//! written in one statement; on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so that the
//! workers of several nodes never take the same email). A send that outlives its lease
//! is cut off first, so a row is only ever claimed again once nobody is sending it. A
//! process that dies mid-send leaves a lease that expires; the email is then tried again
//! with the same Message-ID. When the relay had already accepted the message but the
//! answer never arrived, that retry is a second copy — the one duplicate SMTP itself
//! cannot rule out; the receiving side can drop it by its Message-ID.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::Rng;
use tokio::sync::{Notify, watch};

use super::EmailStatus;
use crate::config::{Config, MailConfig, SmtpTls};
use crate::db::with_tx;
use crate::db::{Db, Timestamp};
use crate::events::{CallChange, Payload};

/// Emails claimed per round: one, so that a claim's lease covers exactly one send
/// (a batch sent one after another could outlive its lease and be claimed twice).
const BATCH: i64 = 1;

/// Where messages go.
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// The delivery worker's handle: wakes it when an email is queued, stops it at
/// shutdown.
pub struct Mailer {
    db: Db,
    bus: Arc<crate::events::Bus>,
    config: MailConfig,
    from: Mailbox,
    transport: Transport,
    wake: Notify,
    stop: watch::Sender<bool>,
}

/// A claimed email, ready to send.
#[derive(sqlx::FromRow)]
struct Claimed {
    id: i64,
    call_id: Option<i64>,
    to_address: String,
    to_name: String,
    subject: String,
    html: String,
    text: String,
    message_id: String,
    attempts: i64,
    max_attempts: i64,
}

/// Why an attempt failed.
struct Failure {
    permanent: bool,
    detail: String,
}

/// A fresh Message-ID in the sender's domain (`<uuid@domain>`).
pub fn new_message_id(from: &str) -> String {
    let domain =
        from.parse::<Mailbox>().map(|m| m.email.domain().to_owned()).unwrap_or_else(|_| "centralita.localhost".into());
    format!("<{}@{domain}>", uuid::Uuid::new_v4().simple())
}

/// The delay before attempt `attempt + 1`: `base · 2^(attempt−1)`, capped at `max`,
/// then a random point in its upper half (jitter, so that many emails failing together
/// do not retry together).
pub fn backoff(attempt: i64, base: Duration, max: Duration) -> Duration {
    let exponent = attempt.saturating_sub(1).clamp(0, 30) as u32;
    let full = base.saturating_mul(2u32.saturating_pow(exponent)).min(max);
    let ms = full.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)))
}

/// The `.eml` file an email is (or would be) written to by the file mailbox.
pub fn eml_path(config: &Config, id: i64) -> PathBuf {
    config.mail_dir().join(format!("{id:08}.eml"))
}

macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE email_outbox SET claim_token = $1, claimed_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM email_outbox WHERE status IN ('queued', 'retrying') AND next_attempt_at <= $3 \
             AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY next_attempt_at, id LIMIT $4",
            $lock,
            ") RETURNING id, call_id, to_address, to_name, subject, html, text, message_id, attempts, max_attempts"
        )
    };
}

impl Mailer {
    /// The mailer for `config`'s transport.
    /// A call's pages hear about its emails' delivery through `bus`.
    pub fn new(db: Db, bus: Arc<crate::events::Bus>, config: &Config) -> anyhow::Result<Self> {
        let mail = config.mail.clone();
        let from: Mailbox = mail.from.parse()?;
        let transport = match &mail.smtp {
            None => Transport::Files(config.mail_dir()),
            Some(smtp) => {
                let builder = match smtp.tls {
                    SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
                };
                let mut builder = builder.port(smtp.port).timeout(Some(mail.timeout));
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(Self { db, bus, config: mail, from, transport, wake: Notify::new(), stop: watch::channel(false).0 })
    }

    /// `smtp://host:port` or the mail folder, for the logs and the manager page.
    pub fn describe(&self) -> String {
        match (&self.transport, &self.config.smtp) {
            (Transport::Smtp(_), Some(s)) => format!("smtp://{}:{}", s.host, s.port),
            (Transport::Files(dir), _) => dir.display().to_string(),
            (Transport::Smtp(_), None) => "smtp".into(),
        }
    }

    /// True when emails are written to files instead of sent.
    pub fn is_file_mailbox(&self) -> bool {
        matches!(self.transport, Transport::Files(_))
    }

    /// Tells the worker an email is due now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Asks the worker to stop after the email it is sending.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// How long a claim lasts: every send is cut off well before.
    fn lease(&self) -> Duration {
        self.config.timeout * 2 + Duration::from_secs(5)
    }

    /// Runs the worker until [`Mailer::stop`]. Emails it claimed but did not start are
    /// released untouched; the outbox keeps everything else as it was.
    pub async fn run(self: Arc<Self>) {
        if let Transport::Files(dir) = &self.transport
            && let Err(err) = tokio::fs::create_dir_all(dir).await
        {
            tracing::error!(error = %err, dir = %dir.display(), "cannot create the mail folder");
        }
        tracing::info!(transport = %self.describe(), senders = self.config.concurrency, "email delivery started");
        // Several senders, each claiming one email at a time: an SMTP exchange spends
        // most of its time waiting for the relay.
        futures_util::future::join_all((0..self.config.concurrency.max(1)).map(|_| self.sender())).await;
        tracing::info!("email delivery stopped");
    }

    async fn sender(&self) {
        let mut stop = self.stop.subscribe();
        while !*stop.borrow() {
            let token = uuid::Uuid::new_v4().to_string();
            match self.claim(&token).await {
                Ok(batch) if !batch.is_empty() => {
                    for email in batch {
                        if *stop.borrow() {
                            self.release(email.id, &token).await;
                        } else {
                            self.attempt(email, &token).await;
                        }
                    }
                }
                Ok(_) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(self.config.poll) => {}
                        _ = stop.changed() => {}
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not claim emails; trying again shortly");
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.poll) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }

    async fn claim(&self, token: &str) -> Result<Vec<Claimed>, sqlx::Error> {
        let now = Timestamp::now();
        let until = now.plus(time::Duration::try_from(self.lease()).unwrap_or(time::Duration::MINUTE));
        match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_as(claim_sql!("")).bind(token).bind(until).bind(now).bind(BATCH).fetch_all(pool).await
            }
            Db::Postgres(pool) => {
                sqlx::query_as(claim_sql!(" FOR UPDATE SKIP LOCKED"))
                    .bind(token)
                    .bind(until)
                    .bind(now)
                    .bind(BATCH)
                    .fetch_all(pool)
                    .await
            }
        }
    }

    async fn release(&self, id: i64, token: &str) {
        let released = crate::db::with_db!(&self.db, |pool| sqlx::query(
            "UPDATE email_outbox SET claim_token = NULL, claimed_until = NULL, attempts = attempts - 1 \
             WHERE id = $1 AND claim_token = $2",
        )
        .bind(id)
        .bind(token)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()));
        if let Err(err) = released {
            tracing::warn!(error = %err, email = id, "could not release a claimed email; its lease will expire");
        }
    }

    async fn attempt(&self, email: Claimed, token: &str) {
        let cutoff = self.config.timeout * 2;
        let result = match tokio::time::timeout(cutoff, self.send(&email)).await {
            Ok(result) => result,
            Err(_) => Err(Failure { permanent: false, detail: format!("no answer within {}s", cutoff.as_secs()) }),
        };
        let now = Timestamp::now();
        let (status, outcome, detail, next) = match result {
            Ok(detail) => (EmailStatus::Sent, "sent", detail, None),
            Err(f) if f.permanent || email.attempts >= email.max_attempts => {
                (EmailStatus::Failed, "failed", f.detail, None)
            }
            Err(f) => {
                let wait = backoff(email.attempts, self.config.retry_base, self.config.retry_max);
                let next = now.plus(time::Duration::try_from(wait).unwrap_or(time::Duration::MINUTE));
                (EmailStatus::Retrying, "retry", f.detail, Some(next))
            }
        };
        let detail: String = detail.chars().take(1000).collect();
        if status == EmailStatus::Sent {
            tracing::info!(email = email.id, attempt = email.attempts, "email delivered");
        } else {
            let status = status.as_str();
            tracing::warn!(email = email.id, attempt = email.attempts, status, error = %detail, "email not delivered");
        }
        let stored = self.store(&email, token, status, outcome, &detail, now, next).await;
        match stored {
            Ok(1) => {
                // The call's pages (the customer's and staff's) redraw with the news.
                if let Some(call_id) = email.call_id
                    && status != EmailStatus::Retrying
                {
                    let email_status = Some(status.as_str());
                    let change = CallChange { email_id: Some(email.id), email_status, ..CallChange::default() };
                    self.bus.emit(Some(call_id), Payload::CallUpdated(change)).await;
                }
            }
            Ok(_) => tracing::warn!(email = email.id, "email claim was lost before the result was stored"),
            Err(err) => tracing::error!(error = %err, email = email.id, "could not store a delivery result"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn store(
        &self,
        email: &Claimed,
        token: &str,
        status: EmailStatus,
        outcome: &str,
        detail: &str,
        now: Timestamp,
        next: Option<Timestamp>,
    ) -> Result<u64, sqlx::Error> {
        with_tx!(&self.db, |tx| {
            let n = sqlx::query(
                "UPDATE email_outbox SET status = $3, claim_token = NULL, claimed_until = NULL, updated_at = $4, \
                 sent_at = CASE WHEN $3 = 'sent' THEN $4 ELSE sent_at END, \
                 last_error = CASE WHEN $3 = 'sent' THEN NULL ELSE $5 END, \
                 next_attempt_at = $6 WHERE id = $1 AND claim_token = $2",
            )
            .bind(email.id)
            .bind(token)
            .bind(status.as_str())
            .bind(now)
            .bind(detail)
            .bind(next)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "INSERT INTO email_attempts (email_id, attempt, at, outcome, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(email.id)
            .bind(email.attempts)
            .bind(now)
            .bind(outcome)
            .bind(detail)
            .execute(&mut *tx)
            .await?;
            Ok(n)
        })
    }

    fn message(&self, email: &Claimed) -> Result<Message, Failure> {
        let permanent = |detail: String| Failure { permanent: true, detail };
        let address: lettre::Address =
            email.to_address.parse().map_err(|e| permanent(format!("invalid recipient address: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(Some(email.to_name.clone()), address))
            .subject(email.subject.clone())
            .message_id(Some(email.message_id.clone()))
            .date_now()
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
            .map_err(|e| permanent(format!("could not build the message: {e}")))
    }

    async fn send(&self, email: &Claimed) -> Result<String, Failure> {
        let message = self.message(email)?;
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(response) => Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" "))),
                Err(err) => Err(Failure { permanent: err.is_permanent(), detail: err.to_string() }),
            },
            Transport::Files(dir) => {
                let path = dir.join(format!("{:08}.eml", email.id));
                let partial = dir.join(format!(".{:08}.eml.partial", email.id));
                let write = async {
                    tokio::fs::create_dir_all(dir).await?;
                    tokio::fs::write(&partial, message.formatted()).await?;
                    tokio::fs::rename(&partial, &path).await
                };
                write.await.map(|()| format!("written to {}", path.display())).map_err(|e| Failure {
                    permanent: false,
                    detail: format!("could not write {}: {e}", path.display()),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_ceiling() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        for _ in 0..50 {
            let first = backoff(1, base, max);
            assert!(first >= Duration::from_secs(1) && first <= base, "{first:?}");
            let third = backoff(3, base, max);
            assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(8), "{third:?}");
            let late = backoff(40, base, max);
            assert!(late >= Duration::from_secs(30) && late <= max, "{late:?}");
        }
    }

    #[test]
    fn message_ids_are_unique_and_in_the_sender_domain() {
        let a = new_message_id("Centralita <no-reply@calls.example.com>");
        let b = new_message_id("Centralita <no-reply@calls.example.com>");
        assert_ne!(a, b);
        assert!(a.starts_with('<') && a.ends_with("@calls.example.com>"), "{a}");
    }
}
