//! Controller state behind a trait: SQLite in the data directory by default; a PostgreSQL
//! backend for multi-node deployments implements the same trait.
//!
//! Queries are short; the SQLite connection sits behind a mutex and is used from async
//! code directly (each call is microseconds, far below a scheduler tick).

use std::path::Path;
use std::sync::Mutex;

use dalaba_protocol::keys::PublicKey;
use dalaba_protocol::{AgentId, AreaCode};
use rusqlite::{Connection, OptionalExtension, params};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value no longer parses (hand-edited or corrupted database).
    #[error("database holds an invalid {what}: {value:?}")]
    Corrupt {
        /// What it is.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// A unique name or id is taken.
    #[error("{0} already exists")]
    Conflict(String),
}

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// `admin`, `operator`, `village_head` or `viewer`.
    pub role: String,
    /// Area-code prefixes the user may reach (empty for an admin: everything).
    pub scopes: Vec<String>,
    /// A disabled user cannot log in; their sessions are ended.
    pub disabled: bool,
}

/// One audit record: who did what, to what, when, with what result.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    /// Its id (increasing).
    pub id: u64,
    /// When, µs.
    pub at: u64,
    /// The user's name (or the name tried, for a failed login; `-` for none).
    pub user: String,
    /// What: `METHOD /path` of the request, or a named event.
    pub action: String,
    /// What it was aimed at (target, ids), if known.
    pub target: Option<String>,
    /// HTTP status or outcome.
    pub result: String,
    /// Where from (peer address), if known.
    pub source: Option<String>,
}

/// An agent as the controller knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRecord {
    /// Its id.
    pub id: AgentId,
    /// Display name.
    pub name: String,
    /// Where it is.
    pub area_code: AreaCode,
    /// Named groups it belongs to.
    pub groups: Vec<String>,
    /// Its identity key, once enrolled.
    pub public_key: Option<PublicKey>,
    /// SHA-256 of its enrolment token, until used.
    pub token_hash: Option<String>,
    /// When the token stops working, µs.
    pub token_expires_at: Option<u64>,
    /// The last command sequence number used for it.
    pub last_seq: u64,
    /// Retired agents cannot log in.
    pub retired: bool,
    /// Last message from it, µs.
    pub last_seen: Option<u64>,
    /// Its last status report (JSON), for the console.
    pub status_json: Option<String>,
}

impl AgentRecord {
    /// A new agent: not enrolled, no token, never heard from.
    pub fn new(id: AgentId, name: String, area_code: AreaCode, groups: Vec<String>) -> Self {
        Self {
            id,
            name,
            area_code,
            groups,
            public_key: None,
            token_hash: None,
            token_expires_at: None,
            last_seq: 0,
            retired: false,
            last_seen: None,
            status_json: None,
        }
    }
}

/// An agent heard from: when, and its latest status report (JSON) if one came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The agent.
    pub agent: AgentId,
    /// When it was last heard from, µs.
    pub at: u64,
    /// Its latest status report.
    pub status_json: Option<String>,
}

/// Everything the controller persists.
pub trait Storage: Send + Sync {
    /// A value from the key-value table.
    fn meta(&self, key: &str) -> Result<Option<String>, StorageError>;
    /// Sets a value in the key-value table.
    fn set_meta(&self, key: &str, value: &str) -> Result<(), StorageError>;

    /// Number of user accounts.
    fn user_count(&self) -> Result<u64, StorageError>;
    /// Creates a user.
    fn create_user(&self, name: &str, password_hash: &str, role: &str)
    -> Result<i64, StorageError>;
    /// A user by name.
    fn user_by_name(&self, name: &str) -> Result<Option<User>, StorageError>;
    /// A user by id.
    fn user_by_id(&self, id: i64) -> Result<Option<User>, StorageError>;
    /// Every user, by id.
    fn users(&self) -> Result<Vec<User>, StorageError>;
    /// Changes a user's role, scopes, disabled flag or password hash (each if given);
    /// false if there is no such user. Disabling ends the user's sessions.
    fn update_user(
        &self,
        id: i64,
        role: Option<&str>,
        scopes: Option<&[String]>,
        disabled: Option<bool>,
        password_hash: Option<&str>,
    ) -> Result<bool, StorageError>;
    /// Appends an audit record (there is no way to change or delete one); its id.
    fn audit(&self, record: &AuditRecord) -> Result<u64, StorageError>;
    /// Audit records with id below `before` (if given), newest first, at most `limit`.
    fn audit_log(
        &self,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<AuditRecord>, StorageError>;
    /// Stores a session (by the token's hash).
    fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        expires_at: u64,
    ) -> Result<(), StorageError>;
    /// The user of a live session.
    fn session_user(&self, token_hash: &str, now: u64) -> Result<Option<i64>, StorageError>;
    /// Ends a session.
    fn delete_session(&self, token_hash: &str) -> Result<(), StorageError>;

