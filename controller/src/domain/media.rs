//! The media library: uploads (size limit enforced while receiving), background
//! transcoding with the audio crate, content-addressed storage, and the files agents
//! fetch. The HTTP face is `http::media`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dalaba_audio::transcode::{TranscodeOptions, transcode_file};
use dalaba_protocol::MediaHash;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::access::{Action, Role};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::{MediaRecord, MediaState};

/// Largest upload accepted, bytes (200 MiB: an hour of MP3 at 320 kbps is 144 MB).
pub const MAX_UPLOAD: u64 = 200 * 1024 * 1024;

/// Where media lives inside the data directory.
pub fn media_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("media")
}

pub(crate) fn media_file(dir: &Path, hash: &MediaHash) -> PathBuf {
    dir.join(format!("{hash}.opus"))
}

/// An upload being received: written to a temporary file under `incoming/`, refused as
/// soon as it passes the limit, and transcoded in the background once complete.
#[derive(Debug)]
pub struct Incoming {
    name: String,
    temp: PathBuf,
    file: tokio::fs::File,
    written: u64,
    limit: u64,
}

/// A new temporary file under the media directory's `incoming/`.
async fn temp_file(state: &AppState) -> std::io::Result<PathBuf> {
    let incoming = state.media_dir.join("incoming");
    tokio::fs::create_dir_all(&incoming).await?;
    Ok(incoming.join(format!("{}.upload", crate::auth::random_secret(12))))
}

impl Incoming {
    /// Starts receiving a file called `file_name` (control characters dropped, at most
    /// 200 characters; `upload` if it has none).
    pub async fn begin(
        state: &AppState,
        user: &AuthUser,
        file_name: Option<&str>,
    ) -> Result<Self, AppError> {
        user.require(Action::ManageMedia)?;
        let name = file_name
            .map(|n| {
                n.chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "upload".into());
        let temp = temp_file(state)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        Ok(Self {
            name,
            temp,
            file,
            written: 0,
            limit: state.max_upload,
        })
    }

    /// Appends `chunk`; [`AppError::TooLarge`] once the upload passes the limit (stop
    /// storing then, and [`Incoming::discard`]).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), AppError> {
        self.written += chunk.len() as u64;
        if self.written > self.limit {
            return Err(AppError::TooLarge(format!(
                "{}: larger than the upload limit of {} MiB",
                self.name,
                self.limit / (1024 * 1024)
            )));
        }
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| AppError::Internal(e.into()))
    }

    /// Drops what was received; nothing is left behind.
    pub async fn discard(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.temp).await;
    }

    /// The complete file becomes a library item, transcoded in the background; with
    /// `wait`, only once transcoding has finished. Whether it has, and the item.
    pub async fn finish(
        mut self,
        state: &AppState,
        user: &AuthUser,
        wait: bool,
    ) -> Result<(bool, MediaRecord), AppError> {
        if let Err(e) = self.file.flush().await {
            self.discard().await;
            return Err(AppError::Internal(e.into()));
        }
        if self.written == 0 {
            let e = AppError::BadRequest(format!("{}: the file is empty", self.name));
            self.discard().await;
            return Err(e);
        }
        let Self {
            name,
            temp,
            file,
            written,
            ..
        } = self;
        drop(file);
        let id = match state.storage.create_media(&name, state.clock.now_us()) {
            Ok(id) => id,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e.into());
            }
        };
        tracing::info!(user = %user.name, media = id, %name, bytes = written, "upload received");
        let job = tokio::spawn(transcode(state.clone(), id, name, temp));
        if wait {
            let _ = job.await;
        }
        let record = state
            .storage
            .media(id)?
            .ok_or_else(|| AppError::NotFound(format!("media {id}")))?;
        Ok((wait, record))
    }
}

/// A library item the controller makes itself (speech, an alert's audio, a CAP message's
/// audio resource), from `bytes` in any format the pipeline reads: transcoded now, its id
/// once it is playable.
pub async fn make_from_bytes(state: &AppState, name: &str, bytes: &[u8]) -> Result<u64, AppError> {
    let temp = temp_file(state)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    tokio::fs::write(&temp, bytes)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    made(state, name, temp).await
}

