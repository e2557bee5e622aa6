//! The AI agents: the model layer, the built-in offline engine, the tools the
//! customer-service agent may use, and the routing/supervisor output types.
//!
//! Nothing here depends on the HTTP, email or application layers: they depend on this.

pub mod builtin;
pub mod eval;
pub mod inquiry;
pub mod model;
pub mod openai;
pub mod pipeline;
pub mod schema;
pub mod summary;
pub mod tools;
pub mod train;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::db::id_enum;
use crate::db::types::text_column;

id_enum! {
    /// Where a conversation should go.
    #[derive(JsonSchema)]
    Department {
        /// New purchases, pricing, plan changes, cancellations.
        Sales => "sales",
        /// Technical problems, access, outages, tickets.
        Support => "support",
        /// Balance, payments, invoices, refunds, disputed charges.
        Billing => "billing",
        /// Formal complaints, staff or service complaints.
        Complaints => "complaints",
        /// Everything else: information, greetings, requests for a person.
        General => "general",
    }
}

text_column!(Department);

id_enum! {
    /// How the customer feels.
    #[derive(JsonSchema)]
    Sentiment {
        /// Pleased, thankful, keen.
        Positive => "positive",
        /// Matter-of-fact.
        Neutral => "neutral",
        /// Unhappy, angry, worried.
        Negative => "negative",
    }
}

text_column!(Sentiment);

id_enum! {
    /// How urgently a person should look.
    #[derive(PartialOrd, Ord, JsonSchema)]
    Priority {
        /// Information, greetings.
        Low => "low",
        /// Ordinary problems and requests.
        Medium => "medium",
        /// Money disputes, outages, repeated failures, churn threats.
        High => "high",
        /// Security incidents, legal threats, fraud accusations.
        Critical => "critical",
    }
}

text_column!(Priority);

/// The routing agent's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    /// Target department.
    pub department: Department,
    /// Finer topic inside the department (snake_case). A string, not an enum: the
    /// remote model may name topics the built-in lexicon does not know (the prompt and
    /// schema ask for any snake_case topic), and unknown topics get default handling.
    pub category: String,
    /// Customer sentiment.
    pub sentiment: Sentiment,
    /// Handling priority.
    pub priority: Priority,
    /// `es` or `en`.
    pub language: crate::i18n::Lang,
    /// 0..1: how sure the classifier is.
    #[schemars(range(min = 0, max = 1))]
    pub confidence: f64,
    /// Hints for the next agents (`use_tool:get_balance`, `handover_to_human`, ...).
    pub recommendations: Vec<String>,
}

/// What the supervisor decides after a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The AI keeps the conversation.
    Continue,
    /// A person takes over (the call joins its department's queue).
    Escalate,
    /// The customer is offered a summary by email.
    OfferSummary,
}

id_enum! {
    /// Why the supervisor escalates.
    #[derive(JsonSchema)]
    Reason {
        /// The customer asked for a person.
        CustomerRequest => "customer_request",
        /// The AI lacks the information to answer.
        MissingKnowledge => "missing_knowledge",
        /// The request is outside what the AI may do.
        UnsupportedRequest => "unsupported_request",
        /// Policy requires a person (security, legal).
        PolicyRestriction => "policy_restriction",
        /// A tool failed.
        ToolFailure => "tool_failure",
        /// The customer is upset enough to deserve a person.
        NegativeSentiment => "negative_sentiment",
        /// The routing was unsure.
        LowConfidence => "low_confidence",
    }
}

text_column!(Reason);

/// The supervisor agent's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// What happens next.
    pub action: Action,
    /// Why, when escalating.
    #[serde(default)]
    pub reason: Option<Reason>,
    /// 0..1: how good the AI's reply was.
    #[schemars(range(min = 0, max = 1))]
    pub quality: f64,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every value of `all` writes its `as_str` name through serde, and parses back
    /// from it with `FromStr`.
    pub(crate) fn assert_names_agree<T>(all: &[T])
    where
        T: Copy + std::fmt::Debug + PartialEq + Serialize + std::str::FromStr + std::fmt::Display,
    {
        for v in all {
            let wire = v.to_string();
            assert_eq!(serde_json::to_value(v).ok(), Some(serde_json::Value::String(wire.clone())), "{v:?}");
            assert_eq!(wire.parse::<T>().ok(), Some(*v), "{wire}");
        }
    }

    #[test]
    fn the_names_of_departments_sentiments_priorities_and_reasons_are_their_wire_names() {
        assert_names_agree(Department::ALL);
        assert_names_agree(Sentiment::ALL);
        assert_names_agree(Priority::ALL);
        assert_names_agree(Reason::ALL);
        assert_eq!(Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(), ["low", "medium", "high", "critical"]);
        assert_eq!(Reason::LowConfidence.to_string(), "low_confidence");
        assert!("Billing".parse::<Department>().is_err(), "names are exact, as serde reads them");
    }

    #[test]
    fn business_hours_know_every_department() {
        let names: Vec<&str> = Department::ALL.iter().map(|d| d.as_str()).collect();
        assert_eq!(names, crate::hours::DEPARTMENTS);
    }
}
