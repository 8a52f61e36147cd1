//! Command sequence numbers, handed out from blocks reserved in the database.
//!
//! Every signed command carries a sequence number the agent has never seen, higher than
//! the last (PROTOCOL.md section 6): that is what makes a replayed command useless. The
//! numbers must survive a restart, but committing each one cost a SQLite transaction per
//! command per agent, which made an alert to every speaker wait for thousands of commits.
//! Instead, [`Sequences`] reserves [`BLOCK`] numbers for an agent in one write (at its
//! login, or when a block runs out) and hands them out from memory. A restart skips what
//! was reserved but unused: agents only need numbers to grow, not to be consecutive.
//!
//! Logins' blocks are written together (group commit): a login queues its reservation,
//! and one writer on a blocking thread reserves every queued login's block in one
//! transaction while the next logins queue. After a restart a county's agents log in at
//! once; one commit (an fsync) each made them wait in line for the disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dalaba_protocol::AgentId;
use tokio::sync::oneshot;

use crate::storage::{Storage, StorageError};

/// Numbers reserved per write.
pub const BLOCK: u64 = 1024;

/// The unused part of each agent's reserved block: (next to hand out, last reserved), and
/// the logins waiting for theirs.
#[derive(Debug, Default)]
pub struct Sequences {
    blocks: Mutex<HashMap<AgentId, (u64, u64)>>,
    logins: Mutex<Logins>,
}

/// A login's answer: its block is reserved, or why not.
type Answer = oneshot::Sender<Result<(), String>>;

