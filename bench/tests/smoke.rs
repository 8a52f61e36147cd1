//! `dalaba-loadtest` itself, run as a user would: the sync simulation's verdict on the
//! clock-sync estimator, and a short live-latency run through a real controller and agent.
//! The controller and agent binaries come from the same target directory: `cargo test
//! --workspace` builds them (their crates have integration tests).

mod common;

use common::{loadtest, scratch};

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
