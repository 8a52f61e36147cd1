//! `/api/media*` and `/media/{hash}`: thin handlers over `media`. Uploads are streamed to
//! disk in their own body limit; downloads serve range requests, so a broken 4G download
//! resumes.

use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower::ServiceExt as _;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::media::{self, Approval, Incoming};
use crate::state::AppState;
use crate::storage::MediaRecord;

/// This module's routes under the common body limit.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/media", get(list))
        .route("/api/media/{id}", get(one))
        .route("/api/media/{id}/approval", post(approve))
        .route("/media/{hash}", get(download))
}

/// `POST /api/media`, with its own body limit: the handler stops storing at the upload
/// limit itself.
pub fn upload_routes() -> Router<AppState> {
    Router::new().route(
        "/api/media",
        post(upload).layer(DefaultBodyLimit::max(
            media::MAX_UPLOAD as usize + 64 * 1024,
        )),
    )
}

/// The agents' side: only the download.
pub fn agent_routes() -> Router<AppState> {
    Router::new().route("/media/{hash}", get(download))
}

/// Query of `POST /api/media`.
#[derive(Debug, serde::Deserialize)]
struct UploadQuery {
    /// Answer only when transcoding has finished (for scripts), instead of at once.
    #[serde(default)]
    wait: bool,
}

/// `POST /api/media`: multipart, field `file`. 202 while transcoding, 201 with `?wait=true`.
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

/// `GET /api/media` (a village head sees the approved items only)
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<MediaRecord>>, AppError> {
    Ok(Json(media::list(&state, &user)?))
}

/// `GET /api/media/{id}`
async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<MediaRecord>, AppError> {
    Ok(Json(media::get(&state, &user, id)?))
}

/// `POST /api/media/{id}/approval`: lets village heads play an item (or stops them).
async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
    Json(req): Json<Approval>,
) -> Result<Json<MediaRecord>, AppError> {
    Ok(Json(media::approve(&state, &user, id, req)?))
}

/// `GET /media/{hash}`: the Ogg Opus file, with range requests.
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
