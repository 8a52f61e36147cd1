//! The offline schedule: the upcoming scheduled items the controller last sent, kept in
//! the state directory so the speaker plays them on time even when the controller cannot
//! be reached, and after a restart.
//!
//! It arrives in a signed `schedule_sync` command and is stored only after that command's
//! signature, audience, sequence number and validity window were checked. Each entry is a
//! `play_media` with its own broadcast id, start time and `expires_at`; the controller sends
//! the whole list each time it changes, with a higher `schedule_version`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dalaba_protocol::command::{ScheduleEntry, ScheduleSync};
use dalaba_protocol::{BroadcastId, Timestamp};

/// The stored schedule.
#[derive(Debug)]
pub struct ScheduleStore {
    path: PathBuf,
    current: ScheduleSync,
}

/// What replacing the schedule changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Broadcasts no longer in the schedule (withdrawn by the controller): to stop.
    pub withdrawn: Vec<BroadcastId>,
    /// Entries that are new.
    pub added: Vec<ScheduleEntry>,
}

/// Why a schedule was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Not newer than the one held.
    #[error("schedule version {got} is not newer than {have}")]
    Stale {
        /// The version held.
        have: u64,
        /// The version offered.
        got: u64,
    },
    /// The state directory could not be written.
    #[error("storing the schedule in {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

impl ScheduleStore {
    /// Loads `schedule.json` from `dir`; an absent or unreadable file is an empty schedule
    /// (logged), never a reason not to start.
    pub fn load(dir: &Path) -> Self {
        let path = dir.join("schedule.json");
        let current = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::error!(
                    "{}: unreadable, starting without a schedule: {e}",
                    path.display()
                );
                empty()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => empty(),
            Err(e) => {
                tracing::error!("{}: {e}", path.display());
                empty()
            }
        };
        Self { path, current }
    }

    /// The version held (0: none).
    pub fn version(&self) -> u64 {
        self.current.schedule_version
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.current.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.current.entries.is_empty()
    }

    /// Entries that may still play at `now` (controller time), in start order.
    pub fn upcoming(&self, now: Timestamp) -> impl Iterator<Item = &ScheduleEntry> {
        self.current
            .entries
            .iter()
            .filter(move |e| e.play.expires_at.is_none_or(|t| t > now))
    }

    /// Replaces the schedule with a newer one and stores it.
    pub fn replace(&mut self, new: ScheduleSync) -> Result<Change, ScheduleError> {
        if new.schedule_version <= self.current.schedule_version {
            return Err(ScheduleError::Stale {
                have: self.current.schedule_version,
                got: new.schedule_version,
            });
        }
        let keep: BTreeSet<BroadcastId> = new.entries.iter().map(|e| e.play.broadcast_id).collect();
        let had: BTreeSet<BroadcastId> = self
            .current
            .entries
            .iter()
            .map(|e| e.play.broadcast_id)
            .collect();
        let change = Change {
            withdrawn: had.difference(&keep).copied().collect(),
            added: new
                .entries
                .iter()
                .filter(|e| !had.contains(&e.play.broadcast_id))
                .cloned()
                .collect(),
        };
        let text = serde_json::to_string(&new).unwrap_or_default();
        dalaba_firmware_config::files::write_atomic(&self.path, &text).map_err(|source| {
            ScheduleError::Io {
                path: self.path.clone(),
                source,
            }
        })?;
        self.current = new;
        Ok(change)
    }
}

fn empty() -> ScheduleSync {
    ScheduleSync {
        schedule_version: 0,
        entries: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dalaba_protocol::command::{MediaRef, OnPreempt, PlayMedia};
    use dalaba_protocol::{MediaHash, Mode, PlatformLevel, Priority};

    fn entry(b: u64, start: u64) -> ScheduleEntry {
        ScheduleEntry {
            entry_id: 0,
            play: PlayMedia {
                broadcast_id: BroadcastId(b),
                media: MediaRef {
                    hash: MediaHash::of(b"x"),
                    size: 1,
                    duration_ms: 1000,
                    url: "/media/x".into(),
                },
                start_at: Timestamp(start),
                priority: Priority::Scheduled,
                level: PlatformLevel::County,
                volume: None,
                repeat: 1,
                gap_ms: 0,
                mode: Mode::Real,
                severity: None,
                on_preempt: OnPreempt::Resume,
                expires_at: Some(Timestamp(start + 10)),
            },
        }
    }

    #[test]
    fn newer_versions_replace_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ScheduleStore::load(dir.path());
        assert_eq!(store.version(), 0);
        let change = store
            .replace(ScheduleSync {
                schedule_version: 3,
                entries: vec![entry(1, 100), entry(2, 200)],
            })
            .unwrap();
        assert_eq!(change.added.len(), 2);
        // An older or equal version is refused and changes nothing.
        let stale = store.replace(ScheduleSync {
            schedule_version: 3,
            entries: Vec::new(),
        });
        assert!(matches!(
            stale,
            Err(ScheduleError::Stale { have: 3, got: 3 })
        ));
        let change = store
            .replace(ScheduleSync {
                schedule_version: 4,
                entries: vec![entry(2, 200), entry(3, 300)],
            })
            .unwrap();
        assert_eq!(change.withdrawn, [BroadcastId(1)]);
        assert_eq!(change.added, [entry(3, 300)]);
        let again = ScheduleStore::load(dir.path());
        assert_eq!(again.version(), 4);
        // Expired entries are not upcoming.
        let ids: Vec<u64> = again
            .upcoming(Timestamp(215))
            .map(|e| e.play.broadcast_id.0)
            .collect();
        assert_eq!(ids, [3]);
    }

    #[test]
    fn a_corrupt_file_is_an_empty_schedule() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("schedule.json"), "{not json").unwrap();
        assert_eq!(ScheduleStore::load(dir.path()).version(), 0);
    }
}
