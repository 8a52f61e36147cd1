//! When a schedule runs: its times of day (or, advanced, a cron expression) on the days its
//! weekdays, date window, one-off dates and the holiday calendar allow.
//!
//! The holiday calendar is the State Council's year as an administrator enters it: public
//! holidays (休) and the weekend days made working days to make up for them (调休, 班). A
//! schedule that follows it ([`Holidays::Follow`]) is silent on a holiday and runs on a
//! make-up workday as on any weekday. Pure functions of time, like `schedule`.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};

use crate::schedule::{Day, micros, utc};
use crate::storage::Setting;

/// What a day of the holiday calendar is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DayKind {
    /// A public holiday: no work (休).
    Holiday,
    /// A make-up workday on a weekend (调休上班, 班).
    Workday,
}

/// One day of the holiday calendar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarDay {
    /// The local date.
    #[schema(value_type = String, example = "2026-10-01")]
    pub date: NaiveDate,
    /// Holiday or make-up workday.
    pub kind: DayKind,
    /// What it is for, e.g. 国庆节 (at most 40 characters).
    #[serde(default)]
    pub name: String,
}

/// The holiday calendar (a setting, admins): days in date order, each at most once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayCalendar {
    /// Holidays and make-up workdays (at most [`MAX_CALENDAR_DAYS`]).
    pub days: Vec<CalendarDay>,
}

/// Most days in the calendar (about ten years of holidays).
pub const MAX_CALENDAR_DAYS: usize = 600;

impl Setting for HolidayCalendar {
    const KEY: &'static str = "holiday_calendar";
}

impl HolidayCalendar {
    /// Checks it and puts its days in date order.
    pub fn checked(mut self) -> Result<Self, String> {
        if self.days.len() > MAX_CALENDAR_DAYS {
            return Err(format!("days: at most {MAX_CALENDAR_DAYS}"));
        }
        for (i, d) in self.days.iter().enumerate() {
            if d.name.chars().count() > 40 {
                return Err(format!("days[{i}].name: at most 40 characters"));
            }
        }
        self.days.sort_by_key(|d| d.date);
        if let Some(w) = self.days.windows(2).find(|w| w[0].date == w[1].date) {
            return Err(format!("{} appears twice", w[0].date));
        }
        Ok(self)
    }

    /// The calendar's entry for `date`, if it has one.
    pub fn day(&self, date: NaiveDate) -> Option<&CalendarDay> {
        self.days
            .binary_search_by_key(&date, |d| d.date)
            .ok()
            .map(|i| &self.days[i])
    }
}

/// Whether a schedule follows the holiday calendar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Holidays {
    /// Runs on its days whatever the calendar says (default).
    #[default]
    Ignore,
    /// Silent on public holidays; on make-up workdays runs as on a weekday.
    Follow,
}

/// When in a day a schedule starts.
#[derive(Debug, Clone)]
pub enum When {
    /// These local times, earliest first.
    Times(Vec<NaiveTime>),
    /// An advanced schedule's cron expression.
    Cron(Box<Cron>),
}

/// A schedule ready to answer "when".
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Times of day, or cron.
    pub when: When,
    /// Its time zone.
    pub tz: Tz,
    /// Only on these weekdays (empty: every day).
    pub days: BTreeSet<Day>,
    /// First and last local date.
    pub from: Option<NaiveDate>,
    /// Last local date.
    pub until: Option<NaiveDate>,
    /// Only on these dates (empty: no one-off dates).
    pub dates: BTreeSet<NaiveDate>,
    /// Whether the holiday calendar counts.
    pub holidays: Holidays,
}

/// How far ahead a search for the next start looks before it gives up (ten years).
const SEARCH_DAYS: i64 = 3660;

impl Compiled {
    /// Whether it runs on local `date`.
    pub fn runs_on(&self, date: NaiveDate, calendar: &HolidayCalendar) -> bool {
        if !self.dates.is_empty() {
            return self.dates.contains(&date);
        }
        if self.from.is_some_and(|f| date < f) || self.until.is_some_and(|u| date > u) {
            return false;
        }
        let on = |day: Day| self.days.is_empty() || self.days.contains(&day);
        match (self.holidays, calendar.day(date).map(|d| d.kind)) {
            (Holidays::Follow, Some(DayKind::Holiday)) => false,
            // A make-up workday is a working day: a schedule for any weekday runs.
            (Holidays::Follow, Some(DayKind::Workday)) => {
                [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri]
                    .into_iter()
                    .any(on)
            }
            _ => on(Day::from(date.weekday())),
        }
    }

