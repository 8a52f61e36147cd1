//! The scheduler: turns schedules into broadcasts a day ahead, and keeps every agent's
//! offline schedule up to date.
//!
//! How a schedule reaches a speaker:
//! 1. [`tick`] looks at each enabled schedule's start times up to [`HORIZON_US`] ahead and
//!    *claims* each one in storage (one row per schedule and start time). Only the caller
//!    whose claim inserted the row plans it, so a restart or a second tick never plays a
//!    start twice.
//! 2. A claimed start becomes one broadcast per playlist item (one receipt per item per
//!    agent), with its start time laid out end to end. Speakers in quiet hours at that
//!    time are left out (and named in the run's detail).
//! 3. [`sync`] sends each agent a signed `schedule_sync` with every upcoming item it is in.
//!    The agent stores it and plays each item at its time, whether or not the controller is
//!    reachable then; receipts follow when it is back. Scheduled content travels *only*
//!    this way, so it is never played twice by two paths.
//!
//! Catch-up policy (a controller that was down): starts it had already planned were played
//! by the agents from their stored schedules. A start it never planned is planned late if
//! its playlist would still be playing (agents join it at the right offset, items already
//! over are left out); one whose playlist would have ended is recorded as `missed` and not
//! played late. It looks back at most [`LOOKBACK_US`].

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash as _, Hasher as _};

use dalaba_protocol::command::{Command, PlayMedia, ScheduleEntry, ScheduleSync};
use dalaba_protocol::{AgentId, BroadcastId, Mode, Timestamp};
use serde::{Deserialize, Serialize};

use crate::broadcast_spec::{BroadcastSpec, ScheduledSpec};
use crate::calendar::HolidayCalendar;
use crate::error::AppError;
use crate::schedule::{PlaylistSpec, QuietHours, ScheduleSpec, plan, quiet_rule};
use crate::sent::PlannedItem;
use crate::state::AppState;
use crate::storage::{Document, RunRecord, RunState, Setting, Stored};

/// How far ahead starts are planned and sent to agents.
pub const HORIZON_US: u64 = 24 * 3600 * 1_000_000;
/// How far back a controller that was down looks for starts it never planned.
pub const LOOKBACK_US: u64 = 24 * 3600 * 1_000_000;
/// Most entries in one agent's schedule (the signed message must stay under the protocol's
/// payload limit; 200 entries are about 100 KB).
pub const MAX_ENTRIES: usize = 200;

/// Document kinds in storage.
pub const PLAYLIST: &str = "playlist";
/// Document kind of schedules.
pub const SCHEDULE: &str = "schedule";
/// Meta key of the quiet-hours rules.
pub const QUIET_HOURS_KEY: &str = "quiet_hours";

/// A stored schedule: the spec plus who wrote it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredSchedule {
    /// The schedule.
    #[serde(flatten)]
    pub spec: ScheduleSpec,
    /// Its author, who its broadcasts are attributed to.
    pub created_by: i64,
    /// Why it waits for a second person's approval (the approval rule), while it does;
    /// nothing of it is planned until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// Who approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The playlist's [`StoredPlaylist::content`] when it was approved: an approval binds
    /// to what was approved, and a schedule whose playlist changed since is held again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_content: Option<String>,
    /// Who turned it down while it was held (it was disabled then); a change clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
}

/// A stored playlist: the spec plus its owner and scope.
///
/// The scope is the owner's areas when it was made (empty: everywhere, an admin's). Only a
/// user covering all of it may change or delete it, and when a schedule plays it, speakers
/// outside it are left out: a village operator's playlist never sounds beyond the village,
/// whoever's schedule plays it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredPlaylist {
    /// The playlist.
    #[serde(flatten)]
    pub spec: PlaylistSpec,
    /// Who made it; `None` for one made before owners were recorded and no admin existed.
    #[serde(default)]
    pub owner: Option<i64>,
    /// Area-code prefixes it may play in; empty: everywhere.
    #[serde(default)]
    pub areas: Vec<String>,
}

