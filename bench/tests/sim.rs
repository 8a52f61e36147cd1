//! `dalaba-loadtest`'s simulated agents (one event loop, `sim.rs`) against a real
//! controller, run as a user would. A test binary of its own: its restarts and 20 agents
//! would load the machine while `smoke.rs` measures live latency through a real agent
//! (cargo runs test binaries one after another, a binary's tests at once).
//! The controller and agent binaries come from the same target directory: `cargo test
//! --workspace` builds them (their crates have integration tests).

mod common;

use common::{loadtest, scratch};

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
