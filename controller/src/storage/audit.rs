//! The audit log: append-only (triggers refuse UPDATE and DELETE).

use rusqlite::params;

use super::{SqliteStorage, StorageError};

/// One audit record: who did what, to what, when, with what result.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
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

/// Which audit records to read: newest first, at most `limit`, below id `before`, and
/// those that match every filter given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// At most this many.
    pub limit: usize,
    /// Only ids below this (the next page).
    pub before: Option<u64>,
    /// Only this user's.
    pub user: Option<String>,
    /// Only actions containing this (`POST`, `/api/users`, `admin reset-password`).
    pub action: Option<String>,
    /// Only targets containing this (an area code, a speaker's id).
    pub target: Option<String>,
    /// Only from this time on, µs.
    pub since: Option<u64>,
    /// Only before this time, µs.
    pub until: Option<u64>,
}

/// The append-only audit log.
pub trait AuditStore {
    /// Appends an audit record (there is no way to change or delete one); its id.
    fn audit(&self, record: &AuditRecord) -> Result<u64, StorageError>;

    /// The records `filter` picks, newest first.
    fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StorageError>;
}

impl AuditStore for SqliteStorage {
    fn audit(&self, r: &AuditRecord) -> Result<u64, StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO audit (at, user, action, target, result, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![r.at as i64, r.user, r.action, r.target, r.result, r.source],
        )?;
        Ok(conn.last_insert_rowid().max(0) as u64)
    }

    fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at, user, action, target, result, source FROM audit
             WHERE id < ?1 AND at >= ?2 AND at < ?3
               AND (?4 IS NULL OR user = ?4)
               AND (?5 IS NULL OR instr(action, ?5) > 0)
               AND (?6 IS NULL OR instr(coalesce(target, ''), ?6) > 0)
             ORDER BY id DESC LIMIT ?7",
        )?;
        let rows = stmt.query_map(
            params![
                f.before.map_or(i64::MAX, |b| b as i64),
                f.since.map_or(0, |t| t as i64),
                f.until.map_or(i64::MAX, |t| t as i64),
                f.user,
                f.action,
                f.target,
                f.limit as i64
            ],
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
}