    /// Creates an agent.
    fn create_agent(&self, agent: &AgentRecord) -> Result<(), StorageError>;
    /// One agent.
    fn agent(&self, id: &AgentId) -> Result<Option<AgentRecord>, StorageError>;
    /// Every agent, by id.
    fn agents(&self) -> Result<Vec<AgentRecord>, StorageError>;
    /// The agent whose unused, unexpired enrolment token hashes to `token_hash`.
    fn agent_by_token(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<AgentRecord>, StorageError>;
    /// Registers an agent's key and consumes its token.
    fn enrol_agent(&self, id: &AgentId, key: &PublicKey) -> Result<(), StorageError>;
    /// Records when agents were last heard from, with their latest status where given, in
    /// one transaction (see `liveness`: one write a second, however many agents).
    fn touch_agents(&self, seen: &[Seen]) -> Result<(), StorageError>;
    /// Reserves `count` command sequence numbers for an agent, all above `floor` and above
    /// every number reserved before; returns the last of them (see `sequence`).
    fn reserve_seqs(&self, id: &AgentId, floor: u64, count: u64) -> Result<u64, StorageError>;
    /// Changes an agent's name, area code and groups.
    fn update_agent(
        &self,
        id: &AgentId,
        name: &str,
        area_code: &AreaCode,
        groups: &[String],
    ) -> Result<bool, StorageError>;
    /// Retires (revokes) an agent.
    fn retire_agent(&self, id: &AgentId) -> Result<bool, StorageError>;

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

    /// Records a broadcast; returns its id. `created_by` is `None` for a machine source
    /// (a CAP feed's watched directory).
    fn create_broadcast(
        &self,
        created_by: Option<i64>,
        created_at: u64,
        spec_json: &str,
    ) -> Result<u64, StorageError>;
    /// The stored description of a broadcast.
    fn broadcast_spec(&self, id: u64) -> Result<Option<String>, StorageError>;
    /// Records an agent's report on a broadcast, unless its receipt is final already
    /// (`ReceiptRecord::followed_by`); whether it was recorded.
    fn record_receipt(&self, receipt: &ReceiptRecord) -> Result<bool, StorageError>;
    /// Every receipt of a broadcast, by agent id.
    fn receipts(&self, broadcast_id: u64) -> Result<Vec<ReceiptRecord>, StorageError>;
    /// One agent's receipt for a broadcast.
    fn receipt(
        &self,
        broadcast_id: u64,
        agent_id: &str,
    ) -> Result<Option<ReceiptRecord>, StorageError>;
    /// Replaces the stored description of a broadcast.
    fn set_broadcast_spec(&self, id: u64, spec_json: &str) -> Result<(), StorageError>;
    /// Broadcasts, newest first: at most `limit`, with ids below `before` if given.
    fn broadcasts(
        &self,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<BroadcastRecord>, StorageError>;
    /// One broadcast.
    fn broadcast(&self, id: u64) -> Result<Option<BroadcastRecord>, StorageError>;
    /// Marks a broadcast stopped (cancelled) at `at`.
    fn stop_broadcast(&self, id: u64, at: u64) -> Result<(), StorageError>;

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

/// One start of a schedule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunRecord {
    /// The schedule.
    pub schedule_id: u64,
    /// Its planned start, µs.
    pub fire_at: u64,
    /// `planned` (sent to its speakers), `missed` (the controller was down past its end),
    /// `quiet` (every speaker was in quiet hours), `failed` (could not be planned).
    pub state: String,
    /// The broadcasts it made, one per playlist item.
    pub broadcasts: Vec<u64>,
    /// Why, for `missed`, `quiet` and `failed`; speakers left out for quiet hours.
    pub detail: Option<String>,
}

/// A broadcast as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastRecord {
    /// Its id.
    pub id: u64,
    /// Who made it (a schedule's broadcasts: the schedule's author).
    pub created_by: Option<i64>,
    /// When, µs.
    pub created_at: u64,
    /// What it is (JSON).
    pub spec_json: String,
    /// When it was stopped, µs.
    pub stopped_at: Option<u64>,
}

/// A media library item.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MediaRecord {
    /// Its id.
    pub id: u64,
    /// The uploaded file's name.
    pub name: String,
    /// `transcoding`, `ready` or `failed`.
    pub state: String,
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

pub use crate::receipt::{ReceiptRecord, ReceiptStatus};

const MIGRATIONS: &[&str] = &[
    // 1: accounts, sessions, agents.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE users (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
        role TEXT NOT NULL, created_at INTEGER NOT NULL DEFAULT (unixepoch()));
     CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
        expires_at INTEGER NOT NULL);
     CREATE TABLE agents (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, area_code TEXT NOT NULL,
        public_key TEXT, token_hash TEXT UNIQUE, token_expires_at INTEGER,
        last_seq INTEGER NOT NULL DEFAULT 0, retired INTEGER NOT NULL DEFAULT 0,
        last_seen INTEGER, status_json TEXT);
     CREATE TABLE agent_groups (
        agent_id TEXT NOT NULL REFERENCES agents(id), name TEXT NOT NULL,
        PRIMARY KEY (agent_id, name));
     CREATE TABLE broadcasts (
        id INTEGER PRIMARY KEY, created_by INTEGER REFERENCES users(id),
        created_at INTEGER NOT NULL, spec_json TEXT NOT NULL, stopped_at INTEGER);
     CREATE TABLE receipts (
        broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id), agent_id TEXT NOT NULL,
        state TEXT NOT NULL, detail TEXT, at INTEGER NOT NULL,
        PRIMARY KEY (broadcast_id, agent_id));",
    // 2: media library.
    "CREATE TABLE media (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0, error TEXT, hash TEXT, size INTEGER,
        duration_ms INTEGER, gain_db REAL, created_at INTEGER NOT NULL);
     CREATE INDEX media_hash ON media(hash);",
    // 3: when each agent started playing.
    "ALTER TABLE receipts ADD COLUMN started_at INTEGER;",
    // 4: playlists, schedules and alerts (JSON documents), schedule runs.
    "CREATE TABLE docs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, json TEXT NOT NULL,
        updated_at INTEGER NOT NULL);
     CREATE INDEX docs_kind ON docs(kind, id);
     CREATE TABLE schedule_runs (
        schedule_id INTEGER NOT NULL, fire_at INTEGER NOT NULL, state TEXT NOT NULL,
        broadcasts TEXT NOT NULL DEFAULT '[]', detail TEXT,
        PRIMARY KEY (schedule_id, fire_at));
     CREATE INDEX schedule_runs_fire_at ON schedule_runs(fire_at);",
    // 5: user scopes and disabling; the audit log (append-only: the API has no way to
    // change it, and triggers refuse updates and deletes).
    "ALTER TABLE users ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
     ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE media ADD COLUMN approved INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, user TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT, result TEXT NOT NULL, source TEXT);
     CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
     CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    // 6: every playlist has an owner and a scope: those made before become the first
    // admin's, scoped everywhere (only an admin may change them).
    "UPDATE docs SET json = json_set(json, '$.owner',
        (SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1), '$.areas', json('[]'))
     WHERE kind = 'playlist' AND json_extract(json, '$.owner') IS NULL;",
    // 7: a resume is kept apart from the first start.
    "ALTER TABLE receipts ADD COLUMN resumed_at INTEGER;",
];

