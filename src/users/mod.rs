//! Staff accounts: the stored user, queries, and the admin operations on them.

pub mod input;

use serde::Serialize;

use crate::audit::Entry;
use crate::audit::audit_insert;
use crate::auth::{AdminCap, Principal, Role, password, throttle};
use crate::db::{Db, Timestamp, is_unique_violation};
use crate::db::{with_db, with_tx};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::i18n::Lang;
use input::{NewUser, UserChange};

/// A stored staff account (without its password hash).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login name (lowercase).
    pub username: String,
    /// Email (lowercase).
    pub email: String,
    /// Display name.
    pub full_name: String,
    /// Role name.
    pub role: String,
    /// Interface language code.
    pub language: String,
    /// True until a temporary password is replaced.
    pub must_change_password: bool,
    /// Disabled accounts cannot sign in and lose their sessions.
    pub disabled: bool,
    /// Bumped on disable and password changes; sessions and tokens carry it.
    #[serde(skip)]
    pub session_epoch: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// The department whose queue they work (a `departments` code).
    pub department: Option<String>,
    /// They asked the board to alert them (sound, desktop notification) on escalations.
    pub notify_escalations: bool,
}

/// The `users` columns every query returns (a macro so that queries stay `&'static str`).
macro_rules! columns {
    () => {
        "id, username, email, full_name, role, language, must_change_password, disabled, session_epoch, created_at, updated_at, \
         department, notify_escalations"
    };
}

impl User {
    /// The role as an enum (an unknown stored role counts as the least powerful).
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Viewer)
    }

    /// The language as an enum.
    pub fn lang(&self) -> Lang {
        Lang::parse(&self.language).unwrap_or_default()
    }

    /// The principal this account acts as.
    pub fn principal(&self) -> Principal {
        Principal {
            id: self.id,
            username: self.username.clone(),
            full_name: self.full_name.clone(),
            role: self.role(),
            language: self.lang(),
            must_change_password: self.must_change_password,
        }
    }
}

/// The public JSON shape of `/api/v1/me`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me<'a> {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: &'a str,
    /// Email.
    pub email: &'a str,
    /// Display name.
    pub full_name: &'a str,
    /// Role name.
    pub role: &'a str,
    /// Language code.
    pub language: &'a str,
}

impl<'a> From<&'a User> for Me<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: u.id,
            username: &u.username,
            email: &u.email,
            full_name: &u.full_name,
            role: &u.role,
            language: &u.language,
        }
    }
}

/// Loads a user by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM users WHERE id = $1");
    with_db!(db, |pool| sqlx::query_as::<_, User>(sql).bind(id).fetch_optional(pool).await)
}

/// Loads a user and their password hash by login name.
pub async fn find_for_login(db: &Db, username: &str) -> Result<Option<(User, String)>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), ", password_hash FROM users WHERE username = $1");
    let row = with_db!(db, |pool| sqlx::query_as::<_, UserWithHash>(sql).bind(username).fetch_optional(pool).await)?;
    Ok(row.map(|r| (r.user, r.password_hash)))
}

#[derive(sqlx::FromRow)]
struct UserWithHash {
    #[sqlx(flatten)]
    user: User,
    password_hash: String,
}

/// Every user, by username.
pub async fn list(db: &Db) -> Result<Vec<User>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM users ORDER BY username");
    with_db!(db, |pool| sqlx::query_as::<_, User>(sql).fetch_all(pool).await)
}

/// How many accounts exist (first-run detection).
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users").fetch_one(pool).await)
}

