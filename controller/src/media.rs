//! The media library: uploads (size limit enforced while streaming), background
//! transcoding with the audio crate, content-addressed storage, and the download endpoint
//! agents fetch from (HTTP range requests, so a broken 4G download resumes).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Json;
use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use dalaba_audio::transcode::{TranscodeOptions, transcode_file};
use dalaba_protocol::MediaHash;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;
use tower::ServiceExt as _;

use crate::access::{Action, Role};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::now_us;
use crate::state::AppState;
use crate::storage::MediaRecord;

/// Largest upload accepted, bytes (200 MiB: an hour of MP3 at 320 kbps is 144 MB).
pub const MAX_UPLOAD: u64 = 200 * 1024 * 1024;

/// Where media lives inside the data directory.
pub fn media_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("media")
}

pub(crate) fn media_file(dir: &Path, hash: &MediaHash) -> PathBuf {
    dir.join(format!("{hash}.opus"))
}

/// Query of `POST /api/media`.
#[derive(Debug, serde::Deserialize)]
pub struct UploadQuery {
    /// Answer only when transcoding has finished (for scripts), instead of at once.
    #[serde(default)]
    pub wait: bool,
}

/// `POST /api/media`
pub async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    axum::extract::Query(q): axum::extract::Query<UploadQuery>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<MediaRecord>), AppError> {
    user.require(Action::ManageMedia)?;
    let bad =
        |e: axum::extract::multipart::MultipartError| AppError::BadRequest(format!("upload: {e}"));
    let dir = state.media_dir.clone();
    let incoming = dir.join("incoming");
    tokio::fs::create_dir_all(&incoming)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field
            .file_name()
            .map(|n| {
                n.chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "upload".into());
        let temp = incoming.join(format!("{}.upload", crate::auth::random_secret(12)));
        let mut file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        let mut written: u64 = 0;
        let result: Result<(), AppError> = async {
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                written += chunk.len() as u64;
                if written > state.max_upload {
                    // Stop storing at once; read and discard the rest (the body limit
                    // bounds it) so the client gets this answer instead of a reset.
                    while let Ok(Some(_)) = field.chunk().await {}
                    return Err(AppError::TooLarge(format!(
                        "{name}: larger than the upload limit of {} MiB",
                        state.max_upload / (1024 * 1024)
                    )));
                }
                file.write_all(&chunk)
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?;
            }
            file.flush()
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
            if written == 0 {
                return Err(AppError::BadRequest(format!("{name}: the file is empty")));
            }
            Ok(())
        }
        .await;
        drop(file);
        if let Err(e) = result {
            // Nothing is left behind.
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
        let id = state.storage.create_media(&name, now_us())?;
        tracing::info!(user = %user.name, media = id, %name, bytes = written, "upload received");
        let job = tokio::spawn(transcode(state.clone(), id, name, temp));
        let status = if q.wait {
            let _ = job.await;
            StatusCode::CREATED
        } else {
            StatusCode::ACCEPTED
        };
        let record = state
            .storage
            .media(id)?
            .ok_or_else(|| AppError::NotFound(format!("media {id}")))?;
        return Ok((status, Json(record)));
    }
    Err(AppError::BadRequest("upload: no `file` field".into()))
}

/// Adds a local file to the library (the demo's clip); waits for the transcode. The file
/// itself is left in place.
pub async fn import(state: &AppState, name: &str, file: &Path) -> anyhow::Result<MediaRecord> {
    let incoming = state.media_dir.join("incoming");
    tokio::fs::create_dir_all(&incoming).await?;
    let temp = incoming.join(format!("{}.upload", crate::auth::random_secret(12)));
    tokio::fs::copy(file, &temp).await?;
    let id = state.storage.create_media(name, now_us())?;
    transcode(state.clone(), id, name.to_owned(), temp).await;
    state
        .storage
        .media(id)?
        .ok_or_else(|| anyhow::anyhow!("media {id} vanished"))
}

