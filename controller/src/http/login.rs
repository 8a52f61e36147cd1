//! Logging in and out, and the limit on guessing.
//!
//! Guessing is slowed per account, never by address alone, so a crowd behind one NAT or
//! proxy does not lock each other out, and nobody's failures refuse the right password
//! from a known device: a successful login returns a *device token* (an HMAC of the
//! account name under a key derived from the controller's, so it survives restarts and
//! needs no table) that the browser keeps and sends with later logins. Attempts with a
//! valid device token for the account count only against that token; attempts without one
//! share the account's counter and the client address's, and back off (1 s, doubling, up
//! to 15 minutes) after a few failures. The address is the TCP peer, or, when the peer is
//! a configured trusted proxy, the client it names in `X-Forwarded-For`.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{self, AuthUser};
use crate::error::AppError;
use crate::http::audit::AuditNote;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::lockout::{Attempt, device_token, device_valid};
use crate::state::AppState;

/// Body of `POST /api/login`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    name: String,
    password: String,
    /// The device token an earlier login on this device returned: failures by others do
    /// not hold it back.
    #[serde(default)]
    device: Option<String>,
}

/// A session.
#[derive(Serialize, ToSchema)]
struct LoginResponse {
    token: String,
    expires_at: u64,
    /// Keep it and send it with the next login: it exempts this device from the account's
    /// lockout while others guess.
    device: String,
}

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
}

/// `POST /api/login`: log in.
#[utoipa::path(post, path = "/api/login", tag = "sessions", request_body = LoginRequest,
    responses((status = 200, description = "the session", body = LoginResponse),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, AppError> {
    let device = req
        .device
        .as_deref()
        .filter(|d| device_valid(&state.identity.device_secret, &req.name, d));
    let attempt = Attempt {
        name: &req.name,
        device,
        address,
    };
    if let Some(wait) = state.logins.wait(&attempt) {
        return Err(AppError::TooManyRequests(format!(
            "too many failed logins: try again in {} s (or log in from a device that logged \
             in before)",
            wait.as_secs() + 1
        )));
    }
    let user = state.storage.user_by_name(&req.name)?;
    // Verify against a dummy hash for unknown users too, so timing does not tell names.
    let ok = match &user {
        Some(u) => auth::verify_password(&req.password, &u.password_hash),
        None => auth::verify_password(&req.password, dummy_hash()),
    };
    let Some(user) = user.filter(|u| ok && !u.disabled) else {
        state.logins.failed(&attempt);
        return Err(AppError::BadLogin);
    };
    state.logins.succeeded(&attempt);
    let token = auth::random_secret(32);
    let expires_at = state.clock.now_us() + auth::SESSION_MICROS;
    state
        .storage
        .create_session(&auth::token_hash(&token), user.id, expires_at)?;
    let device = device.map_or_else(
        || device_token(&state.identity.device_secret, &user.name),
        str::to_owned,
    );
    let mut response = Json(LoginResponse {
        token,
        expires_at,
        device,
    })
    .into_response();
    response.extensions_mut().insert(AuditNote {
        user: Some(user.name),
        detail: None,
    });
    Ok(response)
}

/// The argon2 hash of a random password nobody knows.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| auth::hash_password(&auth::random_secret(16)).unwrap_or_default())
}

/// `POST /api/logout`: end the session.
#[utoipa::path(post, path = "/api/logout", tag = "sessions", security(("bearer" = [])),
    responses((status = 204, description = "done"), (status = 401, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    _user: AuthUser,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    if let Some(token) = crate::http::extract::bearer_token(&headers) {
        state.storage.delete_session(&auth::token_hash(token))?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The client's address: the TCP peer, or, when the peer is one of the configured trusted
/// proxies, the nearest address in `X-Forwarded-For` that is not a trusted proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(client_address(
            peer,
            &parts.headers,
            &state.edge.trusted_proxies,
        )))
    }
}

/// See [`ClientAddress`].
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.1.1.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 203.0.113.7".parse().unwrap());
        let client =
            |peer: IpAddr, trusted: &[IpAddr]| client_address(Some(peer), &headers, trusted);
        assert_eq!(client(proxy, &[proxy]), "203.0.113.7".parse().ok());
        // From anyone else the header is the client's own claim, ignored.
        assert_eq!(
            client("198.51.100.2".parse().unwrap(), &[proxy]),
            "198.51.100.2".parse().ok()
        );
        assert_eq!(client(proxy, &[]), Some(proxy));
    }
}