    /// The last local date it could run on, if it has one.
    fn last_date(&self) -> Option<NaiveDate> {
        match self.dates.last() {
            Some(d) => Some(*d),
            None => self.until,
        }
    }

    /// Start times `t` with `after < t <= until` (µs), at most `max`, earliest first.
    pub fn occurrences(
        &self,
        after_us: u64,
        until_us: u64,
        max: usize,
        calendar: &HolidayCalendar,
    ) -> Vec<u64> {
        let first_day = utc(after_us).with_timezone(&self.tz).date_naive();
        let last_day = (first_day + chrono::Duration::days(SEARCH_DAYS))
            .min(self.last_date().unwrap_or(NaiveDate::MAX));
        let mut out = Vec::new();
        match &self.when {
            When::Times(times) => {
                let mut day = first_day;
                while day <= last_day && out.len() < max {
                    if self.runs_on(day, calendar) {
                        for time in times {
                            // A local time skipped by a clock change runs once, at the
                            // earliest instant after it.
                            let Some(t) = self
                                .tz
                                .from_local_datetime(&day.and_time(*time))
                                .earliest()
                                .or_else(|| {
                                    let later = *time + chrono::Duration::hours(1);
                                    self.tz.from_local_datetime(&day.and_time(later)).earliest()
                                })
                            else {
                                continue;
                            };
                            let us = micros(t);
                            if us <= after_us {
                                continue;
                            }
                            if us > until_us || out.len() >= max {
                                return out;
                            }
                            out.push(us);
                        }
                    }
                    day = day.succ_opt().unwrap_or(NaiveDate::MAX);
                    if day == NaiveDate::MAX {
                        break;
                    }
                }
            }
            When::Cron(cron) => {
                // Whole seconds: the cron iterator keeps a start's fraction of a second in
                // every time it yields.
                let start = utc(after_us - after_us % 1_000_000).with_timezone(&self.tz);
                for t in cron.clone().iter_after(start) {
                    let us = micros(t);
                    if us <= after_us {
                        continue;
                    }
                    let date = t.date_naive();
                    if us > until_us || out.len() >= max || date > last_day {
                        break;
                    }
                    if self.runs_on(date, calendar) {
                        out.push(us);
                    }
                }
            }
        }
        out
    }
}

