//! Broadcasts and receipts; `ReceiptRecord::followed_by` is applied under the lock.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};

use crate::broadcast_spec::BroadcastSpec;

use super::{ReceiptRecord, ReceiptStatus, SqliteStorage, StorageError, to_u64};

/// A broadcast as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct BroadcastRecord {
    /// Its id.
    pub id: u64,
    /// Who made it (a schedule's broadcasts: the schedule's author).
    pub created_by: Option<i64>,
    /// When, µs.
    pub created_at: u64,
    /// What it is.
    pub spec: BroadcastSpec,
    /// When it was stopped, µs.
    pub stopped_at: Option<u64>,
}

const RECEIPT_COLUMNS: &str =
    "SELECT broadcast_id, agent_id, state, detail, at, started_at, resumed_at FROM receipts";

/// One agent's receipt for a broadcast, on a connection the caller holds.
fn receipt_in(
    conn: &Connection,
    broadcast_id: u64,
    agent_id: &str,
) -> Result<Option<ReceiptRecord>, StorageError> {
    // Cached: the receipts' writer looks up every report's previous receipt (10,000 of
    // them for a county-wide alert), and preparing the statement each time was most of
    // its work.
    conn.prepare_cached(&format!(
        "{RECEIPT_COLUMNS} WHERE broadcast_id = ?1 AND agent_id = ?2"
    ))?
    .query_row(params![broadcast_id as i64, agent_id], receipt_row)
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

/// Broadcasts and their receipts.
pub trait BroadcastStore {
    /// Records a broadcast; returns its id. `created_by` is `None` for a machine source
    /// (a CAP feed's watched directory).
    fn create_broadcast(
        &self,
        created_by: Option<i64>,
        created_at: u64,
        spec: &BroadcastSpec,
    ) -> Result<u64, StorageError>;

    /// The stored description of a broadcast.
    fn broadcast_spec(&self, id: u64) -> Result<Option<BroadcastSpec>, StorageError>;

    /// Records an agent's report on a broadcast, unless its receipt is final already
    /// (`ReceiptRecord::followed_by`); whether it was recorded.
    fn record_receipt(&self, receipt: &ReceiptRecord) -> Result<bool, StorageError> {
        Ok(self.record_receipts(std::slice::from_ref(receipt))?[0])
    }

    /// Records reports in order, in one transaction (one commit for all of them: an alert
    /// to thousands of speakers brings thousands at once); whether each was recorded.
    fn record_receipts(&self, receipts: &[ReceiptRecord]) -> Result<Vec<bool>, StorageError>;

    /// Every receipt of a broadcast, by agent id.
    fn receipts(&self, broadcast_id: u64) -> Result<Vec<ReceiptRecord>, StorageError>;

    /// One agent's latest receipts, newest broadcast first.
    fn receipts_of_agent(
        &self,
        agent_id: &str,
        limit: usize,
    ) -> Result<Vec<ReceiptRecord>, StorageError>;

    /// One agent's receipt for a broadcast.
    fn receipt(
        &self,
        broadcast_id: u64,
        agent_id: &str,
    ) -> Result<Option<ReceiptRecord>, StorageError>;

    /// Replaces the stored description of a broadcast.
    fn set_broadcast_spec(&self, id: u64, spec: &BroadcastSpec) -> Result<(), StorageError>;

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

    /// Of broadcasts `ids`, those stopped.
    fn stopped_broadcasts(&self, ids: &[u64]) -> Result<HashSet<u64>, StorageError>;
}

impl BroadcastStore for SqliteStorage {
    fn create_broadcast(
        &self,
        created_by: Option<i64>,
        created_at: u64,
        spec: &BroadcastSpec,
    ) -> Result<u64, StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO broadcasts (created_by, created_at, spec_json) VALUES (?1, ?2, ?3)",
            params![created_by, created_at as i64, spec],
        )?;
        Ok(conn.last_insert_rowid().max(0) as u64)
    }

    fn broadcast_spec(&self, id: u64) -> Result<Option<BroadcastSpec>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT spec_json FROM broadcasts WHERE id = ?1",
                [id as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn record_receipts(&self, reports: &[ReceiptRecord]) -> Result<Vec<bool>, StorageError> {
        // Read and written under one lock: the rules of `ReceiptRecord::followed_by` hold
        // whatever reports race.
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let mut recorded = Vec::with_capacity(reports.len());
        for report in reports {
            let record = match receipt_in(&tx, report.broadcast_id, &report.agent_id)? {
                None => ReceiptRecord::first(report),
                Some(old) => match old.followed_by(report) {
                    Some(next) => next,
                    None => {
                        recorded.push(false);
                        continue;
                    }
                },
            };
            tx.prepare_cached(
                "INSERT INTO receipts (broadcast_id, agent_id, state, detail, at, started_at, resumed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(broadcast_id, agent_id) DO UPDATE SET state = ?3, detail = ?4, at = ?5,
                     started_at = ?6, resumed_at = ?7",
            )?
            .execute(params![
                record.broadcast_id as i64,
                record.agent_id,
                record.state.as_str(),
                record.detail,
                record.at as i64,
                record.started_at.map(|t| t as i64),
                record.resumed_at.map(|t| t as i64),
            ])?;
            recorded.push(true);
        }
        tx.commit()?;
        Ok(recorded)
    }

    fn receipts_of_agent(
        &self,
        agent_id: &str,
        limit: usize,
    ) -> Result<Vec<ReceiptRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{RECEIPT_COLUMNS} WHERE agent_id = ?1 ORDER BY broadcast_id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![agent_id, limit as i64], receipt_row)?;
        rows.map(|r| r?).collect()
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

    fn set_broadcast_spec(&self, id: u64, spec: &BroadcastSpec) -> Result<(), StorageError> {
        self.conn().execute(
            "UPDATE broadcasts SET spec_json = ?2 WHERE id = ?1",
            params![id as i64, spec],
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
                    spec: r.get(3)?,
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

    fn stopped_broadcasts(&self, ids: &[u64]) -> Result<HashSet<u64>, StorageError> {
        let conn = self.conn();
        let mut stopped = conn
            .prepare_cached("SELECT 1 FROM broadcasts WHERE id = ?1 AND stopped_at IS NOT NULL")?;
        let mut out = HashSet::new();
        for &id in ids {
            if stopped.exists([id as i64])? {
                out.insert(id);
            }
        }
        Ok(out)
    }
}
