//! The scheduler with a controlled clock: time is moved, never waited for.
//!
//! The controller's state is real (SQLite in a temporary directory, reopened to simulate a
//! restart); agents and media are rows, since planning needs neither processes nor files.

mod common;

use std::sync::Arc;

use chrono::TimeZone as _;
use dalaba_controller::clock::ManualClock;
use dalaba_controller::scheduler::{self, PLAYLIST, SCHEDULE, StoredSchedule, TickReport};
use dalaba_controller::state::AppState;
use dalaba_controller::storage::{AgentRecord, RunState};

const MIN: u64 = 60_000_000;
const HOUR: u64 = 60 * MIN;

fn shanghai(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> u64 {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("time")
        .timestamp_micros() as u64
}

struct World {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    state: AppState,
    clock: Arc<ManualClock>,
}

fn open(path: &std::path::Path, clock: &Arc<ManualClock>) -> AppState {
    let (mut state, _) = dalaba_controller::open(path).expect("open");
    state.clock = clock.clone();
    state
}

/// Two villages of one county, one agent each; a 60 s clip and a 5 s jingle.
fn world(now: u64) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("controller");
    let clock = Arc::new(ManualClock::new(now));
    let state = open(&path, &clock);
    for (id, area) in [("dong-1", "330106001001"), ("xi-1", "330106002003")] {
        state
            .storage
            .create_agent(&AgentRecord::new(
                id.parse().expect("id"),
                id.into(),
                area.parse().expect("area"),
                Vec::new(),
            ))
            .expect("agent");
    }
    for (name, ms) in [("clip", 60_000), ("jingle", 5_000)] {
        let id = state.storage.create_media(name, now).expect("media");
        let hash = format!("{:064x}", id);
        state
            .storage
            .media_ready(id, &hash, 1000, ms, 0.0)
            .expect("ready");
    }
    World {
        _dir: dir,
        path,
        state,
        clock,
    }
}

fn add_schedule(w: &World, spec: serde_json::Value) -> u64 {
    let playlist = serde_json::json!({
        "name": "anti-fraud", "jingle_media_id": 2,
        "items": [{"media_id": 1, "repeat": 2, "gap_ms": 1000}]
    });
    let pid = w
        .state
        .storage
        .insert_doc(PLAYLIST, &playlist.to_string(), w.clock.now())
        .expect("playlist");
    let mut spec = spec;
    spec["playlist_id"] = pid.into();
    spec["name"] = "daily".into();
    spec["created_by"] = 1.into();
    let stored: StoredSchedule = serde_json::from_value(spec).expect("schedule json");
    stored.spec.compile().expect("valid");
    w.state
        .storage
        .insert_doc(
            SCHEDULE,
            &serde_json::to_string(&stored).unwrap(),
            w.clock.now(),
        )
        .expect("schedule")
}

trait Now {
    fn now(&self) -> u64;
}
impl Now for Arc<ManualClock> {
    fn now(&self) -> u64 {
        use dalaba_controller::clock::Clock as _;
        self.now_us()
    }
}

fn runs(w: &World) -> Vec<(RunState, u64, usize)> {
    w.state
        .storage
        .runs(None, 0)
        .expect("runs")
        .into_iter()
        .map(|r| (r.state, r.fire_at, r.broadcasts.len()))
        .collect()
}