impl StoredPlaylist {
    /// Whether a speaker with `area_code` lies inside the playlist's scope.
    pub fn reaches(&self, area_code: &str) -> bool {
        self.areas.is_empty() || self.areas.iter().any(|a| area_code.starts_with(a.as_str()))
    }

    /// A fingerprint of what it plays (items, order, repeats, gaps, jingle): what an
    /// approval of a schedule binds to. Media items are content-addressed and never
    /// change, so their ids stand for their content.
    pub fn content(&self) -> String {
        let json = serde_json::to_vec(&self.spec).unwrap_or_default();
        dalaba_protocol::MediaHash::of(&json).to_string()
    }
}

impl Document for StoredSchedule {
    const KIND: &'static str = SCHEDULE;
}

impl Document for StoredPlaylist {
    const KIND: &'static str = PLAYLIST;
}

/// What one [`tick`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Starts planned and sent.
    pub planned: usize,
    /// Starts recorded as missed.
    pub missed: usize,
    /// Starts left out because every speaker was in quiet hours.
    pub quiet: usize,
    /// Starts that could not be planned.
    pub failed: usize,
}

impl TickReport {
    /// Whether anything new was recorded.
    pub fn changed(&self) -> bool {
        self.planned + self.missed + self.quiet + self.failed > 0
    }
}

/// Every schedule, by id.
pub fn schedules(state: &AppState) -> Result<Vec<Stored<StoredSchedule>>, AppError> {
    Ok(state.storage.load_all::<StoredSchedule>()?)
}

/// One playlist.
pub fn playlist(state: &AppState, id: u64) -> Result<Option<StoredPlaylist>, AppError> {
    Ok(state
        .storage
        .load::<StoredPlaylist>(id)?
        .map(|stored| stored.doc))
}

/// The quiet-hours rules.
pub fn quiet_hours(state: &AppState) -> Result<Vec<QuietHours>, AppError> {
    Ok(state.storage.setting::<Vec<QuietHours>>()?)
}

impl Setting for Vec<QuietHours> {
    const KEY: &'static str = QUIET_HOURS_KEY;
}

fn horizon_key(id: u64) -> String {
    format!("schedule.{id}.planned_until")
}

/// Forgets a schedule's plans after `now` (it was edited or deleted): the runs not yet
/// started are deleted and their broadcasts stopped; the next [`tick`] plans anew.
pub fn forget_future(state: &AppState, schedule_id: u64, now: u64) -> Result<(), AppError> {
    for run in state.storage.delete_runs_after(schedule_id, now)? {
        for b in run.broadcasts {
            state.storage.stop_broadcast(b, now)?;
        }
    }
    state
        .storage
        .set_meta(&horizon_key(schedule_id), &now.to_string())?;
    Ok(())
}

