//! The daily programme: playlists, schedules (with their next start times and past runs)
//! and quiet hours. Every change wakes the [`crate::scheduler`], which plans anew and
//! re-sends the agents' schedules. The HTTP face is `http::programme`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::Action;
use crate::auth::AuthUser;
use crate::calendar::HolidayCalendar;
use crate::error::AppError;
use crate::schedule::{PlaylistSpec, QuietHours, ScheduleSpec, parse_tz};
use crate::scheduler::{self, StoredPlaylist, StoredSchedule};
use crate::state::AppState;
use crate::storage::{AgentRecord, MediaState, Stored};
use dalaba_protocol::Priority;

fn bad(e: impl std::fmt::Display) -> AppError {
    AppError::BadRequest(e.to_string())
}

fn changed(state: &AppState) {
    state.scheduler.changed.notify_one();
}

/// Gives each item that is a typed notice its speech (made once per text).
async fn speak_notices(state: &AppState, spec: &mut PlaylistSpec) -> Result<(), AppError> {
    for (i, item) in spec.items.iter_mut().enumerate() {
        let Some(text) = &item.text else { continue };
        crate::tts::check_text(text).map_err(|e| bad(format!("items[{i}].{e}")))?;
        item.media_id = crate::tts::speak(state, text, None)
            .await
            .map_err(|e| match e {
                AppError::Internal(e) => {
                    AppError::Conflict(format!("items[{i}]: the text could not be spoken: {e:#}"))
                }
                other => other,
            })?;
    }
    Ok(())
}

fn check_playlist(state: &AppState, p: &PlaylistSpec) -> Result<(), AppError> {
    p.check().map_err(bad)?;
    for id in p.media_ids() {
        let media = state
            .storage
            .media(id)?
            .ok_or_else(|| bad(format!("no media {id}")))?;
        if media.state == MediaState::Failed {
            return Err(bad(format!("media {id} failed to transcode")));
        }
    }
    Ok(())
}

fn playlist_json(id: u64, p: &StoredPlaylist, updated_at: u64) -> Value {
    json!({"id": id, "updated_at": updated_at, "name": p.spec.name,
           "jingle_media_id": p.spec.jingle_media_id, "items": p.spec.items,
           "owner": p.owner, "areas": p.areas})
}

/// Whether `user` sees a document scoped to `areas` (empty: everywhere): the two overlap.
fn sees_areas(user: &AuthUser, areas: &[String]) -> bool {
    user.unscoped()
        || areas.is_empty()
        || areas
            .iter()
            .any(|a| user.covers_area(a) || user.scopes.iter().any(|s| s.starts_with(a.as_str())))
}

/// Playlist `id`, if `user` may see it.
fn load_playlist(
    state: &AppState,
    user: &AuthUser,
    id: u64,
) -> Result<(StoredPlaylist, u64), AppError> {
    let d = state
        .storage
        .load::<StoredPlaylist>(id)?
        .ok_or_else(|| AppError::NotFound(format!("playlist {id}")))?;
    if !sees_areas(user, &d.doc.areas) {
        return Err(AppError::NotFound(format!("playlist {id}")));
    }
    Ok((d.doc, d.updated_at))
}

/// Refuses unless `user` covers all of a playlist's scope (an everywhere playlist: admins).
fn may_change(user: &AuthUser, id: u64, p: &StoredPlaylist) -> Result<(), AppError> {
    let covered = if p.areas.is_empty() {
        user.unscoped()
    } else {
        p.areas.iter().all(|a| user.covers_area(a))
    };
    if covered {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "playlist {id} belongs to areas beyond yours ({})",
            if p.areas.is_empty() {
                "everywhere".to_owned()
            } else {
                p.areas.join(", ")
            }
        )))
    }
}

/// The playlists whose areas overlap the user's.
pub fn list_playlists(state: &AppState, user: &AuthUser) -> Result<Value, AppError> {
    user.require(Action::View)?;
    let mut out = Vec::new();
    for d in state.storage.load_all::<StoredPlaylist>()? {
        if sees_areas(user, &d.doc.areas) {
            out.push(playlist_json(d.id, &d.doc, d.updated_at));
        }
    }
    Ok(Value::Array(out))
}

