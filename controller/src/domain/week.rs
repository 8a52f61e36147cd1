//! The week view: what the schedules will play where over seven days, with the quiet hours
//! and the holiday calendar, and the clashes marked before they happen: two runs due on the
//! same speaker at overlapping times (the agent would play the one that came first and cut
//! or delay the other).
//!
//! Read-only: it plans nothing and sends nothing. Days are local days in the default time
//! zone (`Asia/Shanghai`), the one the console shows.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{Datelike, Duration, NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};

use crate::access::Action;
use crate::areas::Names;
use crate::auth::AuthUser;
use crate::calendar::{CalendarDay, HolidayCalendar};
use crate::error::AppError;
use crate::programme::sees_schedule;
use crate::schedule::{DEFAULT_TIME_ZONE, Day, micros, parse_tz, plan, quiet_rule, utc};
use crate::scheduler::{self, StoredPlaylist};
use crate::state::AppState;

/// Query of `GET /api/programme/week`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WeekQuery {
    /// First day (local date); default today.
    #[param(value_type = Option<String>, example = "2026-12-07")]
    pub from: Option<NaiveDate>,
    /// Only speakers in this area (an area-code prefix: a county, township or village).
    pub area: Option<String>,
}

/// Seven days of the programme.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Week {
    /// The seven days, with their calendar entries.
    pub days: Vec<WeekDay>,
    /// Every run, earliest first.
    pub runs: Vec<WeekRun>,
    /// The quiet hours of the speakers in view, by rule.
    pub quiet: Vec<QuietBand>,
    /// Speakers in view.
    pub speakers: usize,
}

/// One day of the week view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WeekDay {
    /// The local date.
    #[schema(value_type = String)]
    pub date: NaiveDate,
    /// Its weekday.
    pub weekday: Day,
    /// A holiday or make-up workday, if the calendar has one.
    pub calendar: Option<CalendarDay>,
}

/// One start of one schedule, laid out in time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WeekRun {
    /// The schedule.
    pub schedule_id: u64,
    /// Its name.
    pub name: String,
    /// Its playlist's name.
    pub playlist: String,
    /// Day index in `days` (0 to 6).
    pub day: usize,
    /// Start and end, µs.
    pub start: u64,
    /// End of its last item, µs.
    pub end: u64,
    /// Start and end, local `HH:MM`.
    pub start_local: String,
    /// End, local `HH:MM`.
    pub end_local: String,
    /// How many speakers in view it plays on.
    pub speakers: usize,
    /// How many speakers in view it leaves out for their quiet hours.
    pub quiet: usize,
    /// It waits for a second person's approval: nothing plays until then.
    pub held: bool,
    /// Why its length is a guess (a playlist or media item missing or not ready).
    pub problem: Option<String>,
    /// Runs due on one of the same speakers while it plays.
    pub clashes: Vec<Clash>,
}

/// A run that overlaps another on shared speakers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Clash {
    /// The other schedule.
    pub schedule_id: u64,
    /// Its name.
    pub name: String,
    /// Its start, local `HH:MM`.
    pub start_local: String,
    /// Speakers both would play on.
    pub speakers: usize,
}

/// A quiet-hours rule that holds for speakers in view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuietBand {
    /// The rule's area prefix and its name.
    pub area: String,
    /// The area's name, if known.
    pub area_name: Option<String>,
    /// Local `HH:MM`.
    pub start: String,
    /// Local `HH:MM`.
    pub end: String,
    /// How many speakers in view it holds for.
    pub speakers: usize,
}

/// Runs that would play longer than this are cut here in the view (a broken playlist).
const LONGEST_US: u64 = 24 * 3600 * 1_000_000;

