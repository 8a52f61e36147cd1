//! Sending commands to agents: each one signed for its agent with the next sequence
//! number and queued on its connection ([`send_command`]), and the table of running
//! broadcasts ([`Active`]) that [`launch`] fills and [`resend_for`] reads when an agent
//! logs in again. The one way any broadcast, alert or live call reaches its speakers.

use dalaba_protocol::command::{Command, SignedCommand};
use dalaba_protocol::{AgentId, Timestamp};

use crate::hub::Outgoing;
use crate::now_us;
use crate::state::AppState;
use crate::storage::{ReceiptRecord, ReceiptStatus};

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
    fn for_agent(&mut self, agent: &AgentId, now: u64) -> Vec<(u64, Command)> {
        self.running.retain(|_, (_, _, until)| *until > now);
        self.running
            .iter()
            .filter(|(_, (agents, _, _))| agents.contains(agent))
            .map(|(id, (_, command, _))| (*id, command.clone()))
            .collect()
    }
}

/// Locks the running-broadcast table.
pub fn active(state: &AppState) -> std::sync::MutexGuard<'_, Active> {
    state
        .active
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Signs `command` for `agent` and queues it.
pub fn send_command(state: &AppState, agent: &AgentId, command: Command) -> Result<u64, String> {
    let seq = state
        .sequences
        .next(state.storage.as_ref(), agent)
        .map_err(|e| e.to_string())?;
    let now = now_us();
    let signed = SignedCommand {
        seq,
        audience: agent.clone(),
        issued_at: Timestamp(now),
        not_before: Timestamp(now.saturating_sub(2_000_000)),
        not_after: Timestamp(now + 120_000_000),
        command,
    };
    let envelope = state.identity.signer.sign(&signed);
    let text = dalaba_protocol::ControllerMessage::Signed(envelope).to_json();
    state
        .hub
        .send(agent, Outgoing::Text(text))
        .map_err(|e| e.to_string())?;
    Ok(seq)
}

/// Sends broadcast `id`'s `command` to `agents` and keeps it running until `until` (µs),
/// for agents that log in later; returns the agents it could not reach now, whose
/// receipts say `unreachable` until they log in and hear it.
pub fn launch(
    state: &AppState,
    id: u64,
    agents: &[AgentId],
    command: Command,
    until: u64,
) -> Result<Vec<String>, crate::storage::StorageError> {
    active(state).insert(id, agents.to_vec(), command.clone(), until);
    let mut unreachable = Vec::new();
    for agent in agents {
        if let Err(why) = send_command(state, agent, command.clone()) {
            state.storage.record_receipt(&ReceiptRecord::new(
                id,
                agent.as_str(),
                ReceiptStatus::Unreachable,
                Some(format!("not sent: {why}")),
                now_us(),
            ))?;
            unreachable.push(agent.to_string());
        }
    }
    Ok(unreachable)
}

/// What `agent`, logging in at `now`, is sent again: every running broadcast it was
/// targeted by and has not reported a final state for. One that reported `done`,
/// `failed` or `cancelled` never hears it again, whatever its restarts (PROTOCOL.md C1).
pub fn resend_for(
    state: &AppState,
    agent: &AgentId,
    now: u64,
) -> Result<Vec<Command>, crate::storage::StorageError> {
    let running = active(state).for_agent(agent, now);
    let mut resend = Vec::new();
    for (id, command) in running {
        let finished = state
            .storage
            .receipt(id, agent.as_str())?
            .is_some_and(|r| r.state.is_final());
        if !finished {
            resend.push(command);
        }
    }
    Ok(resend)
}