/// SQLite storage in one file.
pub struct SqliteStorage {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").finish_non_exhaustive()
    }
}

impl SqliteStorage {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions
        // roll back), so a poisoned lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn parse<T: std::str::FromStr>(what: &'static str, value: String) -> Result<T, StorageError> {
    value
        .parse()
        .map_err(|_| StorageError::Corrupt { what, value })
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.map(|v| v.max(0) as u64)
}

impl SqliteStorage {
    fn agent_row(
        &self,
        conn: &Connection,
        row: &rusqlite::Row<'_>,
    ) -> Result<AgentRecord, StorageError> {
        let id: AgentId = parse("agent id", row.get(0)?)?;
        let area: AreaCode = parse("area code", row.get(2)?)?;
        let key: Option<String> = row.get(3)?;
        let public_key = match key {
            Some(k) => Some(
                PublicKey::from_base64(&k).map_err(|_| StorageError::Corrupt {
                    what: "public key",
                    value: k,
                })?,
            ),
            None => None,
        };
        let mut stmt =
            conn.prepare_cached("SELECT name FROM agent_groups WHERE agent_id = ?1 ORDER BY name")?;
        let groups = stmt
            .query_map([id.as_str()], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(AgentRecord {
            id,
            name: row.get(1)?,
            area_code: area,
            groups,
            public_key,
            token_hash: row.get(4)?,
            token_expires_at: to_u64(row.get(5)?),
            last_seq: to_u64(row.get(6)?).unwrap_or(0),
            retired: row.get::<_, i64>(7)? != 0,
            last_seen: to_u64(row.get(8)?),
            status_json: row.get(9)?,
        })
    }

    fn query_agents(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<AgentRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(self.agent_row(&conn, row)?);
        }
        Ok(out)
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

const AGENT_COLUMNS: &str = "id, name, area_code, public_key, token_hash, token_expires_at, last_seq, retired, last_seen, status_json";

impl Storage for SqliteStorage {
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

    fn user_count(&self) -> Result<u64, StorageError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        role: &str,
    ) -> Result<i64, StorageError> {
        let conn = self.conn();
        match conn.execute(
            "INSERT INTO users (name, password_hash, role) VALUES (?1, ?2, ?3)",
            [name, password_hash, role],
        ) {
            Ok(_) => Ok(conn.last_insert_rowid()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StorageError::Conflict(format!("user {name:?}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"),
                [name],
                user_row,
            )
            .optional()?)
    }

    fn user_by_id(&self, id: i64) -> Result<Option<User>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_row,
            )
            .optional()?)
    }

    fn users(&self) -> Result<Vec<User>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?;
        let rows = stmt.query_map([], user_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn update_user(
        &self,
        id: i64,
        role: Option<&str>,
        scopes: Option<&[String]>,
        disabled: Option<bool>,
        password_hash: Option<&str>,
    ) -> Result<bool, StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let scopes = scopes.map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".into()));
        let n = tx.execute(
            "UPDATE users SET role = coalesce(?2, role), scopes = coalesce(?3, scopes),
                 disabled = coalesce(?4, disabled), password_hash = coalesce(?5, password_hash)
             WHERE id = ?1",
            params![id, role, scopes, disabled, password_hash],
        )?;
        if disabled == Some(true) || password_hash.is_some() {
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    fn audit(&self, r: &AuditRecord) -> Result<u64, StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO audit (at, user, action, target, result, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![r.at as i64, r.user, r.action, r.target, r.result, r.source],
        )?;
        Ok(conn.last_insert_rowid().max(0) as u64)
    }

    fn audit_log(
        &self,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at, user, action, target, result, source FROM audit
             WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![before.map_or(i64::MAX, |b| b as i64), limit as i64],
            |r| {
                Ok(AuditRecord {
                    id: r.get::<_, i64>(0)?.max(0) as u64,
                    at: r.get::<_, i64>(1)?.max(0) as u64,
                    user: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    result: r.get(5)?,
                    source: r.get(6)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        expires_at: u64,
    ) -> Result<(), StorageError> {
        self.conn().execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
            params![token_hash, user_id, expires_at as i64],
        )?;
        Ok(())
    }

    fn session_user(&self, token_hash: &str, now: u64) -> Result<Option<i64>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT user_id FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
                params![token_hash, now as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn delete_session(&self, token_hash: &str) -> Result<(), StorageError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    fn create_agent(&self, a: &AgentRecord) -> Result<(), StorageError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let inserted = tx.execute(
            "INSERT INTO agents (id, name, area_code, token_hash, token_expires_at, public_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                a.id.as_str(),
                a.name,
                a.area_code.as_str(),
                a.token_hash,
                a.token_expires_at.map(|t| t as i64),
                a.public_key.map(|k| k.to_base64())
            ],
        );
        match inserted {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(StorageError::Conflict(format!("agent {}", a.id)));
            }
            Err(e) => return Err(e.into()),
        }
        for g in &a.groups {
            tx.execute(
                "INSERT OR IGNORE INTO agent_groups (agent_id, name) VALUES (?1, ?2)",
                [a.id.as_str(), g],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn agent(&self, id: &AgentId) -> Result<Option<AgentRecord>, StorageError> {
        Ok(self
            .query_agents(
                &format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1"),
                [id.as_str()],
            )?
            .pop())
    }

    fn agents(&self) -> Result<Vec<AgentRecord>, StorageError> {
        self.query_agents(
            &format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id"),
            [],
        )
    }

    fn agent_by_token(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<AgentRecord>, StorageError> {
        Ok(self
            .query_agents(
                &format!(
                    "SELECT {AGENT_COLUMNS} FROM agents WHERE token_hash = ?1 AND token_expires_at > ?2 AND retired = 0"
                ),
                params![token_hash, now as i64],
            )?
            .pop())
    }

    fn enrol_agent(&self, id: &AgentId, key: &PublicKey) -> Result<(), StorageError> {
        self.conn().execute(
            "UPDATE agents SET public_key = ?2, token_hash = NULL, token_expires_at = NULL WHERE id = ?1",
            [id.as_str(), &key.to_base64()],
        )?;
        Ok(())
    }

    fn touch_agents(&self, seen: &[Seen]) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut seen_at = tx.prepare_cached(
                "UPDATE agents SET last_seen = max(coalesce(last_seen, 0), ?2) WHERE id = ?1",
            )?;
            let mut status =
                tx.prepare_cached("UPDATE agents SET status_json = ?2 WHERE id = ?1")?;
            for s in seen {
                seen_at.execute(params![s.agent.as_str(), s.at as i64])?;
                if let Some(json) = &s.status_json {
                    status.execute(params![s.agent.as_str(), json])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn reserve_seqs(&self, id: &AgentId, floor: u64, count: u64) -> Result<u64, StorageError> {
        let seq: i64 = self.conn().query_row(
            "UPDATE agents SET last_seq = max(last_seq, ?2) + ?3 WHERE id = ?1 RETURNING last_seq",
            params![id.as_str(), floor as i64, count as i64],
            |r| r.get(0),
        )?;
        Ok(seq.max(0) as u64)
    }

    fn update_agent(
        &self,
        id: &AgentId,
        name: &str,
        area_code: &AreaCode,
        groups: &[String],
    ) -> Result<bool, StorageError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let n = tx.execute(
            "UPDATE agents SET name = ?2, area_code = ?3 WHERE id = ?1",
            [id.as_str(), name, area_code.as_str()],
        )?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM agent_groups WHERE agent_id = ?1",
            [id.as_str()],
        )?;
        for g in groups {
            tx.execute(
                "INSERT OR IGNORE INTO agent_groups (agent_id, name) VALUES (?1, ?2)",
                [id.as_str(), g],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn retire_agent(&self, id: &AgentId) -> Result<bool, StorageError> {
        let n = self
            .conn()
            .execute("UPDATE agents SET retired = 1 WHERE id = ?1", [id.as_str()])?;
        Ok(n > 0)
    }

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

    fn set_media_approved(&self, id: u64, approved: bool) -> Result<bool, StorageError> {
        Ok(self.conn().execute(
            "UPDATE media SET approved = ?2 WHERE id = ?1",
            params![id as i64, approved],
        )? == 1)
    }

    fn media_list(&self) -> Result<Vec<MediaRecord>, StorageError> {
        self.query_media("ORDER BY id DESC", [])
    }

    fn create_broadcast(
        &self,
        created_by: Option<i64>,
        created_at: u64,
        spec_json: &str,
    ) -> Result<u64, StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO broadcasts (created_by, created_at, spec_json) VALUES (?1, ?2, ?3)",
            params![created_by, created_at as i64, spec_json],
        )?;
        Ok(conn.last_insert_rowid().max(0) as u64)
    }

    fn broadcast_spec(&self, id: u64) -> Result<Option<String>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT spec_json FROM broadcasts WHERE id = ?1",
                [id as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn record_receipt(&self, report: &ReceiptRecord) -> Result<bool, StorageError> {
        // Read and written under one lock: the rules of `ReceiptRecord::followed_by` hold
        // whatever reports race.
        let conn = self.conn();
        let record = match receipt_in(&conn, report.broadcast_id, &report.agent_id)? {
            None => ReceiptRecord::first(report),
            Some(old) => match old.followed_by(report) {
                Some(next) => next,
                None => return Ok(false),
            },
        };
        conn.execute(
            "INSERT INTO receipts (broadcast_id, agent_id, state, detail, at, started_at, resumed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(broadcast_id, agent_id) DO UPDATE SET state = ?3, detail = ?4, at = ?5,
                 started_at = ?6, resumed_at = ?7",
            params![
                record.broadcast_id as i64,
                record.agent_id,
                record.state.as_str(),
                record.detail,
                record.at as i64,
                record.started_at.map(|t| t as i64),
                record.resumed_at.map(|t| t as i64),
            ],
        )?;
        Ok(true)
    }

    fn set_broadcast_spec(&self, id: u64, spec_json: &str) -> Result<(), StorageError> {
        self.conn().execute(
            "UPDATE broadcasts SET spec_json = ?2 WHERE id = ?1",
            params![id as i64, spec_json],
        )?;
        Ok(())
    }

    fn broadcasts(
        &self,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<BroadcastRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, created_by, created_at, spec_json, stopped_at FROM broadcasts
             WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![before.map_or(i64::MAX, |b| b as i64), limit as i64],
            |r| {
                Ok(BroadcastRecord {
                    id: r.get::<_, i64>(0)?.max(0) as u64,
                    created_by: r.get(1)?,
                    created_at: r.get::<_, i64>(2)?.max(0) as u64,
                    spec_json: r.get(3)?,
                    stopped_at: to_u64(r.get(4)?),
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn broadcast(&self, id: u64) -> Result<Option<BroadcastRecord>, StorageError> {
        Ok(self
            .broadcasts(1, Some(id.saturating_add(1)))?
            .pop()
            .filter(|b| b.id == id))
    }

    fn stop_broadcast(&self, id: u64, at: u64) -> Result<(), StorageError> {
        self.conn().execute(
            "UPDATE broadcasts SET stopped_at = coalesce(stopped_at, ?2) WHERE id = ?1",
            params![id as i64, at as i64],
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

    fn receipts(&self, broadcast_id: u64) -> Result<Vec<ReceiptRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "{RECEIPT_COLUMNS} WHERE broadcast_id = ?1 ORDER BY agent_id"
        ))?;
        let rows = stmt.query_map([broadcast_id as i64], receipt_row)?;
        rows.map(|r| r?).collect()
    }

    fn receipt(
        &self,
        broadcast_id: u64,
        agent_id: &str,
    ) -> Result<Option<ReceiptRecord>, StorageError> {
        receipt_in(&self.conn(), broadcast_id, agent_id)
    }
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

const USER_COLUMNS: &str = "id, name, password_hash, role, scopes, disabled";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        password_hash: r.get(2)?,
        role: r.get(3)?,
        scopes: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
        disabled: r.get(5)?,
    })
}
const RECEIPT_COLUMNS: &str =
    "SELECT broadcast_id, agent_id, state, detail, at, started_at, resumed_at FROM receipts";

/// One agent's receipt for a broadcast, on a connection the caller holds.
fn receipt_in(
    conn: &Connection,
    broadcast_id: u64,
    agent_id: &str,
) -> Result<Option<ReceiptRecord>, StorageError> {
    conn.query_row(
        &format!("{RECEIPT_COLUMNS} WHERE broadcast_id = ?1 AND agent_id = ?2"),
        params![broadcast_id as i64, agent_id],
        receipt_row,
    )
    .optional()?
    .transpose()
}

/// A receipt row; an unknown state is a corrupt database, not a panic.
fn receipt_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ReceiptRecord, StorageError>> {
    let state: String = r.get(2)?;
    let Some(state) = ReceiptStatus::parse(&state) else {
        return Ok(Err(StorageError::Corrupt {
            what: "receipt state",
            value: state,
        }));
    };
    Ok(Ok(ReceiptRecord {
        broadcast_id: r.get::<_, i64>(0)?.max(0) as u64,
        agent_id: r.get(1)?,
        state,
        detail: r.get(3)?,
        at: r.get::<_, i64>(4)?.max(0) as u64,
        started_at: to_u64(r.get(5)?),
        resumed_at: to_u64(r.get(6)?),
    }))
}
