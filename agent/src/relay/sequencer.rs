//! The amplifier power sequence, as a pure state machine.
//!
//! ```text
//!            acquire                 warm-up passed        last release          hold passed
//!   Off ──────────────▶ WarmingUp ─────────────────▶ On ──────────────▶ Holding ─────────────▶ Off
//!                          ▲                          ▲                     │ acquire
//!                          └──────── acquire ─────────┴─────────────────────┘ (no click)
//! ```
//!
//! Users hold *leases* (one per broadcast). The relay goes on for the first lease, is
//! ready after the warm-up, stays on while any lease is held, and goes off `hold` after the
//! last one is released; a lease taken during the hold keeps it on. The watchdog switches
//! off after `max_on` of continuous on-time whatever the leases say, and drops them.
//! `all_off` switches off at once.
//!
//! Time is an argument (`now`); nothing here reads a clock.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// What the owner must do after an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Switch the relay on.
    SwitchOn,
    /// Switch the relay off.
    SwitchOff,
    /// These leases may start their audio now.
    Ready(Vec<u64>),
    /// The watchdog switched off after `max_on`; these leases were dropped.
    Tripped(Vec<u64>),
}

/// The sequence's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Relay off.
    Off,
    /// Relay on, amplifier warming up until the instant given.
    WarmingUp {
        /// When audio may start.
        ready_at: Instant,
    },
    /// Relay on, amplifier ready.
    On,
    /// Relay on, no lease left; off at the instant given.
    Holding {
        /// When it goes off.
        off_at: Instant,
    },
}

/// Timing settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// After switching on, before audio.
    pub warm_up: Duration,
    /// After the last audio, before switching off.
    pub hold: Duration,
    /// Longest continuous on-time.
    pub max_on: Duration,
}

/// The power sequencer.
#[derive(Clone, Debug)]
pub struct Sequencer {
    timing: Timing,
    phase: Phase,
    leases: BTreeSet<u64>,
    on_since: Option<Instant>,
}

