//! Playlists, schedules and quiet hours: what plays when, as pure functions of time.
//!
//! Nothing here reads a clock or the database; the [`crate::scheduler`] feeds it both. A
//! schedule's cron expression is read in the schedule's own time zone (default
//! `Asia/Shanghai`), with the usual five fields (`minute hour day-of-month month
//! day-of-week`, Sunday = 0 or 7), then filtered by weekdays and a local date window.

use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use dalaba_protocol::Priority;
use dalaba_protocol::Volume;
use dalaba_protocol::command::OnPreempt;
use serde::{Deserialize, Serialize};

use crate::broadcast_spec::Target;
use crate::calendar::{Compiled, Holidays, When};

/// Time zone of a schedule that names none.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// An ordered list of media items, optionally opened by a jingle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaylistSpec {
    /// Shown in the console.
    pub name: String,
    /// Played once before the first item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jingle_media_id: Option<u64>,
    /// The items, in order. At least one, at most [`MAX_PLAYLIST_ITEMS`].
    pub items: Vec<PlaylistItem>,
}

/// Longest playlist.
pub const MAX_PLAYLIST_ITEMS: usize = 64;

/// One playlist item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaylistItem {
    /// A media library item; with `text`, the item that speaks it (set when the playlist
    /// is saved).
    #[serde(default)]
    pub media_id: u64,
    /// A notice to speak, instead of a media item: saved with its speech as `media_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Times to play it in a row (1 to 20).
    #[serde(default = "one")]
    pub repeat: u16,
    /// Silence after each play of it, ms (at most 10 minutes).
    #[serde(default)]
    pub gap_ms: u32,
}

fn one() -> u16 {
    1
}

impl PlaylistSpec {
    /// Checks the shape (media existence is checked when it is saved).
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err("name: 1 to 200 characters".into());
        }
        if self.items.is_empty() || self.items.len() > MAX_PLAYLIST_ITEMS {
            return Err(format!("items: 1 to {MAX_PLAYLIST_ITEMS}"));
        }
        for (i, item) in self.items.iter().enumerate() {
            if item.media_id == 0 && item.text.is_none() {
                return Err(format!("items[{i}]: media_id or text, what it plays"));
            }
            if !(1..=20).contains(&item.repeat) {
                return Err(format!("items[{i}].repeat: 1 to 20"));
            }
            if item.gap_ms > 600_000 {
                return Err(format!("items[{i}].gap_ms: at most 600000"));
            }
        }
        Ok(())
    }

    /// The media ids it uses, jingle first.
    pub fn media_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.jingle_media_id
            .into_iter()
            .chain(self.items.iter().map(|i| i.media_id))
    }
}

/// One play of a playlist, laid out in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedItem {
    /// Position in the run (0 is the jingle if there is one).
    pub index: u32,
    /// The media item.
    pub media_id: u64,
    /// When it starts, µs.
    pub start_at: u64,
    /// Times in a row.
    pub repeat: u16,
    /// Silence between repetitions, ms.
    pub gap_ms: u32,
    /// When it ends, µs (after its last repetition, before its trailing gap).
    pub end_at: u64,
}

/// Lays `playlist` out from `start_us`, given each media item's duration (ms). Items end to
/// end: an item's repetitions are separated by its gap, and its gap also follows it.
pub fn plan(
    playlist: &PlaylistSpec,
    start_us: u64,
    duration_ms: impl Fn(u64) -> Option<u64>,
) -> Result<Vec<PlannedItem>, String> {
    let jingle = playlist.jingle_media_id.map(|media_id| PlaylistItem {
        media_id,
        text: None,
        repeat: 1,
        gap_ms: 500,
    });
    let mut t = start_us;
    let mut out = Vec::new();
    for (index, item) in jingle.iter().chain(&playlist.items).enumerate() {
        let d = duration_ms(item.media_id)
            .ok_or_else(|| format!("media {} is not ready", item.media_id))?;
        let repeat = u64::from(item.repeat.max(1));
        let gap = u64::from(item.gap_ms);
        let end = t + (repeat * d + (repeat - 1) * gap) * 1000;
        out.push(PlannedItem {
            index: index as u32,
            media_id: item.media_id,
            start_at: t,
            repeat: item.repeat.max(1),
            gap_ms: item.gap_ms,
            end_at: end,
        });
        t = end + gap * 1000;
    }
    Ok(out)
}

