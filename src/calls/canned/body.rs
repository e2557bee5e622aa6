//! The text of a canned response: plain text with variables between double braces
//! (`Hola {{customer_name}}`), checked when it is saved (an unknown or unclosed
//! variable is refused then, never discovered in front of a customer) and filled from
//! the call when it is inserted.

use crate::db::Money;

/// A value a canned response may name. The set is closed and documented in the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variable {
    /// The name on the call's customer record.
    CustomerName,
    /// What the customer owes (negative: in their favour), as a decimal (`125.50`).
    Balance,
    /// The number of the customer's latest ticket that is not resolved or closed.
    TicketNumber,
    /// The full name of the staff member inserting the response.
    AgentName,
}

impl Variable {
    /// Every variable, in the order help texts list them.
    pub const ALL: [Variable; 4] = [Self::CustomerName, Self::Balance, Self::TicketNumber, Self::AgentName];

    /// The name written between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Self::CustomerName => "customer_name",
            Self::Balance => "balance",
            Self::TicketNumber => "ticket_number",
            Self::AgentName => "agent_name",
        }
    }

    /// The i18n key of what it stands for (the form's help).
    pub fn help_key(self) -> &'static str {
        match self {
            Self::CustomerName => "canned.var.customer_name",
            Self::Balance => "canned.var.balance",
            Self::TicketNumber => "canned.var.ticket_number",
            Self::AgentName => "canned.var.agent_name",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name.trim())
    }
}

/// One piece of a body: text as written, or a variable.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Variable),
}

/// A checked body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    pieces: Vec<Piece>,
}

/// Why a body was refused (each names its i18n key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// `{{` with no `}}`, or a name that is not one of [`Variable::ALL`].
    Variable,
}

impl Body {
    /// Reads a body; `{{ name }}` (spaces allowed inside) must name a known variable.
    /// A lone `}}` is ordinary text.
    pub fn parse(text: &str) -> Result<Self, BodyError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or(BodyError::Variable)?;
            let var = Variable::parse(&after[..close]).ok_or(BodyError::Variable)?;
            pieces.push(Piece::Var(var));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self { pieces })
    }

    /// The body with each variable replaced by its value, and the variables that had
    /// none (written as nothing: the person sees the gap before sending).
    pub fn render(&self, values: &Values) -> (String, Vec<Variable>) {
        let mut out = String::new();
        let mut missing = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => match values.get(*v) {
                    Some(value) => out.push_str(&value),
                    None => {
                        if !missing.contains(v) {
                            missing.push(*v);
                        }
                    }
                },
            }
        }
        (out, missing)
    }
}

/// What the variables stand for in one call.
#[derive(Clone, Debug, Default)]
pub struct Values {
    /// The customer's name, when the call is linked to a record.
    pub customer_name: Option<String>,
    /// Their balance.
    pub balance: Option<Money>,
    /// Their latest open ticket.
    pub ticket_number: Option<i64>,
    /// The staff member's name.
    pub agent_name: String,
}

impl Values {
    fn get(&self, v: Variable) -> Option<String> {
        match v {
            Variable::CustomerName => self.customer_name.clone(),
            Variable::Balance => self.balance.map(|b| b.to_string()),
            Variable::TicketNumber => self.ticket_number.map(|n| n.to_string()),
            Variable::AgentName => Some(self.agent_name.clone()).filter(|n| !n.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_and_missing_ones_are_named() {
        let body =
            Body::parse("Hola {{customer_name}}, debes {{ balance }} €. Ticket #{{ticket_number}} — {{agent_name}}")
                .unwrap();
        let values = Values {
            customer_name: Some("María".into()),
            balance: Some(Money::from_cents(12_550)),
            ticket_number: None,
            agent_name: "Alba".into(),
        };
        let (text, missing) = body.render(&values);
        assert_eq!(text, "Hola María, debes 125.50 €. Ticket # — Alba");
        assert_eq!(missing, vec![Variable::TicketNumber]);
    }

    #[test]
    fn unknown_or_unclosed_variables_are_refused_and_plain_braces_are_text() {
        assert_eq!(Body::parse("Hola {{nombre}}"), Err(BodyError::Variable));
        assert_eq!(Body::parse("Hola {{customer_name"), Err(BodyError::Variable));
        assert_eq!(Body::parse("Hola {{}}"), Err(BodyError::Variable));
        let (text, missing) = Body::parse("a }} b { c }").unwrap().render(&Values::default());
        assert_eq!((text.as_str(), missing.is_empty()), ("a }} b { c }", true));
    }
}
