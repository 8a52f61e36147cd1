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

/// Signs `command` for `agent` and queues it; an agent not connected is refused before
/// anything is reserved or signed.
pub fn send_command(state: &AppState, agent: &AgentId, command: Command) -> Result<u64, String> {
    if !state.hub.is_online(agent) {
        return Err(crate::hub::SendError::Offline.to_string());
    }
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
/// receipts say `unreachable` until they log in and hear it (written in one transaction).
pub async fn launch(
    state: &AppState,
    id: u64,
    agents: &[AgentId],
    command: Command,
    until: u64,
) -> Result<Vec<String>, crate::storage::StorageError> {
    active(state).insert(id, agents.to_vec(), command.clone(), until);
    let now = state.clock.now_us();
    let failed = send_all(state, agents.to_vec(), command).await;
    let receipts: Vec<ReceiptRecord> = failed
        .iter()
        .map(|(agent, why)| {
            ReceiptRecord::new(
                id,
                agent.as_str(),
                ReceiptStatus::Unreachable,
                Some(format!("not sent: {why}")),
                now,
            )
        })
        .collect();
    state.storage.record_receipts(&receipts)?;
    Ok(failed
        .into_iter()
        .map(|(agent, _)| agent.to_string())
        .collect())
}

/// Signs and queues `command` for each of `agents`; those it could not reach, and why, in
/// their order. The signing runs off the async runtime, on every core when there are
/// many agents (one Ed25519 signature each is most of the cost: ≈ 15 µs, 150 ms for
/// 10,000 on one core): meanwhile the runtime's threads go on serving connections, and
/// live frames already queued to agents are written on time. On one core, signing in
/// place held back the last frames of every call to 5,000 speakers (BENCHMARKS.md).
pub async fn send_all(
    state: &AppState,
    agents: Vec<AgentId>,
    command: Command,
) -> Vec<(AgentId, String)> {
    let state = state.clone();
    let everyone = agents.clone();
    let signed = crate::state::off_runtime(move || {
        send_to_all(&state, &agents, &command)
            .into_iter()
            .map(|(agent, why)| (agent.clone(), why))
            .collect()
    });
    signed.await.unwrap_or_else(|gone| {
        // Nothing was sent.
        everyone
            .into_iter()
            .map(|agent| (agent, gone.to_string()))
            .collect()
    })
}

/// Ends broadcast `id` on `agents`: no longer sent again to agents that log in, marked
/// stopped now, and a signed `stop` to each connected one ([`send_all`]: off the
/// runtime, every core; a county-wide broadcast is 10,000 signatures). Whoever calls it has
/// checked that the caller may.
pub async fn end(
    state: &AppState,
    id: u64,
    agents: &[String],
) -> Result<(), crate::storage::StorageError> {
    active(state).remove(id);
    state.storage.stop_broadcast(id, state.clock.now_us())?;
    let agents = agents.iter().filter_map(|a| a.parse().ok()).collect();
    let stop = Command::Stop(dalaba_protocol::command::Stop {
        broadcast_id: dalaba_protocol::BroadcastId(id),
    });
    // Those offline hear at login that it is not running (`resend_for`).
    let _ = send_all(state, agents, stop).await;
    Ok(())
}

/// Fewest agents worth a thread of their own when signing for many.
const PER_THREAD: usize = 256;

/// [`send_all`] on this thread (and others when there are many agents).
fn send_to_all<'a>(
    state: &AppState,
    agents: &'a [AgentId],
    command: &Command,
) -> Vec<(&'a AgentId, String)> {
    let send_part = |part: &'a [AgentId]| -> Vec<(&'a AgentId, String)> {
        part.iter()
            .filter_map(|agent| {
                send_command(state, agent, command.clone())
                    .err()
                    .map(|why| (agent, why))
            })
            .collect()
    };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let threads = agents.len().div_ceil(PER_THREAD).clamp(1, cores);
    if threads == 1 {
        return send_part(agents);
    }
    let chunk = agents.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = agents
            .chunks(chunk)
            .map(|part| scope.spawn(move || send_part(part)))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
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
