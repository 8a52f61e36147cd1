//! Controller time, injected: the scheduler asks a [`Clock`] instead of the system, so tests
//! move time instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};

/// Microseconds since the epoch, from somewhere.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, µs since the epoch.
    fn now_us(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> u64 {
        crate::now_us()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `us`.
    pub fn new(us: u64) -> Self {
        Self(AtomicU64::new(us))
    }

    /// Sets the time.
    pub fn set(&self, us: u64) {
        self.0.store(us, Ordering::SeqCst);
    }

    /// Moves the time forward by `us`.
    pub fn advance(&self, us: u64) {
        self.0.fetch_add(us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_us(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