/// A day of the week.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<chrono::Weekday> for Day {
    fn from(d: chrono::Weekday) -> Self {
        use chrono::Weekday as W;
        match d {
            W::Mon => Self::Mon,
            W::Tue => Self::Tue,
            W::Wed => Self::Wed,
            W::Thu => Self::Thu,
            W::Fri => Self::Fri,
            W::Sat => Self::Sat,
            W::Sun => Self::Sun,
        }
    }
}

/// A schedule: when a playlist plays, where, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Shown in the console.
    pub name: String,
    /// Local times of day it starts at, `HH:MM` (e.g. `["07:00", "18:00"]`); or, instead:
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<String>,
    /// (Advanced) a five-field cron expression in `time_zone`, e.g. `0 7,12,18 * * *`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone name.
    #[serde(default = "default_tz")]
    pub time_zone: String,
    /// Only on these days (local); empty: every day the cron expression allows.
    #[serde(default)]
    pub weekdays: Vec<Day>,
    /// First local date it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// Last local date it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// One-off dates: it runs on these local dates only (then weekdays, from and until
    /// stay empty, and the holiday calendar does not count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub dates: Vec<NaiveDate>,
    /// `follow`: silent on public holidays, runs on make-up workdays (调休) as on a
    /// weekday; `ignore` (default): the calendar does not count.
    #[serde(default)]
    pub holidays: Holidays,
    /// Who hears it.
    pub target: Target,
    /// What plays.
    pub playlist_id: u64,
    /// `scheduled` (default) or `background`.
    #[serde(default = "scheduled")]
    #[schema(value_type = String, example = "scheduled")]
    pub priority: Priority,
    /// Volume; `null` keeps each speaker's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u8>, maximum = 100)]
    pub volume: Option<Volume>,
    /// What an item does when something of higher priority cuts in: `resume` (default),
    /// `restart` or `skip`.
    #[serde(default)]
    #[schema(value_type = String, example = "resume")]
    pub on_preempt: OnPreempt,
    /// How long after its planned end an interrupted or delayed item may still play, in
    /// minutes (default 30); past that it is skipped.
    #[serde(default = "default_window")]
    pub window_min: u32,
    /// A disabled schedule keeps its settings and plays nothing.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_tz() -> String {
    DEFAULT_TIME_ZONE.into()
}

fn scheduled() -> Priority {
    Priority::Scheduled
}

fn default_window() -> u32 {
    30
}

fn yes() -> bool {
    true
}

/// Parses a five-field cron expression (no seconds, no years).
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    if expr.split_whitespace().count() != 5 && !expr.trim_start().starts_with('@') {
        return Err(format!(
            "cron {expr:?}: five fields expected (minute hour day-of-month month day-of-week)"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("cron {expr:?}: {e}"))
}

/// Parses an IANA time zone name.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("time_zone {name:?}: not an IANA time zone (e.g. Asia/Shanghai)"))
}

impl ScheduleSpec {
    /// Checks every field and prepares the cron expression.
    pub fn compile(&self) -> Result<Compiled, String> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err("name: 1 to 200 characters".into());
        }
        if !matches!(self.priority, Priority::Scheduled | Priority::Background) {
            return Err("priority: a schedule plays at `scheduled` or `background`".into());
        }
        if let (Some(from), Some(until)) = (self.from, self.until) {
            if until < from {
                return Err(format!("until ({until}) is before from ({from})"));
            }
        }
        if self.window_min > 24 * 60 {
            return Err("window_min: at most 1440".into());
        }
        if !self.dates.is_empty()
            && (!self.weekdays.is_empty() || self.from.is_some() || self.until.is_some())
        {
            return Err(
                "dates: one-off dates stand alone; leave weekdays, from and until empty".into(),
            );
        }
        if self.dates.len() > 366 {
            return Err("dates: at most 366".into());
        }
        let when = match (&self.cron, self.times.is_empty()) {
            (Some(_), false) => {
                return Err("times or cron (advanced), not both".into());
            }
            (Some(cron), true) => When::Cron(Box::new(parse_cron(cron)?)),
            (None, true) => {
                return Err("times: at least one time of day, e.g. [\"07:00\"]".into());
            }
            (None, false) => {
                if self.times.len() > 48 {
                    return Err("times: at most 48".into());
                }
                let mut times = Vec::new();
                for t in &self.times {
                    let m = minutes(t, "times")?;
                    times.push(NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap_or_default());
                }
                times.sort();
                if let Some(w) = times.windows(2).find(|w| w[0] == w[1]) {
                    return Err(format!("times: {} appears twice", w[0].format("%H:%M")));
                }
                When::Times(times)
            }
        };
        Ok(Compiled {
            when,
            tz: parse_tz(&self.time_zone)?,
            days: self.weekdays.iter().copied().collect(),
            from: self.from,
            until: self.until,
            dates: self.dates.iter().copied().collect(),
            holidays: self.holidays,
        })
    }
}

