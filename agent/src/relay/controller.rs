//! The relay controller: one task owns the board and the [`Sequencer`]; everyone else
//! holds a cheap [`RelayHandle`].
//!
//! The task switches the relays off when it starts and when it is shut down, applies what
//! the sequencer decides, and survives every board failure: the fault shows in
//! [`RelayStatus`], and the switch is retried every [`RETRY_INTERVAL`] until the board
//! answers again.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::sequencer::{Action, Sequencer, Timing};
use super::{RelayBoard, RelayState};

/// How often a failed switch is retried.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Why power could not be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowerError {
    /// The board did not switch on; audio may play without amplifier power.
    #[error("relay board fault: {0}")]
    Fault(String),
    /// The watchdog switched the relay off.
    #[error("the relay watchdog switched the amplifier off after the maximum on-time")]
    Tripped,
    /// `all_off` cancelled the request.
    #[error("all relays were switched off")]
    Cancelled,
    /// The relay task has stopped.
    #[error("the relay controller has stopped")]
    Stopped,
}

/// One channel as last known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelState {
    /// Channel number, from 1.
    pub channel: u8,
    /// Read back from the board where it can tell, else the last state it accepted;
    /// `None` when unknown (the board failed).
    pub state: Option<RelayState>,
}

/// What the relays are doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayStatus {
    /// Board backend.
    pub board: &'static str,
    /// What the sequence wants.
    pub wanted: RelayState,
    /// Each channel.
    pub channels: Vec<ChannelState>,
    /// The current fault, if the board is failing.
    pub fault: Option<String>,
    /// Times the watchdog has tripped since start.
    pub watchdog_trips: u64,
}

enum Command {
    Acquire(u64, oneshot::Sender<Result<(), PowerError>>),
    Release(u64),
    AllOff(oneshot::Sender<()>),
    Status(oneshot::Sender<RelayStatus>),
    Shutdown(oneshot::Sender<()>),
}

/// A cheap, cloneable handle to the relay task.
#[derive(Clone, Debug)]
pub struct RelayHandle {
    tx: mpsc::Sender<Command>,
    /// Bumped whenever the switched state or the fault changes.
    changes: tokio::sync::watch::Receiver<u64>,
}

impl RelayHandle {
    /// Powers the amplifier for `lease` (one per broadcast) and waits until it has warmed
    /// up. Release the lease with [`Self::release`] when the audio ends.
    pub async fn power_on(&self, lease: u64) -> Result<(), PowerError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Acquire(lease, tx))
            .await
            .map_err(|_| PowerError::Stopped)?;
        rx.await.unwrap_or(Err(PowerError::Stopped))
    }

    /// The audio of `lease` has ended; the relay goes off after the hold time unless
    /// another lease needs it.
    pub async fn release(&self, lease: u64) {
        let _ = self.tx.send(Command::Release(lease)).await;
    }

    /// Switches every relay off now (the "all off" command).
    pub async fn all_off(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::AllOff(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The relays' state, read back from the board.
    pub async fn status(&self) -> Option<RelayStatus> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Status(tx)).await.ok()?;
        rx.await.ok()
    }

    /// A receiver that sees a change whenever the relays switch or a fault comes or goes,
    /// so status can be reported when it happens rather than at the next poll.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.clone()
    }

    /// Switches off and stops the task (clean shutdown).
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts the relay task for `board`, switching `channels` with `timing`.
pub fn spawn(
    board: Box<dyn RelayBoard>,
    channels: Vec<u8>,
    timing: Timing,
) -> (RelayHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(64);
    let (changed, changes) = tokio::sync::watch::channel(0);
    let task = Task {
        changed,
        board,
        channels,
        sequencer: Sequencer::new(timing),
        waiting: HashMap::new(),
        applied: None,
        fault: None,
        retry_at: None,
        trips: 0,
    };
    (RelayHandle { tx, changes }, tokio::spawn(task.run(rx)))
}

