//! Ways to reach a person: email addresses (customers and staff) and phone numbers,
//! parsed at the edge.

/// An email address, syntactically checked and lowercased. Deliberately conservative:
/// one `@`, a dotted domain, no spaces, quotes, angle brackets or control characters,
/// so that it is also safe in a mail header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Validates and normalises.
    pub fn parse(text: &str) -> Option<Self> {
        let s = text.trim().to_lowercase();
        if s.len() > 254 || s.chars().any(|c| c.is_control() || c.is_whitespace() || "<>()[]\\,;:\"".contains(c)) {
            return None;
        }
        let (local, domain) = s.split_once('@')?;
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        (domain_ok && local_ok).then_some(Self(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number as typed (digits, spaces and `+-().`, at most 32 characters, with at
/// least one digit); compared by its digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Validates; `None` for anything that is not a phone number.
    pub fn parse(text: &str) -> Option<Self> {
        let p = text.trim();
        // Separators alone ("-", "()") are not a number.
        let ok = p.len() <= 32
            && p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
            && p.chars().any(|c| c.is_ascii_digit());
        ok.then(|| Self(p.to_owned()))
    }

    /// The number as typed (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` (a number on file) is this number: the same digits, at least six
    /// of them, so that a fragment matches nothing.
    pub fn same_number(&self, other: &str) -> bool {
        let mine = digits(&self.0);
        mine.len() >= 6 && mine == digits(other)
    }
}

/// The digits of a phone number.
pub fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::Phone;

    #[test]
    fn phones_compare_by_their_digits_and_need_six() {
        let p = Phone::parse(" +34 (600) 12-34-56 ").expect("valid");
        assert!(p.same_number("34600123456"));
        assert!(!p.same_number("34600123457"));
        assert!(!Phone::parse("12345").expect("valid").same_number("12345"), "fragments match nothing");
        assert_eq!(Phone::parse("-()"), None);
        assert_eq!(Phone::parse("call me"), None);
        assert_eq!(Phone::parse(&"1".repeat(33)), None);
    }
}
