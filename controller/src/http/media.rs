//! `/api/media*` and `/media/{hash}`: thin handlers over `media`. Uploads are streamed to
//! disk in their own body limit; downloads serve range requests, so a broken 4G download
//! resumes.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::media::{self, Approval, Incoming};
use crate::state::AppState;
use crate::storage::MediaRecord;

/// This module's routes under the common body limit.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(approve))
        .routes(routes!(download))
}

/// `POST /api/media`, with its own body limit: the handler stops storing at the upload
/// limit itself.
pub fn upload_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload).layer(DefaultBodyLimit::max(
        media::MAX_UPLOAD as usize + 64 * 1024,
    )))
}

/// The agents' side: only the download.
pub fn agent_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(download))
}

/// Query of `POST /api/media`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// Answer only when transcoding has finished (for scripts), instead of at once.
    #[serde(default)]
    wait: bool,
}

/// `POST /api/media`: multipart, field `file`. 202 while transcoding, 201 with `?wait=true`.
#[utoipa::path(post, path = "/api/media", tag = "media", security(("bearer" = [])), params(UploadQuery),
    request_body(content_type = "multipart/form-data", description = "the audio file in the field `file` (MP3, AAC, FLAC, Vorbis, Opus, WAV)"),
    responses((status = 201, description = "transcoded (with `wait=true`)", body = MediaRecord),
        (status = 202, description = "accepted; transcoding in the background", body = MediaRecord),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<UploadQuery>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<MediaRecord>), AppError> {
    let bad =
        |e: axum::extract::multipart::MultipartError| AppError::BadRequest(format!("upload: {e}"));
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        let mut incoming = Incoming::begin(&state, &user, field.file_name()).await?;
        let received: Result<(), AppError> = async {
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                incoming.write(&chunk).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = received {
            if matches!(e, AppError::TooLarge(_)) {
                // Read and discard the rest (the body limit bounds it) so the client gets
                // this answer instead of a reset.
                while let Ok(Some(_)) = field.chunk().await {}
            }
            incoming.discard().await;
            return Err(e);
        }
        let (finished, record) = incoming.finish(&state, &user, q.wait).await?;
        let status = if finished {
            StatusCode::CREATED
        } else {
            StatusCode::ACCEPTED
        };
        return Ok((status, Json(record)));
    }
    Err(AppError::BadRequest("upload: no `file` field".into()))
}

/// `GET /api/media`: the library (a village head sees the approved items only).
#[utoipa::path(get, path = "/api/media", tag = "media", security(("bearer" = [])),
    responses((status = 200, description = "the library (a village head sees the approved items only)", body = Vec<MediaRecord>), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<MediaRecord>>, AppError> {
    Ok(Json(media::list(&state, &user)?))
}

/// `GET /api/media/{id}`: one library item.
#[utoipa::path(get, path = "/api/media/{id}", tag = "media", security(("bearer" = [])),
    params(("id" = u64, Path, description = "the item's id")),
    responses((status = 200, body = MediaRecord), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<MediaRecord>, AppError> {
    Ok(Json(media::get(&state, &user, id)?))
}

/// `POST /api/media/{id}/approval`: lets village heads play an item (or stops them).
#[utoipa::path(post, path = "/api/media/{id}/approval", tag = "media", security(("bearer" = [])),
    params(("id" = u64, Path, description = "the item's id")), request_body = Approval,
    responses((status = 200, body = MediaRecord), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
    JsonBody(req): JsonBody<Approval>,
) -> Result<Json<MediaRecord>, AppError> {
    Ok(Json(media::approve(&state, &user, id, req)?))
}

/// `GET /media/{hash}`: the Ogg Opus file, with range requests.
#[utoipa::path(get, path = "/media/{hash}", tag = "media",
    params(("hash" = String, Path, description = "the file's SHA-256 (hex)")),
    responses((status = 200, description = "the Ogg Opus file", content_type = "audio/ogg"),
        (status = 206, description = "the range asked for"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn download(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let path = media::file_of(&state, &hash).await?;
    let response = tower_http::services::ServeFile::new(&path)
        .oneshot(request)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(response.into_response())
}