/// Inserts an account without any permission check: for start-up, the CLI and seeding.
/// HTTP paths go through [`create`], which needs an [`AdminCap`].
pub async fn insert(db: &Db, new: &NewUser, must_change_password: bool, actor: &Entry) -> AppResult<User> {
    let hash = password::hash(&new.password).await?;
    let now = Timestamp::now();
    let sql = concat!(
        "INSERT INTO users (username, email, full_name, role, language, password_hash, must_change_password, disabled, session_epoch, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, 0, $8, $8) RETURNING ",
        columns!(),
        ""
    );
    let result: Result<User, sqlx::Error> = with_tx!(db, |tx| {
        let user = sqlx::query_as::<_, User>(sql)
            .bind(new.username.as_str())
            .bind(new.email.as_str())
            .bind(&new.full_name)
            .bind(new.role.as_str())
            .bind(new.language.code())
            .bind(&hash)
            .bind(must_change_password)
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
        match user {
            Ok(user) => {
                let entry = actor.clone().target(format!("user:{}", user.id)).metadata(serde_json::json!({
                    "username": user.username, "role": user.role,
                }));
                audit_insert!(&entry).execute(&mut *tx).await?;
                Ok(user)
            }
            Err(e) => Err(e),
        }
    });
    result.map_err(unique_to_field)
}

fn unique_to_field(err: sqlx::Error) -> AppError {
    if !is_unique_violation(&err) {
        return err.into();
    }
    // Which constraint fired is worded differently per backend; the message names the
    // column on both.
    let text = err.to_string();
    let mut fields = FieldErrors::new();
    if text.contains("email") {
        fields.insert("email", "field.email_taken");
    } else {
        fields.insert("username", "field.username_taken");
    }
    AppError::Validation(fields)
}

/// Creates an account on behalf of an admin; the password is temporary.
pub async fn create(db: &Db, cap: &AdminCap<'_>, new: &NewUser, ip: Option<String>) -> AppResult<User> {
    let actor = cap.actor();
    let entry = Entry::new(Some(actor.id), actor.username.clone(), "user.create").ip(ip);
    insert(db, new, true, &entry).await
}

/// Applies an admin's change to a user. Disabling ends every session and token of the
/// user at once; every change is audited in the same transaction. A new password is
/// temporary: the user must replace it at the next sign-in.
pub async fn update(db: &Db, cap: &AdminCap<'_>, id: i64, change: &UserChange, ip: Option<String>) -> AppResult<User> {
    let actor = cap.actor();
    let before = get(db, id).await?.ok_or(AppError::NotFound)?;
    let demoting_self = id == actor.id && change.role.is_some_and(|r| r != Role::Admin);
    let disabling_self = id == actor.id && change.disabled == Some(true);
    if demoting_self || disabling_self {
        return Err(AppError::Validation(FieldErrors::from([("role", "field.self_demote")])));
    }
    let base = Entry::new(Some(actor.id), actor.username.clone(), "user.update").ip(ip);
    apply_change(db, &before, change, base, true).await
}

/// Applies a change from the command line (whoever runs the binary owns the data, so no
/// capability); `Ok(None)` when there is no such user.
pub async fn update_from_cli(
    db: &Db,
    username: &str,
    change: &UserChange,
    temporary_password: bool,
) -> AppResult<Option<User>> {
    let Some((before, _)) = find_for_login(db, username).await? else { return Ok(None) };
    let base = Entry::new(None, "system", "user.update");
    apply_change(db, &before, change, base, temporary_password).await.map(Some)
}