/// Plans every schedule's starts up to `now + HORIZON_US`.
pub fn tick(state: &AppState, now: u64) -> Result<TickReport, AppError> {
    let mut report = TickReport::default();
    let schedules = schedules(state)?;
    if schedules.is_empty() {
        return Ok(report);
    }
    let agents = state.storage.agents()?;
    let quiet = quiet_hours(state)?;
    let calendar = state.storage.setting::<HolidayCalendar>()?;
    let until = now + HORIZON_US;
    for Stored {
        id,
        doc: stored,
        updated_at,
    } in schedules
    {
        let spec = &stored.spec;
        if !spec.enabled || stored.held.is_some() {
            continue;
        }
        let compiled = match spec.compile() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(schedule = id, "schedule cannot run: {e}");
                continue;
            }
        };
        let planned_until = state
            .storage
            .meta(&horizon_key(id))?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        // Never before the schedule was written, nor further back than the look-back.
        let after = planned_until
            .max(updated_at.saturating_sub(1))
            .max(now.saturating_sub(LOOKBACK_US));
        for fire_at in compiled.occurrences(after, until, 10_000, &calendar) {
            let mut run = RunRecord {
                schedule_id: id,
                fire_at,
                state: RunState::Planning,
                broadcasts: Vec::new(),
                detail: None,
            };
            if !state.storage.claim_run(&run)? {
                continue; // planned before (a restart, or a concurrent tick)
            }
            match plan_run(state, id, &stored, &agents, &quiet, fire_at, now) {
                Ok(Planned::Sent(broadcasts, excluded)) => {
                    run.state = RunState::Planned;
                    run.broadcasts = broadcasts;
                    run.detail = (!excluded.is_empty()).then(|| excluded.join("; "));
                    report.planned += 1;
                }
                Ok(Planned::Missed) => {
                    run.state = RunState::Missed;
                    run.detail = Some("the controller was not running before it ended".into());
                    report.missed += 1;
                }
                Ok(Planned::Quiet(excluded)) => {
                    run.state = RunState::Quiet;
                    run.detail = Some(excluded.join("; "));
                    report.quiet += 1;
                }
                Err(why) => {
                    tracing::warn!(schedule = id, fire_at, "cannot plan: {why}");
                    run.state = RunState::Failed;
                    run.detail = Some(why);
                    report.failed += 1;
                }
            }
            state.storage.update_run(&run)?;
        }
        state
            .storage
            .set_meta(&horizon_key(id), &until.to_string())?;
    }
    if report.changed() {
        tracing::info!(?report, "schedules planned");
    }
    Ok(report)
}

enum Planned {
    Sent(Vec<u64>, Vec<String>),
    Missed,
    Quiet(Vec<String>),
}

