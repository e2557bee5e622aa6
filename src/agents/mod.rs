//! The AI agents: the model layer, the built-in offline engine, the tools the
//! customer-service agent may use, and the routing/supervisor output types.

pub mod builtin;
pub mod eval;
pub mod model;
pub mod openai;
pub mod pipeline;
pub mod tools;

use serde::{Deserialize, Serialize};

/// Where a conversation should go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Department {
    /// New purchases, pricing, plan changes, cancellations.
    Sales,
    /// Technical problems, access, outages, tickets.
    Support,
    /// Balance, payments, invoices, refunds, disputed charges.
    Billing,
    /// Formal complaints, staff or service complaints.
    Complaints,
    /// Everything else: information, greetings, requests for a person.
    General,
}

impl Department {
    /// All departments.
    pub const ALL: [Department; 5] = [Self::Sales, Self::Support, Self::Billing, Self::Complaints, Self::General];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sales => "sales",
            Self::Support => "support",
            Self::Billing => "billing",
            Self::Complaints => "complaints",
            Self::General => "general",
        }
    }
}

/// How the customer feels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    /// Pleased, thankful, keen.
    Positive,
    /// Matter-of-fact.
    Neutral,
    /// Unhappy, angry, worried.
    Negative,
}

impl Sentiment {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Neutral => "neutral",
            Self::Negative => "negative",
        }
    }
}

/// How urgently a person should look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Information, greetings.
    Low,
    /// Ordinary problems and requests.
    Medium,
    /// Money disputes, outages, repeated failures, churn threats.
    High,
    /// Security incidents, legal threats, fraud accusations.
    Critical,
}

impl Priority {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// The routing agent's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    /// Target department.
    pub department: Department,
    /// Finer topic inside the department (snake_case).
    pub category: String,
    /// Customer sentiment.
    pub sentiment: Sentiment,
    /// Handling priority.
    pub priority: Priority,
    /// `es` or `en`.
    pub language: crate::i18n::Lang,
    /// 0..1: how sure the classifier is.
    pub confidence: f64,
    /// Hints for the next agents (`use_tool:get_balance`, `handover_to_human`, ...).
    pub recommendations: Vec<String>,
}

/// What the supervisor decides after a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The AI keeps the conversation.
    Continue,
    /// A person takes over (the call joins its department's queue).
    Escalate,
    /// The customer is offered a summary by email.
    OfferSummary,
}

/// Why the supervisor escalates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The customer asked for a person.
    CustomerRequest,
    /// The AI lacks the information to answer.
    MissingKnowledge,
    /// The request is outside what the AI may do.
    UnsupportedRequest,
    /// Policy requires a person (security, legal).
    PolicyRestriction,
    /// A tool failed.
    ToolFailure,
    /// The customer is upset enough to deserve a person.
    NegativeSentiment,
    /// The routing was unsure.
    LowConfidence,
}

impl Reason {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerRequest => "customer_request",
            Self::MissingKnowledge => "missing_knowledge",
            Self::UnsupportedRequest => "unsupported_request",
            Self::PolicyRestriction => "policy_restriction",
            Self::ToolFailure => "tool_failure",
            Self::NegativeSentiment => "negative_sentiment",
            Self::LowConfidence => "low_confidence",
        }
    }
}

/// The supervisor agent's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// What happens next.
    pub action: Action,
    /// Why, when escalating.
    #[serde(default)]
    pub reason: Option<Reason>,
    /// 0..1: how good the AI's reply was.
    pub quality: f64,
}