/// The one place account changes are written: keeps an active admin, hashes a new
/// password, ends sessions and tokens on disable or password reset, and audits each
/// kind of change, all in one transaction.
async fn apply_change(db: &Db, before: &User, change: &UserChange, base: Entry, temporary: bool) -> AppResult<User> {
    let id = before.id;
    let removes_admin = before.role() == Role::Admin
        && !before.disabled
        && (change.role.is_some_and(|r| r != Role::Admin) || change.disabled == Some(true));
    if removes_admin && active_admins(db).await? <= 1 {
        return Err(AppError::Validation(FieldErrors::from([("role", "field.last_admin")])));
    }
    let new_hash = match &change.password {
        Some(p) => Some(password::hash(p).await?),
        None => None,
    };

    let base = base.target(format!("user:{id}"));
    let mut entries = Vec::new();
    if let Some(role) = change.role.filter(|r| *r != before.role()) {
        entries.push(Entry { action: "user.role_change", ..base.clone() }.metadata(serde_json::json!({
            "from": before.role, "to": role.as_str(),
        })));
    }
    match change.disabled {
        Some(true) if !before.disabled => entries.push(Entry { action: "user.disable", ..base.clone() }),
        Some(false) if before.disabled => entries.push(Entry { action: "user.enable", ..base.clone() }),
        _ => {}
    }
    if new_hash.is_some() {
        entries.push(Entry { action: "user.password_reset", ..base.clone() });
    }
    let mut details = serde_json::Map::new();
    if let Some(name) = &change.full_name {
        details.insert("full_name".into(), name.clone().into());
    }
    if let Some(email) = &change.email {
        details.insert("email".into(), email.as_str().into());
    }
    if let Some(lang) = change.language {
        details.insert("language".into(), lang.code().into());
    }
    if let Some(dept) = change.department {
        details.insert("department".into(), dept.map(crate::agents::Department::as_str).into());
    }
    if !details.is_empty() {
        entries.push(Entry { action: "user.profile_change", ..base.clone() }.metadata(details.into()));
    }

    // Disable or password reset invalidates every session and token of the user.
    let revoke = change.disabled == Some(true) || new_hash.is_some();
    let sql = concat!(
        "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), full_name = COALESCE($4, full_name), \
         email = COALESCE($5, email), language = COALESCE($6, language), password_hash = COALESCE($7, password_hash), \
         must_change_password = CASE WHEN $7 IS NULL THEN must_change_password ELSE $10 END, \
         session_epoch = session_epoch + $8, updated_at = $9, \
         department = CASE WHEN $11 THEN $12 ELSE department END WHERE id = $1 RETURNING ",
        columns!(),
        ""
    );
    let result: Result<User, sqlx::Error> = with_tx!(db, |tx| {
        let user = sqlx::query_as::<_, User>(sql)
            .bind(id)
            .bind(change.role.map(Role::as_str))
            .bind(change.disabled)
            .bind(change.full_name.clone())
            .bind(change.email.as_ref().map(|e| e.as_str().to_owned()))
            .bind(change.language.map(Lang::code))
            .bind(new_hash.clone())
            .bind(i64::from(revoke))
            .bind(Timestamp::now())
            .bind(temporary)
            .bind(change.department.is_some())
            .bind(change.department.flatten().map(crate::agents::Department::as_str))
            .fetch_one(&mut *tx)
            .await;
        match user {
            Ok(user) => {
                if revoke {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                    sqlx::query("UPDATE refresh_tokens SET revoked = TRUE WHERE user_id = $1 AND NOT revoked")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                for entry in &entries {
                    audit_insert!(entry).execute(&mut *tx).await?;
                }
                Ok(user)
            }
            Err(e) => Err(e),
        }
    });
    crate::auth::cache::cache().forget_all();
    result.map_err(|err| {
        if is_unique_violation(&err) {
            AppError::Validation(FieldErrors::from([("email", "field.email_taken")]))
        } else {
            err.into()
        }
    })
}

async fn active_admins(db: &Db) -> Result<i64, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = FALSE"
    )
    .fetch_one(pool)
    .await)
}