/// Creates a playlist: the user's, scoped to their areas.
pub async fn create_playlist(
    state: &AppState,
    user: &AuthUser,
    mut spec: PlaylistSpec,
) -> Result<Value, AppError> {
    user.require(Action::Programme)?;
    spec.check().map_err(bad)?;
    speak_notices(state, &mut spec).await?;
    check_playlist(state, &spec)?;
    let now = state.clock.now_us();
    let stored = StoredPlaylist {
        spec,
        owner: Some(user.id),
        areas: if user.unscoped() {
            Vec::new()
        } else {
            user.scopes.clone()
        },
    };
    let id = state.storage.insert(&stored, now)?;
    tracing::info!(user = %user.name, playlist = id, "playlist created");
    Ok(playlist_json(id, &stored, now))
}

/// Playlist `id`, if `user` sees it.
pub fn get_playlist(state: &AppState, user: &AuthUser, id: u64) -> Result<Value, AppError> {
    user.require(Action::View)?;
    let (p, updated_at) = load_playlist(state, user, id)?;
    Ok(playlist_json(id, &p, updated_at))
}

/// Changes playlist `id`, by a user covering its areas; schedules that play it are
/// planned anew, and those approved by a second person wait for approval again.
pub async fn update_playlist(
    state: &AppState,
    user: &AuthUser,
    id: u64,
    mut spec: PlaylistSpec,
) -> Result<Value, AppError> {
    user.require(Action::Programme)?;
    let (old, _) = load_playlist(state, user, id)?;
    may_change(user, id, &old)?;
    spec.check().map_err(bad)?;
    speak_notices(state, &mut spec).await?;
    check_playlist(state, &spec)?;
    let now = state.clock.now_us();
    let stored = StoredPlaylist { spec, ..old };
    if !state.storage.save(id, &stored, now)? {
        return Err(AppError::NotFound(format!("playlist {id}")));
    }
    let content = stored.content();
    let mut held_again = Vec::new();
    for Stored {
        id: sid,
        doc: mut s,
        ..
    } in scheduler::schedules(state)?
    {
        if s.spec.playlist_id != id {
            continue;
        }
        // An approval binds to the content approved.
        if let (Some(by), Some(approved)) = (&s.approved_by, &s.approved_content) {
            if *approved != content {
                s.held = Some(format!(
                    "its playlist {id} was changed by {} after {by} approved it",
                    user.name
                ));
                s.approved_by = None;
                s.approved_content = None;
                state.storage.save(sid, &s, now)?;
                held_again.push(sid);
            }
        }
        scheduler::forget_future(state, sid, now)?;
    }
    changed(state);
    tracing::info!(user = %user.name, playlist = id, ?held_again, "playlist changed");
    let mut out = playlist_json(id, &stored, now);
    out["schedules_held_again"] = json!(held_again);
    Ok(out)
}

/// Deletes playlist `id`, by a user covering its areas; refused while a schedule
/// uses it.
pub fn delete_playlist(state: &AppState, user: &AuthUser, id: u64) -> Result<(), AppError> {
    user.require(Action::Programme)?;
    let (old, _) = load_playlist(state, user, id)?;
    may_change(user, id, &old)?;
    if let Some(s) = scheduler::schedules(state)?
        .into_iter()
        .find(|s| s.doc.spec.playlist_id == id)
    {
        return Err(AppError::Conflict(format!(
            "schedule {} ({}) plays this playlist",
            s.id, s.doc.spec.name
        )));
    }
    if !state.storage.remove::<StoredPlaylist>(id)? {
        return Err(AppError::NotFound(format!("playlist {id}")));
    }
    tracing::info!(user = %user.name, playlist = id, "playlist deleted");
    Ok(())
}