struct Task {
    changed: tokio::sync::watch::Sender<u64>,
    board: Box<dyn RelayBoard>,
    channels: Vec<u8>,
    sequencer: Sequencer,
    waiting: HashMap<u64, oneshot::Sender<Result<(), PowerError>>>,
    applied: Option<RelayState>,
    fault: Option<String>,
    retry_at: Option<Instant>,
    trips: u64,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        // Whatever state the board woke up in, the amplifier starts unpowered.
        self.apply(RelayState::Off).await;
        loop {
            let deadline = [
                self.sequencer.poll_timeout().map(Instant::from_std),
                self.retry_at,
            ]
            .into_iter()
            .flatten()
            .min();
            // Due timers first, so a command never sees a state that is already late.
            let command = tokio::select! {
                biased;
                () = sleep_until(deadline) => {
                    // Retry first, so a lease that becomes ready now sees the latest attempt.
                    if self.retry_at.is_some_and(|t| t <= Instant::now()) {
                        self.retry_at = None;
                        self.apply(self.wanted()).await;
                    }
                    let actions = self.sequencer.poll(now());
                    self.perform(actions).await;
                    continue;
                }
                command = rx.recv() => command,
            };
            match command {
                Some(Command::Acquire(lease, reply)) => {
                    self.waiting.insert(lease, reply);
                    let actions = self.sequencer.acquire(lease, now());
                    self.perform(actions).await;
                }
                Some(Command::Release(lease)) => {
                    self.waiting.remove(&lease);
                    let actions = self.sequencer.release(lease, now());
                    self.perform(actions).await;
                }
                Some(Command::AllOff(reply)) => {
                    // Its only action is SwitchOff, which is sent below in any case: "all
                    // off" always reaches the board, even if the relay should already be off.
                    let _ = self.sequencer.all_off();
                    for (_, waiter) in self.waiting.drain() {
                        let _ = waiter.send(Err(PowerError::Cancelled));
                    }
                    self.apply(RelayState::Off).await;
                    let _ = reply.send(());
                }
                Some(Command::Status(reply)) => {
                    let status = self.status().await;
                    let _ = reply.send(status);
                }
                Some(Command::Shutdown(reply)) => {
                    self.shutdown().await;
                    let _ = reply.send(());
                    return;
                }
                None => {
                    self.shutdown().await;
                    return;
                }
            }
        }
    }

    async fn shutdown(&mut self) {
        self.sequencer.all_off();
        for (_, waiter) in self.waiting.drain() {
            let _ = waiter.send(Err(PowerError::Stopped));
        }
        self.apply(RelayState::Off).await;
    }

    fn wanted(&self) -> RelayState {
        if self.sequencer.wants_on() {
            RelayState::On
        } else {
            RelayState::Off
        }
    }

    async fn perform(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::SwitchOn => self.apply(RelayState::On).await,
                Action::SwitchOff => self.apply(RelayState::Off).await,
                Action::Ready(leases) => {
                    let result = match (&self.applied, &self.fault) {
                        (Some(RelayState::On), _) => Ok(()),
                        (_, Some(fault)) => Err(PowerError::Fault(fault.clone())),
                        _ => Err(PowerError::Fault("relay state unknown".into())),
                    };
                    for lease in leases {
                        if let Some(waiter) = self.waiting.remove(&lease) {
                            let _ = waiter.send(result.clone());
                        }
                    }
                }
                Action::Tripped(leases) => {
                    self.trips += 1;
                    self.fault =
                        Some("watchdog: the relay was on longer than the maximum on-time".into());
                    for lease in leases {
                        if let Some(waiter) = self.waiting.remove(&lease) {
                            let _ = waiter.send(Err(PowerError::Tripped));
                        }
                    }
                }
            }
        }
    }

    async fn apply(&mut self, state: RelayState) {
        let before = (self.applied, self.fault.clone());
        self.switch(state).await;
        if (self.applied, self.fault.clone()) != before {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    async fn switch(&mut self, state: RelayState) {
        match self.board.switch(&self.channels, state).await {
            Ok(()) => {
                self.applied = Some(state);
                // A watchdog fault stays visible until the next successful switch on.
                if state == RelayState::On
                    || !self
                        .fault
                        .as_deref()
                        .is_some_and(|f| f.starts_with("watchdog"))
                {
                    self.fault = None;
                }
                self.retry_at = None;
            }
            Err(e) => {
                self.applied = None;
                self.fault = Some(e.to_string());
                self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
            }
        }
    }

    async fn status(&mut self) -> RelayStatus {
        let read = match self.board.read(&self.channels).await {
            Ok(states) => states,
            Err(e) => {
                self.fault = Some(e.to_string());
                vec![None; self.channels.len()]
            }
        };
        let channels = self
            .channels
            .iter()
            .zip(read)
            .map(|(&channel, read)| ChannelState {
                channel,
                state: read.or(self.applied),
            })
            .collect();
        RelayStatus {
            board: self.board.kind(),
            wanted: self.wanted(),
            channels,
            fault: self.fault.clone(),
            watchdog_trips: self.trips,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
