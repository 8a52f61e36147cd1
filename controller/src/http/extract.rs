//! The HTTP face of authentication: the [`AuthUser`] extractor and where a request
//! carries its session token; [`JsonBody`], a JSON request body whose refusal has the one
//! error shape; and [`csv_text`], the text of a request that sends a file of lines (CSV)
//! instead of JSON.

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

/// A JSON request body. A body that is not the JSON the route takes is refused with
/// axum's status (400, 413, 415 or 422) but in the one error shape,
/// `{"error": {"code", "message"}}`, whose message names the field and what was expected
/// (`tiles.datum: unknown variant \`mars\`, expected \`wgs84\` or \`gcj02\``), so the
/// console and scripts read every refusal the same way.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = axum::response::Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse as _;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => {
                let code = if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    crate::http::openapi::ErrorCode::TooLarge
                } else {
                    crate::http::openapi::ErrorCode::BadRequest
                };
                let body = crate::http::openapi::ErrorBody {
                    error: crate::http::openapi::ErrorDetail {
                        code,
                        message: rejection.body_text(),
                    },
                };
                Err((rejection.status(), axum::Json(body)).into_response())
            }
        }
    }
}
