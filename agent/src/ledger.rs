//! The agent's ledger of broadcasts: those accepted since start (a controller re-sends a
//! running broadcast after a reconnect; one already playing must not start again), and
//! those that reached a final state, remembered across restarts (PROTOCOL.md rule A10):
//! a controller that sends one again (it never heard the final receipt) gets that receipt
//! back, and the speaker plays nothing twice.
//!
//! Final receipts are kept in `finished.json` in the state directory, written atomically
//! on every change, until the broadcast's `expires_at`, or for [`HORIZON_US`] where it has
//! none.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use dalaba_protocol::command::{OnPreempt, PlayMedia, StartLive};
use dalaba_protocol::control::{Receipt, ReceiptState};
use dalaba_protocol::{BroadcastId, Timestamp};
use serde::{Deserialize, Serialize};

/// How long a broadcast without `expires_at` is remembered: 7 days.
pub const HORIZON_US: u64 = 7 * 24 * 3600 * 1_000_000;
/// At most this many are kept; beyond it the oldest are forgotten first. A county sends
/// a few dozen broadcasts a day, so this is months of them.
pub const MAX_ENTRIES: usize = 10_000;

/// What to do with a broadcast the controller sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admit {
    /// New here: play it.
    New,
    /// Accepted already since start (waiting or playing): nothing to do.
    Already,
    /// It finished here, perhaps before a restart: answer with this receipt, play nothing.
    Finished(Receipt),
}

/// What the agent remembers of an accepted broadcast.
#[derive(Clone, Copy, Debug)]
struct Accepted {
    /// Remembered as finished until then (controller time, µs).
    until: u64,
    /// Whether a `preempted` is followed by a resume (`on_preempt` is not `skip`, and it
    /// is not a live stream); if not, `preempted` is final for it.
    resumable: bool,
}

/// Accepted and finished broadcasts.
#[derive(Debug)]
pub struct Ledger {
    accepted: HashMap<BroadcastId, Accepted>,
    finished: Finished,
}

impl Ledger {
    /// The ledger of the state directory `dir`: nothing accepted yet, the finished
    /// broadcasts as remembered.
    pub fn load(dir: &Path) -> Self {
        Self {
            accepted: HashMap::new(),
            finished: Finished::load(dir),
        }
    }

    /// Admits broadcast `id`, sent at controller time `now`, which expires at `expires_at`
    /// and resumes after a preemption if `resumable`.
    pub fn admit(
        &mut self,
        id: BroadcastId,
        expires_at: Option<Timestamp>,
        resumable: bool,
        now: Timestamp,
    ) -> Admit {
        if let Some(receipt) = self.finished.get(id) {
            return Admit::Finished(receipt.clone());
        }
        if self.accepted.contains_key(&id) {
            return Admit::Already;
        }
        let until = expires_at.map_or(now.0.saturating_add(HORIZON_US), |t| t.0.max(now.0));
        self.accepted.insert(id, Accepted { until, resumable });
        Admit::New
    }

    /// Admits a `play_media` (it resumes after a preemption unless its `on_preempt` is
    /// `skip`).
    pub fn admit_play(&mut self, play: &PlayMedia, now: Timestamp) -> Admit {
        let resumable = play.on_preempt != OnPreempt::Skip;
        self.admit(play.broadcast_id, play.expires_at, resumable, now)
    }

    /// Admits a `start_live` (a live stream never resumes).
    pub fn admit_live(&mut self, live: &StartLive, now: Timestamp) -> Admit {
        self.admit(live.broadcast_id, None, false, now)
    }

