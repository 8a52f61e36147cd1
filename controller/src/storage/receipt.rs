//! What one agent last said about one broadcast, and the rules a new report obeys:
//! a final state is never left, and the first start is kept apart from resumes
//! (PROTOCOL.md section 7, rules C2 and C3).

use serde::Serialize;

/// Where one agent stands with one broadcast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptStatus {
    /// The controller could not send it (the speaker was offline); it is sent when the
    /// speaker logs in, while the broadcast runs. Written by the controller, not an agent.
    Unreachable,
    /// The agent has it and waits for its start.
    Waiting,
    /// Playing (first start or a resume).
    Playing,
    /// Interrupted by a higher-priority broadcast; may resume.
    Preempted,
    /// Played to the end. Final.
    Done,
    /// Could not be played. Final.
    Failed,
    /// Stopped before its end. Final.
    Cancelled,
}

impl ReceiptStatus {
    /// Every state, in the order above.
    pub const ALL: [Self; 7] = [
        Self::Unreachable,
        Self::Waiting,
        Self::Playing,
        Self::Preempted,
        Self::Done,
        Self::Failed,
        Self::Cancelled,
    ];

    /// Its name on the wire, in the API and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Waiting => "waiting",
            Self::Playing => "playing",
            Self::Preempted => "preempted",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// `done`, `failed` and `cancelled`: nothing the agent says later changes it, and the
    /// broadcast is never sent to that agent again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    /// The agent's state as its receipt says, with the failure's reason and detail.
    pub fn of_receipt(s: &dalaba_protocol::control::ReceiptState) -> (Self, Option<String>) {
        use dalaba_protocol::control::ReceiptState as R;
        match s {
            R::Waiting => (Self::Waiting, None),
            R::Playing => (Self::Playing, None),
            R::Done => (Self::Done, None),
            R::Failed { reason, detail } => (
                Self::Failed,
                Some(match detail {
                    Some(d) => format!("{reason:?}: {d}"),
                    None => format!("{reason:?}"),
                }),
            ),
            R::Preempted { by } => (Self::Preempted, Some(format!("by broadcast {}", by.0))),
            R::Cancelled => (Self::Cancelled, None),
        }
    }
}

/// How many of `receipts` (one per speaker) are in each state.
pub fn counts(receipts: &[ReceiptRecord]) -> std::collections::BTreeMap<ReceiptStatus, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for r in receipts {
        *counts.entry(r.state).or_insert(0) += 1;
    }
    counts
}

/// One agent's latest receipt for one broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReceiptRecord {
    /// The broadcast.
    pub broadcast_id: u64,
    /// The agent.
    pub agent_id: String,
    /// Where it stands.
    pub state: ReceiptStatus,
    /// Failure reason and detail.
    pub detail: Option<String>,
    /// When (controller time, µs).
    pub at: u64,
    /// When it first started playing (controller time, µs), once it has.
    pub started_at: Option<u64>,
    /// When it last resumed after an interruption (controller time, µs), if it has.
    pub resumed_at: Option<u64>,
}

impl ReceiptRecord {
    /// A report of `state` at `at`; the start times are the store's to keep.
    pub fn new(
        broadcast_id: u64,
        agent_id: impl Into<String>,
        state: ReceiptStatus,
        detail: Option<String>,
        at: u64,
    ) -> Self {
        Self {
            broadcast_id,
            agent_id: agent_id.into(),
            state,
            detail,
            at,
            started_at: None,
            resumed_at: None,
        }
    }

    /// This record after a new report `next`, or `None` if the report changes nothing
    /// (this record is final).
    pub fn followed_by(&self, next: &ReceiptRecord) -> Option<ReceiptRecord> {
        if self.state.is_final() {
            return None;
        }
        let playing = next.state == ReceiptStatus::Playing;
        Some(ReceiptRecord {
            started_at: self.started_at.or(playing.then_some(next.at)),
            resumed_at: if playing && self.started_at.is_some() {
                Some(next.at)
            } else {
                self.resumed_at
            },
            ..next.clone()
        })
    }

    /// The record a first report makes.
    pub fn first(report: &ReceiptRecord) -> ReceiptRecord {
        ReceiptRecord {
            started_at: (report.state == ReceiptStatus::Playing).then_some(report.at),
            resumed_at: None,
            ..report.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_three_are_final() {
        for s in ReceiptStatus::ALL {
            assert_eq!(ReceiptStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        let finals: Vec<_> = ReceiptStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [
                ReceiptStatus::Done,
                ReceiptStatus::Failed,
                ReceiptStatus::Cancelled
            ]
        );
        assert_eq!(ReceiptStatus::parse("finished"), None);
    }
}