#[test]
fn plans_a_day_ahead_and_a_restart_plans_nothing_twice() {
    let now = shanghai(2026, 11, 23, 10, 0);
    let w = world(now);
    add_schedule(
        &w,
        serde_json::json!({"cron": "0 7,12,18 * * *", "target": {"all": true}}),
    );
    let report = scheduler::tick(&w.state, now).expect("tick");
    // 12:00 and 18:00 today, 07:00 tomorrow (24 h ahead, the horizon).
    assert_eq!(report.planned, 3, "{report:?}");
    let fire: Vec<u64> = runs(&w).iter().map(|r| r.1).collect();
    assert_eq!(
        fire,
        [
            shanghai(2026, 11, 23, 12, 0),
            shanghai(2026, 11, 23, 18, 0),
            shanghai(2026, 11, 24, 7, 0)
        ]
    );
    // Each run: jingle + clip = two broadcasts, laid out end to end.
    let entries = scheduler::entries(&w.state, now).expect("entries");
    let dong = &entries["dong-1"];
    assert_eq!(dong.len(), 6);
    let noon = shanghai(2026, 11, 23, 12, 0);
    assert_eq!(dong[0].play.start_at.0, noon);
    assert_eq!(dong[0].entry_id, 0);
    assert_eq!(
        dong[1].play.start_at.0,
        noon + 5_500_000,
        "jingle 5 s + 0.5 s"
    );
    assert_eq!(dong[1].play.repeat, 2);
    assert_eq!(dong[1].play.gap_ms, 1000);
    // Items may still start late up to the window (30 min) after their planned end.
    assert_eq!(
        dong[1].play.expires_at.unwrap().0,
        noon + 5_500_000 + 121_000_000 + 30 * MIN
    );

    // The same tick again, or after a restart, plans nothing new.
    assert_eq!(
        scheduler::tick(&w.state, now).unwrap(),
        TickReport::default()
    );
    let state2 = open(&w.path, &w.clock);
    assert_eq!(
        scheduler::tick(&state2, now + MIN).unwrap(),
        TickReport::default()
    );
    assert_eq!(runs(&w).len(), 3);

    // Mid-day, after noon: one more run enters the horizon (12:00 tomorrow).
    w.clock.set(shanghai(2026, 11, 23, 13, 0));
    let r = scheduler::tick(&state2, w.clock.now()).unwrap();
    assert_eq!(r.planned, 1);
    // Noon's items are over: they leave the agents' schedules.
    let entries = scheduler::entries(&state2, w.clock.now()).expect("entries");
    assert_eq!(
        entries["dong-1"][0].play.start_at.0,
        shanghai(2026, 11, 23, 18, 0)
    );
}

#[test]
fn catch_up_after_downtime_plays_what_is_still_running_and_records_the_rest_as_missed() {
    let now = shanghai(2026, 11, 23, 6, 0);
    let w = world(now);
    // Every 30 minutes.
    add_schedule(
        &w,
        serde_json::json!({"cron": "*/30 * * * *", "target": {"all": true}}),
    );
    // Planned from 06:00 today (written at 06:00, so included) to 06:00 tomorrow; then the
    // controller is down for 26 hours.
    scheduler::tick(&w.state, now).unwrap();
    assert_eq!(runs(&w).len(), 49);
    let back = now + 26 * HOUR + 60_000_000; // 08:01 the day after
    w.clock.set(back);
    let state2 = open(&w.path, &w.clock);
    let r = scheduler::tick(&state2, back).unwrap();
    // Never planned: 06:30, 07:00, 07:30 were over by 08:01 (each lasts ~126 s)...
    assert_eq!(r.missed, 3, "{r:?}");
    // ...08:00 is still playing (joined late) and 08:30 onwards are planned as usual.
    let all = runs(&w);
    let eight = all
        .iter()
        .find(|r| r.1 == shanghai(2026, 11, 24, 8, 0))
        .expect("08:00");
    assert_eq!(eight.0, RunState::Planned);
    assert!(r.planned >= 48, "{r:?}");
    let missed: Vec<u64> = all
        .iter()
        .filter(|r| r.0 == RunState::Missed)
        .map(|r| r.1)
        .collect();
    assert_eq!(
        missed,
        [
            shanghai(2026, 11, 24, 6, 30),
            shanghai(2026, 11, 24, 7, 0),
            shanghai(2026, 11, 24, 7, 30)
        ]
    );
}

#[test]
fn weekdays_date_window_and_disabled_schedules() {
    let now = shanghai(2026, 11, 21, 0, 0); // Saturday
    let w = world(now);
    add_schedule(
        &w,
        serde_json::json!({"cron": "0 8 * * *", "weekdays": ["mon"], "from": "2026-11-23",
                           "until": "2026-11-30", "target": {"all": true}}),
    );
    add_schedule(
        &w,
        serde_json::json!({"cron": "0 9 * * *", "enabled": false, "target": {"all": true}}),
    );
    let mut fired = Vec::new();
    for day in 0..14 {
        let t = now + day * 24 * HOUR;
        w.clock.set(t);
        scheduler::tick(&w.state, t).unwrap();
    }
    for r in runs(&w) {
        fired.push(r.1);
    }
    assert_eq!(
        fired,
        [shanghai(2026, 11, 23, 8, 0), shanghai(2026, 11, 30, 8, 0)]
    );
}

