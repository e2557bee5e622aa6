//! The states and kinds a call and its messages take, as types: stored as their
//! lowercase ids, matched exhaustively in code.

use crate::db::id_enum;

id_enum! {
    /// Where a call stands: `ai` → `queued` (the supervisor agent escalated) → `human`
    /// (a staff member took it) → back to `ai` (handed back) or `closed`.
    CallStatus {
        /// The AI answers.
        Ai => "ai",
        /// Waiting in its department's human queue.
        Queued => "queued",
        /// A staff member holds it.
        Human => "human",
        /// Ended.
        Closed => "closed",
    }
}

id_enum! {
    /// How the customer reached us.
    Channel {
        /// The public call page.
        Web => "web",
        /// The API.
        Api => "api",
        /// WhatsApp (the Cloud API's webhooks).
        Whatsapp => "whatsapp",
    }
}

id_enum! {
    /// Who wrote a message.
    MessageRole {
        /// The customer (or staff relaying the customer's words).
        Customer => "customer",
        /// The AI.
        Ai => "ai",
        /// A staff member holding the call.
        Human => "human",
        /// Something that happened; the message's kind says what.
        System => "system",
    }
}

id_enum! {
    /// What a message is beyond its role: the agent that wrote an AI reply, or the
    /// event a system message records.
    MessageKind {
        /// An AI reply by the customer-service agent.
        Service => "service",
        /// A staff member joined (took the call).
        Joined => "joined",
        /// The staff member left (handed the call back to the AI).
        Left => "left",
        /// Staff closed the call; the content is the outcome.
        Closed => "closed",
        /// The customer ended the call.
        Ended => "ended",
        /// A node stopped during the turn; the call went to a person.
        Interrupted => "interrupted",
        /// Staff sent the call to another department's queue; the content is the
        /// department code.
        Transferred => "transferred",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        for s in CallStatus::ALL {
            assert_eq!(CallStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::json!(s.as_str())));
        }
        for k in MessageKind::ALL {
            assert_eq!(MessageKind::try_from(k.to_string()), Ok(*k));
        }
        assert!(MessageRole::try_from("robot".to_owned()).is_err());
    }
}