/// Checks a schedule; returns why it must wait for approval, if it must.
fn check_schedule(
    state: &AppState,
    user: &AuthUser,
    spec: &ScheduleSpec,
) -> Result<Option<String>, AppError> {
    spec.compile().map_err(bad)?;
    match scheduler::playlist(state, spec.playlist_id)? {
        Some(p) if sees_areas(user, &p.areas) => {}
        _ => return Err(bad(format!("no playlist {}", spec.playlist_id))),
    }
    // A scoped operator's schedule may reach only their speakers, now; targets are
    // resolved again (and checked against the author's scope) whenever a start is planned.
    let all = state.storage.agents()?;
    let chosen = spec.target.resolve_for(user, &all)?;
    let reached: Vec<_> = all.iter().filter(|a| chosen.contains(&a.id)).collect();
    // Quiet hours are already kept by the scheduler: only the width of the target counts.
    crate::approval::reason(state, &spec.target, &reached, Priority::Emergency, 0)
}

/// Schedule `id` and when it last changed.
fn load_schedule(state: &AppState, id: u64) -> Result<(StoredSchedule, u64), AppError> {
    let d = state
        .storage
        .load::<StoredSchedule>(id)?
        .ok_or_else(|| AppError::NotFound(format!("schedule {id}")))?;
    Ok((d.doc, d.updated_at))
}

/// Every agent, as a scoped user's view of schedules needs them (which speakers each
/// reaches); none for an unscoped user, who sees every schedule.
fn agents_for(state: &AppState, user: &AuthUser) -> Result<Vec<AgentRecord>, AppError> {
    Ok(if user.unscoped() {
        Vec::new()
    } else {
        state.storage.agents()?
    })
}

/// Whether `user` sees schedule `s`: theirs, or it reaches one of their speakers (among
/// `all`, from [`agents_for`]).
pub(crate) fn sees_schedule(user: &AuthUser, s: &StoredSchedule, all: &[AgentRecord]) -> bool {
    if user.unscoped() || s.created_by == user.id {
        return true;
    }
    match s.spec.target.resolve(all) {
        Ok(reached) => all
            .iter()
            .any(|a| reached.contains(&a.id) && user.covers(a.area_code.as_str())),
        Err(_) => false,
    }
}

/// Refuses to let a scoped user change a schedule that reaches outside their areas.
fn in_scope(state: &AppState, user: &AuthUser, s: &StoredSchedule) -> Result<(), AppError> {
    let all = agents_for(state, user)?;
    if !sees_schedule(user, s, &all) {
        return Err(AppError::NotFound("schedule".into()));
    }
    if user.unscoped() {
        return Ok(());
    }
    match s.spec.target.resolve_for(user, &all) {
        Err(e @ AppError::Forbidden(_)) => Err(e),
        _ => Ok(()),
    }
}

/// Query of `GET /api/schedules/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextQuery {
    /// How many next start times to list (default 10, at most 100).
    pub next: Option<usize>,
}

fn iso(us: u64, tz: &str) -> String {
    let t = DateTime::<Utc>::from_timestamp_micros(us as i64).unwrap_or_default();
    match parse_tz(tz) {
        Ok(tz) => t.with_timezone(&tz).to_rfc3339(),
        Err(_) => t.to_rfc3339(),
    }
}

fn schedule_json(
    state: &AppState,
    id: u64,
    stored: &StoredSchedule,
    updated_at: u64,
    next: usize,
) -> Result<Value, AppError> {
    let now = state.clock.now_us();
    let spec = &stored.spec;
    let calendar = state.storage.setting::<HolidayCalendar>()?;
    let next_runs: Vec<Value> = match (spec.enabled, spec.compile()) {
        (true, Ok(c)) => c
            .occurrences(now, u64::MAX, next, &calendar)
            .into_iter()
            .map(|t| json!({"at": t, "local": iso(t, &spec.time_zone)}))
            .collect(),
        _ => Vec::new(),
    };
    let runs = state
        .storage
        .runs(Some(id), now.saturating_sub(7 * 24 * 3600 * 1_000_000))?;
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({"fire_at": r.fire_at, "local": iso(r.fire_at, &spec.time_zone),
                   "state": r.state, "broadcasts": r.broadcasts, "detail": r.detail})
        })
        .collect();
    let mut v = serde_json::to_value(spec).map_err(|e| AppError::Internal(e.into()))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(id));
        o.insert("created_by".into(), json!(stored.created_by));
        o.insert("held".into(), json!(stored.held));
        o.insert("approved_by".into(), json!(stored.approved_by));
        o.insert("rejected_by".into(), json!(stored.rejected_by));
        let author = state.storage.user_by_id(stored.created_by)?;
        o.insert("created_by_name".into(), json!(author.map(|u| u.name)));
        o.insert("updated_at".into(), json!(updated_at));
        o.insert("next_runs".into(), Value::Array(next_runs));
        o.insert("runs".into(), Value::Array(runs));
    }
    Ok(v)
}

