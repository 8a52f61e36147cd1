//! The media library: items, transcoding progress, approval for village heads.

use rusqlite::params;

use super::{SqliteStorage, StorageError, to_u64};

/// A library item's state.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Being transcoded (or waiting for a transcoding slot).
    Transcoding,
    /// Playable.
    Ready,
    /// Could not be transcoded; `error` says why.
    Failed,
}

impl MediaState {
    /// Its stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transcoding => "transcoding",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "transcoding" => Some(Self::Transcoding),
            "ready" => Some(Self::Ready),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for MediaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::ToSql for MediaState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for MediaState {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        Self::parse(text).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown MediaState: {text:?}").into())
        })
    }
}

/// A media library item.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct MediaRecord {
    /// Its id.
    pub id: u64,
    /// The uploaded file's name.
    pub name: String,
    /// Where it is in transcoding.
    pub state: MediaState,
    /// Transcoding progress, 0 to 1.
    pub progress: f64,
    /// Why it failed.
    pub error: Option<String>,
    /// SHA-256 of the Ogg Opus file, once ready.
    pub hash: Option<String>,
    /// Its size, bytes.
    pub size: Option<u64>,
    /// Its duration, ms.
    pub duration_ms: Option<u64>,
    /// The loudness gain applied, dB.
    pub gain_db: Option<f64>,
    /// When uploaded, µs.
    pub created_at: u64,
    /// Approved by an operator for village heads to play.
    pub approved: bool,
}

impl MediaRecord {
    /// How a command names this item for agents (file, size, length, where to fetch it),
    /// once it is ready; `None` before.
    pub fn media_ref(&self) -> Result<Option<dalaba_protocol::command::MediaRef>, StorageError> {
        let (Some(hash), Some(size), Some(duration_ms)) = (&self.hash, self.size, self.duration_ms)
        else {
            return Ok(None);
        };
        let hash: dalaba_protocol::MediaHash = hash.parse().map_err(|_| StorageError::Corrupt {
            what: "media hash",
            value: hash.clone(),
        })?;
        Ok(Some(dalaba_protocol::command::MediaRef {
            hash,
            size,
            duration_ms,
            url: format!("/media/{hash}"),
        }))
    }
}

impl SqliteStorage {
    fn query_media(
        &self,
        clause: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<MediaRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT id, name, state, progress, error, hash, size, duration_ms, gain_db, created_at, approved FROM media {clause}"
        ))?;
        let rows = stmt.query_map(params, |r| {
            Ok(MediaRecord {
                id: r.get::<_, i64>(0)?.max(0) as u64,
                name: r.get(1)?,
                state: r.get(2)?,
                progress: r.get(3)?,
                error: r.get(4)?,
                hash: r.get(5)?,
                size: to_u64(r.get(6)?),
                duration_ms: to_u64(r.get(7)?),
                gain_db: r.get(8)?,
                created_at: to_u64(r.get(9)?).unwrap_or(0),
                approved: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The media library.
pub trait MediaStore {
    /// Adds a media item being transcoded; returns its id.
    fn create_media(&self, name: &str, now: u64) -> Result<u64, StorageError>;

    /// Transcoding progress, 0 to 1.
    fn media_progress(&self, id: u64, progress: f64) -> Result<(), StorageError>;

    /// Transcoding finished.
    fn media_ready(
        &self,
        id: u64,
        hash: &str,
        size: u64,
        duration_ms: u64,
        gain_db: f64,
    ) -> Result<(), StorageError>;

    /// Transcoding failed; `error` says why, for the operator.
    fn media_failed(&self, id: u64, error: &str) -> Result<(), StorageError>;

    /// One media item.
    fn media(&self, id: u64) -> Result<Option<MediaRecord>, StorageError>;

    /// The library, newest first.
    fn media_list(&self) -> Result<Vec<MediaRecord>, StorageError>;

    /// Approves (or withdraws approval of) a media item for village heads.
    fn set_media_approved(&self, id: u64, approved: bool) -> Result<bool, StorageError>;
}

impl MediaStore for SqliteStorage {
    fn create_media(&self, name: &str, now: u64) -> Result<u64, StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO media (name, state, created_at) VALUES (?1, 'transcoding', ?2)",
            params![name, now as i64],
        )?;
        Ok(conn.last_insert_rowid().max(0) as u64)
    }

    fn media_progress(&self, id: u64, progress: f64) -> Result<(), StorageError> {
        self.conn().execute(
            "UPDATE media SET progress = ?2 WHERE id = ?1",
            params![id as i64, progress],
        )?;
        Ok(())
    }

    fn media_ready(
        &self,
        id: u64,
        hash: &str,
        size: u64,
        duration_ms: u64,
        gain_db: f64,
    ) -> Result<(), StorageError> {
        self.conn().execute(
            "UPDATE media SET state = 'ready', progress = 1, hash = ?2, size = ?3, duration_ms = ?4, gain_db = ?5 WHERE id = ?1",
            params![id as i64, hash, size as i64, duration_ms as i64, gain_db],
        )?;
        Ok(())
    }

    fn media_failed(&self, id: u64, error: &str) -> Result<(), StorageError> {
        self.conn().execute(
            "UPDATE media SET state = 'failed', error = ?2 WHERE id = ?1",
            params![id as i64, error],
        )?;
        Ok(())
    }

    fn media(&self, id: u64) -> Result<Option<MediaRecord>, StorageError> {
        Ok(self.query_media("WHERE id = ?1", [id as i64])?.pop())
    }

    fn media_list(&self) -> Result<Vec<MediaRecord>, StorageError> {
        self.query_media("ORDER BY id DESC", [])
    }

    fn set_media_approved(&self, id: u64, approved: bool) -> Result<bool, StorageError> {
        Ok(self.conn().execute(
            "UPDATE media SET approved = ?2 WHERE id = ?1",
            params![id as i64, approved],
        )? == 1)
    }
}
