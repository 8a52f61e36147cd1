//! What was sent to agents and still holds: the broadcasts running now ([`Active`], so an
//! agent that reconnects is told again) and the schedule each agent was last sent
//! ([`ScheduleSent`], so an unchanged one is not sent again). Shared handles inside
//! [`crate::state::AppState`]; `dispatch` and `scheduler` fill them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dalaba_protocol::AgentId;
use dalaba_protocol::command::{Command, PlayMedia};

use crate::storage::{Storage, StorageError};

/// Broadcasts in progress: what each targeted agent was told, until when. An agent that
/// reconnects (restarted, or its link dropped) is told again, with a fresh signature, and
/// joins in step; agents ignore a broadcast they are already playing.
#[derive(Debug, Default)]
pub struct Active {
    running: std::collections::HashMap<u64, (Vec<AgentId>, Command, u64)>,
}

impl Active {
    /// Records broadcast `id`: `command` to `agents`, relevant until `until` (µs).
    pub fn insert(&mut self, id: u64, agents: Vec<AgentId>, command: Command, until: u64) {
        self.running.insert(id, (agents, command, until));
    }

    /// Forgets broadcast `id` (stopped or ended).
    pub fn remove(&mut self, id: u64) {
        self.running.remove(&id);
    }

    /// How many broadcasts are still running at `now`.
    pub fn count(&mut self, now: u64) -> usize {
        self.running.retain(|_, (_, _, until)| *until > now);
        self.running.len()
    }

    /// The broadcasts still running for `agent` at `now`, with their commands.
    pub fn for_agent(&mut self, agent: &AgentId, now: u64) -> Vec<(u64, Command)> {
        self.running.retain(|_, (_, _, until)| *until > now);
        self.running
            .iter()
            .filter(|(_, (agents, _, _))| agents.contains(agent))
            .map(|(id, (_, command, _))| (*id, command.clone()))
            .collect()
    }
}

/// What the scheduler last sent each agent, and its wake-up signal.
#[derive(Debug, Default)]
pub struct ScheduleSent {
    /// Signalled when schedules, playlists or quiet hours change.
    pub changed: tokio::sync::Notify,
    /// A fingerprint of the schedule last sent to each agent.
    sent: std::sync::Mutex<HashMap<AgentId, u64>>,
    /// Schedule versions reserved and not yet used: (next, last reserved).
    versions: std::sync::Mutex<(u64, u64)>,
    /// Planned scheduled items, by broadcast id, as read once from their stored
    /// descriptions (which do not change once written).
    planned: std::sync::Mutex<HashMap<u64, Arc<PlannedItem>>>,
}

/// A planned item of a schedule's run: what every agent it reaches is told to play.
#[derive(Debug)]
pub struct PlannedItem {
    /// Its position in the run (the schedule entry's id).
    pub entry_id: u64,
    /// The command.
    pub play: PlayMedia,
    /// The agents it was planned for.
    pub agents: HashSet<String>,
}

/// Schedule versions reserved in the database at a time.
pub const VERSION_BLOCK: u64 = 1024;

/// Where the last reserved schedule version is kept.
const VERSION_KEY: &str = "schedule.version";

impl ScheduleSent {
    /// The next `schedule_sync` version: above every one used before, across restarts.
    /// Versions are reserved [`VERSION_BLOCK`] at a time, so sending a schedule (at every
    /// agent's login) seldom writes: one commit per login made a reconnect storm slow.
    pub fn next_version(&self, storage: &dyn Storage) -> Result<u64, StorageError> {
        let mut v = self
            .versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if v.0 == 0 || v.0 > v.1 {
            let stored = storage
                .meta(VERSION_KEY)?
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            let last = stored + VERSION_BLOCK;
            storage.set_meta(VERSION_KEY, &last.to_string())?;
            *v = (stored + 1, last);
        }
        v.0 += 1;
        Ok(v.0 - 1)
    }

    /// Planned item `id`, read with `load` the first time (`None`: not a planned item, not
    /// kept). Each item lists every speaker it reaches: reading and parsing all of them at
    /// every login made a county's reconnect after a restart quadratic again. Whether an
    /// item was stopped is not kept here: the caller reads that afresh.
    pub fn planned<E>(
        &self,
        id: u64,
        load: impl FnOnce() -> Result<Option<PlannedItem>, E>,
    ) -> Result<Option<Arc<PlannedItem>>, E> {
        // Held while loading: logins arriving together wait for one read, not each do it.
        let mut planned = self.planned_items();
        if let Some(item) = planned.get(&id) {
            return Ok(Some(Arc::clone(item)));
        }
        let Some(item) = load()? else {
            return Ok(None);
        };
        let item = Arc::new(item);
        planned.insert(id, Arc::clone(&item));
        Ok(Some(item))
    }

    /// Forgets the planned items other than `ids` (played, withdrawn or past).
    pub fn keep_planned(&self, ids: &[u64]) {
        self.planned_items().retain(|id, _| ids.contains(id));
    }

    fn planned_items(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<PlannedItem>>> {
        self.planned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the table of schedule fingerprints, by agent.
    pub fn sent(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, u64>> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::DocumentStore as _;

    #[test]
    fn schedule_versions_grow_across_blocks_and_restarts_with_few_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage =
            crate::storage::SqliteStorage::open(&dir.path().join("db.sqlite")).expect("open");
        // A database from before blocks: the last version used.
        storage.set_meta(VERSION_KEY, "41").expect("meta");
        let sent = ScheduleSent::default();
        let mut seen = Vec::new();
        for _ in 0..(VERSION_BLOCK + 3) {
            seen.push(sent.next_version(&storage).expect("version"));
        }
        assert_eq!(seen[0], 42);
        assert_eq!(
            storage.meta(VERSION_KEY).expect("meta").as_deref(),
            Some((41 + 2 * VERSION_BLOCK).to_string().as_str()),
            "two blocks reserved for 1,027 versions"
        );
        // A restart: a new allocator over the same database.
        seen.push(
            ScheduleSent::default()
                .next_version(&storage)
                .expect("version"),
        );
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
    }
}
