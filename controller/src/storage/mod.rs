//! What the controller persists, behind one trait per aggregate (users and sessions,
//! agents and their log, media, broadcasts and receipts, documents and runs, the audit
//! log, area names), each in
//! its own file; [`Storage`] is all of them. One implementation, [`SqliteStorage`]: one
//! SQLite file in the data directory (versioned migrations, WAL).
//!
//! Queries are short; the SQLite connection sits behind a mutex and is used from async
//! code directly (each call is microseconds, far below a scheduler tick).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;

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
    /// The database was made by a newer controller than this one.
    #[error(
        "the database is at schema version {found}, newer than this controller's {known}: run the newer dalaba-controller, or restore a backup made by this version"
    )]
    Newer {
        /// The database's version.
        found: i64,
        /// The newest this build knows.
        known: usize,
    },
}

mod agent_log;
mod agents;
mod alarms;
mod area_names;
mod audit;
pub mod broadcast_spec;
mod broadcasts;
mod documents;
mod media;
mod migrations;
pub mod receipt;
pub mod role;
mod users;

pub use agent_log::{AgentEvent, AgentEventKind, AgentLogStore};
pub use agents::{AgentRecord, AgentStore, Location, Seen, StoredKey};
pub use alarms::{Alarm, AlarmKind, AlarmStore};
pub use area_names::AreaNameStore;
pub use audit::{AuditFilter, AuditRecord, AuditStore};
pub use broadcasts::{BroadcastRecord, BroadcastStore};
pub use documents::{Doc, Document, DocumentStore, RunRecord, RunState, Setting, Stored};
pub use media::{MediaRecord, MediaState, MediaStore};
pub use users::{User, UserStore};

pub use crate::receipt::{ReceiptRecord, ReceiptStatus};

/// Everything the controller persists: every aggregate's store.
pub trait Storage:
    UserStore
    + AuditStore
    + AgentStore
    + MediaStore
    + BroadcastStore
    + DocumentStore
    + AreaNameStore
    + AgentLogStore
    + AlarmStore
    + Send
    + Sync
{
}

impl<T> Storage for T where
    T: UserStore
        + AuditStore
        + AgentStore
        + MediaStore
        + BroadcastStore
        + DocumentStore
        + AreaNameStore
        + AlarmStore
        + AgentLogStore
        + Send
        + Sync
{
}

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
    /// Opens (creating and migrating) the database at `path`. Before an existing
    /// database is migrated, it is copied to `<path>.v<version>` (as
    /// [`snapshot`] does): an upgrade that goes wrong can go back.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = known_version(version)?;
        if version > 0 && version < known as i64 {
            let mut copy = path.as_os_str().to_owned();
            copy.push(format!(".v{version}"));
            let copy = std::path::PathBuf::from(copy);
            if !copy.exists() {
                conn.execute("VACUUM INTO ?1", [copy.to_string_lossy()])?;
                tracing::info!(
                    "database at schema version {version}, migrating to {known}; copied first to {}",
                    copy.display()
                );
            }
        }
        for (i, migration) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(version.max(0) as usize)
        {
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

/// A consistent copy of the database at `db` in the new file `to`, made by SQLite itself
/// (`VACUUM INTO`) from a read-only connection, while the controller reads and writes.
pub fn snapshot(db: &Path, to: &Path) -> Result<(), StorageError> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute("VACUUM INTO ?1", [to.to_string_lossy()])?;
    Ok(())
}

/// Checks the database file at `db` without changing it: SQLite's integrity check, and
/// a schema this controller can open. Returns its schema version.
pub fn check(db: &Path) -> Result<i64, StorageError> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Err(StorageError::Corrupt {
            what: "file (SQLite integrity check)",
            value: verdict,
        });
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    known_version(version)?;
    Ok(version)
}

/// The newest schema version this build knows, if a database at `version` is not newer.
fn known_version(version: i64) -> Result<usize, StorageError> {
    let known = migrations::MIGRATIONS.len();
    if version > known as i64 {
        return Err(StorageError::Newer {
            found: version,
            known,
        });
    }
    Ok(known)
}

fn parse<T: std::str::FromStr>(what: &'static str, value: String) -> Result<T, StorageError> {
    value
        .parse()
        .map_err(|_| StorageError::Corrupt { what, value })
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.map(|v| v.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database as an older controller left it: the first `n` migrations.
    fn old_database(path: &Path, n: usize) {
        let conn = Connection::open(path).expect("open");
        for (i, migration) in migrations::MIGRATIONS.iter().take(n).enumerate() {
            conn.execute_batch(migration).expect("migration");
            conn.pragma_update(None, "user_version", i as i64 + 1)
                .expect("version");
        }
    }

    #[test]
    fn an_older_database_is_copied_before_it_is_migrated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("dalaba.sqlite");
        old_database(&db, 3);
        SqliteStorage::open(&db).expect("migrates");
        let copy = dir.path().join("dalaba.sqlite.v3");
        assert_eq!(
            check(&copy).expect("a sound copy"),
            3,
            "the copy is as it was"
        );
        assert_eq!(
            check(&db).expect("sound"),
            migrations::MIGRATIONS.len() as i64
        );
        // A current database is not copied again.
        SqliteStorage::open(&db).expect("opens");
        let copies = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter(|e| {
                e.as_ref()
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .contains(".v")
            })
            .count();
        assert_eq!(copies, 1);
    }

    #[test]
    fn a_newer_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("dalaba.sqlite");
        let known = migrations::MIGRATIONS.len();
        old_database(&db, known);
        Connection::open(&db)
            .expect("open")
            .pragma_update(None, "user_version", known as i64 + 1)
            .expect("version");
        let e = SqliteStorage::open(&db).expect_err("newer");
        assert!(e.to_string().contains("newer than this controller"), "{e}");
        assert!(matches!(check(&db), Err(StorageError::Newer { .. })));
    }
}
