//! The broadcast log: every broadcast (operators' media, scheduled items, live calls,
//! alerts) the user may see, newest first, with its receipts per speaker and its coverage
//! (the share of targeted speakers that confirmed playing), overall and per village.
//! Filtered by kind, area, time, or the approvals queue (held broadcasts); the HTTP face
//! also writes it as CSV.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::access::Action;
use crate::auth::AuthUser;
use crate::broadcast_spec::{BroadcastKind, BroadcastSpec, Target};
use crate::error::AppError;
use crate::receipt::{ReceiptRecord, ReceiptStatus};
use crate::state::AppState;

/// Query of `GET /api/broadcasts`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many (default 50, at most 500; CSV: at most 10,000).
    pub limit: Option<usize>,
    /// Only broadcasts with smaller ids (the next page).
    pub before: Option<u64>,
    /// `true`: only those waiting for a second person's approval.
    pub held: Option<bool>,
    /// Only this kind: `media`, `scheduled`, `live` or `alert`.
    pub kind: Option<BroadcastKind>,
    /// Only those that reached a speaker in this area (a code or its prefix).
    pub area: Option<String>,
    /// Only those starting at or after this time (µs since 1970).
    pub since: Option<u64>,
    /// Only those starting before this time (µs since 1970).
    pub until: Option<u64>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Most speakers a broadcast may reach for the log to list each one's receipt: above,
/// `receipt_counts` says how many are in each state and the broadcast's own record
/// (`GET /api/broadcasts/{id}`) lists them (a log of 50 county-wide broadcasts with every
/// receipt was half a million records, about 70 MB of JSON).
pub const LISTED: usize = 300;

/// How many of the targeted speakers confirmed playing.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    /// Speakers it was sent to.
    pub targeted: usize,
    /// Of those, how many confirmed playing.
    pub confirmed_playing: usize,
    /// `confirmed_playing / targeted` (0 for none targeted).
    pub ratio: f64,
}

impl Coverage {
    fn add(&mut self, played: bool) {
        self.targeted += 1;
        self.confirmed_playing += usize::from(played);
        self.ratio = self.confirmed_playing as f64 / self.targeted as f64;
    }
}

/// One village's share of a broadcast.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VillageCoverage {
    /// The village's code.
    pub code: String,
    /// Its name (county, township, village), if named.
    pub name: Option<String>,
    /// Its speakers' coverage.
    #[serde(flatten)]
    pub coverage: Coverage,
}

/// One broadcast in the log.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    /// Its id.
    pub id: u64,
    /// What kind.
    pub kind: BroadcastKind,
    /// Who made it (a user id).
    pub created_by: Option<i64>,
    /// Their name.
    pub created_by_name: Option<String>,
    /// When it was made, µs.
    pub created_at: u64,
    /// When it starts, µs.
    pub start_at: Option<u64>,
    /// When it was stopped (or turned down), µs.
    pub stopped_at: Option<u64>,
    /// What it was aimed at.
    pub target: Option<Target>,
    /// The speakers it reached.
    pub agents: Vec<String>,
    /// A scheduled item's speakers left out, with why.
    pub excluded: Option<Vec<(String, String)>>,
    /// Why it waits for a second person, while it does.
    pub held: Option<String>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// Who turned it down.
    pub rejected_by: Option<String>,
    /// The schedule it came from.
    pub schedule_id: Option<u64>,
    /// The media played.
    pub media_id: Option<u64>,
    /// The latest receipt of each speaker, for a broadcast to at most [`LISTED`] (300)
    /// speakers; none above (`receipts_listed` false).
    #[schema(value_type = Vec<Object>)]
    pub receipts: Vec<ReceiptRecord>,
    /// Whether `receipts` holds every speaker's.
    pub receipts_listed: bool,
    /// How many speakers' latest receipt is in each state (`done`: 9,870, …).
    #[schema(value_type = Object)]
    pub receipt_counts: BTreeMap<ReceiptStatus, usize>,
    /// Coverage over all its speakers.
    pub coverage: Coverage,
    /// Coverage per village, by code.
    pub villages: Vec<VillageCoverage>,
}

