//! Operator accounts: argon2 password hashes, random session tokens (stored hashed), and
//! the [`AuthUser`] extractor that every protected handler takes.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::now_us;
use crate::state::AppState;

/// Sessions last 12 hours.
pub const SESSION_MICROS: u64 = 12 * 3600 * 1_000_000;

/// Hashes a password for storage.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A random secret (session token, enrolment token, password) of `bytes` bytes, as
/// URL-safe text.
pub fn random_secret(bytes: usize) -> String {
    use base64::Engine as _;
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of a token, hex: what is stored, so a database leak does not leak tokens.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The logged-in user of a request (`Authorization: Bearer <token>`).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// User id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Role.
    pub role: crate::access::Role,
    /// Area-code prefixes the user may reach.
    pub scopes: Vec<String>,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(AppError::Unauthorized)?;
        let user_id = state
            .storage
            .session_user(&token_hash(token), now_us())?
            .ok_or(AppError::Unauthorized)?;
        let user = state
            .storage
            .user_by_id(user_id)?
            .filter(|u| !u.disabled)
            .ok_or(AppError::Unauthorized)?;
        Ok(Self {
            id: user.id,
            name: user.name,
            role: crate::access::Role::parse(&user.role),
            scopes: user.scopes,
        })
    }
}

/// The session token of a request: `Authorization: Bearer <token>`, or, since browsers
/// cannot set headers on a WebSocket, the subprotocol `bearer.<token>` offered beside
/// `dalaba`.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| {
            headers
                .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.split(',')
                        .map(str::trim)
                        .find_map(|p| p.strip_prefix("bearer."))
                })
        })
}
