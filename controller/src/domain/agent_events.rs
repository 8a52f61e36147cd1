//! The domain's answer to an agent connection ([`crate::state::AgentEvents`]): at login
//! the running broadcasts it has not reported final and its schedule. (Its receipts go
//! through `state.receipts` to `broadcast::write_receipts`.)

use dalaba_protocol::AgentId;

use crate::state::{AgentEvents, AppState};

/// The controller's domain, as the agents' link sees it.
#[derive(Debug)]
pub struct DomainEvents;

impl AgentEvents for DomainEvents {
    fn logged_in(&self, state: &AppState, agent: &AgentId) {
        // Whatever is still running for it, it hears again.
        let resend = match crate::dispatch::resend_for(state, agent, state.clock.now_us()) {
            Ok(commands) => commands,
            Err(e) => {
                tracing::warn!(%agent, "reading its receipts: {e}");
                Vec::new()
            }
        };
        for command in resend {
            if let Err(e) = crate::dispatch::send_command(state, agent, command) {
                tracing::warn!(%agent, "resending a running broadcast: {e}");
            }
        }
        // And its stored schedule, in case it changed while the agent was away.
        if let Err(e) = crate::scheduler::sync(state, state.clock.now_us(), Some(agent)) {
            tracing::warn!(%agent, "sending the schedule: {e}");
        }
    }
}
