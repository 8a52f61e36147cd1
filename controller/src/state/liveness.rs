//! When each agent was last heard from, and its latest status, kept in memory as messages
//! arrive and written to the database in one transaction a second.
//!
//! Writing them as they came meant a SQLite commit (an fsync, 10–17 ms on the benchmark
//! machine) inside the agent's session task for every heartbeat and status report: that
//! task also sends the agent its live audio, so every 5 s each agent's frames waited behind
//! a disk write (and behind every other agent's, on the shared connection). Liveness that
//! is a second old is as good for the console; whether an agent is online comes from the
//! hub, not from here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dalaba_protocol::AgentId;

use crate::changes::Changes;
use crate::storage::{AgentEvent, AgentEventKind, Seen, Storage};

/// How often what was heard is written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Agents heard from since the last write.
#[derive(Debug, Default)]
pub struct Liveness {
    pending: Mutex<HashMap<AgentId, (u64, Option<String>)>>,
    /// Entries for the speakers' logs, written with the rest.
    events: Mutex<Vec<AgentEvent>>,
}

impl Liveness {
    /// Notes that `agent` was heard from at `at` (µs), with its status report if one came.
    /// Never blocks on the disk.
    pub fn heard(&self, agent: &AgentId, at: u64, status_json: Option<String>) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = pending.entry(agent.clone()).or_insert((at, None));
        entry.0 = entry.0.max(at);
        if status_json.is_some() {
            entry.1 = status_json;
        }
    }

    /// Notes an entry for a speaker's log (it came online, went offline, a fault
    /// appeared or cleared). Never blocks on the disk.
    pub fn log(&self, agent: &AgentId, at: u64, kind: AgentEventKind, detail: Option<String>) {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(AgentEvent {
                agent_id: agent.to_string(),
                at,
                kind,
                detail,
            });
    }

    fn take_events(&self) -> Vec<AgentEvent> {
        std::mem::take(
            &mut *self
                .events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn take(&self) -> Vec<Seen> {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pending
            .drain()
            .map(|(agent, (at, status_json))| Seen {
                agent,
                at,
                status_json,
            })
            .collect()
    }

    /// Writes what was heard and logged since the last write; whether a status report or
    /// a log entry was among it (what the pages show changed).
    pub async fn flush(&self, storage: &Arc<dyn Storage>) -> bool {
        let seen = self.take();
        let events = self.take_events();
        if seen.is_empty() && events.is_empty() {
            return false;
        }
        let reported = !events.is_empty() || seen.iter().any(|s| s.status_json.is_some());
        let storage = Arc::clone(storage);
        let written = tokio::task::spawn_blocking(move || {
            storage.touch_agents(&seen)?;
            storage.log_agents(&events)
        })
        .await;
        match written {
            Ok(Ok(())) => reported,
            Ok(Err(e)) => {
                tracing::warn!("recording agents' last contact: {e}");
                false
            }
            Err(e) => {
                tracing::warn!("recording agents' last contact: {e}");
                false
            }
        }
    }

    /// Writes once a second, for as long as the controller runs; once a status report is
    /// written, `changes` goes up (pages then read it).
    pub async fn run(self: Arc<Self>, storage: Arc<dyn Storage>, changes: Arc<Changes>) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.flush(&storage).await {
                changes.bump();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_time_and_status_per_agent() {
        let live = Liveness::default();
        let a: AgentId = "a-1".parse().expect("id");
        live.heard(&a, 10, Some("first".into()));
        live.heard(&a, 30, None);
        live.heard(&a, 20, Some("second".into()));
        let seen = live.take();
        assert_eq!(
            seen,
            vec![Seen {
                agent: a,
                at: 30,
                status_json: Some("second".into())
            }]
        );
        assert!(live.take().is_empty(), "taken once");
    }
}
