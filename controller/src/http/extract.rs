//! The HTTP face of authentication: the [`AuthUser`] extractor and where a request
//! carries its session token; and [`csv_text`], the text of a request that sends a file
//! of lines (CSV) instead of JSON.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(AppError::Unauthorized)?;
        AuthUser::from_session(state, token)
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

/// The body as text when the request says it is CSV (`text/csv` or `text/plain`); `None`
/// when it is something else (JSON); an error when it says CSV but is not UTF-8.
pub fn csv_text<'a>(
    headers: &axum::http::HeaderMap,
    body: &'a [u8],
) -> Result<Option<&'a str>, AppError> {
    let csv = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/csv") || t.starts_with("text/plain"));
    if !csv {
        return Ok(None);
    }
    std::str::from_utf8(body).map(Some).map_err(|_| {
        AppError::BadRequest("the CSV file is not UTF-8 text: save it as CSV UTF-8".into())
    })
}
