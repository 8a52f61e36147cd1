//! Sending commands to agents: each one signed for its agent with the next sequence
//! number and queued on its connection ([`send_command`]); [`launch`] fills the table of
//! running broadcasts ([`crate::sent::Active`]) and [`resend_for`] reads it when an agent
//! logs in again. The one way any broadcast, alert or live call reaches its speakers.

use dalaba_protocol::command::{Command, SignedCommand};
use dalaba_protocol::{AgentId, Timestamp};

use crate::hub::Outgoing;
use crate::state::AppState;
use crate::storage::{ReceiptRecord, ReceiptStatus};

/// Locks the running-broadcast table.
pub fn active(state: &AppState) -> std::sync::MutexGuard<'_, crate::sent::Active> {
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
    let now = state.clock.now_us();
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
                state.clock.now_us(),
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
