//! What was sent to agents and still holds: the broadcasts running now ([`Active`], so an
//! agent that reconnects is told again) and the schedule each agent was last sent
//! ([`ScheduleSent`], so an unchanged one is not sent again). Shared handles inside
//! [`crate::state::AppState`]; `dispatch` and `scheduler` fill them.

use std::collections::HashMap;

use dalaba_protocol::AgentId;
use dalaba_protocol::command::Command;

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
}

impl ScheduleSent {
    /// Locks the table of schedule fingerprints, by agent.
    pub fn sent(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, u64>> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
