//! `POST /api/tts/preview`: text spoken for an operator to hear before sending it.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse as _, Response};
use tower::ServiceExt as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(preview))
}

/// Body of `POST /api/tts/preview`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Preview {
    /// What to say (1 to 2000 characters).
    text: String,
    /// The voices, in turn; default the deployment's.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, example = json!(["mandarin", "cantonese"]))]
    voices: Option<Vec<crate::tts::Voice>>,
}

/// `POST /api/tts/preview`: the text spoken (Ogg Opus), made once and kept in the
/// library; `X-Dalaba-Media-Id` names the item, so a broadcast can play it.
#[utoipa::path(post, path = "/api/tts/preview", tag = "media", security(("bearer" = [])),
    request_body = Preview,
    responses((status = 200, description = "the speech, Ogg Opus", content_type = "audio/ogg"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn preview(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<Preview>,
) -> Result<Response, AppError> {
    let (id, path) = crate::tts::preview(&state, &user, &req.text, req.voices.as_deref()).await?;
    let request = Request::new(axum::body::Body::empty());
    let mut response = tower_http::services::ServeFile::new(&path)
        .oneshot(request)
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .into_response();
    response.headers_mut().insert(
        "x-dalaba-media-id",
        HeaderValue::from_str(&id.to_string()).map_err(|e| AppError::Internal(e.into()))?,
    );
    Ok(response)
}
