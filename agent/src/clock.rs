//! The agent's clock.

use std::time::{Duration, Instant};

/// The agent's clock: monotonic, expressed as microseconds since the epoch at start, so a
/// wall-clock step never corrupts clock-sync samples (PROTOCOL.md section 9).
#[derive(Debug, Clone, Copy)]
pub struct AgentClock {
    start: Instant,
    start_us: u64,
}

impl AgentClock {
    /// Starts the clock now.
    pub fn new() -> Self {
        let start_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Self {
            start: Instant::now(),
            start_us,
        }
    }

    /// Microseconds.
    pub fn now(&self) -> u64 {
        self.start_us + self.start.elapsed().as_micros() as u64
    }

    /// The `Instant` of agent time `us`.
    pub fn instant_of(&self, us: u64) -> Instant {
        self.start + Duration::from_micros(us.saturating_sub(self.start_us))
    }
}

impl Default for AgentClock {
    fn default() -> Self {
        Self::new()
    }
}