/// Replaces a stored password hash with one of the same password made with today's
/// parameters, unless the hash changed meanwhile. Sessions and tokens stay: the
/// password is the same.
pub async fn replace_hash(db: &Db, id: i64, old_hash: &str, new_hash: &str) -> AppResult<()> {
    with_db!(db, |pool| sqlx::query("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2")
        .bind(id)
        .bind(old_hash)
        .bind(new_hash)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Sets a user's own new password (clears the temporary flag) and ends their other
/// sessions and tokens by bumping the epoch.
pub async fn set_own_password(
    db: &Db,
    id: i64,
    new_password: &str,
    ip: Option<String>,
    username: &str,
) -> AppResult<User> {
    let hash = password::hash(new_password).await?;
    let sql = concat!(
        "UPDATE users SET password_hash = $2, must_change_password = FALSE, session_epoch = session_epoch + 1, updated_at = $3 \
         WHERE id = $1 RETURNING ",
        columns!(),
        ""
    );
    let entry = Entry::new(Some(id), username, "user.password_change").target(format!("user:{id}")).ip(ip);
    let user: Result<User, sqlx::Error> = with_tx!(db, |tx| {
        let user = sqlx::query_as::<_, User>(sql).bind(id).bind(&hash).bind(Timestamp::now()).fetch_one(&mut *tx).await;
        match user {
            Ok(user) => {
                sqlx::query("UPDATE refresh_tokens SET revoked = TRUE WHERE user_id = $1 AND NOT revoked")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                audit_insert!(&entry).execute(&mut *tx).await?;
                Ok(user)
            }
            Err(e) => Err(e),
        }
    });
    crate::auth::cache::cache().forget_all();
    Ok(user?)
}

/// Checks a self-service password change: the current password must match and the new
/// one must follow the rules and differ. Returns the problems per field (empty = ok).
///
/// Each check of the current password counts against the account's sign-in lock (the
/// same counter as the login form): a stolen token or an unattended browser cannot
/// be used to guess the password at full speed.
pub async fn check_password_change(
    db: &Db,
    user: &User,
    current: &str,
    new: &str,
    policy: &crate::config::LoginPolicy,
) -> AppResult<FieldErrors> {
    let key = throttle::user_key(&user.username);
    if let throttle::Attempt::Locked(retry_after) = throttle::reserve(db, &key, policy.max_failures, policy).await? {
        return Err(AppError::TooManyAttempts { retry_after });
    }
    let mut errors = FieldErrors::new();
    let current_ok = match find_for_login(db, &user.username).await? {
        Some((_, hash)) => password::verify(current, &hash).await?,
        None => false,
    };
    if current_ok {
        throttle::reset(db, &key).await?;
    } else {
        errors.insert("current_password", "field.password_wrong");
    }
    if let Err(key) = password::check_strength(new) {
        errors.insert("new_password", key);
    } else if new == current {
        errors.insert("new_password", "field.password_same");
    }
    Ok(errors)
}

/// Saves a user's own choice of escalation alerts on the board.
pub async fn set_own_alerts(db: &Db, user: &User, on: bool, ip: Option<String>) -> AppResult<()> {
    let entry = Entry::new(Some(user.id), user.username.clone(), "user.alerts_change")
        .target(format!("user:{}", user.id))
        .ip(ip)
        .metadata(serde_json::json!({ "notify_escalations": on }));
    let done: Result<(), sqlx::Error> = with_tx!(db, |tx| {
        sqlx::query("UPDATE users SET notify_escalations = $2, updated_at = $3 WHERE id = $1")
            .bind(user.id)
            .bind(on)
            .bind(Timestamp::now())
            .execute(&mut *tx)
            .await?;
        audit_insert!(&entry).execute(&mut *tx).await?;
        Ok(())
    });
    crate::auth::cache::cache().forget_all();
    Ok(done?)
}

/// Saves a user's own interface language.
pub async fn set_own_language(db: &Db, user: &User, lang: Lang, ip: Option<String>) -> AppResult<()> {
    let entry = Entry::new(Some(user.id), user.username.clone(), "user.language_change")
        .target(format!("user:{}", user.id))
        .ip(ip)
        .metadata(serde_json::json!({ "language": lang.code() }));
    let done: Result<(), sqlx::Error> = with_tx!(db, |tx| {
        sqlx::query("UPDATE users SET language = $2, updated_at = $3 WHERE id = $1")
            .bind(user.id)
            .bind(lang.code())
            .bind(Timestamp::now())
            .execute(&mut *tx)
            .await?;
        audit_insert!(&entry).execute(&mut *tx).await?;
        Ok(())
    });
    crate::auth::cache::cache().forget_all();
    Ok(done?)
}