fn plan_run(
    state: &AppState,
    schedule_id: u64,
    stored: &StoredSchedule,
    agents: &[crate::storage::AgentRecord],
    quiet: &[QuietHours],
    fire_at: u64,
    now: u64,
) -> Result<Planned, String> {
    let spec = &stored.spec;
    let stored_playlist = playlist(state, spec.playlist_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("playlist {} no longer exists", spec.playlist_id))?;
    if stored
        .approved_content
        .as_ref()
        .is_some_and(|c| *c != stored_playlist.content())
    {
        return Err(format!(
            "playlist {} changed after the schedule was approved",
            spec.playlist_id
        ));
    }
    let playlist = &stored_playlist.spec;
    let mut media = BTreeMap::new();
    for id in playlist.media_ids() {
        let m = state
            .storage
            .media(id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("media {id} no longer exists"))?;
        if let Some(r) = m.media_ref().map_err(|e| format!("media {id}: {e}"))? {
            media.insert(id, r);
        }
    }
    let items = plan(playlist, fire_at, |id| {
        media.get(&id).map(|m| m.duration_ms)
    })?;
    if items.last().is_none_or(|i| i.end_at <= now) {
        return Ok(Planned::Missed);
    }
    let chosen = spec.target.resolve(agents).map_err(|e| e.to_string())?;
    // The schedule acts for its author: their scope, checked at every start.
    let author = state
        .storage
        .user_by_id(stored.created_by)
        .map_err(|e| e.to_string())?
        .filter(|u| !u.disabled)
        .ok_or("the schedule's author no longer exists or is disabled")?;
    let author = crate::auth::AuthUser {
        id: author.id,
        name: author.name,
        role: author.role,
        scopes: author.scopes,
    };
    let mut included = Vec::new();
    let mut excluded = Vec::new();
    for id in chosen.into_vec() {
        let area = agents
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.area_code.to_string())
            .unwrap_or_default();
        if !author.covers(&area) {
            excluded.push(format!("{id}: outside the areas of {}", author.name));
            continue;
        }
        if !stored_playlist.reaches(&area) {
            excluded.push(format!(
                "{id}: outside the areas of playlist {}",
                spec.playlist_id
            ));
            continue;
        }
        match quiet_rule(quiet, &area) {
            Some(rule) if rule.contains(fire_at) => excluded.push(format!(
                "{id}: quiet hours {}-{} ({})",
                rule.start, rule.end, rule.area
            )),
            _ => included.push(id.to_string()),
        }
    }
    if included.is_empty() {
        return Ok(Planned::Quiet(excluded));
    }
    // The level is the author's over the speakers it reaches.
    let level = {
        let codes: Vec<&str> = agents
            .iter()
            .filter(|a| included.iter().any(|i| i == a.id.as_str()))
            .map(|a| a.area_code.as_str())
            .collect();
        author.level_over(codes)
    };
    let window = u64::from(spec.window_min) * 60_000_000;
    let mut broadcasts = Vec::new();
    for item in items.iter().filter(|i| i.end_at > now) {
        let id = state
            .storage
            .create_broadcast(Some(stored.created_by), now, &BroadcastSpec::Pending)
            .map_err(|e| e.to_string())?;
        let play = PlayMedia {
            broadcast_id: BroadcastId(id),
            media: media[&item.media_id].clone(),
            start_at: Timestamp(item.start_at),
            priority: spec.priority,
            level,
            volume: spec.volume,
            repeat: item.repeat,
            gap_ms: item.gap_ms,
            mode: Mode::Real,
            severity: None,
            on_preempt: spec.on_preempt,
            expires_at: Some(Timestamp(item.end_at + window)),
        };
        let described = BroadcastSpec::Scheduled(ScheduledSpec {
            schedule_id,
            fire_at,
            item: item.index,
            media_id: item.media_id,
            target: spec.target.clone(),
            agents: included.clone(),
            excluded: excluded
                .iter()
                .map(|e| {
                    let (a, why) = e.split_once(": ").unwrap_or((e, ""));
                    (a.to_owned(), why.to_owned())
                })
                .collect(),
            start_at: item.start_at,
            play,
        });
        state
            .storage
            .set_broadcast_spec(id, &described)
            .map_err(|e| e.to_string())?;
        broadcasts.push(id);
    }
    Ok(Planned::Sent(broadcasts, excluded))
}

/// Every agent's upcoming scheduled items at `now`, earliest first, at most
/// [`MAX_ENTRIES`] each.
pub fn entries(
    state: &AppState,
    now: u64,
) -> Result<HashMap<String, Vec<ScheduleEntry>>, AppError> {
    entries_of(state, now, None)
}

/// [`entries`], of one agent only when `only` names it.
fn entries_of(
    state: &AppState,
    now: u64,
    only: Option<&AgentId>,
) -> Result<HashMap<String, Vec<ScheduleEntry>>, AppError> {
    let mut out: HashMap<String, Vec<ScheduleEntry>> = HashMap::new();
    let ids: Vec<u64> = state
        .storage
        .runs(None, now.saturating_sub(LOOKBACK_US))?
        .into_iter()
        .filter(|run| run.state == RunState::Planned)
        .flat_map(|run| run.broadcasts)
        .collect();
    // Whether an item was stopped is read afresh each time; what it plays and to whom is
    // read and parsed once (`ScheduleSent::planned`).
    let stopped = state.storage.stopped_broadcasts(&ids)?;
    state.scheduler.keep_planned(&ids);
    for id in ids.iter().filter(|id| !stopped.contains(id)) {
        let Some(item) = state.scheduler.planned(*id, || planned_item(state, *id))? else {
            continue;
        };
        if item.play.expires_at.is_some_and(|t| t.0 <= now) {
            continue;
        }
        let entry = || ScheduleEntry {
            entry_id: item.entry_id,
            play: item.play.clone(),
        };
        match only {
            Some(agent) if item.agents.contains(agent.as_str()) => {
                out.entry(agent.to_string()).or_default().push(entry());
            }
            Some(_) => {}
            None => {
                for agent in &item.agents {
                    out.entry(agent.clone()).or_default().push(entry());
                }
            }
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|e| (e.play.start_at, e.play.broadcast_id));
        list.truncate(MAX_ENTRIES);
    }
    Ok(out)
}

