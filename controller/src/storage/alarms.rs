//! Alarms: a condition on a speaker that someone must be told about (offline too long, a
//! fault, a clock off, its last broadcast failed). Raised when the condition starts, cleared when it ends, and
//! acknowledged by an operator (who and when kept); `domain::alarms` decides which.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{SqliteStorage, StorageError};

/// What an alarm is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// The speaker has been offline for longer than the setting allows.
    Offline,
    /// The speaker reports a fault (sound device, relay board).
    Fault,
    /// The speaker's clock is further from the controller's than the setting allows.
    Clock,
    /// The speaker's last broadcast could not be played.
    BroadcastFailed,
}

impl AlarmKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [
        Self::Offline,
        Self::Fault,
        Self::Clock,
        Self::BroadcastFailed,
    ];

    /// Its name in storage, metrics and webhooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::Fault => "fault",
            Self::Clock => "clock",
            Self::BroadcastFailed => "broadcast_failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StorageError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StorageError::Corrupt {
                what: "alarm kind",
                value: s.to_owned(),
            })
    }
}

/// One alarm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Alarm {
    /// Its id.
    pub id: u64,
    /// What it is about.
    pub kind: AlarmKind,
    /// The speaker.
    pub agent_id: String,
    /// What was seen (the fault reported, the offset, when last heard).
    pub detail: Option<String>,
    /// When it was raised, µs.
    pub raised_at: u64,
    /// When its cause went, µs; `None` while it lasts.
    pub cleared_at: Option<u64>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When, µs.
    pub acked_at: Option<u64>,
}

/// The alarms.
pub trait AlarmStore {
    /// Raises an alarm; its id.
    fn raise_alarm(
        &self,
        kind: AlarmKind,
        agent_id: &str,
        detail: Option<&str>,
        at: u64,
    ) -> Result<u64, StorageError>;

    /// Clears alarm `id` (its cause went) at `at`.
    fn clear_alarm(&self, id: u64, at: u64) -> Result<(), StorageError>;

    /// Acknowledges alarm `id` as `user`; false if there is none.
    fn ack_alarm(&self, id: u64, user: &str, at: u64) -> Result<bool, StorageError>;

    /// The alarms not cleared, and the latest `recent` cleared ones, newest first.
    fn alarms(&self, recent: usize) -> Result<Vec<Alarm>, StorageError>;
}

const COLUMNS: &str = "id, kind, agent_id, detail, raised_at, cleared_at, acked_by, acked_at";

fn alarm(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Alarm, String)> {
    let kind: String = r.get(1)?;
    Ok((
        Alarm {
            id: r.get::<_, i64>(0)?.max(0) as u64,
            kind: AlarmKind::Offline,
            agent_id: r.get(2)?,
            detail: r.get(3)?,
            raised_at: r.get::<_, i64>(4)?.max(0) as u64,
            cleared_at: r.get::<_, Option<i64>>(5)?.map(|t| t.max(0) as u64),
            acked_by: r.get(6)?,
            acked_at: r.get::<_, Option<i64>>(7)?.map(|t| t.max(0) as u64),
        },
        kind,
    ))
}

impl AlarmStore for SqliteStorage {
    fn raise_alarm(
        &self,
        kind: AlarmKind,
        agent_id: &str,
        detail: Option<&str>,
        at: u64,
    ) -> Result<u64, StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO alarms (kind, agent_id, detail, raised_at) VALUES (?1, ?2, ?3, ?4)",
            params![kind.as_str(), agent_id, detail, at as i64],
        )?;
        Ok(conn.last_insert_rowid().max(0) as u64)
    }

    fn clear_alarm(&self, id: u64, at: u64) -> Result<(), StorageError> {
        self.conn().execute(
            "UPDATE alarms SET cleared_at = ?2 WHERE id = ?1 AND cleared_at IS NULL",
            params![id as i64, at as i64],
        )?;
        Ok(())
    }

    fn ack_alarm(&self, id: u64, user: &str, at: u64) -> Result<bool, StorageError> {
        let changed = self.conn().execute(
            "UPDATE alarms SET acked_by = ?2, acked_at = ?3 WHERE id = ?1 AND acked_at IS NULL",
            params![id as i64, user, at as i64],
        )?;
        Ok(changed > 0)
    }

    fn alarms(&self, recent: usize) -> Result<Vec<Alarm>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM alarms WHERE cleared_at IS NULL
             UNION ALL
             SELECT * FROM (SELECT {COLUMNS} FROM alarms WHERE cleared_at IS NOT NULL
                            ORDER BY id DESC LIMIT ?1)
             ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map(params![recent as i64], alarm)?;
        rows.map(|row| {
            let (mut a, kind) = row?;
            a.kind = AlarmKind::parse(&kind)?;
            Ok(a)
        })
        .collect()
    }
}