#[test]
fn quiet_hours_leave_out_the_speakers_of_that_area() {
    let now = shanghai(2026, 11, 23, 12, 0);
    let w = world(now);
    // The county is quiet from 21:00 to 06:30; one village (dong) from 22:00 only.
    let rules = serde_json::json!([
        {"area": "330106", "start": "21:00", "end": "06:30"},
        {"area": "330106001001", "start": "22:00", "end": "06:30"}
    ]);
    w.state
        .storage
        .set_meta(scheduler::QUIET_HOURS_KEY, &rules.to_string())
        .unwrap();
    add_schedule(
        &w,
        serde_json::json!({"cron": "30 21,22 * * *", "target": {"areas": ["330106"]}}),
    );
    let r = scheduler::tick(&w.state, now).unwrap();
    // 21:30: only dong plays (xi is quiet); 22:30: everyone is quiet.
    assert_eq!((r.planned, r.quiet), (1, 1), "{r:?}");
    let entries = scheduler::entries(&w.state, now).unwrap();
    assert_eq!(entries["dong-1"].len(), 2);
    assert!(!entries.contains_key("xi-1"));
    let all = w.state.storage.runs(None, 0).unwrap();
    assert!(
        all[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("xi-1: quiet hours 21:00-06:30")
    );
    assert_eq!(all[1].state, RunState::Quiet);
}

#[test]
fn editing_a_schedule_withdraws_its_future_starts() {
    let now = shanghai(2026, 11, 23, 10, 0);
    let w = world(now);
    let id = add_schedule(
        &w,
        serde_json::json!({"cron": "0 12 * * *", "target": {"all": true}}),
    );
    scheduler::tick(&w.state, now).unwrap();
    let before = scheduler::entries(&w.state, now).unwrap();
    assert_eq!(before["dong-1"].len(), 2);
    scheduler::forget_future(&w.state, id, now).unwrap();
    w.state.storage.delete_doc(SCHEDULE, id).unwrap();
    let after = scheduler::entries(&w.state, now).unwrap();
    assert!(after.is_empty(), "{after:?}");
    // The withdrawn broadcasts are marked stopped in the log.
    for b in before["dong-1"].iter().map(|e| e.play.broadcast_id.0) {
        assert!(
            w.state
                .storage
                .broadcast(b)
                .unwrap()
                .unwrap()
                .stopped_at
                .is_some()
        );
    }
}

#[test]
fn times_of_day_follow_the_holiday_calendar() {
    use dalaba_controller::calendar::{CalendarDay, DayKind, HolidayCalendar};
    let now = shanghai(2026, 9, 26, 0, 0); // Saturday before the National Day week
    let w = world(now);
    let day = |m, d, kind| CalendarDay {
        date: chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap(),
        kind,
        name: "国庆节".into(),
    };
    let mut days = vec![day(9, 27, DayKind::Workday), day(10, 10, DayKind::Workday)];
    days.extend((1..=7).map(|d| day(10, d, DayKind::Holiday)));
    let calendar = HolidayCalendar { days }.checked().unwrap();
    w.state.storage.set_setting(&calendar).unwrap();
    add_schedule(
        &w,
        serde_json::json!({"times": ["08:00"], "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                           "holidays": "follow", "target": {"all": true}}),
    );
    for day in 0..16 {
        let t = now + day * 24 * HOUR;
        w.clock.set(t);
        scheduler::tick(&w.state, t).unwrap();
    }
    let fired: Vec<u64> = runs(&w).iter().map(|r| r.1).collect();
    let want: Vec<u64> = [
        (9, 27),
        (9, 28),
        (9, 29),
        (9, 30),
        (10, 8),
        (10, 9),
        (10, 10),
    ]
    .into_iter()
    .map(|(m, d)| shanghai(2026, m, d, 8, 0))
    .collect();
    assert_eq!(fired, want);
}

/// An agent logging in is sent its own schedule, and nothing goes to anyone else: after a
/// controller restart nobody's schedule is known to have been sent, and a login that sent
/// (and signed) every agent's schedule made a reconnect storm of N agents cost N² commands
/// (2,500 agents were not all back after 300 s). Offline agents are sent nothing.
#[test]
fn a_login_is_sent_its_own_schedule_only() {
    let now = shanghai(2026, 11, 23, 10, 0);
    let w = world(now);
    add_schedule(
        &w,
        serde_json::json!({"times": ["12:00"], "target": {"all": true}}),
    );
    scheduler::tick(&w.state, now).expect("tick");
    let dong: dalaba_protocol::AgentId = "dong-1".parse().unwrap();
    let xi: dalaba_protocol::AgentId = "xi-1".parse().unwrap();
    let (_, mut to_dong) = w.state.hub.register(dong.clone());
    let (_, mut to_xi) = w.state.hub.register(xi.clone());
    assert_eq!(scheduler::sync(&w.state, now, Some(&dong)).unwrap(), 1);
    assert!(to_dong.try_recv().is_some(), "dong-1 gets its schedule");
    assert!(
        to_xi.try_recv().is_none(),
        "xi-1 was not the one logging in"
    );
    // The periodic sync sends xi-1 its own, once.
    assert_eq!(scheduler::sync(&w.state, now, None).unwrap(), 1);
    assert!(to_xi.try_recv().is_some());
    assert_eq!(scheduler::sync(&w.state, now, None).unwrap(), 0);
}

/// The broadcast ids in the `schedule_sync` queued for an agent.
fn synced_ids(to: &mut dalaba_controller::state::outbox::Receiver) -> Vec<u64> {
    use dalaba_protocol::ControllerMessage;
    use dalaba_protocol::command::Command;
    let Some(dalaba_controller::hub::Outgoing::Text(text)) = to.try_recv() else {
        panic!("no schedule queued");
    };
    let Ok(ControllerMessage::Signed(envelope)) =
        dalaba_protocol::decode_controller_message(text.as_bytes())
    else {
        panic!("not a signed command: {text}");
    };
    let signed: dalaba_protocol::SignedCommand =
        serde_json::from_slice(&envelope.payload.0).expect("signed command");
    let Command::ScheduleSync(sync) = signed.command else {
        panic!("not a schedule: {text}");
    };
    sync.entries.iter().map(|e| e.play.broadcast_id.0).collect()
}

/// What a planned item plays and to whom is read once (each lists every speaker it
/// reaches, and reading them all at every login made a county's reconnect quadratic), but
/// whether it was withdrawn is read afresh: an item stopped after one login is not in the
/// schedule sent at the next, nor in anyone's.
#[test]
fn an_item_withdrawn_after_a_login_is_not_sent_at_the_next() {
    let now = shanghai(2026, 11, 23, 10, 0);
    let w = world(now);
    add_schedule(
        &w,
        serde_json::json!({"times": ["12:00", "18:00"], "target": {"all": true}}),
    );
    scheduler::tick(&w.state, now).expect("tick");
    let dong: dalaba_protocol::AgentId = "dong-1".parse().unwrap();
    let (_, mut to_dong) = w.state.hub.register(dong.clone());
    scheduler::sync(&w.state, now, Some(&dong)).expect("sync");
    let first = synced_ids(&mut to_dong);
    assert_eq!(first.len(), 4, "two runs of jingle and clip: {first:?}");
    w.state.storage.stop_broadcast(first[0], now).expect("stop");
    scheduler::sync(&w.state, now, Some(&dong)).expect("sync");
    let second = synced_ids(&mut to_dong);
    assert_eq!(second, first[1..], "the stopped item is left out");
    let everyone = scheduler::entries(&w.state, now).expect("entries");
    for list in everyone.values() {
        assert!(list.iter().all(|e| e.play.broadcast_id.0 != first[0]));
    }
    assert_eq!(everyone["xi-1"].len(), 3);
}

/// The periodic pass (plan, then send changed schedules to every agent online) reads every
/// agent and every schedule, tens of milliseconds for a county: on a runtime of one thread
/// (a controller held to one core) the connections are served while it runs, not after
/// (at 5,000 agents on one core, the live frames queued meanwhile came late in a burst
/// every 30 s).
#[tokio::test(flavor = "current_thread")]
async fn connections_are_served_while_the_scheduler_plans() {
    use std::sync::atomic::Ordering;
    let now = shanghai(2026, 11, 23, 10, 0);
    let w = world(now);
    add_schedule(
        &w,
        serde_json::json!({"times": ["12:00"], "target": {"all": true}}),
    );
    let dong: dalaba_protocol::AgentId = "dong-1".parse().unwrap();
    let (_, to_dong) = w.state.hub.register(dong.clone());
    let (served, connection) = common::connection(&w.state, &dong, to_dong);

    scheduler::pass(&w.state).await;
    let served_meanwhile = served.load(Ordering::SeqCst);

    assert!(served_meanwhile, "the connection waited for the whole pass");
    let (first, mut to_dong) = connection.await.expect("connection task");
    assert!(matches!(first, dalaba_controller::hub::Outgoing::Binary(_)));
    assert!(
        !synced_ids(&mut to_dong).is_empty(),
        "and then its schedule"
    );
}
