//! The kit against real processes: Dalaba's agent passes every rule it checks; a small
//! agent built for these tests passes too, and with one deliberate fault fails on exactly
//! that fault's rule.

mod mini_agent;

use std::time::Duration;

use dalaba_conformance::agent_checks::{AgentUnderTest, check_agent};
use dalaba_conformance::report::{Outcome, Report};
use mini_agent::Fault;

/// Not a test: the mini agent's entry point, when the kit starts this binary as an agent.
#[test]
#[ignore = "the mini agent, run by the kit"]
fn mini_agent() {
    mini_agent::main_if_asked();
}

async fn kit(command: String) -> (Report, tempfile::TempDir) {
    let work = tempfile::tempdir().expect("tempdir");
    let report = check_agent(&AgentUnderTest {
        command,
        work: work.path().to_owned(),
        wait: Duration::from_secs(15),
    })
    .await
    .expect("the kit runs");
    println!("{report}");
    (report, work)
}

fn mini(fault: Fault) -> String {
    let exe = std::env::current_exe().expect("test binary");
    format!(
        "MINI_CONFIG={{config}} MINI_STATE={{state}} MINI_FAULT={} exec {} --exact mini_agent --ignored --nocapture",
        fault.name(),
        exe.display()
    )
}

/// The rules the kit checks today; a run of a good agent passes every one.
const CHECKED: &[&str] = &[
    "A1", "A2", "A3", "A5", "A6", "A7", "A8", "A9", "A10", "A11", "A13", "A15", "A16", "A17",
];

fn assert_passes_all(report: &Report, log: &std::path::Path) {
    for rule in CHECKED {
        assert!(
            matches!(report.outcome(rule), Outcome::Pass(_)),
            "{rule}: {:?}\n{report}\nagent log: {}",
            report.outcome(rule),
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dalaba_agent_passes_every_checked_rule() {
    let agent = std::path::PathBuf::from(env!("CARGO_BIN_EXE_dalaba-conformance"))
        .with_file_name("dalaba-agent");
    assert!(
        agent.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        agent.display()
    );
    let (report, work) = kit(format!(
        "exec {} run --config {{config}} --state-dir {{state}}",
        agent.display()
    ))
    .await;
    assert_passes_all(&report, &work.path().join("agent.log"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mini_agent_passes_every_checked_rule() {
    let (report, work) = kit(mini(Fault::None)).await;
    assert_passes_all(&report, &work.path().join("agent.log"));
}

/// A mini agent with `fault` fails on `rule` and nothing else.
async fn fails_only(fault: Fault, rule: &str) {
    let (report, _work) = kit(mini(fault)).await;
    assert_eq!(
        report.failed(),
        [rule],
        "{fault:?} fails on exactly {rule}\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_finished_broadcasts_fails_a10() {
    fails_only(Fault::Replays, "A10").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipping_the_signature_check_fails_a6() {
    fails_only(Fault::NoSignatureCheck, "A6").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taking_a_small_order_key_fails_a7() {
    fails_only(Fault::SmallOrderKey, "A7").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_any_certificate_fails_a1() {
    fails_only(Fault::NoPin, "A1").await;
}
