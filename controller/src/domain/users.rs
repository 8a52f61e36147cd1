//! User accounts: listing, creating and changing them (admins only). The HTTP face is
//! `http::users`.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{Action, Role, check_scopes};
use crate::auth::{self, AuthUser};
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::User;

fn show(u: &User) -> Value {
    json!({"id": u.id, "name": u.name, "role": u.role, "scopes": u.scopes, "disabled": u.disabled})
}

/// Who the session belongs to.
pub fn me(user: &AuthUser) -> Value {
    json!({"id": user.id, "name": user.name, "role": user.role, "scopes": user.scopes})
}

/// Every user.
pub fn list(state: &AppState, user: &AuthUser) -> Result<Value, AppError> {
    user.require(Action::Administer)?;
    Ok(Value::Array(
        state.storage.users()?.iter().map(show).collect(),
    ))
}

/// Body of `POST /api/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// Area-code prefixes (an operator's areas; a village head's one village).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// At least 12 characters; absent: a random one is made and returned once.
    pub password: Option<String>,
}

fn check_name(name: &str) -> Result<(), AppError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "._-@".contains(c))
    {
        return Err(AppError::BadRequest(
            "name: 1 to 64 letters, digits, . _ - @".into(),
        ));
    }
    Ok(())
}

fn check_password(password: &str, name: &str) -> Result<(), AppError> {
    crate::password::problem(password, name).map_or(Ok(()), |why| Err(AppError::BadRequest(why)))
}

/// Creates a user; a generated password is shown once.
pub fn create(state: &AppState, user: &AuthUser, req: CreateUser) -> Result<Value, AppError> {
    user.require(Action::Administer)?;
    create_as(state, &user.name, req)
}

/// Creates a user from the controller's own command line (`dalaba-controller admin
/// add-user`), as `create` does, and writes it in the audit log.
pub fn create_locally(state: &AppState, req: CreateUser) -> Result<Value, AppError> {
    let name = req.name.clone();
    let created = create_as(state, "the command line", req)?;
    audit_locally(state, "admin add-user", &name)?;
    Ok(created)
}

/// An audit record for what was done from the controller's own command line.
fn audit_locally(state: &AppState, action: &str, name: &str) -> Result<(), AppError> {
    state.storage.audit(&crate::storage::AuditRecord {
        id: 0,
        at: state.clock.now_us(),
        user: "-".into(),
        action: action.into(),
        target: Some(name.to_owned()),
        result: "ok".into(),
        source: Some("the controller's command line".into()),
    })?;
    Ok(())
}

fn create_as(state: &AppState, by: &str, req: CreateUser) -> Result<Value, AppError> {
    check_name(&req.name)?;
    check_scopes(req.role, &req.scopes).map_err(AppError::BadRequest)?;
    let (password, generated) = match req.password {
        Some(p) => {
            check_password(&p, &req.name)?;
            (p, false)
        }
        None => (auth::random_secret(15), true),
    };
    let hash = auth::hash_password(&password).map_err(AppError::Internal)?;
    let id = state.storage.create_user(&req.name, &hash, req.role)?;
    state
        .storage
        .update_user(id, None, Some(&req.scopes), None, None)?;
    tracing::info!(by = %by, user = %req.name, role = req.role.as_str(), "user created");
    let created = state
        .storage
        .user_by_id(id)?
        .ok_or_else(|| AppError::NotFound(format!("user {id}")))?;
    let mut body = show(&created);
    if generated {
        body["password"] = json!(password);
    }
    Ok(body)
}

/// Body of `PATCH /api/users/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditUser {
    /// A new role.
    pub role: Option<Role>,
    /// New scopes.
    pub scopes: Option<Vec<String>>,
    /// Disable (true: sessions end, logins refused) or enable.
    pub disabled: Option<bool>,
    /// A new password (sessions end).
    pub password: Option<String>,
}

/// Changes a user's role, scopes or password, or disables them. The last enabled admin
/// cannot be disabled or demoted.
pub fn edit(state: &AppState, user: &AuthUser, id: i64, req: EditUser) -> Result<Value, AppError> {
    user.require(Action::Administer)?;
    let old = state
        .storage
        .user_by_id(id)?
        .ok_or_else(|| AppError::NotFound(format!("user {id}")))?;
    let role = req.role.unwrap_or(old.role);
    let scopes = req.scopes.clone().unwrap_or_else(|| old.scopes.clone());
    check_scopes(role, &scopes).map_err(AppError::BadRequest)?;
    let stays_admin = role == Role::Admin && !req.disabled.unwrap_or(old.disabled);
    if old.role == Role::Admin && !old.disabled && !stays_admin {
        let admins = state
            .storage
            .users()?
            .iter()
            .filter(|u| u.role == Role::Admin && !u.disabled)
            .count();
        if admins <= 1 {
            return Err(AppError::Conflict(
                "this is the last enabled admin: make another admin first".into(),
            ));
        }
    }
    let hash = match &req.password {
        Some(p) => {
            check_password(p, &old.name)?;
            Some(auth::hash_password(p).map_err(AppError::Internal)?)
        }
        None => None,
    };
    state
        .storage
        .update_user(id, Some(role), Some(&scopes), req.disabled, hash.as_deref())?;
    tracing::info!(by = %user.name, user = %old.name, "user changed");
    let now = state
        .storage
        .user_by_id(id)?
        .ok_or_else(|| AppError::NotFound(format!("user {id}")))?;
    Ok(show(&now))
}

/// What a user sends to change their own password.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewPassword {
    /// The password in use now.
    pub current: String,
    /// The new one (at least 12 characters, not the name).
    pub new: String,
}

/// A user changes their own password: the current one first, the new one checked like
/// any other; every session of theirs ends (this one too: they log in again).
pub fn change_own_password(
    state: &AppState,
    user: &AuthUser,
    req: NewPassword,
) -> Result<(), AppError> {
    let stored = state
        .storage
        .user_by_id(user.id)?
        .ok_or_else(|| AppError::NotFound(format!("user {}", user.name)))?;
    if !auth::verify_password(&req.current, &stored.password_hash) {
        return Err(AppError::Forbidden(
            "the current password is not right: nothing changed".into(),
        ));
    }
    check_password(&req.new, &stored.name)?;
    let hash = auth::hash_password(&req.new).map_err(AppError::Internal)?;
    state
        .storage
        .update_user(user.id, None, None, None, Some(&hash))?;
    tracing::info!(user = %user.name, "own password changed");
    Ok(())
}

/// Sets a new random password for user `name` from the controller's own command line
/// (`dalaba-controller admin reset-password`), for a locked-out admin: enables the
/// account, ends its sessions, and writes it in the audit log. The new password.
pub fn reset_password(state: &AppState, name: &str) -> Result<String, AppError> {
    let user = state.storage.user_by_name(name)?.ok_or_else(|| {
        let known: Vec<String> = state
            .storage
            .users()
            .map(|u| u.into_iter().map(|u| u.name).collect())
            .unwrap_or_default();
        AppError::BadRequest(format!(
            "no user {name} (the users are: {})",
            known.join(", ")
        ))
    })?;
    let password = auth::random_secret(15);
    let hash = auth::hash_password(&password).map_err(AppError::Internal)?;
    state
        .storage
        .update_user(user.id, None, None, Some(false), Some(&hash))?;
    audit_locally(state, "admin reset-password", name)?;
    tracing::info!(user = %name, "password reset from the command line");
    Ok(password)
}
