//! Agents and their groups: enrolment, sequence-number blocks, last heard from.

use dalaba_protocol::keys::PublicKey;
use dalaba_protocol::{AgentId, AreaCode};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::{Deserialize, Serialize};

use super::{SqliteStorage, StorageError, parse, to_u64};

/// Where a speaker stands, in WGS-84 degrees (what a GPS receiver or a phone gives). Maps
/// whose tiles use GCJ-02 get the point converted by the console, never stored so.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Location {
    /// Latitude, -90 to 90, north positive.
    pub lat: f64,
    /// Longitude, -180 to 180, east positive.
    pub lon: f64,
}

impl Location {
    /// The location, if both numbers are degrees in range; else what is wrong with them.
    pub fn checked(self) -> Result<Self, String> {
        if !(self.lat.is_finite() && (-90.0..=90.0).contains(&self.lat)) {
            return Err(format!("lat {}: a latitude, -90 to 90 degrees", self.lat));
        }
        if !(self.lon.is_finite() && (-180.0..=180.0).contains(&self.lon)) {
            return Err(format!(
                "lon {}: a longitude, -180 to 180 degrees",
                self.lon
            ));
        }
        Ok(self)
    }
}

/// An enrolled agent's public key as stored: checked when it was stored (at enrolment, or
/// given for an agent moved here), read back as its text and made a [`PublicKey`] only
/// where it is used (a login). Making one decompresses a curve point, ≈ 7 µs: for every
/// agent on every read of them all (the alarms' look each second, a broadcast's
/// targets) that was 7 % of a core at 10,000 agents (BENCHMARKS.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey(String);

impl StoredKey {
    /// Its base64 form, as shown and as stored.
    pub fn as_base64(&self) -> &str {
        &self.0
    }

    /// The key, to verify a proof with; a stored text that is not one is corrupt.
    pub fn parse(&self) -> Result<PublicKey, StorageError> {
        PublicKey::from_base64(&self.0).map_err(|_| StorageError::Corrupt {
            what: "public key",
            value: self.0.clone(),
        })
    }
}

impl From<&PublicKey> for StoredKey {
    fn from(key: &PublicKey) -> Self {
        Self(key.to_base64())
    }
}

/// An agent as the controller knows it.
#[derive(Clone, Debug, PartialEq)]
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
    pub public_key: Option<StoredKey>,
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
    /// Where it stands, if known (the map).
    pub location: Option<Location>,
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
            location: None,
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

const AGENT_COLUMNS: &str = "id, name, area_code, public_key, token_hash, token_expires_at, last_seq, retired, last_seen, status_json, lat, lon";

impl SqliteStorage {
    /// An agent's row, its groups not yet read.
    fn agent_row(row: &rusqlite::Row<'_>) -> Result<AgentRecord, StorageError> {
        let id: AgentId = parse("agent id", row.get(0)?)?;
        let area: AreaCode = parse("area code", row.get(2)?)?;
        let public_key = row.get::<_, Option<String>>(3)?.map(StoredKey);
        Ok(AgentRecord {
            id,
            name: row.get(1)?,
            area_code: area,
            groups: Vec::new(),
            public_key,
            token_hash: row.get(4)?,
            token_expires_at: to_u64(row.get(5)?),
            last_seq: to_u64(row.get(6)?).unwrap_or(0),
            retired: row.get::<_, i64>(7)? != 0,
            last_seen: to_u64(row.get(8)?),
            status_json: row.get(9)?,
            location: match (row.get(10)?, row.get(11)?) {
                (Some(lat), Some(lon)) => Some(Location { lat, lon }),
                _ => None,
            },
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
            out.push(Self::agent_row(row)?);
        }
        drop(rows);
        groups_of(&conn, &mut out)?;
        Ok(out)
    }
}

/// Fills in `agents`' groups: one agent's with one query, many agents' with one query
/// for every group (a county's 10,000 agents are listed at once).
fn groups_of(conn: &Connection, agents: &mut [AgentRecord]) -> Result<(), StorageError> {
    if let [one] = agents {
        let mut stmt =
            conn.prepare_cached("SELECT name FROM agent_groups WHERE agent_id = ?1 ORDER BY name")?;
        one.groups = stmt
            .query_map([one.id.as_str()], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        return Ok(());
    }
    if agents.is_empty() {
        return Ok(());
    }
    let mut all: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut stmt = conn.prepare_cached("SELECT agent_id, name FROM agent_groups ORDER BY name")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        all.entry(row.get(0)?).or_default().push(row.get(1)?);
    }
    for a in agents {
        a.groups = all.remove(a.id.as_str()).unwrap_or_default();
    }
    Ok(())
}

/// Agents, their groups, enrolment and when they were last heard from.
pub trait AgentStore {
    /// Creates agents, all or none (one whose id exists already: `Conflict`, none made).
    fn create_agents(&self, agents: &[AgentRecord]) -> Result<(), StorageError>;