/// Whether `day` is Saturday or Sunday.
pub fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{DEFAULT_TIME_ZONE, ScheduleSpec};
    use serde_json::json;

    fn compiled(fields: serde_json::Value) -> Result<Compiled, String> {
        let mut spec = json!({"name": "t", "target": {"all": true}, "playlist_id": 1});
        for (k, v) in fields.as_object().unwrap() {
            spec[k] = v.clone();
        }
        serde_json::from_value::<ScheduleSpec>(spec)
            .map_err(|e| e.to_string())?
            .compile()
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> u64 {
        micros(
            chrono_tz::Asia::Shanghai
                .with_ymd_and_hms(y, mo, d, h, mi, 0)
                .unwrap(),
        )
    }

    fn local(us: u64) -> String {
        utc(us)
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%a %F %H:%M")
            .to_string()
    }

    fn shown(c: &Compiled, from: u64, days: u64, cal: &HolidayCalendar) -> Vec<String> {
        c.occurrences(from, from + days * 86_400_000_000, 100, cal)
            .into_iter()
            .map(local)
            .collect()
    }

    /// The 2026 National Day week: 1–7 October off, Sunday 27 September and Saturday
    /// 10 October worked.
    fn national_day() -> HolidayCalendar {
        let day = |m, d, kind| CalendarDay {
            date: NaiveDate::from_ymd_opt(2026, m, d).unwrap(),
            kind,
            name: "国庆节".into(),
        };
        let mut days = vec![day(9, 27, DayKind::Workday), day(10, 10, DayKind::Workday)];
        days.extend((1..=7).map(|d| day(10, d, DayKind::Holiday)));
        HolidayCalendar { days }.checked().unwrap()
    }

    #[test]
    fn weekdays_at_seven_and_six_without_cron() {
        let c = compiled(json!({"times": ["18:00", "07:00"],
                                "weekdays": ["mon", "tue", "wed", "thu", "fri"]}))
        .unwrap();
        let from = at(2026, 12, 4, 12, 0); // a Friday noon
        assert_eq!(
            shown(&c, from, 4, &HolidayCalendar::default()),
            [
                "Fri 2026-12-04 18:00",
                "Mon 2026-12-07 07:00",
                "Mon 2026-12-07 18:00",
                "Tue 2026-12-08 07:00",
            ]
        );
        assert_eq!(c.tz.name(), DEFAULT_TIME_ZONE);
    }

    #[test]
    fn following_the_calendar_skips_holidays_and_works_make_up_days() {
        let cal = national_day();
        let workdays = json!({"times": ["07:00"], "weekdays": ["mon", "tue", "wed", "thu", "fri"]});
        let mut follow = workdays.clone();
        follow["holidays"] = json!("follow");
        let from = at(2026, 9, 26, 0, 0); // a Saturday
        let following = shown(&compiled(follow).unwrap(), from, 16, &cal);
        assert_eq!(
            following,
            [
                "Sun 2026-09-27 07:00", // make-up workday
                "Mon 2026-09-28 07:00",
                "Tue 2026-09-29 07:00",
                "Wed 2026-09-30 07:00",
                // 1–7 October: holidays
                "Thu 2026-10-08 07:00",
                "Fri 2026-10-09 07:00",
                "Sat 2026-10-10 07:00", // make-up workday
            ]
        );
        // Not following it: Monday to Friday whatever the calendar says.
        let ignoring = shown(&compiled(workdays).unwrap(), from, 16, &cal);
        assert_eq!(ignoring.len(), 10, "{ignoring:?}");
        assert!(ignoring.contains(&"Thu 2026-10-01 07:00".to_owned()));
        assert!(!ignoring.contains(&"Sat 2026-10-10 07:00".to_owned()));
        // A weekend-only schedule that follows it is silent on a make-up Saturday.
        let weekend = compiled(json!({"times": ["09:00"], "weekdays": ["sat", "sun"],
                                      "holidays": "follow"}))
        .unwrap();
        let at_weekend = shown(&weekend, from, 16, &cal);
        assert_eq!(
            at_weekend,
            ["Sat 2026-09-26 09:00", "Sun 2026-10-11 09:00",],
            "27 Sep and 10 Oct are workdays, 3-4 Oct holidays"
        );
    }

    #[test]
    fn one_off_dates_run_only_then_and_a_search_ends() {
        let c =
            compiled(json!({"times": ["09:30"], "dates": ["2026-12-10", "2026-12-24"]})).unwrap();
        let from = at(2026, 12, 4, 0, 0);
        let cal = HolidayCalendar::default();
        assert_eq!(
            c.occurrences(from, u64::MAX, 10, &cal)
                .into_iter()
                .map(local)
                .collect::<Vec<_>>(),
            ["Thu 2026-12-10 09:30", "Thu 2026-12-24 09:30"]
        );
        // Past the last date nothing comes, and the search stops.
        assert!(
            c.occurrences(at(2026, 12, 25, 0, 0), u64::MAX, 10, &cal)
                .is_empty()
        );
        // A cron whose filter never matches ends too (29 February on a Monday only, after
        // the ten-year search window).
        let c = compiled(json!({"cron": "0 7 29 2 *", "weekdays": ["mon"]})).unwrap();
        assert!(c.occurrences(from, u64::MAX, 1, &cal).is_empty());
    }

    #[test]
    fn bad_when_is_refused_with_the_reason() {
        let cases = [
            (json!({}), "times"),
            (json!({"times": ["07:00"], "cron": "0 7 * * *"}), "not both"),
            (json!({"times": []}), "times"),
            (json!({"times": ["7:00"]}), "HH:MM"),
            (json!({"times": ["07:00", "07:00"]}), "twice"),
            (json!({"times": ["24:00"]}), "HH:MM"),
            (
                json!({"times": ["07:00"], "dates": ["2026-12-10"], "weekdays": ["mon"]}),
                "one-off dates",
            ),
            (
                json!({"times": ["07:00"], "holidays": "sometimes"}),
                "unknown variant",
            ),
        ];
        for (fields, want) in cases {
            let err = compiled(fields.clone()).unwrap_err();
            assert!(err.contains(want), "{fields}: {err}");
        }
    }

    #[test]
    fn a_calendar_is_sorted_and_refuses_a_date_twice() {
        let mut cal = national_day();
        assert_eq!(
            cal.day(NaiveDate::from_ymd_opt(2026, 10, 10).unwrap())
                .map(|d| d.kind),
            Some(DayKind::Workday)
        );
        assert!(cal.days.windows(2).all(|w| w[0].date < w[1].date));
        cal.days.push(cal.days[0].clone());
        assert!(cal.checked().unwrap_err().contains("appears twice"));
        assert!(is_weekend(NaiveDate::from_ymd_opt(2026, 10, 10).unwrap()));
    }
}