/// Every schedule with its next three start times.
pub fn list_schedules(state: &AppState, user: &AuthUser) -> Result<Value, AppError> {
    user.require(Action::View)?;
    let all = agents_for(state, user)?;
    let mut out = Vec::new();
    for s in scheduler::schedules(state)? {
        if sees_schedule(user, &s.doc, &all) {
            out.push(schedule_json(state, s.id, &s.doc, s.updated_at, 3)?);
        }
    }
    Ok(Value::Array(out))
}

/// Creates a schedule (held for approval where the rule says so).
pub fn create_schedule(
    state: &AppState,
    user: &AuthUser,
    spec: ScheduleSpec,
) -> Result<Value, AppError> {
    user.require(Action::Programme)?;
    let held = check_schedule(state, user, &spec)?;
    let now = state.clock.now_us();
    let stored = StoredSchedule {
        spec,
        created_by: user.id,
        held,
        approved_by: None,
        approved_content: None,
        rejected_by: None,
    };
    let id = state.storage.insert(&stored, now)?;
    changed(state);
    tracing::info!(user = %user.name, schedule = id, "schedule created");
    schedule_json(state, id, &stored, now, 10)
}

/// The schedule, its next N start times and its runs of
/// the past week and the day ahead.
pub fn get_schedule(
    state: &AppState,
    user: &AuthUser,
    id: u64,
    q: NextQuery,
) -> Result<Value, AppError> {
    user.require(Action::View)?;
    let (stored, updated_at) = load_schedule(state, id)?;
    if !sees_schedule(user, &stored, &agents_for(state, user)?) {
        return Err(AppError::NotFound(format!("schedule {id}")));
    }
    schedule_json(
        state,
        id,
        &stored,
        updated_at,
        q.next.unwrap_or(10).min(100),
    )
}

/// Changes schedule `id`; its starts not yet begun are planned anew.
pub fn update_schedule(
    state: &AppState,
    user: &AuthUser,
    id: u64,
    spec: ScheduleSpec,
) -> Result<Value, AppError> {
    user.require(Action::Programme)?;
    let held = check_schedule(state, user, &spec)?;
    let now = state.clock.now_us();
    let (old, _) = load_schedule(state, id)?;
    in_scope(state, user, &old)?;
    // A change is the changer's: they answer for it (and a held change waits again).
    let stored = StoredSchedule {
        spec,
        created_by: user.id,
        held,
        approved_by: None,
        approved_content: None,
        rejected_by: None,
    };
    state.storage.save(id, &stored, now)?;
    scheduler::forget_future(state, id, now)?;
    changed(state);
    tracing::info!(user = %user.name, schedule = id, "schedule changed");
    schedule_json(state, id, &stored, now, 10)
}

/// Deletes schedule `id`; its starts not yet begun are withdrawn from the agents.
pub fn delete_schedule(state: &AppState, user: &AuthUser, id: u64) -> Result<(), AppError> {
    user.require(Action::Programme)?;
    let now = state.clock.now_us();
    let (old, _) = load_schedule(state, id)?;
    in_scope(state, user, &old)?;
    if !state.storage.remove::<StoredSchedule>(id)? {
        return Err(AppError::NotFound(format!("schedule {id}")));
    }
    scheduler::forget_future(state, id, now)?;
    changed(state);
    tracing::info!(user = %user.name, schedule = id, "schedule deleted");
    Ok(())
}

/// The quiet-hours rules.
pub fn get_quiet_hours(state: &AppState, user: &AuthUser) -> Result<Vec<QuietHours>, AppError> {
    user.require(Action::View)?;
    scheduler::quiet_hours(state)
}

