//! Parsing user-management input at the edge: raw strings in, validated values out.

use serde::Deserialize;

use crate::auth::{Role, password};
use crate::customers::contact::EmailAddress;
use crate::error::FieldErrors;
use crate::i18n::Lang;

/// A login name: 3–32 of `a-z 0-9 . _ -`, stored lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Validates and normalises (trim, lowercase).
    pub fn parse(text: &str) -> Option<Self> {
        let s = text.trim().to_lowercase();
        let ok_len = (3..=32).contains(&s.len());
        let ok_chars = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        (ok_len && ok_chars).then_some(Self(s))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 1–100 characters after trimming, no control characters.
pub fn parse_full_name(text: &str) -> Option<String> {
    let s = text.trim();
    let n = s.chars().count();
    ((1..=100).contains(&n) && !s.chars().any(char::is_control)).then(|| s.to_owned())
}

/// Raw body of "create a user" (API JSON and the admin form).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserForm {
    /// Login name.
    #[serde(default)]
    pub username: String,
    /// Email address.
    #[serde(default)]
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub full_name: String,
    /// Role name.
    #[serde(default)]
    pub role: String,
    /// `es` or `en`; Spanish when empty.
    #[serde(default)]
    pub language: String,
    /// Temporary password.
    #[serde(default)]
    pub password: String,
    /// Form CSRF token (browser form only; ignored here).
    #[serde(default)]
    pub csrf_token: Option<String>,
}

/// A validated new user.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login name.
    pub username: Username,
    /// Email address.
    pub email: EmailAddress,
    /// Display name.
    pub full_name: String,
    /// Role.
    pub role: Role,
    /// Interface language.
    pub language: Lang,
    /// Temporary password (hashed before storage).
    pub password: String,
}

impl NewUserForm {
    /// Validates every field, collecting all problems at once.
    pub fn parse(&self) -> Result<NewUser, FieldErrors> {
        let mut errors = FieldErrors::new();
        let username = Username::parse(&self.username);
        if username.is_none() {
            errors.insert(
                "username",
                if self.username.trim().is_empty() { "field.required" } else { "field.username_invalid" },
            );
        }
        let email = EmailAddress::parse(&self.email);
        if email.is_none() {
            errors.insert("email", if self.email.trim().is_empty() { "field.required" } else { "field.email_invalid" });
        }
        let full_name = parse_full_name(&self.full_name);
        if full_name.is_none() {
            errors.insert("full_name", "field.full_name_invalid");
        }
        let role = Role::parse(&self.role);
        if role.is_none() {
            errors.insert("role", "field.role_invalid");
        }
        let language = if self.language.trim().is_empty() { Some(Lang::Es) } else { Lang::parse(&self.language) };
        if language.is_none() {
            errors.insert("language", "field.language_invalid");
        }
        if let Err(key) = password::check_strength(&self.password) {
            errors.insert("password", key);
        }
        match (username, email, full_name, role, language) {
            (Some(username), Some(email), Some(full_name), Some(role), Some(language)) if errors.is_empty() => {
                Ok(NewUser { username, email, full_name, role, language, password: self.password.clone() })
            }
            _ => Err(errors),
        }
    }
}

/// Raw body of "change a user" (API PATCH); absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// New role.
    pub role: Option<String>,
    /// Disable (true) or enable (false).
    pub disabled: Option<bool>,
    /// New display name.
    pub full_name: Option<String>,
    /// New email address.
    pub email: Option<String>,
    /// New interface language.
    pub language: Option<String>,
    /// New temporary password (an admin reset).
    pub password: Option<String>,
    /// The department whose queue they work; `null` clears it.
    #[serde(default, deserialize_with = "crate::input::present")]
    pub department: Option<Option<String>>,
}

/// A department as given: a code, or empty to clear it; anything else is refused
/// with the message key.
pub fn parse_department(text: Option<&str>) -> Result<Option<crate::agents::Department>, &'static str> {
    match text.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => crate::agents::Department::parse(s).map(Some).ok_or("field.department_invalid"),
    }
}

/// A validated change.
#[derive(Clone, Debug, Default)]
pub struct UserChange {
    /// New role.
    pub role: Option<Role>,
    /// Disable (true) or enable (false).
    pub disabled: Option<bool>,
    /// New display name.
    pub full_name: Option<String>,
    /// New email address.
    pub email: Option<EmailAddress>,
    /// New interface language.
    pub language: Option<Lang>,
    /// New temporary password.
    pub password: Option<String>,
    /// New department (`Some(None)` clears it).
    pub department: Option<Option<crate::agents::Department>>,
}

impl UserPatch {
    /// Validates the fields present.
    pub fn parse(&self) -> Result<UserChange, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut change = UserChange { disabled: self.disabled, ..UserChange::default() };
        if let Some(role) = &self.role {
            change.role = Role::parse(role);
            if change.role.is_none() {
                errors.insert("role", "field.role_invalid");
            }
        }
        if let Some(name) = &self.full_name {
            change.full_name = parse_full_name(name);
            if change.full_name.is_none() {
                errors.insert("full_name", "field.full_name_invalid");
            }
        }
        if let Some(email) = &self.email {
            change.email = EmailAddress::parse(email);
            if change.email.is_none() {
                errors.insert("email", "field.email_invalid");
            }
        }
        if let Some(lang) = &self.language {
            change.language = Lang::parse(lang);
            if change.language.is_none() {
                errors.insert("language", "field.language_invalid");
            }
        }
        if let Some(dept) = &self.department {
            match parse_department(dept.as_deref()) {
                Ok(d) => change.department = Some(d),
                Err(key) => {
                    errors.insert("department", key);
                }
            }
        }
        if let Some(p) = &self.password {
            match password::check_strength(p) {
                Ok(()) => change.password = Some(p.clone()),
                Err(key) => {
                    errors.insert("password", key);
                }
            }
        }
        if errors.is_empty() { Ok(change) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(Username::parse("  Ana.Lopez ").unwrap().as_str(), "ana.lopez");
        for bad in ["ab", "ana lopez", "ana@x", "ñandú", &"a".repeat(33), "<script>"] {
            assert!(Username::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn emails_reject_header_injection_and_garbage() {
        assert_eq!(EmailAddress::parse("Ana@Example.COM").unwrap().as_str(), "ana@example.com");
        assert!(EmailAddress::parse("josé@correo.es").is_some());
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.es",
            "ana@x",
            "a b@x.es",
            "ana@x.es\r\nBcc: evil@x.es",
            "a..b@x.es",
            "<a@x.es>",
            "a@-x.es",
        ] {
            assert!(EmailAddress::parse(bad).is_none(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parsed_emails_never_contain_header_breaking_characters(s in "\\PC{0,40}") {
            if let Some(e) = EmailAddress::parse(&s) {
                prop_assert!(!e.as_str().contains(['\r', '\n', '<', '>', ',', ' ']));
            }
        }
    }
}
