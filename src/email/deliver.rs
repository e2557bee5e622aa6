//! Delivery: the worker that claims due emails from the outbox and sends them through
//! an SMTP relay or, when none is configured, writes them as `.eml` files.
//!
//! The outbox is one of the tables the shared worker of [`crate::jobs::worker`] works:
//! claim, lease, cut-off, backoff and the loop are that module's; sending is this
//! one's. Each attempt first claims the row (attempt counted, a claim token and a lease
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

use super::EmailStatus;
use crate::config::{Config, MailConfig, SmtpTls};
use crate::db::{Db, Timestamp, Tx, on_tx};
use crate::events::{CallChange, Payload};
use crate::jobs::{Claimed, Failure, Outcome, Policy, Queue, Signal, Table, Worker};

pub use crate::jobs::backoff;

/// Where messages go.
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// The delivery worker's handle: wakes it when an email is queued, stops it at
/// shutdown.
pub struct Mailer {
    worker: Arc<Worker<Delivery>>,
}

/// The outbox as a queue: sending one email is its work.
struct Delivery {
    bus: Arc<crate::events::Bus>,
    config: MailConfig,
    from: Mailbox,
    transport: Transport,
}

/// A claimed email, ready to send.
#[derive(sqlx::FromRow)]
struct Email {
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

impl Claimed for Email {
    fn id(&self) -> i64 {
        self.id
    }
    fn attempts(&self) -> i64 {
        self.attempts
    }
    fn max_attempts(&self) -> i64 {
        self.max_attempts
    }
}

/// A fresh Message-ID in the sender's domain (`<uuid@domain>`).
pub fn new_message_id(from: &str) -> String {
    let domain =
        from.parse::<Mailbox>().map(|m| m.email.domain().to_owned()).unwrap_or_else(|_| "centralita.localhost".into());
    format!("<{}@{domain}>", uuid::Uuid::new_v4().simple())
}

/// The `.eml` file an email is (or would be) written to by the file mailbox.
pub fn eml_path(config: &Config, id: i64) -> PathBuf {
    config.mail_dir().join(format!("{id:08}.eml"))
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
        // Every send is cut off well before its claim ends.
        let policy = Policy {
            concurrency: mail.concurrency,
            poll: mail.poll,
            cutoff: mail.timeout * 2,
            lease: mail.timeout * 2 + Duration::from_secs(5),
            retry_base: mail.retry_base,
            retry_max: mail.retry_max,
        };
        let delivery = Delivery { bus, config: mail, from, transport };
        Ok(Self { worker: Arc::new(Worker::new(db, delivery, policy, Arc::new(Signal::default()))) })
    }

    /// `smtp://host:port` or the mail folder, for the logs and the manager page.
    pub fn describe(&self) -> String {
        let delivery = self.worker.queue();
        match (&delivery.transport, &delivery.config.smtp) {
            (Transport::Smtp(_), Some(s)) => format!("smtp://{}:{}", s.host, s.port),
            (Transport::Files(dir), _) => dir.display().to_string(),
            (Transport::Smtp(_), None) => "smtp".into(),
        }
    }

    /// True when emails are written to files instead of sent.
    pub fn is_file_mailbox(&self) -> bool {
        matches!(self.worker.queue().transport, Transport::Files(_))
    }

    /// Tells the worker an email is due now.
    pub fn wake(&self) {
        self.worker.wake();
    }

    /// Asks the worker to stop after the email it is sending.
    pub fn stop(&self) {
        self.worker.stop();
    }

    /// Runs the worker until [`Mailer::stop`]. Emails it claimed but did not start are
    /// released untouched; the outbox keeps everything else as it was.
    pub async fn run(self: Arc<Self>) {
        if let Transport::Files(dir) = &self.worker.queue().transport
            && let Err(err) = tokio::fs::create_dir_all(dir).await
        {
            tracing::error!(error = %err, dir = %dir.display(), "cannot create the mail folder");
        }
        let senders = self.worker.policy().concurrency;
        tracing::info!(transport = %self.describe(), senders, "email delivery started");
        self.worker.clone().run().await;
        tracing::info!("email delivery stopped");
    }
}

impl Queue for Delivery {
    type Item = Email;
    const TABLE: Table = Table {
        name: "email_outbox",
        claimable: "'queued', 'retrying'",
        // A held email keeps its status; the lease alone shows it as being sent.
        running: None,
        queued: "queued",
        done: "sent",
        retrying: "retrying",
        dead: "failed",
        columns: "id, call_id, to_address, to_name, subject, html, text, message_id, attempts, max_attempts",
    };

    async fn perform(&self, email: &Email) -> Result<String, Failure> {
        self.send(email).await
    }

    async fn record(&self, tx: &mut Tx, email: &Email, outcome: &Outcome, held: bool) -> Result<(), sqlx::Error> {
        let now = Timestamp::now();
        let sent = matches!(outcome, Outcome::Done(_));
        let kind = match outcome {
            Outcome::Done(_) => "sent",
            Outcome::Retry { .. } => "retry",
            Outcome::Dead(_) => "failed",
        };
        let detail: String = outcome.detail().chars().take(1000).collect();
        on_tx!(tx, |conn| {
            if held && sent {
                sqlx::query("UPDATE email_outbox SET sent_at = $2 WHERE id = $1")
                    .bind(email.id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
            }
            // Every attempt is logged, even one whose claim was lost meanwhile.
            sqlx::query(
                "INSERT INTO email_attempts (email_id, attempt, at, outcome, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(email.id)
            .bind(email.attempts)
            .bind(now)
            .bind(kind)
            .bind(&detail)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })
    }

    async fn settled(&self, email: &Email, outcome: &Outcome) {
        // The call's pages (the customer's and staff's) redraw with the news.
        let status = match outcome {
            Outcome::Done(_) => EmailStatus::Sent,
            Outcome::Dead(_) => EmailStatus::Failed,
            Outcome::Retry { .. } => return,
        };
        if let Some(call_id) = email.call_id {
            let change =
                CallChange { email_id: Some(email.id), email_status: Some(status.as_str()), ..CallChange::default() };
            self.bus.emit(Some(call_id), Payload::CallUpdated(change)).await;
        }
    }
}

impl Delivery {
    fn message(&self, email: &Email) -> Result<Message, Failure> {
        let address: lettre::Address =
            email.to_address.parse().map_err(|e| Failure::permanent(format!("invalid recipient address: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(Some(email.to_name.clone()), address))
            .subject(email.subject.clone())
            .message_id(Some(email.message_id.clone()))
            .date_now()
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
            .map_err(|e| Failure::permanent(format!("could not build the message: {e}")))
    }

    async fn send(&self, email: &Email) -> Result<String, Failure> {
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
                write
                    .await
                    .map(|()| format!("written to {}", path.display()))
                    .map_err(|e| Failure::transient(format!("could not write {}: {e}", path.display())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_unique_and_in_the_sender_domain() {
        let a = new_message_id("Centralita <no-reply@calls.example.com>");
        let b = new_message_id("Centralita <no-reply@calls.example.com>");
        assert_ne!(a, b);
        assert!(a.starts_with('<') && a.ends_with("@calls.example.com>"), "{a}");
    }
}
