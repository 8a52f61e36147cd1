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
}

mod agent_log;
mod agents;
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
pub use agents::{AgentRecord, AgentStore, Location, Seen};
pub use area_names::AreaNameStore;
pub use audit::{AuditRecord, AuditStore};
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
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
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

fn parse<T: std::str::FromStr>(what: &'static str, value: String) -> Result<T, StorageError> {
    value
        .parse()
        .map_err(|_| StorageError::Corrupt { what, value })
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.map(|v| v.max(0) as u64)
}
