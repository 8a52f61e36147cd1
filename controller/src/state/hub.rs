//! The connected agents: who is online, and a bounded queue to each.
//!
//! Each agent connection is a task that owns its socket; the hub only holds the sending
//! side of each task's queue ([`super::outbox`]). A full queue means a slow agent: what does not fit is
//! dropped and counted, so one slow agent never slows the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use dalaba_protocol::AgentId;

use super::outbox::{self, Refused};

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

/// Per-agent queue length, in each lane (commands, audio). At 50 audio frames a second,
/// 256 is five seconds.
pub const QUEUE: usize = 256;

#[derive(Debug)]
struct Conn {
    id: u64,
    tx: outbox::Sender,
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
    /// Bumped whenever a connection is registered or removed: a [`Fanout`]'s queues are
    /// stale then.
    generation: AtomicU64,
    /// Counters.
    pub metrics: HubMetrics,
    /// Signalled whenever an agent comes online or goes offline.
    pub changed: tokio::sync::Notify,
    /// The `goodbye` every agent is sent once the controller is going away.
    leaving: Mutex<Option<Outgoing>>,
}

/// The queues of a live call's agents, looked up once and again only when the registry
/// changes (see [`Hub::send_frames_to_all`]).
#[derive(Debug)]
pub struct Fanout {
    agents: Vec<AgentId>,
    generation: u64,
    queues: Vec<Option<outbox::Sender>>,
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
    pub fn register(&self, agent: AgentId) -> (u64, outbox::Receiver) {
        let (tx, rx) = outbox::queue(QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut conns = self.conns();
        // Under the registry lock, as in `leave`: no connection misses the goodbye.
        let leaving = self
            .leaving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(goodbye) = leaving {
            let _ = tx.try_send(goodbye);
        }
        let old = conns.insert(agent, Conn { id, tx });
        self.generation.fetch_add(1, Ordering::Release);
        drop(conns);
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
            self.generation.fetch_add(1, Ordering::Release);
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
        self.queue(conns.get(agent).map(|c| &c.tx), message)
    }

    /// A live relay's handle on the queues of `agents`, for sending them many messages.
    pub fn fanout(&self, agents: Vec<AgentId>) -> Fanout {
        let mut fanout = Fanout {
            agents,
            generation: u64::MAX,
            queues: Vec::new(),
        };
        self.resolve(&mut fanout);
        fanout
    }

    fn resolve(&self, fanout: &mut Fanout) {
        let conns = self.conns();
        fanout.generation = self.generation.load(Ordering::Acquire);
        fanout.queues = fanout
            .agents
            .iter()
            .map(|a| conns.get(a).map(|c| c.tx.clone()))
            .collect();
    }

    /// Queues a group of audio `frames` (shared `Bytes`, not copied) to every agent of
    /// `fanout`, back to back: one lock and one wake-up per agent for the group (each
    /// frame on its own was ≈ 6 % of a core at 10,000 agents, ten frames a write), as far
    /// as each agent's queue has room. The queues are looked up again only if an agent
    /// connected or left since (a registry lookup per agent per frame, hashing and a key
    /// comparison that misses the cache, was ≈ 5 % of a core at 5,000 agents).
    pub fn send_frames_to_all(&self, fanout: &mut Fanout, frames: &[Bytes]) {
        if fanout.generation != self.generation.load(Ordering::Acquire) {
            self.resolve(fanout);
        }
        let (mut sent, mut dropped) = (0, 0);
        for tx in fanout.queues.iter().flatten() {
            if let Ok(queued) = tx.try_send_audio(frames) {
                sent += queued;
                dropped += frames.len() - queued;
            }
        }
        self.metrics.sent.fetch_add(sent as u64, Ordering::Relaxed);
        self.metrics
            .dropped
            .fetch_add(dropped as u64, Ordering::Relaxed);
    }

    /// The controller is going away: queues `goodbye` to every connected agent (returns
    /// how many) and to every agent that connects from now on, so that one coming back
    /// while the controller still shuts down is sent away again with the same window
    /// rather than cut off when it exits.
    pub fn leave(&self, goodbye: &Outgoing) -> usize {
        let conns = self.conns();
        *self
            .leaving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(goodbye.clone());
        conns
            .values()
            .filter(|c| self.queue(Some(&c.tx), goodbye.clone()).is_ok())
            .count()
    }

    fn queue(&self, tx: Option<&outbox::Sender>, message: Outgoing) -> Result<(), SendError> {
        // `try_send` never waits, so holding the registry lock across it is fine.
        match tx.ok_or(SendError::Offline)?.try_send(message) {
            Ok(()) => {
                self.metrics.sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(Refused::Full) => {
                self.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                Err(SendError::Full)
            }
            Err(Refused::Closed) => Err(SendError::Offline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rx: &mut outbox::Receiver) -> Option<String> {
        match rx.try_recv() {
            Some(Outgoing::Text(t)) => Some(t),
            _ => None,
        }
    }

    fn frame(rx: &mut outbox::Receiver) -> Option<Bytes> {
        match rx.try_recv() {
            Some(Outgoing::Binary(b)) => Some(b),
            _ => None,
        }
    }

    fn one(b: &'static str) -> [Bytes; 1] {
        [Bytes::from_static(b.as_bytes())]
    }

    /// A live relay looks its agents' queues up once, and again when one connects, leaves
    /// or reconnects: every frame reaches each agent's current connection.
    #[test]
    fn a_fanout_follows_agents_that_connect_leave_and_reconnect() {
        let hub = Hub::default();
        let (a, b): (AgentId, AgentId) = ("a-1".parse().expect("id"), "b-1".parse().expect("id"));
        let (_, mut a_first) = hub.register(a.clone());
        let mut fanout = hub.fanout(vec![a.clone(), b.clone()]);
        hub.send_frames_to_all(&mut fanout, &one("1"));
        assert_eq!(frame(&mut a_first), Some(Bytes::from_static(b"1")));
        let (b_conn, mut b_rx) = hub.register(b.clone());
        hub.send_frames_to_all(&mut fanout, &one("2"));
        assert_eq!(
            frame(&mut b_rx),
            Some(Bytes::from_static(b"2")),
            "b connected since"
        );
        assert_eq!(frame(&mut a_first), Some(Bytes::from_static(b"2")));
        // a reconnects: the old connection is told to close, the new one gets the frames.
        let (_, mut a_second) = hub.register(a.clone());
        hub.unregister(&b, b_conn);
        hub.send_frames_to_all(&mut fanout, &one("3"));
        assert_eq!(frame(&mut a_second), Some(Bytes::from_static(b"3")));
        assert!(matches!(a_first.try_recv(), Some(Outgoing::Close(..))));
        assert!(
            a_first.try_recv().is_none(),
            "nothing more to the replaced one"
        );
        assert!(b_rx.try_recv().is_none(), "b left");
    }

    /// A controller saying `goodbye` tells every agent connected, and every agent that
    /// logs in while it waits for them to go: agents come back at random within the
    /// window, some within the first second, to the controller still shutting down. Not
    /// told, they were cut off when it exited and backed off (1, 2, 4 s …) instead.
    #[test]
    fn an_agent_that_comes_back_while_the_controller_leaves_is_told_to_leave_too() {
        let hub = Hub::default();
        let (_, mut early) = hub.register("a-1".parse().expect("id"));
        assert_eq!(hub.leave(&Outgoing::Text("goodbye".into())), 1);
        assert_eq!(text(&mut early).as_deref(), Some("goodbye"));
        let (_, mut late) = hub.register("a-2".parse().expect("id"));
        assert_eq!(text(&mut late).as_deref(), Some("goodbye"));
    }
}