/// The log as `q` asks, newest first.
pub fn list(state: &AppState, user: &AuthUser, q: &ListQuery) -> Result<Vec<LogEntry>, AppError> {
    user.require(Action::View)?;
    let areas = crate::broadcast::areas_of(state)?;
    let names = crate::areas::Names::load(state)?;
    let users: HashMap<i64, String> = state
        .storage
        .users()?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let csv = q.format.as_deref() == Some("csv");
    let limit = q
        .limit
        .unwrap_or(if csv { 10_000 } else { 50 })
        .clamp(1, if csv { 10_000 } else { 500 });
    let filtered = q.held.is_some()
        || q.kind.is_some()
        || q.area.is_some()
        || q.since.is_some()
        || q.until.is_some();
    // Filters look further back than the page they fill.
    let scan = if filtered { 10_000 } else { limit };
    let mut out = Vec::new();
    for b in state.storage.broadcasts(scan, q.before)? {
        if out.len() >= limit {
            break;
        }
        let spec = &b.spec;
        let targeted = spec.agents();
        if !crate::broadcast::visible(user, targeted, &areas) {
            continue;
        }
        let area_of = |a: &String| areas.get(a).map(String::as_str).unwrap_or_default();
        let waiting =
            matches!(spec, BroadcastSpec::Media(m) if m.held.is_some()) && b.stopped_at.is_none();
        let start = spec.start_at().unwrap_or(b.created_at);
        if (q.held == Some(true) && !waiting)
            || q.kind.is_some_and(|k| k != spec.kind())
            || q.area
                .as_deref()
                .is_some_and(|p| !targeted.iter().any(|a| area_of(a).starts_with(p)))
            || q.since.is_some_and(|t| start < t)
            || q.until.is_some_and(|t| start >= t)
        {
            continue;
        }
        let receipts = state.storage.receipts(b.id)?;
        // A set: looking each of a county's speakers up in a list was 10⁸ comparisons for
        // one broadcast to 10,000.
        let played: std::collections::HashSet<&str> = receipts
            .iter()
            .filter(|r| r.started_at.is_some())
            .map(|r| r.agent_id.as_str())
            .collect();
        let mut coverage = Coverage::default();
        let mut villages: BTreeMap<String, Coverage> = BTreeMap::new();
        for a in targeted {
            let hit = played.contains(&a.as_str());
            coverage.add(hit);
            villages.entry(area_of(a).to_owned()).or_default().add(hit);
        }
        let (held, approved_by, rejected_by) = match spec {
            BroadcastSpec::Media(m) => {
                (m.held.clone(), m.approved_by.clone(), m.rejected_by.clone())
            }
            _ => (None, None, None),
        };
        let receipt_counts = crate::receipt::counts(&receipts);
        let receipts_listed = targeted.len() <= LISTED;
        let (schedule_id, excluded) = match spec {
            BroadcastSpec::Scheduled(s) => (Some(s.schedule_id), Some(s.excluded.clone())),
            _ => (None, None),
        };
        out.push(LogEntry {
            id: b.id,
            kind: spec.kind(),
            created_by: b.created_by,
            created_by_name: b.created_by.and_then(|id| users.get(&id).cloned()),
            created_at: b.created_at,
            start_at: spec.start_at(),
            stopped_at: b.stopped_at,
            target: spec.target().cloned(),
            agents: targeted.to_vec(),
            excluded,
            held,
            approved_by,
            rejected_by,
            schedule_id,
            media_id: spec.media_id(),
            receipts: if receipts_listed {
                receipts
            } else {
                Vec::new()
            },
            receipts_listed,
            receipt_counts,
            coverage,
            villages: villages
                .into_iter()
                .map(|(code, coverage)| VillageCoverage {
                    // Named only when the village itself has a name (not just its county).
                    name: names.name(&code).and_then(|_| names.full(&code)),
                    code,
                    coverage,
                })
                .collect(),
        });
    }
    Ok(out)
}
