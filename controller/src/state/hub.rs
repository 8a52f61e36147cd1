//! The connected agents: who is online, and a bounded queue to each.
//!
//! Each agent connection is a task that owns its socket; the hub only holds the sending
//! side of each task's queue. A full queue means a slow agent: what does not fit is
//! dropped and counted, so one slow agent never slows the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use dalaba_protocol::AgentId;
use tokio::sync::mpsc;

/// Messages queued to one agent.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A control message (JSON text frame).
    Text(String),
    /// An audio frame, shared (not copied) between every agent it goes to.
    Binary(Bytes),
    /// Close the connection with this error (retired, replaced by a newer connection).
    Close(dalaba_protocol::control::ErrorCode, String),
}

/// Per-agent queue length. At 50 audio frames a second, 256 is five seconds.
pub const QUEUE: usize = 256;

#[derive(Debug)]
struct Conn {
    id: u64,
    tx: mpsc::Sender<Outgoing>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct HubMetrics {
    /// Messages queued to agents.
    pub sent: AtomicU64,
    /// Messages dropped because an agent's queue was full.
    pub dropped: AtomicU64,
    /// Receipts agents sent.
    pub receipts: AtomicU64,
    /// Receipts not recorded: about a broadcast not sent to that agent, or after its
    /// receipt was final (an agent that plays a finished broadcast again shows here).
    pub receipts_ignored: AtomicU64,
}

/// The registry of connected agents.
#[derive(Debug, Default)]
pub struct Hub {
    conns: Mutex<HashMap<AgentId, Conn>>,
    next_id: AtomicU64,
    /// Counters.
    pub metrics: HubMetrics,
    /// Signalled whenever an agent comes online or goes offline.
    pub changed: tokio::sync::Notify,
}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The agent is not connected.
    #[error("agent is offline")]
    Offline,
    /// The agent's queue is full (a slow link); the message was dropped.
    #[error("agent's queue is full; message dropped")]
    Full,
}

impl Hub {
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, Conn>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection for `agent`, replacing (and closing) an older one. Returns
    /// the connection's id and its queue's receiving end.
    pub fn register(&self, agent: AgentId) -> (u64, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let old = self.conns().insert(agent, Conn { id, tx });
        self.changed.notify_waiters();
        if let Some(old) = old {
            let _ = old.tx.try_send(Outgoing::Close(
                dalaba_protocol::control::ErrorCode::UnexpectedMessage,
                "replaced by a newer connection".into(),
            ));
        }
        (id, rx)
    }

    /// Removes `agent`'s connection `conn_id` (not a newer one).
    pub fn unregister(&self, agent: &AgentId, conn_id: u64) {
        let mut conns = self.conns();
        if conns.get(agent).is_some_and(|c| c.id == conn_id) {
            conns.remove(agent);
            self.changed.notify_waiters();
        }
    }

    /// Whether `agent` is connected.
    pub fn is_online(&self, agent: &AgentId) -> bool {
        self.conns().contains_key(agent)
    }

    /// Agents connected.
    pub fn online_count(&self) -> usize {
        self.conns().len()
    }

    /// Queues `message` to `agent` without waiting.
    pub fn send(&self, agent: &AgentId, message: Outgoing) -> Result<(), SendError> {
        let conns = self.conns();
        self.queue(conns.get(agent), message)
    }

    /// Queues `message` (cheap to clone: audio is shared `Bytes`) to every agent in
    /// `agents`, taking the registry lock once for all of them. The live fan-out path.
    pub fn send_to_all(&self, agents: &[AgentId], message: &Outgoing) {
        let conns = self.conns();
        for agent in agents {
            let _ = self.queue(conns.get(agent), message.clone());
        }
    }

    /// Queues `message` to every connected agent; how many.
    pub fn send_to_everyone(&self, message: &Outgoing) -> usize {
        let conns = self.conns();
        conns
            .values()
            .filter(|c| self.queue(Some(c), message.clone()).is_ok())
            .count()
    }

    fn queue(&self, conn: Option<&Conn>, message: Outgoing) -> Result<(), SendError> {
        // `try_send` never waits, so holding the registry lock across it is fine.
        match conn.ok_or(SendError::Offline)?.tx.try_send(message) {
            Ok(()) => {
                self.metrics.sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                Err(SendError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Offline),
        }
    }
}