/// The instant `us` µs after the epoch.
pub(crate) fn utc(us: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(i64::try_from(us).unwrap_or(i64::MAX)).unwrap_or_default()
}

/// µs after the epoch of `t`.
pub(crate) fn micros(t: DateTime<impl chrono::TimeZone>) -> u64 {
    u64::try_from(t.timestamp_micros()).unwrap_or(0)
}

/// No daily content in an area during these local hours; emergency alerts ignore them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Area-code prefix it applies to (6 digits: a county; 12: one village). The longest
    /// matching prefix wins, so a village can differ from its county.
    pub area: String,
    /// Start, `HH:MM` local.
    pub start: String,
    /// End, `HH:MM` local; before `start` means the period crosses midnight.
    pub end: String,
    /// IANA time zone (default Asia/Shanghai).
    #[serde(default = "default_tz")]
    pub time_zone: String,
}

fn minutes(hhmm: &str, field: &str) -> Result<u32, String> {
    let err = || format!("{field}: {hhmm:?} is not HH:MM");
    let (h, m) = hhmm.split_once(':').ok_or_else(err)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
    if h > 23 || m > 59 || hhmm.len() != 5 {
        return Err(err());
    }
    Ok(h * 60 + m)
}

impl QuietHours {
    /// Checks every field.
    pub fn check(&self) -> Result<(), String> {
        if self.area.is_empty()
            || self.area.len() > 12
            || !self.area.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("area {:?}: 1 to 12 digits", self.area));
        }
        if minutes(&self.start, "start")? == minutes(&self.end, "end")? {
            return Err("start and end are equal".into());
        }
        parse_tz(&self.time_zone).map(|_| ())
    }

    /// Whether instant `us` falls inside these hours.
    pub fn contains(&self, us: u64) -> bool {
        let (Ok(start), Ok(end), Ok(tz)) = (
            minutes(&self.start, "start"),
            minutes(&self.end, "end"),
            parse_tz(&self.time_zone),
        ) else {
            return false;
        };
        let local = utc(us).with_timezone(&tz);
        let m = local.hour() * 60 + local.minute();
        if start < end {
            (start..end).contains(&m)
        } else {
            m >= start || m < end
        }
    }
}

