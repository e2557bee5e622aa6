//! The call summary the supervisor agent writes: what it is given (the call's facts)
//! and what it answers ([`CallSummary`]). Shared by the pipeline, the built-in engine
//! and the email that carries the summary.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::i18n::Lang;
use crate::text::one_line;

/// Schema name of the supervisor's call-summary request.
pub const SUMMARY_SCHEMA: &str = "call_summary";

/// Longest summary item kept (characters).
pub const MAX_ITEM: usize = 600;
/// Most items kept per summary list.
pub const MAX_ITEMS: usize = 10;

/// The call summary the supervisor agent writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallSummary {
    /// What the customer called about.
    pub issue: String,
    /// What was done during the call.
    #[schemars(length(max = MAX_ITEMS))]
    pub actions: Vec<String>,
    /// Ticket, payment and call references.
    #[serde(default)]
    #[schemars(length(max = MAX_ITEMS))]
    pub references: Vec<String>,
    /// What happens next.
    #[schemars(length(max = MAX_ITEMS))]
    pub next_steps: Vec<String>,
}

impl CallSummary {
    /// Trims, drops control characters and caps lengths; `None` if nothing useful is left.
    pub fn cleaned(mut self) -> Option<Self> {
        self.issue = one_line(&self.issue, MAX_ITEM);
        for list in [&mut self.actions, &mut self.references, &mut self.next_steps] {
            *list = list.iter().map(|s| one_line(s, MAX_ITEM)).filter(|s| !s.is_empty()).take(MAX_ITEMS).collect();
        }
        (!self.issue.is_empty() && !self.actions.is_empty() && !self.next_steps.is_empty()).then_some(self)
    }
}

/// One line of a call's transcript, as the summary sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptLine {
    /// customer, ai or human.
    pub role: String,
    /// What was said (untrusted).
    pub text: String,
}

/// Everything the supervisor agent may use to write a call summary: the transcript,
/// the tools' calls and results, and what staff decided on pending actions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SummaryFacts {
    /// Language of the summary.
    pub language: Lang,
    /// The call.
    pub call_id: i64,
    /// Customer, AI and staff messages, oldest first.
    pub transcript: Vec<TranscriptLine>,
    /// Tool calls: name, arguments, result, ok.
    pub tools: Vec<Value>,
    /// Pending actions: tool, params, status (pending, approved, rejected), result.
    pub actions: Vec<Value>,
    /// The call went to the human queue.
    pub escalated: bool,
    /// A person took part.
    pub handled_by_person: bool,
    /// How staff closed it, if they did.
    pub outcome: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_cleaned_before_use() {
        let s = CallSummary {
            issue: "  line\none ".into(),
            actions: vec!["".into(), "a".into()],
            references: vec![],
            next_steps: vec!["x".repeat(MAX_ITEM + 50)],
        };
        let c = s.cleaned().unwrap();
        assert_eq!(c.issue, "line one");
        assert_eq!(c.actions, vec!["a"]);
        assert_eq!(c.next_steps[0].chars().count(), MAX_ITEM);
        assert!(CallSummary::default().cleaned().is_none());
    }
}
