//! Each speaker's log: when it came online and went offline, when a fault appeared and
//! when it cleared. Written in batches with what was heard (`state::liveness`), read for
//! a speaker's history in the console.

use rusqlite::params;
use serde::Serialize;

use super::{SqliteStorage, StorageError};

/// What happened to a speaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentEventKind {
    /// It logged in.
    Online,
    /// Its connection ended.
    Offline,
    /// It reported an error (`detail`).
    Fault,
    /// It reported no error any more.
    Recovered,
}

impl AgentEventKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
            Self::Fault => "fault",
            Self::Recovered => "recovered",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Online, Self::Offline, Self::Fault, Self::Recovered]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One entry of a speaker's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentEvent {
    /// The speaker.
    pub agent_id: String,
    /// When, µs (controller time).
    pub at: u64,
    /// What happened.
    pub kind: AgentEventKind,
    /// The error reported, for a fault.
    pub detail: Option<String>,
}

/// Speakers' logs.
pub trait AgentLogStore {
    /// Appends entries, in one transaction.
    fn log_agents(&self, events: &[AgentEvent]) -> Result<(), StorageError>;

    /// A speaker's latest entries, newest first.
    fn agent_log(&self, agent_id: &str, limit: usize) -> Result<Vec<AgentEvent>, StorageError>;
}

impl AgentLogStore for SqliteStorage {
    fn log_agents(&self, events: &[AgentEvent]) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO agent_log (agent_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for e in events {
                insert.execute(params![e.agent_id, e.at as i64, e.kind.as_str(), e.detail])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn agent_log(&self, agent_id: &str, limit: usize) -> Result<Vec<AgentEvent>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT at, kind, detail FROM agent_log WHERE agent_id = ?1
             ORDER BY at DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![agent_id, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })?;
        rows.map(|row| {
            let (at, kind, detail) = row?;
            let kind = AgentEventKind::parse(&kind).ok_or(StorageError::Corrupt {
                what: "agent log kind",
                value: kind,
            })?;
            Ok(AgentEvent {
                agent_id: agent_id.to_owned(),
                at: at.max(0) as u64,
                kind,
                detail,
            })
        })
        .collect()
    }
}
