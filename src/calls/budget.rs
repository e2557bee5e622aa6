//! The per-call token budget (`CENTRALITA_CALL_TOKEN_BUDGET`): what a call may spend on
//! the remote model before it goes to a person. A long conversation, or a model that
//! keeps going round in circles, ends with a person rather than an ever larger bill.
//! The built-in engine costs nothing and does not count.

use crate::agents::pipeline::TurnOutcome;
use crate::agents::{Action, Reason};
use crate::context::Ctx;

/// The escalation reason of a call handed over for its token budget.
pub const TOKEN_BUDGET: &str = "token_budget";

/// What a call has spent on the remote model, against what it may spend.
#[derive(Clone, Copy, Debug)]
pub(super) struct TokenBudget {
    spent: u64,
    limit: u64,
}

impl TokenBudget {
    /// The budget of `call` as it was loaded.
    pub(super) fn of(ctx: &Ctx, call: &super::Call) -> Self {
        Self { spent: u64::try_from(call.ai_tokens).unwrap_or(0), limit: ctx.config().call_token_budget }
    }

    /// Tokens the remote model used in `outcome`'s steps.
    pub(super) fn used_by(outcome: &TurnOutcome) -> i64 {
        outcome
            .steps
            .iter()
            .filter(|s| s.backend != "builtin")
            .map(|s| i64::from(s.prompt_tokens) + i64::from(s.completion_tokens))
            .sum()
    }

    /// True when the model must not be asked again in this call.
    pub(super) fn used_up(&self) -> bool {
        self.spent >= self.limit
    }

    /// After a turn: a call that has now used up its budget is handed to a person (its
    /// reply still goes out). Returns the escalation reason to store: the budget's, or
    /// the supervisor's own when it escalated anyway.
    pub(super) fn settle(&self, outcome: &mut TurnOutcome) -> Option<&'static str> {
        let own = outcome.verdict.reason.map(Reason::as_str);
        if self.used_up() {
            return Some(TOKEN_BUDGET);
        }
        let used = u64::try_from(Self::used_by(outcome)).unwrap_or(0);
        if self.spent + used < self.limit || outcome.verdict.action == Action::Escalate {
            return own;
        }
        outcome.verdict.action = Action::Escalate;
        Some(TOKEN_BUDGET)
    }
}