/// The week from `q.from` (default today) for the speakers the user sees in `q.area`.
pub fn week(state: &AppState, user: &AuthUser, q: WeekQuery) -> Result<Week, AppError> {
    user.require(Action::View)?;
    let tz = parse_tz(DEFAULT_TIME_ZONE).map_err(AppError::BadRequest)?;
    let first = q
        .from
        .unwrap_or_else(|| utc(state.clock.now_us()).with_timezone(&tz).date_naive());
    if let Some(area) = &q.area {
        if area.is_empty() || area.len() > 12 || !area.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AppError::BadRequest(format!(
                "area {area:?}: an area code of 1 to 12 digits"
            )));
        }
    }
    let midnight = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map(micros)
            .unwrap_or(0)
    };
    let dates: Vec<NaiveDate> = (0..7).map(|i| first + Duration::days(i)).collect();
    let (start_us, end_us) = (midnight(first), midnight(first + Duration::days(7)));
    let calendar = state.storage.setting::<HolidayCalendar>()?;
    let quiet_rules = scheduler::quiet_hours(state)?;
    let all = state.storage.agents()?;
    let in_view: BTreeMap<String, &str> = all
        .iter()
        .filter(|a| !a.retired && user.covers(a.area_code.as_str()))
        .filter(|a| {
            q.area
                .as_ref()
                .is_none_or(|p| a.area_code.as_str().starts_with(p.as_str()))
        })
        .map(|a| (a.id.to_string(), a.area_code.as_str()))
        .collect();

    let mut runs = Vec::new();
    let mut playing: Vec<BTreeSet<&str>> = Vec::new();
    for s in scheduler::schedules(state)? {
        let stored = &s.doc;
        if !stored.spec.enabled || !sees_schedule(user, stored, &all) {
            continue;
        }
        let Ok(compiled) = stored.spec.compile() else {
            continue;
        };
        let playlist = scheduler::playlist(state, stored.spec.playlist_id)?;
        let reached: HashSet<String> = match stored.spec.target.resolve(&all) {
            Ok(ids) => ids.iter().map(ToString::to_string).collect(),
            Err(_) => HashSet::new(),
        };
        let speakers: Vec<(&str, &str)> = in_view
            .iter()
            .filter(|(id, area)| {
                reached.contains(id.as_str()) && playlist.as_ref().is_none_or(|p| p.reaches(area))
            })
            .map(|(id, area)| (id.as_str(), *area))
            .collect();
        if speakers.is_empty() {
            continue;
        }
        for at in compiled.occurrences(start_us.saturating_sub(1), end_us - 1, 500, &calendar) {
            let (length, problem) = length_of(state, playlist.as_ref(), at)?;
            let (quiet, on): (Vec<_>, Vec<_>) = speakers.iter().partition(|(_, area)| {
                quiet_rule(&quiet_rules, area).is_some_and(|r| r.contains(at))
            });
            let local = utc(at).with_timezone(&tz);
            let end = at + length.min(LONGEST_US);
            runs.push(WeekRun {
                schedule_id: s.id,
                name: stored.spec.name.clone(),
                playlist: playlist
                    .as_ref()
                    .map(|p| p.spec.name.clone())
                    .unwrap_or_default(),
                day: dates
                    .iter()
                    .position(|d| *d == local.date_naive())
                    .unwrap_or(0),
                start: at,
                end,
                start_local: local.format("%H:%M").to_string(),
                end_local: utc(end).with_timezone(&tz).format("%H:%M").to_string(),
                speakers: on.len(),
                quiet: quiet.len(),
                held: stored.held.is_some(),
                problem,
                clashes: Vec::new(),
            });
            playing.push(on.iter().map(|(id, _)| *id).collect());
        }
    }
    mark_clashes(&mut runs, &playing);
    runs.sort_by_key(|r| (r.start, r.schedule_id));

    let names = Names::load(state)?;
    let mut bands: BTreeMap<&str, QuietBand> = BTreeMap::new();
    for area in in_view.values() {
        if let Some(rule) = quiet_rule(&quiet_rules, area) {
            bands
                .entry(rule.area.as_str())
                .or_insert_with(|| QuietBand {
                    area: rule.area.clone(),
                    area_name: names.full(&rule.area),
                    start: rule.start.clone(),
                    end: rule.end.clone(),
                    speakers: 0,
                })
                .speakers += 1;
        }
    }
    Ok(Week {
        days: dates
            .iter()
            .map(|&date| WeekDay {
                date,
                weekday: Day::from(date.weekday()),
                calendar: calendar.day(date).cloned(),
            })
            .collect(),
        runs,
        quiet: bands.into_values().collect(),
        speakers: in_view.len(),
    })
}

/// How long a run of `playlist` starting at `at` plays, µs, and why that is a guess.
fn length_of(
    state: &AppState,
    playlist: Option<&StoredPlaylist>,
    at: u64,
) -> Result<(u64, Option<String>), AppError> {
    let Some(playlist) = playlist else {
        return Ok((0, Some("its playlist no longer exists".into())));
    };
    let mut durations = BTreeMap::new();
    for id in playlist.spec.media_ids() {
        let ms = state
            .storage
            .media(id)?
            .and_then(|m| m.media_ref().ok().flatten())
            .map(|r| r.duration_ms);
        if let Some(ms) = ms {
            durations.insert(id, ms);
        }
    }
    Ok(
        match plan(&playlist.spec, at, |id| durations.get(&id).copied()) {
            Ok(items) => (items.last().map_or(0, |i| i.end_at - at), None),
            Err(why) => (0, Some(why)),
        },
    )
}

/// Marks every pair of runs that overlap in time on at least one shared speaker.
fn mark_clashes(runs: &mut [WeekRun], playing: &[BTreeSet<&str>]) {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&i| runs[i].start);
    let mut found = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        for &j in &order[k + 1..] {
            if runs[j].start >= runs[i].end.max(runs[i].start + 1) {
                break;
            }
            let shared = playing[i].intersection(&playing[j]).count();
            if shared > 0 {
                found.push((i, j, shared));
            }
        }
    }
    for (i, j, shared) in found {
        let clash = |r: &WeekRun| Clash {
            schedule_id: r.schedule_id,
            name: r.name.clone(),
            start_local: r.start_local.clone(),
            speakers: shared,
        };
        let (to_i, to_j) = (clash(&runs[j]), clash(&runs[i]));
        runs[i].clashes.push(to_i);
        runs[j].clashes.push(to_j);
    }
}