impl Sequencer {
    /// A sequencer, relay off.
    pub fn new(timing: Timing) -> Self {
        Self {
            timing,
            phase: Phase::Off,
            leases: BTreeSet::new(),
            on_since: None,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the relay should be on.
    pub fn wants_on(&self) -> bool {
        self.phase != Phase::Off
    }

    /// Since when it has been on.
    pub fn on_since(&self) -> Option<Instant> {
        self.on_since
    }

    /// A user wants power for `lease`.
    pub fn acquire(&mut self, lease: u64, now: Instant) -> Vec<Action> {
        self.leases.insert(lease);
        match self.phase {
            Phase::Off => {
                self.on_since = Some(now);
                let ready_at = now + self.timing.warm_up;
                self.phase = Phase::WarmingUp { ready_at };
                let mut actions = vec![Action::SwitchOn];
                actions.extend(self.poll(now));
                actions
            }
            Phase::WarmingUp { .. } => Vec::new(),
            Phase::On | Phase::Holding { .. } => {
                self.phase = Phase::On;
                vec![Action::Ready(vec![lease])]
            }
        }
    }

    /// `lease` no longer needs power.
    pub fn release(&mut self, lease: u64, now: Instant) -> Vec<Action> {
        if !self.leases.remove(&lease) || !self.leases.is_empty() {
            return Vec::new();
        }
        match self.phase {
            Phase::On | Phase::WarmingUp { .. } => {
                self.phase = Phase::Holding {
                    off_at: now + self.timing.hold,
                };
                self.poll(now)
            }
            Phase::Off | Phase::Holding { .. } => Vec::new(),
        }
    }

    /// Everything off now.
    pub fn all_off(&mut self) -> Vec<Action> {
        self.leases.clear();
        self.on_since = None;
        let was_on = self.phase != Phase::Off;
        self.phase = Phase::Off;
        if was_on {
            vec![Action::SwitchOff]
        } else {
            Vec::new()
        }
    }

    /// When [`Self::poll`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let watchdog = self.on_since.map(|t| t + self.timing.max_on);
        let phase = match self.phase {
            Phase::WarmingUp { ready_at } => Some(ready_at),
            Phase::Holding { off_at } => Some(off_at),
            Phase::Off | Phase::On => None,
        };
        match (phase, watchdog) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances to `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        if self.on_since.is_some_and(|t| now >= t + self.timing.max_on) {
            let dropped = std::mem::take(&mut self.leases).into_iter().collect();
            self.all_off();
            return vec![Action::SwitchOff, Action::Tripped(dropped)];
        }
        match self.phase {
            Phase::WarmingUp { ready_at } if now >= ready_at => {
                self.phase = Phase::On;
                vec![Action::Ready(self.leases.iter().copied().collect())]
            }
            Phase::Holding { off_at } if now >= off_at => {
                self.phase = Phase::Off;
                self.on_since = None;
                vec![Action::SwitchOff]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn seq() -> (Sequencer, Instant) {
        let timing = Timing {
            warm_up: 2 * S,
            hold: 5 * S,
            max_on: 600 * S,
        };
        (Sequencer::new(timing), Instant::now())
    }

    #[test]
    fn on_warm_up_audio_hold_off() {
        let (mut s, t0) = seq();
        assert_eq!(s.acquire(1, t0), [Action::SwitchOn]);
        assert_eq!(s.poll_timeout(), Some(t0 + 2 * S));
        assert_eq!(s.poll(t0 + S), []);
        assert_eq!(s.poll(t0 + 2 * S), [Action::Ready(vec![1])]);
        assert_eq!(s.release(1, t0 + 30 * S), []);
        assert_eq!(s.poll_timeout(), Some(t0 + 35 * S));
        assert_eq!(s.poll(t0 + 35 * S), [Action::SwitchOff]);
        assert_eq!(s.phase(), Phase::Off);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn overlapping_users_keep_it_on_without_clicking() {
        let (mut s, t0) = seq();
        s.acquire(1, t0);
        assert_eq!(s.acquire(2, t0 + S), [], "joins the warm-up");
        assert_eq!(s.poll(t0 + 2 * S), [Action::Ready(vec![1, 2])]);
        assert_eq!(s.release(1, t0 + 10 * S), [], "2 still holds it");
        assert_eq!(s.release(2, t0 + 20 * S), []);
        // A new broadcast during the hold: ready at once, no off/on.
        assert_eq!(s.acquire(3, t0 + 22 * S), [Action::Ready(vec![3])]);
        assert_eq!(s.poll(t0 + 30 * S), []);
        assert_eq!(s.release(3, t0 + 40 * S), []);
        assert_eq!(s.poll(t0 + 45 * S), [Action::SwitchOff]);
    }

    #[test]
    fn watchdog_bounds_on_time() {
        let (mut s, t0) = seq();
        s.acquire(1, t0);
        s.poll(t0 + 2 * S);
        assert_eq!(s.poll_timeout(), Some(t0 + 600 * S));
        assert_eq!(
            s.poll(t0 + 600 * S),
            [Action::SwitchOff, Action::Tripped(vec![1])]
        );
        assert_eq!(s.release(1, t0 + 601 * S), [], "the dropped lease is gone");
        assert_eq!(
            s.acquire(2, t0 + 700 * S),
            [Action::SwitchOn],
            "a new broadcast may power it again"
        );
    }

    #[test]
    fn all_off_is_immediate() {
        let (mut s, t0) = seq();
        s.acquire(1, t0);
        assert_eq!(s.all_off(), [Action::SwitchOff]);
        assert_eq!(s.all_off(), []);
        assert_eq!(s.poll(t0 + 10 * S), []);
    }

    #[test]
    fn zero_warm_up_is_ready_at_once() {
        let mut s = Sequencer::new(Timing {
            warm_up: Duration::ZERO,
            hold: Duration::ZERO,
            max_on: 60 * S,
        });
        let t0 = Instant::now();
        assert_eq!(s.acquire(1, t0), [Action::SwitchOn, Action::Ready(vec![1])]);
        assert_eq!(s.release(1, t0), [Action::SwitchOff]);
    }
}