/// Broadcast `id` as a planned item, if it is one (a scheduled broadcast whose
/// description has been written).
fn planned_item(state: &AppState, id: u64) -> Result<Option<PlannedItem>, AppError> {
    Ok(match state.storage.broadcast_spec(id)? {
        Some(BroadcastSpec::Scheduled(spec)) => Some(PlannedItem {
            entry_id: u64::from(spec.item),
            play: spec.play,
            agents: spec.agents.into_iter().collect(),
        }),
        _ => None,
    })
}

fn fingerprint(entries: &[ScheduleEntry]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for e in entries {
        e.play.broadcast_id.0.hash(&mut h);
        e.play.start_at.0.hash(&mut h);
    }
    entries.len().hash(&mut h);
    h.finish()
}

/// Sends each connected agent its schedule if it changed since it was last sent; with
/// `force` (an agent that just logged in), that agent only, regardless. Offline agents
/// are sent nothing: they get theirs when they log in. Returns how many were sent one.
pub fn sync(state: &AppState, now: u64, force: Option<&AgentId>) -> Result<usize, AppError> {
    let mut all = entries_of(state, now, force)?;
    // At a login, that agent's record only: reading every agent (and parsing every key)
    // at each login made a county's reconnect after a restart quadratic.
    let agents = match force {
        Some(id) => state.storage.agent(id)?.into_iter().collect(),
        None => state.storage.agents()?,
    };
    let mut sent = state.scheduler.sent();
    let mut to_send = Vec::new();
    let due = agents
        .iter()
        .filter(|a| !a.retired && state.hub.is_online(&a.id));
    for agent in due {
        let list = all.remove(agent.id.as_str()).unwrap_or_default();
        let print = fingerprint(&list);
        let forced = force == Some(&agent.id);
        // An agent never sent anything has nothing to forget: skip it until it has entries.
        let last = sent.get(&agent.id).copied();
        if forced || last.map_or(!list.is_empty(), |l| l != print) {
            to_send.push((agent.id.clone(), list, print));
        }
    }
    if to_send.is_empty() {
        return Ok(0);
    }
    let version = state.scheduler.next_version(state.storage.as_ref())?;
    let mut count = 0;
    for (agent, entries, print) in to_send {
        let command = Command::ScheduleSync(ScheduleSync {
            schedule_version: version,
            entries,
        });
        match crate::dispatch::send_command(state, &agent, command) {
            Ok(_) => {
                sent.insert(agent, print);
                count += 1;
            }
            // Offline: it gets its schedule when it logs in.
            Err(e) => tracing::debug!(agent = %agent, "schedule not sent: {e}"),
        }
    }
    Ok(count)
}

/// One pass: plan ([`tick`]), then send changed schedules to the agents online
/// ([`sync`]). It reads every agent and every schedule (tens of milliseconds for a
/// county), so it runs off the async runtime: the connections go on writing the live
/// frames queued to them meanwhile (held to one core, 5,000 agents' frames came late in a
/// burst every 30 s when it ran in place).
pub async fn pass(state: &AppState) {
    let state = state.clone();
    let done = crate::state::off_runtime(move || {
        let now = state.clock.now_us();
        tick(&state, now).and_then(|_| sync(&state, now, None))
    });
    if let Ok(Err(e)) = done.await {
        tracing::error!("scheduler: {e}");
    }
}

/// Runs the scheduler until the process ends: plans and syncs every 30 s, and at once when
/// schedules change.
pub async fn run(state: AppState) {
    loop {
        pass(&state).await;
        let changed = state.scheduler.changed.notified();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), changed).await;
    }
}
