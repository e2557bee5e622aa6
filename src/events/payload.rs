//! Events' typed payloads: one variant per kind with its data, serialised as the
//! event's `data` object.

use serde::Serialize;
use serde_json::Value;

use super::Kind;

/// What happened, with its details: the one place each event's data is shaped. It
/// serialises to the event's `data` object; [`Payload::kind`] names it.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// A call was opened.
    CallCreated {
        /// How the customer reached us.
        channel: &'static str,
        /// Its first status.
        status: &'static str,
    },
    /// Classification, status, rating, consent or an email's delivery changed.
    CallUpdated(CallChange),
    /// A message was stored.
    Message(MessageData),
    /// The call went to its department's human queue.
    Escalated {
        /// Department.
        department: Option<&'static str>,
        /// Priority.
        priority: Option<&'static str>,
        /// Why.
        reason: Option<String>,
    },
    /// A staff member took the call.
    TakenOver {
        /// Who.
        user_id: i64,
        /// Their name.
        name: String,
        /// The status it was taken from.
        from: &'static str,
    },
    /// The staff member gave the call back to the AI.
    HandedBack {
        /// Who.
        user_id: i64,
        /// Their name.
        name: String,
    },
    /// The call ended.
    Closed(CallChange),
    /// The AI asked for an action only a person may approve.
    ActionPending {
        /// The action.
        action_id: i64,
        /// The tool it would run.
        tool: String,
        /// Its parameters.
        params: Value,
    },
    /// A supervisor approved or rejected an action.
    ActionDecided {
        /// The action.
        action_id: i64,
        /// approved or rejected.
        decision: &'static str,
        /// Who decided.
        by: String,
        /// The tool.
        tool: String,
        /// What running it produced.
        result: Option<Value>,
    },
    /// A staff member's availability changed.
    Presence {
        /// Who.
        user_id: i64,
        /// Their name.
        name: String,
        /// online, away, busy or offline.
        status: String,
    },
    /// A customer's record changed; stored once per open call of theirs, so those
    /// calls' pages redraw their customer panel.
    CustomerChanged {
        /// The customer.
        customer_id: i64,
        /// What changed: details, payment or ticket.
        what: &'static str,
    },
    /// A staff member opened a ticket from the call.
    TicketOpened {
        /// The ticket.
        ticket_id: i64,
        /// Its priority.
        priority: &'static str,
        /// Who opened it.
        by: String,
    },
    /// Staff transferred the call (the reason is for staff: never on the customer's stream).
    Transferred {
        /// The department it now belongs to.
        department: Option<&'static str>,
        /// The person who holds it now, when it went to a person.
        to_user: Option<i64>,
        /// Their name.
        to_name: Option<String>,
        /// Why, for the receiver.
        reason: String,
        /// Who transferred it.
        by: String,
    },
    /// Staff added an internal note (the text stays in the database: pages read it there).
    NoteAdded {
        /// The note.
        note_id: i64,
        /// Who wrote it.
        author: String,
    },
    /// A written inquiry changed state (no call; its text stays in the database).
    InquiryChanged {
        /// The inquiry.
        inquiry_id: i64,
        /// Its status now.
        inquiry_status: &'static str,
    },
    /// A message sent over WhatsApp changed delivery status (no text).
    WhatsappStatus {
        /// The call's message.
        message_id: i64,
        /// sent, delivered, read or failed.
        delivery: String,
    },
}

impl Payload {
    /// The kind of event this is.
    pub fn kind(&self) -> Kind {
        match self {
            Self::CallCreated { .. } => Kind::CallCreated,
            Self::CallUpdated(_) => Kind::CallUpdated,
            Self::Message(_) => Kind::Message,
            Self::Escalated { .. } => Kind::Escalated,
            Self::TakenOver { .. } => Kind::TakenOver,
            Self::HandedBack { .. } => Kind::HandedBack,
            Self::Closed(_) => Kind::Closed,
            Self::ActionPending { .. } => Kind::ActionPending,
            Self::ActionDecided { .. } => Kind::ActionDecided,
            Self::Presence { .. } => Kind::Presence,
            Self::CustomerChanged { .. } => Kind::CustomerChanged,
            Self::TicketOpened { .. } => Kind::TicketOpened,
            Self::Transferred { .. } => Kind::Transferred,
            Self::NoteAdded { .. } => Kind::NoteAdded,
            Self::InquiryChanged { .. } => Kind::InquiryChanged,
            Self::WhatsappStatus { .. } => Kind::WhatsappStatus,
        }
    }
}

/// A call's fields as events carry them (pages redraw their badges from these).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CallFields {
    /// Status.
    pub status: &'static str,
    /// Department.
    pub department: Option<&'static str>,
    /// Category.
    pub category: Option<String>,
    /// Sentiment.
    pub sentiment: Option<&'static str>,
    /// Priority.
    pub priority: Option<&'static str>,
    /// Confidence.
    pub confidence: Option<f64>,
    /// Language.
    pub language: Option<String>,
    /// Who holds it.
    pub assigned_to: Option<i64>,
    /// Whether the supervisor agent offered a summary.
    pub summary_offered: bool,
}

/// A change to a call: its fields (when they were read) and what changed besides.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CallChange {
    /// The call's fields after the change.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub fields: Option<CallFields>,
    /// The customer's answer to the summary offer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_consent: Option<&'static str>,
    /// What became of the summary email (queued or declined).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_email: Option<&'static str>,
    /// The customer's rating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csat: Option<i64>,
    /// Staff confirmed who the customer is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_verified: Option<bool>,
    /// How the call ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// Who ended it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// An email of the call whose delivery changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_id: Option<i64>,
    /// Its new status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_status: Option<&'static str>,
}

impl CallChange {
    /// The call's fields, nothing besides.
    pub fn of(fields: CallFields) -> Self {
        Self { fields: Some(fields), ..Self::default() }
    }
}

/// A stored message, as its event carries it.
#[derive(Clone, Debug, Serialize)]
pub struct MessageData {
    /// The message.
    pub message_id: i64,
    /// customer, ai, human or system.
    pub role: &'static str,
    /// The writing agent, or what happened.
    pub agent: Option<&'static str>,
    /// Text.
    pub content: String,
    /// The staff member who wrote it.
    pub author: Option<String>,
}
