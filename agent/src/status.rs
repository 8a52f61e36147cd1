//! The agent's status: what the relays read back (watched every few seconds, and at once
//! when they switch, so a change is reported when it happens) and the report sent to the
//! controller.

use std::sync::Arc;
use std::time::Duration;

use dalaba_protocol::control::StatusReport;

use crate::relay::controller::RelayHandle;
use crate::runtime::{RelayCell, Runtime, lock};
use crate::session::Session;

/// Reads the relays back into `cell` every 5 s and whenever they switch; `changed` is
/// told when what they show (states or fault) differs from before.
pub(crate) fn watch_relays(relay: RelayHandle, cell: RelayCell, changed: Arc<tokio::sync::Notify>) {
    let mut changes = relay.changes();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                switched = changes.changed() => if switched.is_err() { break },
            }
            let Some(s) = relay.status().await else { break };
            let states = s
                .channels
                .iter()
                .map(|c| dalaba_protocol::control::RelayStatus {
                    channel: c.channel,
                    state: c.state,
                })
                .collect();
            let now = (states, s.fault.clone());
            let differs = {
                let mut cell = lock(&cell);
                let differs = *cell != now;
                *cell = now;
                differs
            };
            if differs {
                changed.notify_one();
            }
        }
    });
}

/// The status report of `runtime` on `session`.
pub(crate) fn report(runtime: &Runtime, session: &Session) -> StatusReport {
    StatusReport {
        playing: runtime.playing.lock().ok().and_then(|p| p.clone()),
        relays: runtime
            .relay_status
            .lock()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        queued: Vec::new(),
        volume: runtime.volume,
        // A relay board fault is the most urgent thing to show; then our own last error.
        last_error: runtime
            .relay_status
            .lock()
            .ok()
            .and_then(|r| r.1.clone())
            .or_else(|| runtime.last_error.clone()),
        firmware_version: env!("CARGO_PKG_VERSION").into(),
        config_version: runtime.config_version.clone(),
        schedule_version: runtime.schedule.version(),
        cache: runtime.fetcher.usage(),
        clock_offset_us: session.clock().map(|e| e.offset_us),
        uptime_s: runtime.uptime_start.elapsed().as_secs(),
    }
}
