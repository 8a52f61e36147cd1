//! A recording relay board for tests: remembers every switch with the (tokio) time it
//! happened, and can be told to fail.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::{BoxFuture, RelayBoard, RelayError, RelayState};

/// What the fake saw: `(when, channels, state)` per successful switch.
pub type SwitchLog = Arc<Mutex<Vec<(Instant, Vec<u8>, RelayState)>>>;

/// A board that records instead of switching.
#[derive(Debug, Default)]
pub struct FakeBoard {
    log: SwitchLog,
    /// Fail this many of the next switch requests.
    failures: Arc<Mutex<u32>>,
    states: std::collections::BTreeMap<u8, RelayState>,
}

impl FakeBoard {
    /// A fake and a view of its log.
    pub fn new() -> (Self, SwitchLog) {
        let board = Self::default();
        let log = Arc::clone(&board.log);
        (board, log)
    }

    /// A handle that makes the next `n` switches fail.
    pub fn failures(&self) -> Arc<Mutex<u32>> {
        Arc::clone(&self.failures)
    }
}

impl RelayBoard for FakeBoard {
    fn kind(&self) -> &'static str {
        "fake"
    }

    fn switch<'a>(
        &'a mut self,
        channels: &'a [u8],
        state: RelayState,
    ) -> BoxFuture<'a, Result<(), RelayError>> {
        Box::pin(async move {
            if let Ok(mut n) = self.failures.lock() {
                if *n > 0 {
                    *n -= 1;
                    return Err(RelayError::Injected("injected board failure"));
                }
            }
            for &ch in channels {
                self.states.insert(ch, state);
            }
            if let Ok(mut log) = self.log.lock() {
                log.push((Instant::now(), channels.to_vec(), state));
            }
            Ok(())
        })
    }

    fn read<'a>(
        &'a mut self,
        channels: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<Option<RelayState>>, RelayError>> {
        Box::pin(async move {
            Ok(channels
                .iter()
                .map(|ch| self.states.get(ch).copied())
                .collect())
        })
    }
}
