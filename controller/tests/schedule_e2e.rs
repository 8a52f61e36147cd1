//! Schedules end to end with real processes: the programme API refuses bad input with the
//! reason; a scheduled playlist reaches only its target; an agent cut off from the
//! controller plays its stored schedule on time and reports once the controller is back;
//! the restarted controller plays nothing twice.
//!
//! Cron has minute granularity, so this test waits for the next whole minute (at most
//! about 75 s); it is the only one that does.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn a_cut_off_agent_plays_its_schedule_on_time_and_reports_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let (ctl, password) = start_controller(&data, "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    let agents = start_agents(dir.path(), &ctl, &api, TWO_VILLAGES, "wav");
    let (status, media) = upload(&api, "anti-fraud.wav", tone_wav(1000.0, 1.5, 48_000));
    assert_eq!(status, 201, "{media}");
    let media_id = media["id"].as_u64().expect("id");

    // Bad programme input: refused with the reason.
    let bad = [
        (
            "/api/playlists",
            json!({"name": "x", "items": [{"media_id": 999}]}),
            "no media 999",
        ),
        (
            "/api/playlists",
            json!({"name": "x", "items": []}),
            "items: 1 to 64",
        ),
        (
            "/api/schedules",
            json!({"name": "x", "cron": "0 7 * *", "playlist_id": 1, "target": {"all": true}}),
            "five fields",
        ),
    ];
    for (path, body, want) in bad {
        let (status, err) = api.call("POST", path, Some(body));
        assert_eq!(status, 400, "{err}");
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(want), "{path}: {message}");
    }
    let (status, playlist) = api.call(
        "POST",
        "/api/playlists",
        Some(json!({"name": "anti-fraud", "items": [{"media_id": media_id}]})),
    );
    assert_eq!(status, 201, "{playlist}");

    // Next whole minute at least 10 s away, in UTC (the time zone is the schedule's).
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let fire_s = (now_s + 10).div_ceil(60) * 60;
    let cron = format!("{} {} * * *", (fire_s / 60) % 60, (fire_s / 3600) % 24);
    let (status, schedule) = api.call(
        "POST",
        "/api/schedules",
        Some(json!({
            "name": "daily anti-fraud", "cron": cron, "time_zone": "UTC",
            "playlist_id": playlist["id"], "target": {"areas": ["330106001"]}
        })),
    );
    assert_eq!(status, 201, "{schedule}");
    assert_eq!(schedule["next_runs"][0]["at"], fire_s * 1_000_000);
    assert_eq!(
        schedule["next_runs"][1]["at"],
        (fire_s + 86_400) * 1_000_000
    );

    // The targeted agent stores its schedule and fetches the media; then the controller
    // goes away.
    agents[0].1.wait_for("schedule version");
    let cached = agents[0]
        .0
        .join("cache")
        .join(format!("{}.opus", media["hash"].as_str().expect("hash")));
    let fetch_deadline = std::time::Instant::now() + WAIT;
    while !cached.exists() {
        assert!(std::time::Instant::now() < fetch_deadline, "never fetched");
        std::thread::sleep(Duration::from_millis(50));
    }
    let at = ctl.addresses();
    ctl.proc.stop();

    // Cut off, it plays on time. Its WAV file names the broadcast.
    let deadline =
        std::time::Instant::now() + Duration::from_secs(fire_s.saturating_sub(now_s) + 30);
    let broadcast: u64 = loop {
        let found = std::fs::read_dir(&agents[0].0)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("speaker-b") && n.ends_with(".wav"));
        if let Some(name) = found {
            break name["speaker-b".len()..name.len() - 4]
                .parse()
                .expect("broadcast id");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dong-1 played nothing"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let samples = wait_played(&agents[0].0, broadcast, deadline);
    assert!(
        (samples.len() as i64 - 72_000).abs() <= 960,
        "{} samples",
        samples.len()
    );
    let rms = (samples[12_000..60_000]
        .iter()
        .map(|&s| f64::from(s).powi(2))
        .sum::<f64>()
        / 48_000.0)
        .sqrt();
    assert!(rms > 0.05, "rms {rms}");

    // The controller comes back on the same address; the agent reports what it did.
    let ctl = restart_controller(&data, &at);
    let api = Api::login(&ctl.addr, &password);
    let (_, result) = api.call(
        "GET",
        &format!("/api/broadcasts/{broadcast}?wait_ms=60000"),
        None,
    );
    let receipts = result["receipts"].as_array().expect("receipts");
    assert_eq!(receipts.len(), 1, "{result}");
    assert_eq!(receipts[0]["agent_id"], "dong-1");
    assert_eq!(receipts[0]["state"], "done", "{result}");
    let started = receipts[0]["started_at"].as_u64().expect("started_at");
    let late_ms = (started as i64 - (fire_s * 1_000_000) as i64) / 1000;
    eprintln!("played {late_ms} ms from its planned start, with the controller down");
    assert!(late_ms.abs() <= 50, "started {late_ms} ms off");

    // The run and the log agree; nothing was planned twice after the restart.
    let (_, schedule) = api.call("GET", &format!("/api/schedules/{}", schedule["id"]), None);
    let runs = schedule["runs"].as_array().expect("runs");
    assert_eq!(runs[0]["fire_at"], fire_s * 1_000_000, "{schedule}");
    assert_eq!(runs[0]["state"], "planned");
    assert_eq!(runs[0]["broadcasts"], json!([broadcast]));
    let (_, log) = api.call("GET", "/api/broadcasts", None);
    let entry = log
        .as_array()
        .expect("log")
        .iter()
        .find(|b| b["id"] == broadcast)
        .expect("in the log")
        .clone();
    assert_eq!(entry["kind"], "scheduled");
    assert_eq!(entry["coverage"]["targeted"], 1);
    assert_eq!(entry["coverage"]["confirmed_playing"], 1);
    // The other village heard nothing.
    let other: Vec<_> = std::fs::read_dir(&agents[1].0)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("speaker-b"))
        .collect();
    assert!(other.is_empty(), "xi-1 played {other:?}");
    // dong-1 played it exactly once.
    let files: Vec<_> = std::fs::read_dir(&agents[0].0)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("speaker-b"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
}
