//! User accounts over HTTP (admins only, but everyone can read their own: `GET /api/me`),
//! and the login rate limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{Action, Role, check_scopes};
use crate::api::{AppError, AppState};
use crate::auth::{self, AuthUser};
use crate::storage::User;

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

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

fn check_password(p: &str) -> Result<(), AppError> {
    if p.chars().count() < MIN_PASSWORD {
        return Err(AppError::BadRequest(format!(
            "password: at least {MIN_PASSWORD} characters"
        )));
    }
    Ok(())
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
            check_password(&p)?;
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
            check_password(p)?;
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

/// Failed logins: after [`LoginLimiter::FREE`] failures in a row for one name (or
/// [`LoginLimiter::FREE_PER_ADDRESS`] from one address), further attempts are refused for
/// a delay that doubles with each failure, up to 15 minutes. A success clears the name.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: std::sync::Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    /// Free attempts per name.
    pub const FREE: u32 = 5;
    /// Free attempts per address.
    pub const FREE_PER_ADDRESS: u32 = 20;

    fn delay(count: u32, free: u32) -> Duration {
        if count < free {
            Duration::ZERO
        } else {
            Duration::from_secs(1u64 << (count - free).min(10)).min(Duration::from_secs(900))
        }
    }

    /// How long `name` (from `address`) must still wait, if at all.
    pub fn wait(&self, name: &str, address: Option<&str>) -> Option<Duration> {
        let map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let left = |key: &str, free| {
            map.get(key).and_then(|&(n, last)| {
                Self::delay(n, free)
                    .checked_sub(last.elapsed())
                    .filter(|d| !d.is_zero())
            })
        };
        let by_name = left(&format!("name:{name}"), Self::FREE);
        let by_addr = address.and_then(|a| left(&format!("addr:{a}"), Self::FREE_PER_ADDRESS));
        by_name.max(by_addr)
    }

    /// Records a failure.
    pub fn failed(&self, name: &str, address: Option<&str>) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 100_000 {
            // Bounded: forget the oldest half rather than grow without limit.
            let mut by_age: Vec<_> = map.iter().map(|(k, v)| (v.1, k.clone())).collect();
            by_age.sort();
            for (_, k) in by_age.into_iter().take(50_000) {
                map.remove(&k);
            }
        }
        for key in [
            Some(format!("name:{name}")),
            address.map(|a| format!("addr:{a}")),
        ]
        .into_iter()
        .flatten()
        {
            let e = map.entry(key).or_insert((0, Instant::now()));
            e.0 += 1;
            e.1 = Instant::now();
        }
    }

    /// Records a success.
    pub fn succeeded(&self, name: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&format!("name:{name}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_free_failures_then_a_doubling_wait() {
        let l = LoginLimiter::default();
        for _ in 0..4 {
            l.failed("li", Some("10.0.0.9"));
            assert_eq!(l.wait("li", Some("10.0.0.9")), None);
        }
        l.failed("li", Some("10.0.0.9"));
        let w = l.wait("li", Some("10.0.0.9")).expect("must wait");
        assert!(
            w <= Duration::from_secs(1) && w > Duration::from_millis(900),
            "{w:?}"
        );
        l.failed("li", None);
        assert!(l.wait("li", None).unwrap() > Duration::from_millis(1900));
        // Another name from elsewhere is not affected; success clears the name.
        assert_eq!(l.wait("wang", Some("10.0.0.10")), None);
        l.succeeded("li");
        assert_eq!(l.wait("li", None), None);
        assert_eq!(LoginLimiter::delay(40, 5), Duration::from_secs(900));
    }
}
