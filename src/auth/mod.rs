//! Who is asking and what they may do: roles, the signed-in principal, capabilities,
//! password hashing, tokens and login throttling.

pub mod cache;
pub mod extract;
pub mod live;
pub mod login;
pub mod password;
pub mod throttle;
pub mod tokens;

use serde::{Deserialize, Serialize};

use crate::i18n::Lang;

/// A staff role. Order matters: each role can do what the ones after it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, plus user management, settings and the audit log.
    Admin,
    /// Agent powers plus approvals, all queues and reports.
    Supervisor,
    /// Live dashboard, takeovers, replies, emails.
    Agent,
    /// Read-only dashboards and reports.
    Viewer,
}

impl Role {
    /// All roles, most powerful first.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Agent, Role::Viewer];

    /// Stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Supervisor => "supervisor",
            Self::Agent => "agent",
            Self::Viewer => "viewer",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text.trim())
    }

    /// i18n key of the role's display name.
    pub fn label_key(self) -> &'static str {
        match self {
            Self::Admin => "role.admin",
            Self::Supervisor => "role.supervisor",
            Self::Agent => "role.agent",
            Self::Viewer => "role.viewer",
        }
    }
}

/// The signed-in staff member, loaded fresh from the database on every request so that
/// a role change or a disable takes effect at once.
#[derive(Clone, Debug)]
pub struct Principal {
    /// User id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Display name.
    pub full_name: String,
    /// Current role.
    pub role: Role,
    /// Preferred interface language.
    pub language: Lang,
    /// True until a temporary password has been replaced.
    pub must_change_password: bool,
}

/// Proof that the holder may administer users. Only [`Principal::admin`] makes one, so
/// user-management functions that take it cannot be reached by a forgotten `if`.
#[derive(Debug)]
pub struct AdminCap<'a> {
    principal: &'a Principal,
}

impl AdminCap<'_> {
    /// The admin acting.
    pub fn actor(&self) -> &Principal {
        self.principal
    }
}

/// Proof that the holder may work calls: take them over, reply, hand back, close.
/// Agents, supervisors and admins; never viewers.
#[derive(Debug)]
pub struct AgentCap<'a> {
    principal: &'a Principal,
}

impl AgentCap<'_> {
    /// The staff member acting.
    pub fn actor(&self) -> &Principal {
        self.principal
    }
    /// True for supervisors and admins, who may act on calls someone else holds.
    pub fn oversees(&self) -> bool {
        matches!(self.principal.role, Role::Supervisor | Role::Admin)
    }
}

/// Proof that the holder may approve or reject actions the AI requested: supervisors
/// and admins.
#[derive(Debug)]
pub struct ApproverCap<'a> {
    principal: &'a Principal,
}

impl ApproverCap<'_> {
    /// The staff member deciding.
    pub fn actor(&self) -> &Principal {
        self.principal
    }
}

/// Proof that the holder may change customer records (create, edit, deactivate) and
/// register payments by hand: supervisors and admins.
#[derive(Debug)]
pub struct RecordsCap<'a> {
    principal: &'a Principal,
}

impl RecordsCap<'_> {
    /// The staff member acting.
    pub fn actor(&self) -> &Principal {
        self.principal
    }
}

/// Proof that the holder may manage canned responses (create, edit, delete):
/// supervisors and admins. Everyone else who works calls only reads and inserts them.
#[derive(Debug)]
pub struct CannedCap<'a> {
    principal: &'a Principal,
}

impl CannedCap<'_> {
    /// The staff member acting.
    pub fn actor(&self) -> &Principal {
        self.principal
    }
}

/// Proof that the holder may manage WhatsApp message templates (create, edit,
/// delete): supervisors and admins. Agents view and send them; viewers view them.
#[derive(Debug)]
pub struct TemplateCap<'a> {
    principal: &'a Principal,
}

impl TemplateCap<'_> {
    /// The staff member acting.
    pub fn actor(&self) -> &Principal {
        self.principal
    }
}

impl Principal {
    /// WhatsApp-templates management capability, when the role allows it.
    pub fn templates(&self) -> Option<TemplateCap<'_>> {
        matches!(self.role, Role::Supervisor | Role::Admin).then_some(TemplateCap { principal: self })
    }
    /// Canned-responses management capability, when the role allows it.
    pub fn canned(&self) -> Option<CannedCap<'_>> {
        matches!(self.role, Role::Supervisor | Role::Admin).then_some(CannedCap { principal: self })
    }
    /// Customer-records capability, when the role allows it.
    pub fn records(&self) -> Option<RecordsCap<'_>> {
        matches!(self.role, Role::Supervisor | Role::Admin).then_some(RecordsCap { principal: self })
    }
    /// Admin capability, when the role allows it.
    pub fn admin(&self) -> Option<AdminCap<'_>> {
        (self.role == Role::Admin).then_some(AdminCap { principal: self })
    }
    /// Call-handling capability, when the role allows it.
    pub fn agent(&self) -> Option<AgentCap<'_>> {
        (self.role != Role::Viewer).then_some(AgentCap { principal: self })
    }
    /// Approval capability, when the role allows it.
    pub fn approver(&self) -> Option<ApproverCap<'_>> {
        matches!(self.role, Role::Supervisor | Role::Admin).then_some(ApproverCap { principal: self })
    }
}