/// Logins waiting for their block, and whether a writer is at work.
#[derive(Debug, Default)]
struct Logins {
    waiting: Vec<(AgentId, u64, Answer)>,
    writing: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sequences {
    /// The next sequence number for a command to `agent`.
    pub fn next(&self, storage: &dyn Storage, agent: &AgentId) -> Result<u64, StorageError> {
        let mut blocks = lock(&self.blocks);
        if let Some((next, last)) = blocks.get_mut(agent) {
            if *next <= *last {
                *next += 1;
                return Ok(*next - 1);
            }
        }
        let last = storage
            .reserve_seqs(&[(agent.clone(), 0)], BLOCK)?
            .pop()
            .flatten()
            .ok_or_else(|| StorageError::Conflict(format!("no agent {agent}")))?;
        let first = last + 1 - BLOCK;
        blocks.insert(agent.clone(), (first + 1, last));
        Ok(first)
    }

    /// At login: reserves a fresh block above `floor` (the last number the agent says it
    /// has seen, which is higher than ours if the database was restored from a backup), so
    /// commands to a logged-in agent need no write. Waits for the block's commit, which
    /// it shares with every login queued meanwhile.
    pub async fn login(
        self: &Arc<Self>,
        storage: &Arc<dyn Storage>,
        agent: &AgentId,
        floor: u64,
    ) -> Result<(), String> {
        let (answer, answered) = oneshot::channel();
        let start_writer = {
            let mut logins = lock(&self.logins);
            logins.waiting.push((agent.clone(), floor, answer));
            !std::mem::replace(&mut logins.writing, true)
        };
        if start_writer {
            let (me, storage) = (Arc::clone(self), Arc::clone(storage));
            tokio::task::spawn_blocking(move || me.write_logins(storage.as_ref()));
        }
        answered
            .await
            .map_err(|_| "the sequence number writer stopped".to_owned())?
    }

    /// Reserves the waiting logins' blocks, one transaction for all that waited, until
    /// none wait.
    fn write_logins(&self, storage: &dyn Storage) {
        // Should this thread unwind, the next login starts a writer again and the waiting
        // ones get an error rather than waiting for ever. (Only then: on a normal return
        // another writer may already be at work.)
        struct Done<'a>(&'a Mutex<Logins>);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut logins = lock(self.0);
                    logins.writing = false;
                    logins.waiting.clear();
                }
            }
        }
        let _done = Done(&self.logins);
        loop {
            let batch = std::mem::take(&mut lock(&self.logins).waiting);
            if batch.is_empty() {
                let mut logins = lock(&self.logins);
                if logins.waiting.is_empty() {
                    logins.writing = false;
                    return;
                }
                continue;
            }
            let wants: Vec<(AgentId, u64)> =
                batch.iter().map(|(a, f, _)| (a.clone(), *f)).collect();
            match storage.reserve_seqs(&wants, BLOCK) {
                Ok(lasts) => {
                    let mut blocks = lock(&self.blocks);
                    for ((agent, _, answer), last) in batch.into_iter().zip(lasts) {
                        let Some(last) = last else {
                            let _ = answer.send(Err(format!("no agent {agent}")));
                            continue;
                        };
                        // A block reserved for it since (by `next`) is higher: keep that.
                        let block = blocks.entry(agent).or_insert((0, 0));
                        if last > block.1 {
                            *block = (last + 1 - BLOCK, last);
                        }
                        let _ = answer.send(Ok(()));
                    }
                }
                Err(e) => {
                    for (_, _, answer) in batch {
                        let _ = answer.send(Err(e.to_string()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{AgentRecord, AgentStore as _, SqliteStorage};

    fn storage_with(agents: &[AgentId]) -> (tempfile::TempDir, Arc<dyn Storage>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(&dir.path().join("db.sqlite")).expect("open");
        for agent in agents {
            storage
                .create_agent(&AgentRecord::new(
                    agent.clone(),
                    "a".into(),
                    "330106001001".parse().expect("area"),
                    Vec::new(),
                ))
                .expect("agent");
        }
        (dir, Arc::new(storage))
    }

    #[tokio::test]
    async fn numbers_grow_across_blocks_logins_and_restarts() {
        let agent: AgentId = "a-1".parse().expect("id");
        let (_dir, storage) = storage_with(std::slice::from_ref(&agent));
        let seqs = Arc::new(Sequences::default());
        let mut seen = Vec::new();
        for _ in 0..(BLOCK + 5) {
            seen.push(seqs.next(storage.as_ref(), &agent).expect("seq"));
        }
        // The agent says it saw a number far above ours (a restored backup).
        seqs.login(&storage, &agent, 50_000).await.expect("login");
        seen.push(seqs.next(storage.as_ref(), &agent).expect("seq"));
        assert!(seen.last().copied().expect("some") > 50_000);
        // A restart: a new allocator over the same database.
        let restarted = Sequences::default();
        seen.push(restarted.next(storage.as_ref(), &agent).expect("seq"));
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing: {seen:?}"
        );
        assert_eq!(
            seen[..BLOCK as usize + 5],
            (1..=BLOCK + 5).collect::<Vec<_>>()[..]
        );
    }

    /// Many logins at once (written together): each agent's block is its own, above the
    /// floor it gave, and committed (a restarted controller continues above it); a login
    /// for an agent that is not there fails alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logins_at_once_each_get_a_committed_block_above_their_floor() {
        let agents: Vec<AgentId> = (0..200)
            .map(|i| format!("a-{i}").parse().expect("id"))
            .collect();
        let (_dir, storage) = storage_with(&agents);
        let seqs = Arc::new(Sequences::default());
        let mut logins = tokio::task::JoinSet::new();
        for (i, agent) in agents.iter().enumerate() {
            let (seqs, storage, agent) = (Arc::clone(&seqs), Arc::clone(&storage), agent.clone());
            logins.spawn(async move {
                let floor = i as u64 * 10_000;
                seqs.login(&storage, &agent, floor)
                    .await
                    .map(|()| (agent, floor))
            });
        }
        let (seqs2, storage2) = (Arc::clone(&seqs), Arc::clone(&storage));
        let unknown = tokio::spawn(async move {
            seqs2
                .login(&storage2, &"nobody".parse().expect("id"), 0)
                .await
        });
        let restarted = Sequences::default();
        while let Some(login) = logins.join_next().await {
            let (agent, floor) = login.expect("task").expect("login");
            let first = seqs.next(storage.as_ref(), &agent).expect("seq");
            assert_eq!(
                first,
                floor + 1,
                "{agent}: the block begins above its floor"
            );
            let after_restart = restarted.next(storage.as_ref(), &agent).expect("seq");
            assert!(after_restart > floor + BLOCK, "{agent}: {after_restart}");
        }
        let refused = unknown.await.expect("task").expect_err("no such agent");
        assert!(refused.contains("nobody"), "{refused}");
    }
}
