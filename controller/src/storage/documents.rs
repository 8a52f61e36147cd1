//! JSON documents by kind (playlists, schedules, alerts), schedule runs, and the
//! key-value table.

use rusqlite::{OptionalExtension, params};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{SqliteStorage, Storage, StorageError};

/// A stored JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doc {
    /// Its id (unique across kinds).
    pub id: u64,
    /// The document.
    pub json: String,
    /// Last change, µs.
    pub updated_at: u64,
}

/// What became of one start of a schedule.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Claimed, being planned now.
    Planning,
    /// Sent to its speakers.
    Planned,
    /// The controller was down past its end.
    Missed,
    /// Every speaker was in quiet hours.
    Quiet,
    /// Could not be planned; `detail` says why.
    Failed,
}

impl RunState {
    /// Its stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planning => "planning",
            Self::Planned => "planned",
            Self::Missed => "missed",
            Self::Quiet => "quiet",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "planning" => Some(Self::Planning),
            "planned" => Some(Self::Planned),
            "missed" => Some(Self::Missed),
            "quiet" => Some(Self::Quiet),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::ToSql for RunState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for RunState {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        Self::parse(text).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown RunState: {text:?}").into())
        })
    }
}

/// One start of a schedule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunRecord {
    /// The schedule.
    pub schedule_id: u64,
    /// Its planned start, µs.
    pub fire_at: u64,
    /// What became of it.
    pub state: RunState,
    /// The broadcasts it made, one per playlist item.
    pub broadcasts: Vec<u64>,
    /// Why, for `missed`, `quiet` and `failed`; speakers left out for quiet hours.
    pub detail: Option<String>,
}

fn doc_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Doc> {
    Ok(Doc {
        id: r.get::<_, i64>(0)?.max(0) as u64,
        json: r.get(1)?,
        updated_at: r.get::<_, i64>(2)?.max(0) as u64,
    })
}

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        schedule_id: r.get::<_, i64>(0)?.max(0) as u64,
        fire_at: r.get::<_, i64>(1)?.max(0) as u64,
        state: r.get(2)?,
        broadcasts: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
        detail: r.get(4)?,
    })
}

/// JSON documents (playlists, schedules, alerts, settings), schedule runs and the key-value table.
pub trait DocumentStore {
    /// A value from the key-value table.
    fn meta(&self, key: &str) -> Result<Option<String>, StorageError>;

    /// Sets a value in the key-value table.
    fn set_meta(&self, key: &str, value: &str) -> Result<(), StorageError>;

    /// Stores a new document of `kind` (`playlist`, `schedule`, `alert`); its id.
    fn insert_doc(&self, kind: &str, json: &str, now: u64) -> Result<u64, StorageError>;

    /// Replaces document `id` of `kind`; false if there is none.
    fn update_doc(&self, kind: &str, id: u64, json: &str, now: u64) -> Result<bool, StorageError>;

    /// One document.
    fn doc(&self, kind: &str, id: u64) -> Result<Option<Doc>, StorageError>;

    /// Every document of `kind`, by id.
    fn docs(&self, kind: &str) -> Result<Vec<Doc>, StorageError>;

    /// Deletes document `id` of `kind`; false if there was none.
    fn delete_doc(&self, kind: &str, id: u64) -> Result<bool, StorageError>;

    /// Records a schedule run unless one exists for the same schedule and start time.
    /// True if this call recorded it: the caller owns the run (a run is played at most
    /// once, whatever restarts and races happen).
    fn claim_run(&self, run: &RunRecord) -> Result<bool, StorageError>;

    /// Updates a claimed run's state, broadcasts and detail.
    fn update_run(&self, run: &RunRecord) -> Result<(), StorageError>;

    /// Runs starting at or after `from` (µs), of one schedule or all, earliest first.
    fn runs(&self, schedule_id: Option<u64>, from: u64) -> Result<Vec<RunRecord>, StorageError>;

    /// Deletes one schedule's runs starting after `after` (µs); returns them.
    fn delete_runs_after(
        &self,
        schedule_id: u64,
        after: u64,
    ) -> Result<Vec<RunRecord>, StorageError>;
}