/// The quiet-hours rule for `area_code`: the one with the longest matching prefix.
pub fn quiet_rule<'a>(rules: &'a [QuietHours], area_code: &str) -> Option<&'a QuietHours> {
    rules
        .iter()
        .filter(|r| area_code.starts_with(&r.area))
        .max_by_key(|r| r.area.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::HolidayCalendar;
    use chrono::TimeZone;

    const NONE: HolidayCalendar = HolidayCalendar { days: Vec::new() };

    fn spec(cron: &str, tz: &str) -> ScheduleSpec {
        ScheduleSpec {
            name: "t".into(),
            times: Vec::new(),
            cron: Some(cron.into()),
            time_zone: tz.into(),
            weekdays: Vec::new(),
            from: None,
            until: None,
            dates: Vec::new(),
            holidays: Holidays::Ignore,
            target: Target::default(),
            playlist_id: 1,
            priority: Priority::Scheduled,
            volume: None,
            on_preempt: OnPreempt::Resume,
            window_min: 30,
            enabled: true,
        }
    }

    fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> u64 {
        micros(tz.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap())
    }

    fn local(tz: Tz, us: u64) -> String {
        utc(us).with_timezone(&tz).format("%a %F %H:%M").to_string()
    }

    #[test]
    fn three_times_a_day_across_days_in_shanghai() {
        let tz = chrono_tz::Asia::Shanghai;
        let c = spec("0 7,12,18 * * *", DEFAULT_TIME_ZONE)
            .compile()
            .unwrap();
        let from = at(tz, 2026, 11, 23, 12, 0); // exactly at 12:00: not included (after)
        let runs = c.occurrences(from, from + 2 * 86_400_000_000, 100, &NONE);
        let shown: Vec<_> = runs.iter().map(|&u| local(tz, u)).collect();
        assert_eq!(
            shown,
            [
                "Mon 2026-11-23 18:00",
                "Tue 2026-11-24 07:00",
                "Tue 2026-11-24 12:00",
                "Tue 2026-11-24 18:00",
                "Wed 2026-11-25 07:00",
                "Wed 2026-11-25 12:00",
            ]
        );
        // 07:00 in Shanghai is 23:00 UTC the day before.
        assert_eq!(
            utc(runs[1]).format("%F %H:%M").to_string(),
            "2026-11-23 23:00"
        );
    }

    #[test]
    fn a_start_with_a_fraction_of_a_second_yields_whole_minutes() {
        let tz = chrono_tz::Asia::Shanghai;
        let c = spec("0 12 * * *", DEFAULT_TIME_ZONE).compile().unwrap();
        let from = at(tz, 2026, 11, 23, 11, 59) + 59_999_999;
        assert_eq!(
            c.occurrences(from, u64::MAX, 1, &NONE),
            [at(tz, 2026, 11, 23, 12, 0)]
        );
        let from = at(tz, 2026, 11, 23, 12, 0) + 1;
        assert_eq!(
            c.occurrences(from, u64::MAX, 1, &NONE),
            [at(tz, 2026, 11, 24, 12, 0)]
        );
    }

    #[test]
    fn standard_weekday_numbers_monday_is_one() {
        let tz = chrono_tz::Asia::Shanghai;
        let c = spec("30 8 * * 1-5", DEFAULT_TIME_ZONE).compile().unwrap();
        let from = at(tz, 2026, 11, 21, 0, 0); // a Saturday
        let runs = c.occurrences(from, from + 7 * 86_400_000_000, 100, &NONE);
        let days: Vec<_> = runs.iter().map(|&u| local(tz, u)[..3].to_owned()).collect();
        assert_eq!(days, ["Mon", "Tue", "Wed", "Thu", "Fri"]);
        // Sunday is 0 and 7.
        for sunday in ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun"] {
            let c = spec(sunday, DEFAULT_TIME_ZONE).compile().unwrap();
            let runs = c.occurrences(from, from + 7 * 86_400_000_000, 100, &NONE);
            assert_eq!(runs.len(), 1, "{sunday}");
            assert_eq!(local(tz, runs[0]), "Sun 2026-11-22 09:00", "{sunday}");
        }
    }

    #[test]
    fn weekdays_filter_and_date_window() {
        let tz = chrono_tz::Asia::Shanghai;
        let mut s = spec("0 7 * * *", DEFAULT_TIME_ZONE);
        s.weekdays = vec![Day::Mon, Day::Thu];
        s.from = NaiveDate::from_ymd_opt(2026, 11, 24);
        s.until = NaiveDate::from_ymd_opt(2026, 12, 7);
        let c = s.compile().unwrap();
        let from = at(tz, 2026, 11, 1, 0, 0);
        let runs = c.occurrences(from, from + 60 * 86_400_000_000, 100, &NONE);
        let shown: Vec<_> = runs.iter().map(|&u| local(tz, u)).collect();
        assert_eq!(
            shown,
            [
                "Thu 2026-11-26 07:00",
                "Mon 2026-11-30 07:00",
                "Thu 2026-12-03 07:00",
                "Mon 2026-12-07 07:00",
            ]
        );
    }

    #[test]
    fn time_zones_with_daylight_saving_keep_local_time() {
        // Berlin leaves summer time on 2026-10-25: 07:00 local is 05:00 UTC before, 06:00
        // after. The schedule follows the wall clock.
        let c = spec("0 7 * * *", "Europe/Berlin").compile().unwrap();
        let from = micros(Utc.with_ymd_and_hms(2026, 10, 24, 0, 0, 0).unwrap());
        let runs = c.occurrences(from, from + 3 * 86_400_000_000, 10, &NONE);
        let shown: Vec<_> = runs
            .iter()
            .map(|&u| utc(u).format("%F %H:%M").to_string())
            .collect();
        assert_eq!(
            shown,
            ["2026-10-24 05:00", "2026-10-25 06:00", "2026-10-26 06:00"]
        );
        // A local time skipped by the spring change (02:30 on 2026-03-29) still runs once.
        let c = spec("30 2 * * *", "Europe/Berlin").compile().unwrap();
        let from = micros(Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap());
        let runs = c.occurrences(from, from + 2 * 86_400_000_000, 10, &NONE);
        assert_eq!(
            runs.len(),
            2,
            "{:?}",
            runs.iter().map(|&u| utc(u)).collect::<Vec<_>>()
        );
        // UTC and a zone without DST (Urumqi, UTC+6).
        let c = spec("0 7 * * *", "Asia/Urumqi").compile().unwrap();
        let runs = c.occurrences(from, from + 86_400_000_000, 10, &NONE);
        assert_eq!(utc(runs[0]).format("%H:%M").to_string(), "01:00");
    }

    #[test]
    fn bad_schedules_are_refused_with_the_reason() {
        let cases = [
            ("0 7 * *", DEFAULT_TIME_ZONE, "five fields"),
            ("0 0 7 * * *", DEFAULT_TIME_ZONE, "five fields"),
            ("61 7 * * *", DEFAULT_TIME_ZONE, "cron \"61 7 * * *\""),
            ("0 7 * * *", "Mars/Olympus", "not an IANA time zone"),
        ];
        for (cron, tz, want) in cases {
            let err = spec(cron, tz).compile().unwrap_err();
            assert!(err.contains(want), "{cron} {tz}: {err}");
        }
        let mut s = spec("0 7 * * *", DEFAULT_TIME_ZONE);
        s.priority = Priority::Emergency;
        assert!(s.compile().unwrap_err().contains("priority"));
        s.priority = Priority::Scheduled;
        s.from = NaiveDate::from_ymd_opt(2026, 2, 1);
        s.until = NaiveDate::from_ymd_opt(2026, 1, 1);
        assert!(s.compile().unwrap_err().contains("before"));
    }

    #[test]
    fn quiet_hours_cross_midnight_and_the_longest_prefix_wins() {
        let tz = chrono_tz::Asia::Shanghai;
        let county = QuietHours {
            area: "330106".into(),
            start: "22:00".into(),
            end: "06:30".into(),
            time_zone: DEFAULT_TIME_ZONE.into(),
        };
        let village = QuietHours {
            area: "330106001001".into(),
            start: "21:00".into(),
            end: "22:00".into(),
            time_zone: DEFAULT_TIME_ZONE.into(),
        };
        county.check().unwrap();
        assert!(county.contains(at(tz, 2026, 11, 23, 23, 0)));
        assert!(county.contains(at(tz, 2026, 11, 24, 6, 29)));
        assert!(!county.contains(at(tz, 2026, 11, 24, 6, 30)));
        assert!(!county.contains(at(tz, 2026, 11, 24, 12, 0)));
        let rules = [county.clone(), village.clone()];
        assert_eq!(quiet_rule(&rules, "330106001001"), Some(&village));
        assert_eq!(quiet_rule(&rules, "330106002003"), Some(&county));
        assert_eq!(quiet_rule(&rules, "330107000000"), None);
        let mut bad = county;
        bad.start = "25:00".into();
        assert!(bad.check().unwrap_err().contains("HH:MM"));
    }

    #[test]
    fn a_playlist_is_laid_out_end_to_end() {
        let p = PlaylistSpec {
            name: "morning".into(),
            jingle_media_id: Some(9),
            items: vec![
                PlaylistItem {
                    media_id: 1,
                    text: None,
                    repeat: 2,
                    gap_ms: 1000,
                },
                PlaylistItem {
                    media_id: 2,
                    text: None,
                    repeat: 1,
                    gap_ms: 0,
                },
            ],
        };
        p.check().unwrap();
        let durations = |id| {
            Some(match id {
                9 => 3000,
                1 => 10_000,
                _ => 5000,
            })
        };
        let plan = plan(&p, 1_000_000, durations).unwrap();
        let laid: Vec<_> = plan
            .iter()
            .map(|i| (i.media_id, i.start_at, i.end_at))
            .collect();
        assert_eq!(
            laid,
            [
                (9, 1_000_000, 4_000_000),
                // jingle gap 0.5 s; two plays of 10 s with 1 s between.
                (1, 4_500_000, 25_500_000),
                (2, 26_500_000, 31_500_000),
            ]
        );
        assert!(
            super::plan(&p, 0, |_| None)
                .unwrap_err()
                .contains("not ready")
        );
    }
}