    /// Creates an agent.
    fn create_agent(&self, agent: &AgentRecord) -> Result<(), StorageError> {
        self.create_agents(std::slice::from_ref(agent))
    }

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

    /// Reserves `count` command sequence numbers for each (agent, floor), all above the
    /// floor and above every number reserved for that agent before, in one transaction;
    /// returns the last of each agent's, `None` for an unknown agent (see `sequence`).
    fn reserve_seqs(
        &self,
        wants: &[(AgentId, u64)],
        count: u64,
    ) -> Result<Vec<Option<u64>>, StorageError>;

    /// Changes an agent's name, area code, groups and location to `agent`'s.
    fn update_agent(&self, agent: &AgentRecord) -> Result<bool, StorageError>;

    /// Retires (revokes) an agent.
    fn retire_agent(&self, id: &AgentId) -> Result<bool, StorageError>;
}

impl AgentStore for SqliteStorage {
    fn create_agents(&self, agents: &[AgentRecord]) -> Result<(), StorageError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        for a in agents {
            insert_agent(&tx, a)?;
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

    fn reserve_seqs(
        &self,
        wants: &[(AgentId, u64)],
        count: u64,
    ) -> Result<Vec<Option<u64>>, StorageError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let mut lasts = Vec::with_capacity(wants.len());
        {
            let mut reserve = tx.prepare_cached(
                "UPDATE agents SET last_seq = max(last_seq, ?2) + ?3 WHERE id = ?1 RETURNING last_seq",
            )?;
            for (id, floor) in wants {
                let seq: Option<i64> = reserve
                    .query_row(params![id.as_str(), *floor as i64, count as i64], |r| {
                        r.get(0)
                    })
                    .optional()?;
                lasts.push(seq.map(|s| s.max(0) as u64));
            }
        }
        tx.commit()?;
        Ok(lasts)
    }

    fn update_agent(&self, a: &AgentRecord) -> Result<bool, StorageError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let n = tx.execute(
            "UPDATE agents SET name = ?2, area_code = ?3, lat = ?4, lon = ?5 WHERE id = ?1",
            params![
                a.id.as_str(),
                a.name,
                a.area_code.as_str(),
                a.location.map(|l| l.lat),
                a.location.map(|l| l.lon)
            ],
        )?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM agent_groups WHERE agent_id = ?1",
            [a.id.as_str()],
        )?;
        add_groups(&tx, a)?;
        tx.commit()?;
        Ok(true)
    }

    fn retire_agent(&self, id: &AgentId) -> Result<bool, StorageError> {
        let n = self
            .conn()
            .execute("UPDATE agents SET retired = 1 WHERE id = ?1", [id.as_str()])?;
        Ok(n > 0)
    }
}

/// Inserts one agent and its groups in `tx`.
fn insert_agent(tx: &rusqlite::Transaction<'_>, a: &AgentRecord) -> Result<(), StorageError> {
    let inserted = tx.execute(
        "INSERT INTO agents (id, name, area_code, token_hash, token_expires_at, public_key, lat, lon) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            a.id.as_str(),
            a.name,
            a.area_code.as_str(),
            a.token_hash,
            a.token_expires_at.map(|t| t as i64),
            a.public_key.as_ref().map(StoredKey::as_base64),
            a.location.map(|l| l.lat),
            a.location.map(|l| l.lon)
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
    add_groups(tx, a)
}

/// Adds `a`'s groups in `tx`.
fn add_groups(tx: &rusqlite::Transaction<'_>, a: &AgentRecord) -> Result<(), StorageError> {
    for g in &a.groups {
        tx.execute(
            "INSERT OR IGNORE INTO agent_groups (agent_id, name) VALUES (?1, ?2)",
            [a.id.as_str(), g],
        )?;
    }
    Ok(())
}