/// Replaces every quiet-hours rule; every schedule is planned anew.
pub fn put_quiet_hours(
    state: &AppState,
    user: &AuthUser,
    rules: Vec<QuietHours>,
) -> Result<Vec<QuietHours>, AppError> {
    user.require(Action::Programme)?;
    if !user.unscoped() {
        return Err(AppError::Forbidden(
            "quiet hours are set for the whole platform, by an admin".into(),
        ));
    }
    for (i, r) in rules.iter().enumerate() {
        r.check().map_err(|e| bad(format!("rule {i}: {e}")))?;
        if rules[..i].iter().any(|o| o.area == r.area) {
            return Err(bad(format!("rule {i}: area {} appears twice", r.area)));
        }
    }
    state.storage.set_setting(&rules)?;
    replan_all(state)?;
    tracing::info!(user = %user.name, rules = rules.len(), "quiet hours set");
    Ok(rules)
}

/// The holiday calendar.
pub fn holidays(state: &AppState, user: &AuthUser) -> Result<HolidayCalendar, AppError> {
    user.require(Action::View)?;
    Ok(state.storage.setting::<HolidayCalendar>()?)
}

/// Replaces the holiday calendar (the whole platform's, so an unscoped user's); every
/// schedule is planned anew.
pub fn set_holidays(
    state: &AppState,
    user: &AuthUser,
    calendar: HolidayCalendar,
) -> Result<HolidayCalendar, AppError> {
    user.require(Action::Programme)?;
    if !user.unscoped() {
        return Err(AppError::Forbidden(
            "the holiday calendar is the whole platform's, set by an admin".into(),
        ));
    }
    let calendar = calendar.checked().map_err(bad)?;
    state.storage.set_setting(&calendar)?;
    replan_all(state)?;
    tracing::info!(user = %user.name, days = calendar.days.len(), "holiday calendar set");
    Ok(calendar)
}

/// Every schedule's starts not yet begun are planned anew (quiet hours or the calendar
/// changed).
fn replan_all(state: &AppState) -> Result<(), AppError> {
    let now = state.clock.now_us();
    for s in scheduler::schedules(state)? {
        scheduler::forget_future(state, s.id, now)?;
    }
    changed(state);
    Ok(())
}

/// Turns down a held schedule: a second authorised user covering its speakers, or its
/// author withdrawing it. It is kept, disabled, with who turned it down; it plans nothing.
pub fn reject_schedule(state: &AppState, user: &AuthUser, id: u64) -> Result<Value, AppError> {
    let (mut stored, _) = load_schedule(state, id)?;
    if stored.held.is_none() {
        return Err(AppError::Conflict(format!(
            "schedule {id} is not waiting for approval"
        )));
    }
    if stored.created_by != user.id {
        user.require(Action::Approve)?;
        stored
            .spec
            .target
            .resolve_for(user, &state.storage.agents()?)?;
    }
    stored.held = None;
    stored.spec.enabled = false;
    stored.rejected_by = Some(user.name.clone());
    let now = state.clock.now_us();
    state.storage.save(id, &stored, now)?;
    changed(state);
    tracing::info!(user = %user.name, schedule = id, "held schedule turned down");
    schedule_json(state, id, &stored, now, 10)
}

/// A second authorised user lets a held schedule run.
pub fn approve_schedule(state: &AppState, user: &AuthUser, id: u64) -> Result<Value, AppError> {
    user.require(Action::Approve)?;
    let (mut stored, _) = load_schedule(state, id)?;
    if stored.held.is_none() {
        return Err(AppError::Conflict(format!(
            "schedule {id} is not waiting for approval"
        )));
    }
    if stored.created_by == user.id {
        return Err(AppError::Forbidden(
            "a second person must approve: not the schedule's author".into(),
        ));
    }
    stored
        .spec
        .target
        .resolve_for(user, &state.storage.agents()?)?;
    let playlist = scheduler::playlist(state, stored.spec.playlist_id)?.ok_or_else(|| {
        AppError::Conflict(format!(
            "playlist {} no longer exists",
            stored.spec.playlist_id
        ))
    })?;
    stored.held = None;
    stored.approved_by = Some(user.name.clone());
    stored.approved_content = Some(playlist.content());
    let now = state.clock.now_us();
    state.storage.save(id, &stored, now)?;
    changed(state);
    tracing::info!(user = %user.name, schedule = id, "schedule approved");
    schedule_json(state, id, &stored, now, 10)
}