    /// Notes a receipt the agent sends; a final one is remembered (and written) until the
    /// broadcast expires.
    pub fn settle(&mut self, receipt: &Receipt, now: Timestamp) -> std::io::Result<()> {
        let accepted = self.accepted.get(&receipt.broadcast_id).copied();
        let is_final = receipt.state.is_final()
            || (matches!(receipt.state, ReceiptState::Preempted { .. })
                && accepted.is_some_and(|a| !a.resumable));
        if !is_final {
            return Ok(());
        }
        let until = accepted.map_or(now.0.saturating_add(HORIZON_US), |a| a.until);
        self.finished.record(receipt, until, now.0)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    /// The final receipt, as first sent.
    receipt: Receipt,
    /// Forgotten after this controller time (µs).
    until: u64,
}

/// The remembered final receipts.
#[derive(Debug)]
struct Finished {
    path: PathBuf,
    entries: BTreeMap<BroadcastId, Entry>,
}

impl Finished {
    /// Loads `finished.json` from `dir`. A file that does not parse is set aside as
    /// `finished.json.corrupt` (and logged) rather than stopping the speaker.
    fn load(dir: &Path) -> Self {
        let path = dir.join("finished.json");
        let entries = match std::fs::read_to_string(&path) {
            Ok(text) => match serde_json::from_str::<Vec<Entry>>(&text) {
                Ok(list) => list
                    .into_iter()
                    .map(|e| (e.receipt.broadcast_id, e))
                    .collect(),
                Err(e) => {
                    let aside = path.with_extension("json.corrupt");
                    tracing::error!(
                        "{}: {e}; set aside as {} (finished broadcasts are forgotten)",
                        path.display(),
                        aside.display()
                    );
                    let _ = std::fs::rename(&path, &aside);
                    BTreeMap::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                tracing::error!("{}: {e}", path.display());
                BTreeMap::new()
            }
        };
        Self { path, entries }
    }

    /// The final receipt of `broadcast`, if it finished here.
    fn get(&self, broadcast: BroadcastId) -> Option<&Receipt> {
        self.entries.get(&broadcast).map(|e| &e.receipt)
    }

    /// Remembers `receipt` (final) until `until`, forgetting what expired by `now`, and
    /// writes the file. A broadcast already remembered keeps its first final receipt.
    fn record(&mut self, receipt: &Receipt, until: u64, now: u64) -> std::io::Result<()> {
        if self.entries.contains_key(&receipt.broadcast_id) {
            return Ok(());
        }
        self.entries.retain(|_, e| e.until > now);
        self.entries.insert(
            receipt.broadcast_id,
            Entry {
                receipt: receipt.clone(),
                until,
            },
        );
        while self.entries.len() > MAX_ENTRIES {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.receipt.at)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                self.entries.remove(&id);
            }
        }
        let list: Vec<&Entry> = self.entries.values().collect();
        let text = serde_json::to_string(&list).map_err(std::io::Error::other)?;
        dalaba_firmware_config::files::write_atomic(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dalaba_protocol::Timestamp;
    use dalaba_protocol::control::{FailReason, ReceiptState};

    fn receipt(id: u64, state: ReceiptState, at: u64) -> Receipt {
        Receipt {
            broadcast_id: BroadcastId(id),
            entry_id: None,
            state,
            at: Timestamp(at),
        }
    }

    #[test]
    fn remembered_across_a_restart_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Finished::load(dir.path());
        f.record(&receipt(1, ReceiptState::Done, 10), 100, 10)
            .unwrap();
        let failed = ReceiptState::Failed {
            reason: FailReason::FetchFailed,
            detail: Some("HTTP 404".into()),
        };
        f.record(&receipt(2, failed.clone(), 20), 1_000, 20)
            .unwrap();
        // The first final receipt stays.
        f.record(&receipt(1, ReceiptState::Cancelled, 30), 100, 30)
            .unwrap();

        let f = Finished::load(dir.path());
        assert_eq!(f.get(BroadcastId(1)).unwrap().state, ReceiptState::Done);
        assert_eq!(f.get(BroadcastId(1)).unwrap().at, Timestamp(10));
        assert_eq!(f.get(BroadcastId(2)).unwrap().state, failed);

        // Broadcast 1 expired at 100: the next change forgets it.
        let mut f = f;
        f.record(&receipt(3, ReceiptState::Done, 200), 300, 200)
            .unwrap();
        let f = Finished::load(dir.path());
        assert!(f.get(BroadcastId(1)).is_none());
        assert!(f.get(BroadcastId(2)).is_some());
        assert_eq!(f.entries.len(), 2);
    }

    #[test]
    fn a_corrupt_file_is_set_aside_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("finished.json"), "{not json").unwrap();
        let f = Finished::load(dir.path());
        assert!(f.entries.is_empty());
        assert!(dir.path().join("finished.json.corrupt").exists());
    }

    #[test]
    fn a_restarted_agent_answers_a_finished_broadcast_with_its_receipt() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp(1_000);
        let mut l = Ledger::load(dir.path());
        assert_eq!(l.admit(BroadcastId(7), None, true, now), Admit::New);
        assert_eq!(l.admit(BroadcastId(7), None, true, now), Admit::Already);
        l.settle(&receipt(7, ReceiptState::Playing, 1_100), now)
            .unwrap();
        l.settle(&receipt(7, ReceiptState::Done, 1_200), now)
            .unwrap();
        // A `skip` play cut off will not resume: `preempted` is final for it.
        assert_eq!(l.admit(BroadcastId(8), None, false, now), Admit::New);
        let cut = ReceiptState::Preempted { by: BroadcastId(9) };
        l.settle(&receipt(8, cut.clone(), 1_300), now).unwrap();
        // A resumable one is not finished by a preemption.
        assert_eq!(l.admit(BroadcastId(10), None, true, now), Admit::New);
        l.settle(&receipt(10, cut.clone(), 1_300), now).unwrap();

        let mut l = Ledger::load(dir.path());
        assert_eq!(
            l.admit(BroadcastId(7), None, true, now),
            Admit::Finished(receipt(7, ReceiptState::Done, 1_200))
        );
        assert_eq!(
            l.admit(BroadcastId(8), None, false, now),
            Admit::Finished(receipt(8, cut, 1_300))
        );
        assert_eq!(l.admit(BroadcastId(10), None, true, now), Admit::New);
    }
}