/// As [`make_from_bytes`], from mono samples at 48 kHz.
pub async fn make_from_samples(
    state: &AppState,
    name: &str,
    samples: Vec<f32>,
) -> Result<u64, AppError> {
    let temp = temp_file(state)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let wav = temp.clone();
    tokio::task::spawn_blocking(move || dalaba_audio::transcode::write_wav(&wav, &samples))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(|e| AppError::Internal(e.into()))?;
    made(state, name, temp).await
}

/// Transcodes `temp` (removed after) into a new item called `name`; its id if playable.
async fn made(state: &AppState, name: &str, temp: PathBuf) -> Result<u64, AppError> {
    let id = state.storage.create_media(name, state.clock.now_us())?;
    transcode(state.clone(), id, name.to_owned(), temp).await;
    let record = state
        .storage
        .media(id)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("media {id} vanished")))?;
    if record.state != MediaState::Ready {
        return Err(AppError::Internal(anyhow::anyhow!(
            "{}",
            record
                .error
                .unwrap_or_else(|| format!("{name}: not playable"))
        )));
    }
    Ok(id)
}

/// The item remembered under meta `key` (see [`remember`]), if it is still playable.
pub fn remembered(state: &AppState, key: &str) -> Result<Option<u64>, AppError> {
    let Some(id) = state.storage.meta(key)?.and_then(|v| v.parse::<u64>().ok()) else {
        return Ok(None);
    };
    Ok(state
        .storage
        .media(id)?
        .filter(|m| m.state == MediaState::Ready && m.hash.is_some())
        .map(|m| m.id))
}

/// Remembers item `id` under meta `key`: what was made from the same inputs, found again.
pub fn remember(state: &AppState, key: &str, id: u64) -> Result<(), AppError> {
    Ok(state.storage.set_meta(key, &id.to_string())?)
}

/// A scratch file in the media directory's `incoming/` (removed by whoever made it).
pub(crate) async fn scratch_file(state: &AppState) -> Result<PathBuf, AppError> {
    temp_file(state)
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

/// Adds a local file to the library (the demo's clip); waits for the transcode. The file
/// itself is left in place.
pub async fn import(state: &AppState, name: &str, file: &Path) -> anyhow::Result<MediaRecord> {
    let temp = temp_file(state).await?;
    tokio::fs::copy(file, &temp).await?;
    let id = state.storage.create_media(name, state.clock.now_us())?;
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

/// The library (a village head sees the approved items only).
pub fn list(state: &AppState, user: &AuthUser) -> Result<Vec<MediaRecord>, AppError> {
    user.require(Action::View)?;
    let all = state.storage.media_list()?;
    Ok(if user.role == Role::VillageHead {
        all.into_iter().filter(|m| m.approved).collect()
    } else {
        all
    })
}

/// Library item `id` (a village head sees approved items only).
pub fn get(state: &AppState, user: &AuthUser, id: u64) -> Result<MediaRecord, AppError> {
    user.require(Action::View)?;
    state
        .storage
        .media(id)?
        .filter(|m| m.approved || user.role != Role::VillageHead)
        .ok_or_else(|| AppError::NotFound(format!("media {id}")))
}

/// Body of `POST /api/media/{id}/approval`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct Approval {
    /// Whether village heads may play it.
    pub approved: bool,
}

/// Lets village heads play item `id` (or stops them).
pub fn approve(
    state: &AppState,
    user: &AuthUser,
    id: u64,
    req: Approval,
) -> Result<MediaRecord, AppError> {
    user.require(Action::ManageMedia)?;
    if !state.storage.set_media_approved(id, req.approved)? {
        return Err(AppError::NotFound(format!("media {id}")));
    }
    tracing::info!(user = %user.name, media = id, approved = req.approved, "media approval");
    state
        .storage
        .media(id)?
        .ok_or_else(|| AppError::NotFound(format!("media {id}")))
}

/// The Ogg Opus file of the item whose SHA-256 is `hash` (agents verify it after download).
pub async fn file_of(state: &AppState, hash: &str) -> Result<PathBuf, AppError> {
    let hash: MediaHash = hash
        .parse()
        .map_err(|e| AppError::BadRequest(format!("media hash: {e}")))?;
    let path = media_file(&state.media_dir, &hash);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(AppError::NotFound(format!("media {hash}")));
    }
    Ok(path)
}