async fn transcode(state: AppState, id: u64, name: String, upload: PathBuf) {
    // A few at once (each takes a core); the others wait their turn, still `pending`.
    let _slot = state.edge.transcodes.acquire().await;
    let dir = state.media_dir.clone();
    let out = dir.join("incoming").join(format!("{id}.opus"));
    let storage = state.storage.clone();
    let job = {
        let (upload, out) = (upload.clone(), out.clone());
        tokio::task::spawn_blocking(move || {
            let opts = TranscodeOptions {
                max_duration: Duration::from_secs(2 * 3600),
                ..TranscodeOptions::default()
            };
            let report = transcode_file(&upload, &out, &opts, &mut |p| {
                if let Some(f) = p.fraction() {
                    let _ = storage.media_progress(id, f);
                }
            })?;
            let hash = hash_file(&out)?;
            let target = media_file(&dir, &hash);
            std::fs::rename(&out, &target)?;
            anyhow::Ok((report, hash))
        })
    };
    let result = job.await;
    let _ = tokio::fs::remove_file(&upload).await;
    match result {
        Ok(Ok((report, hash))) => {
            let size = tokio::fs::metadata(media_file(&state.media_dir, &hash))
                .await
                .map_or(0, |m| m.len());
            let _ = state.storage.media_ready(
                id,
                &hash.to_string(),
                size,
                report.duration.as_millis() as u64,
                report.gain.db,
            );
            tracing::info!(media = id, %hash, "transcoded");
        }
        Ok(Err(e)) => {
            let _ = tokio::fs::remove_file(&out).await;
            // Name the file as the operator knows it, not our temporary path.
            let reason = match e.downcast_ref::<dalaba_audio::MediaError>() {
                Some(m) => format!("{name}: {}", m.kind),
                None => format!("{name}: {e}"),
            };
            tracing::warn!(media = id, "transcoding failed: {reason}");
            let _ = state.storage.media_failed(id, &reason);
        }
        Err(e) => {
            let _ = state
                .storage
                .media_failed(id, &format!("{name}: transcoder crashed: {e}"));
        }
    }
}

fn hash_file(path: &Path) -> std::io::Result<MediaHash> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(MediaHash::from_digest(hasher.finalize().into()))
}

/// `GET /api/media` (a village head sees the approved items only)
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<MediaRecord>>, AppError> {
    user.require(Action::View)?;
    let all = state.storage.media_list()?;
    Ok(Json(if user.role == Role::VillageHead {
        all.into_iter().filter(|m| m.approved).collect()
    } else {
        all
    }))
}

/// `GET /api/media/{id}`
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<MediaRecord>, AppError> {
    user.require(Action::View)?;
    Ok(Json(
        state
            .storage
            .media(id)?
            .filter(|m| m.approved || user.role != Role::VillageHead)
            .ok_or_else(|| AppError::NotFound(format!("media {id}")))?,
    ))
}

/// Body of `POST /api/media/{id}/approval`.
#[derive(Debug, serde::Deserialize)]
pub struct Approval {
    /// Whether village heads may play it.
    pub approved: bool,
}

/// `POST /api/media/{id}/approval`: lets village heads play an item (or stops them).
pub async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    UrlPath(id): UrlPath<u64>,
    Json(req): Json<Approval>,
) -> Result<Json<MediaRecord>, AppError> {
    user.require(Action::ManageMedia)?;
    if !state.storage.set_media_approved(id, req.approved)? {
        return Err(AppError::NotFound(format!("media {id}")));
    }
    tracing::info!(user = %user.name, media = id, approved = req.approved, "media approval");
    Ok(Json(state.storage.media(id)?.ok_or_else(|| {
        AppError::NotFound(format!("media {id}"))
    })?))
}

/// `GET /media/{hash}`: the Ogg Opus file, with range requests. Addressed by its
/// SHA-256, which agents verify after download.
pub async fn download(
    State(state): State<AppState>,
    UrlPath(hash): UrlPath<String>,
    request: axum::extract::Request,
) -> Result<axum::response::Response, AppError> {
    let hash: MediaHash = hash
        .parse()
        .map_err(|e| AppError::BadRequest(format!("media hash: {e}")))?;
    let path = media_file(&state.media_dir, &hash);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(AppError::NotFound(format!("media {hash}")));
    }
    let service = tower_http::services::ServeFile::new(&path);
    let response = service
        .oneshot(request)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(response.into_response())
}
