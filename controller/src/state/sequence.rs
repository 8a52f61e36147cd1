//! Command sequence numbers, handed out from blocks reserved in the database.
//!
//! Every signed command carries a sequence number the agent has never seen, higher than
//! the last (PROTOCOL.md section 6): that is what makes a replayed command useless. The
//! numbers must survive a restart, but committing each one cost a SQLite transaction per
//! command per agent, which made an alert to every speaker wait for thousands of commits.
//! Instead, [`Sequences`] reserves [`BLOCK`] numbers for an agent in one write (at its
//! login, or when a block runs out) and hands them out from memory. A restart skips what
//! was reserved but unused: agents only need numbers to grow, not to be consecutive.

use std::collections::HashMap;
use std::sync::Mutex;

use dalaba_protocol::AgentId;

use crate::storage::{Storage, StorageError};

/// Numbers reserved per write.
pub const BLOCK: u64 = 1024;

/// The unused part of each agent's reserved block: (next to hand out, last reserved).
#[derive(Debug, Default)]
pub struct Sequences {
    blocks: Mutex<HashMap<AgentId, (u64, u64)>>,
}

impl Sequences {
    /// The next sequence number for a command to `agent`.
    pub fn next(&self, storage: &dyn Storage, agent: &AgentId) -> Result<u64, StorageError> {
        let mut blocks = self
            .blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((next, last)) = blocks.get_mut(agent) {
            if *next <= *last {
                *next += 1;
                return Ok(*next - 1);
            }
        }
        let last = storage.reserve_seqs(agent, 0, BLOCK)?;
        let first = last + 1 - BLOCK;
        blocks.insert(agent.clone(), (first + 1, last));
        Ok(first)
    }

    /// At login: reserves a fresh block above `floor` (the last number the agent says it
    /// has seen, which is higher than ours if the database was restored from a backup), so
    /// commands to a logged-in agent need no write.
    pub fn login(
        &self,
        storage: &dyn Storage,
        agent: &AgentId,
        floor: u64,
    ) -> Result<(), StorageError> {
        let mut blocks = self
            .blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let last = storage.reserve_seqs(agent, floor, BLOCK)?;
        blocks.insert(agent.clone(), (last + 1 - BLOCK, last));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{AgentRecord, AgentStore as _, SqliteStorage};

    fn storage_with(agent: &AgentId) -> (tempfile::TempDir, SqliteStorage) {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(&dir.path().join("db.sqlite")).expect("open");
        storage
            .create_agent(&AgentRecord::new(
                agent.clone(),
                "a".into(),
                "330106001001".parse().expect("area"),
                Vec::new(),
            ))
            .expect("agent");
        (dir, storage)
    }

    #[test]
    fn numbers_grow_across_blocks_logins_and_restarts() {
        let agent: AgentId = "a-1".parse().expect("id");
        let (_dir, storage) = storage_with(&agent);
        let seqs = Sequences::default();
        let mut seen = Vec::new();
        for _ in 0..(BLOCK + 5) {
            seen.push(seqs.next(&storage, &agent).expect("seq"));
        }
        // The agent says it saw a number far above ours (a restored backup).
        seqs.login(&storage, &agent, 50_000).expect("login");
        seen.push(seqs.next(&storage, &agent).expect("seq"));
        assert!(seen.last().copied().expect("some") > 50_000);
        // A restart: a new allocator over the same database.
        let restarted = Sequences::default();
        seen.push(restarted.next(&storage, &agent).expect("seq"));
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing: {seen:?}"
        );
        assert_eq!(
            seen[..BLOCK as usize + 5],
            (1..=BLOCK + 5).collect::<Vec<_>>()[..]
        );
    }
}
