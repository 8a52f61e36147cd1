//! User accounts over HTTP (admins only, but everyone can read their own: `GET /api/me`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
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

/// `GET /api/me`: who the session belongs to.
pub async fn me(user: AuthUser) -> Json<Value> {
    Json(json!({"id": user.id, "name": user.name, "role": user.role, "scopes": user.scopes}))
}

/// `GET /api/users`
pub async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    user.require(Action::Administer)?;
    Ok(Json(Value::Array(
        state.storage.users()?.iter().map(show).collect(),
    )))
}

/// Body of `POST /api/users`.
#[derive(Debug, Deserialize)]
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

/// `POST /api/users`: creates a user; a generated password is shown once.
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateUser>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    user.require(Action::Administer)?;
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
    let id = state
        .storage
        .create_user(&req.name, &hash, req.role.as_str())?;
    state
        .storage
        .update_user(id, None, Some(&req.scopes), None, None)?;
    tracing::info!(by = %user.name, user = %req.name, role = req.role.as_str(), "user created");
    let created = state
        .storage
        .user_by_id(id)?
        .ok_or_else(|| AppError::NotFound(format!("user {id}")))?;
    let mut body = show(&created);
    if generated {
        body["password"] = json!(password);
    }
    Ok((StatusCode::CREATED, Json(body)))
}

/// Body of `PATCH /api/users/{id}`.
#[derive(Debug, Deserialize)]
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

/// `PATCH /api/users/{id}`: change role, scopes, password, or disable. The last enabled
/// admin cannot be disabled or demoted.
pub async fn edit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
    Json(req): Json<EditUser>,
) -> Result<Json<Value>, AppError> {
    user.require(Action::Administer)?;
    let old = state
        .storage
        .user_by_id(id)?
        .ok_or_else(|| AppError::NotFound(format!("user {id}")))?;
    let role = req.role.unwrap_or(Role::parse(&old.role));
    let scopes = req.scopes.clone().unwrap_or_else(|| old.scopes.clone());
    check_scopes(role, &scopes).map_err(AppError::BadRequest)?;
    let stays_admin = role == Role::Admin && !req.disabled.unwrap_or(old.disabled);
    if old.role == "admin" && !old.disabled && !stays_admin {
        let admins = state
            .storage
            .users()?
            .iter()
            .filter(|u| u.role == "admin" && !u.disabled)
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
    state.storage.update_user(
        id,
        Some(role.as_str()),
        Some(&scopes),
        req.disabled,
        hash.as_deref(),
    )?;
    tracing::info!(by = %user.name, user = %old.name, "user changed");
    let now = state
        .storage
        .user_by_id(id)?
        .ok_or_else(|| AppError::NotFound(format!("user {id}")))?;
    Ok(Json(show(&now)))
}