impl DocumentStore for SqliteStorage {
    fn meta(&self, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.conn().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
            [key, value],
        )?;
        Ok(())
    }

    fn insert_doc(&self, kind: &str, json: &str, now: u64) -> Result<u64, StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO docs (kind, json, updated_at) VALUES (?1, ?2, ?3)",
            params![kind, json, now as i64],
        )?;
        Ok(conn.last_insert_rowid().max(0) as u64)
    }

    fn update_doc(&self, kind: &str, id: u64, json: &str, now: u64) -> Result<bool, StorageError> {
        Ok(self.conn().execute(
            "UPDATE docs SET json = ?3, updated_at = ?4 WHERE kind = ?1 AND id = ?2",
            params![kind, id as i64, json, now as i64],
        )? == 1)
    }

    fn doc(&self, kind: &str, id: u64) -> Result<Option<Doc>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, json, updated_at FROM docs WHERE kind = ?1 AND id = ?2",
                params![kind, id as i64],
                doc_row,
            )
            .optional()?)
    }

    fn docs(&self, kind: &str) -> Result<Vec<Doc>, StorageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id, json, updated_at FROM docs WHERE kind = ?1 ORDER BY id")?;
        let rows = stmt.query_map([kind], doc_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_doc(&self, kind: &str, id: u64) -> Result<bool, StorageError> {
        Ok(self.conn().execute(
            "DELETE FROM docs WHERE kind = ?1 AND id = ?2",
            params![kind, id as i64],
        )? == 1)
    }

    fn claim_run(&self, run: &RunRecord) -> Result<bool, StorageError> {
        Ok(self.conn().execute(
            "INSERT OR IGNORE INTO schedule_runs (schedule_id, fire_at, state, broadcasts, detail)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                run.schedule_id as i64,
                run.fire_at as i64,
                run.state,
                serde_json::to_string(&run.broadcasts).unwrap_or_default(),
                run.detail
            ],
        )? == 1)
    }

    fn update_run(&self, run: &RunRecord) -> Result<(), StorageError> {
        self.conn().execute(
            "UPDATE schedule_runs SET state = ?3, broadcasts = ?4, detail = ?5
             WHERE schedule_id = ?1 AND fire_at = ?2",
            params![
                run.schedule_id as i64,
                run.fire_at as i64,
                run.state,
                serde_json::to_string(&run.broadcasts).unwrap_or_default(),
                run.detail
            ],
        )?;
        Ok(())
    }

    fn runs(&self, schedule_id: Option<u64>, from: u64) -> Result<Vec<RunRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT schedule_id, fire_at, state, broadcasts, detail FROM schedule_runs
             WHERE fire_at >= ?1 AND (?2 IS NULL OR schedule_id = ?2) ORDER BY fire_at, schedule_id",
        )?;
        let rows = stmt.query_map(params![from as i64, schedule_id.map(|s| s as i64)], run_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_runs_after(
        &self,
        schedule_id: u64,
        after: u64,
    ) -> Result<Vec<RunRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "DELETE FROM schedule_runs WHERE schedule_id = ?1 AND fire_at > ?2
             RETURNING schedule_id, fire_at, state, broadcasts, detail",
        )?;
        let rows = stmt.query_map(params![schedule_id as i64, after as i64], run_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A kind of JSON document: a type stored under its kind name. Read and written only
/// through the typed methods on `dyn Storage` ([`Storage::load`] and the rest), so no
/// caller parses a document by hand.
pub trait Document: Serialize + DeserializeOwned {
    /// The kind it is stored under (`playlist`, `schedule`, `alert`).
    const KIND: &'static str;
}

/// A document read back: its id, itself, and when it last changed (µs).
#[derive(Clone, Debug, PartialEq)]
pub struct Stored<D> {
    /// Its id (unique across kinds).
    pub id: u64,
    /// The document.
    pub doc: D,
    /// Last change, µs.
    pub updated_at: u64,
}

/// A setting: one JSON value in the key-value table, its `Default` until it is set.
pub trait Setting: Serialize + DeserializeOwned + Default {
    /// Its key.
    const KEY: &'static str;
}

fn decode<T: DeserializeOwned>(what: &'static str, json: &str) -> Result<T, StorageError> {
    serde_json::from_str(json).map_err(|e| StorageError::Corrupt {
        what,
        value: format!("{e}: {json}"),
    })
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| StorageError::Corrupt {
        what,
        value: e.to_string(),
    })
}

impl dyn Storage {
    /// Document `id` of kind `D`, if there is one.
    pub fn load<D: Document>(&self, id: u64) -> Result<Option<Stored<D>>, StorageError> {
        self.doc(D::KIND, id)?
            .map(|d| {
                Ok(Stored {
                    id: d.id,
                    doc: decode(D::KIND, &d.json)?,
                    updated_at: d.updated_at,
                })
            })
            .transpose()
    }

    /// Every document of kind `D`, oldest first.
    pub fn load_all<D: Document>(&self) -> Result<Vec<Stored<D>>, StorageError> {
        self.docs(D::KIND)?
            .into_iter()
            .map(|d| {
                Ok(Stored {
                    id: d.id,
                    doc: decode(D::KIND, &d.json)?,
                    updated_at: d.updated_at,
                })
            })
            .collect()
    }

    /// Stores a new document; returns its id.
    pub fn insert<D: Document>(&self, doc: &D, now: u64) -> Result<u64, StorageError> {
        self.insert_doc(D::KIND, &encode(D::KIND, doc)?, now)
    }

    /// Replaces document `id`; false if there is none.
    pub fn save<D: Document>(&self, id: u64, doc: &D, now: u64) -> Result<bool, StorageError> {
        self.update_doc(D::KIND, id, &encode(D::KIND, doc)?, now)
    }

    /// Deletes document `id` of kind `D`; false if there is none.
    pub fn remove<D: Document>(&self, id: u64) -> Result<bool, StorageError> {
        self.delete_doc(D::KIND, id)
    }

    /// Setting `S`, or its default if it was never set.
    pub fn setting<S: Setting>(&self) -> Result<S, StorageError> {
        match self.meta(S::KEY)? {
            Some(json) => decode(S::KEY, &json),
            None => Ok(S::default()),
        }
    }

    /// Sets setting `S`.
    pub fn set_setting<S: Setting>(&self, value: &S) -> Result<(), StorageError> {
        self.set_meta(S::KEY, &encode(S::KEY, value)?)
    }
}
