//! `dalaba-loadtest` itself, run as a user would: the sync simulation's verdict on the
//! clock-sync estimator, a short live-latency run through a real controller and agent, and
//! the simulated agents' event loop against a real controller (fan-out, alert, restarts).
//! The controller and agent binaries come from the same target directory: `cargo test
//! --workspace` builds them (their crates have integration tests).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn loadtest(dir: &Path, args: &[&str]) -> Value {
    let json = dir.join("figures.json");
    let out = Command::new(env!("CARGO_BIN_EXE_dalaba-loadtest"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run dalaba-loadtest");
    assert!(
        out.status.success(),
        "dalaba-loadtest {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&json).expect("figures written")).expect("JSON")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dalaba-bench-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn sync_simulation_shows_the_drift_estimate_within_a_millisecond() {
    let dir = scratch("sync");
    let figures = loadtest(&dir, &["--only", "sync"]);
    let rows = figures["sync"]["rows"].as_array().expect("rows");
    let p99 = |name: &str| {
        rows.iter()
            .find(|r| r["estimator"].as_str() == Some(name))
            .and_then(|r| r["spread_p99_us"].as_f64())
            .unwrap_or_else(|| panic!("no row {name}: {rows:?}"))
    };
    let with_drift = p99("drift estimated, after 1 min");
    let offset_only = p99("offset only (before), after 1 min");
    assert!(with_drift < 1000.0, "p99 spread {with_drift} µs");
    assert!(
        with_drift * 4.0 < offset_only,
        "drift estimate {with_drift} µs against offset only {offset_only} µs"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn live_latency_is_measured_through_a_real_agent() {
    let dir = scratch("latency");
    let figures = loadtest(
        &dir,
        &[
            "--only",
            "latency",
            "--latency-seconds",
            "4",
            "--latency-sweep",
            "60",
            "--sweep-seconds",
            "3",
        ],
    );
    let rows = figures["latency"]["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let default = &rows[0];
    assert_eq!(default["latency_setting_ms"], 150);
    // Every click but perhaps the first (the agent may join the call a frame late) heard,
    // 150 ms plus Opus's look-ahead after it entered the encoder.
    let heard = default["clicks_heard"].as_u64().expect("heard");
    assert!(
        heard + 1 >= default["clicks_sent"].as_u64().expect("sent"),
        "{default}"
    );
    let p50 = default["latency_p50_ms"].as_f64().expect("p50");
    assert!(
        (150.0..175.0).contains(&p50),
        "latency p50 {p50} ms at the 150 ms setting"
    );
    let sweep = &rows[1];
    let p50 = sweep["latency_p50_ms"].as_f64().expect("p50");
    assert!(
        (60.0..85.0).contains(&p50),
        "latency p50 {p50} ms at the 60 ms setting"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The simulated agents (one event loop, `sim.rs`) against a real controller at a small
/// size: every agent enrols, gets every frame of the live stream in order, gets the alert
/// and reports it playing, and comes back after a graceful restart and a crash.
#[test]
fn simulated_agents_get_every_frame_and_come_back_after_restarts() {
    let dir = scratch("sim");
    let figures = loadtest(
        &dir,
        &["--only", "fanout,storm", "--agents", "20", "--seconds", "2"],
    );
    let fanout = &figures["fanout"][0];
    assert!(fanout["error"].is_null(), "{fanout}");
    assert_eq!(fanout["agents"], 20);
    assert_eq!(fanout["frames_expected"], 20 * 100);
    assert_eq!(
        fanout["frames_received"], fanout["frames_expected"],
        "{fanout}"
    );
    assert_eq!(fanout["frames_out_of_order"], 0, "{fanout}");
    assert!(
        fanout["generator_cpu_pct_of_core"]
            .as_f64()
            .expect("generator CPU")
            > 0.0
    );
    let storm = &figures["storm"][0];
    assert!(storm["error"].is_null(), "{storm}");
    for restart in ["graceful", "crash"] {
        let online = storm[restart]["all_online_s"].as_f64().expect("online");
        let scheduled = storm[restart]["all_scheduled_s"]
            .as_f64()
            .expect("scheduled");
        assert!(online > 0.0 && scheduled >= online, "{storm}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
