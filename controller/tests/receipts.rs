//! Receipts in the controller: a final state (`done`, `failed`, `cancelled`) is never left,
//! the first start is kept apart from resumes, and an agent that reported a final state
//! for a broadcast is not sent it again when it logs in (PROTOCOL.md, MUST rules C1–C3).

mod common;

use axum::http::StatusCode;
use common::router::{call, login, world};
use dalaba_controller::state::AppState;
use dalaba_controller::storage::{ReceiptRecord, ReceiptStatus};
use dalaba_protocol::AgentId;
use serde_json::json;

async fn broadcast_to(s: &AppState, token: &str, agents: &[&str]) -> u64 {
    let (status, body) = call(
        s,
        Some(token),
        "POST",
        "/api/broadcasts",
        Some(json!({"media_id": 1, "target": {"agents": agents}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_u64().unwrap()
}

/// Whether the report was recorded.
fn report(s: &AppState, broadcast: u64, agent: &str, state: ReceiptStatus, at: u64) -> bool {
    let agent_id: AgentId = agent.parse().unwrap();
    dalaba_controller::broadcast::record_agent_receipt(
        s,
        &agent_id,
        &ReceiptRecord::new(broadcast, agent, state, None, at),
    )
    .unwrap()
}

fn receipt(s: &AppState, broadcast: u64, agent: &str) -> ReceiptRecord {
    s.storage
        .receipts(broadcast)
        .unwrap()
        .into_iter()
        .find(|r| r.agent_id == agent)
        .expect("a receipt")
}

#[tokio::test]
async fn an_offline_speaker_is_unreachable_and_a_final_state_is_never_left() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let b = broadcast_to(s, &admin, &["dong-1"]).await;
    // Offline when it was sent: not a final state, it hears the broadcast when it logs in.
    let r = receipt(s, b, "dong-1");
    assert_eq!(r.state, ReceiptStatus::Unreachable, "{r:?}");
    assert!(r.detail.unwrap().starts_with("not sent"));

    report(s, b, "dong-1", ReceiptStatus::Playing, 10);
    report(s, b, "dong-1", ReceiptStatus::Done, 20);
    // A late or repeated report cannot reopen it.
    assert!(!report(s, b, "dong-1", ReceiptStatus::Playing, 30));
    assert!(!report(s, b, "dong-1", ReceiptStatus::Waiting, 31));
    let r = receipt(s, b, "dong-1");
    assert_eq!(
        (r.state, r.at, r.started_at, r.resumed_at),
        (ReceiptStatus::Done, 20, Some(10), None)
    );
    // Nor can a different final state replace it.
    assert!(!report(s, b, "dong-1", ReceiptStatus::Failed, 40));
    assert_eq!(receipt(s, b, "dong-1").state, ReceiptStatus::Done);
}

#[tokio::test]
async fn a_resume_keeps_the_first_start() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let b = broadcast_to(s, &admin, &["dong-1"]).await;
    report(s, b, "dong-1", ReceiptStatus::Playing, 10);
    report(s, b, "dong-1", ReceiptStatus::Preempted, 20);
    report(s, b, "dong-1", ReceiptStatus::Playing, 30);
    let r = receipt(s, b, "dong-1");
    assert_eq!(
        (r.state, r.started_at, r.resumed_at),
        (ReceiptStatus::Playing, Some(10), Some(30))
    );
    report(s, b, "dong-1", ReceiptStatus::Done, 40);
    let (_, shown) = call(
        s,
        Some(&admin),
        "GET",
        &format!("/api/broadcasts/{b}"),
        None,
    )
    .await;
    assert_eq!(shown["receipts"][0]["state"], "done", "{shown}");
    assert_eq!(shown["receipts"][0]["started_at"], 10, "{shown}");
    assert_eq!(shown["receipts"][0]["resumed_at"], 30, "{shown}");
}

#[tokio::test]
async fn a_speaker_that_reported_a_final_state_is_not_sent_the_broadcast_again() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let b = broadcast_to(s, &admin, &["dong-1", "dong-2", "xi-1"]).await;
    let now = dalaba_controller::now_us();
    let resent = |agent: &str| {
        dalaba_controller::dispatch::resend_for(s, &agent.parse().unwrap(), now)
            .unwrap()
            .len()
    };
    // All three were offline: each hears it when it logs in.
    assert_eq!(
        (resent("dong-1"), resent("dong-2"), resent("xi-1")),
        (1, 1, 1)
    );
    report(s, b, "dong-1", ReceiptStatus::Done, 10);
    report(s, b, "dong-2", ReceiptStatus::Failed, 10);
    // Still playing when its link dropped: it is told again and joins in step.
    report(s, b, "xi-1", ReceiptStatus::Playing, 10);
    assert_eq!(
        (resent("dong-1"), resent("dong-2"), resent("xi-1")),
        (0, 0, 1)
    );
    report(s, b, "xi-1", ReceiptStatus::Cancelled, 20);
    assert_eq!(resent("xi-1"), 0);
}

/// Receipts recorded as a batch (what the writer does with those that gathered while the
/// last batch committed): in order, one transaction, each judged as if alone, and those
/// about a broadcast not sent to that agent or after its final state counted as ignored.
#[tokio::test]
async fn a_batch_of_receipts_keeps_the_rules_of_each() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let b = broadcast_to(s, &admin, &["dong-1", "dong-2"]).await;
    let id = |a: &str| -> AgentId { a.parse().unwrap() };
    let r = |agent: &str, state, at| (id(agent), ReceiptRecord::new(b, agent, state, None, at));
    let ignored_before = s
        .hub
        .metrics
        .receipts_ignored
        .load(std::sync::atomic::Ordering::Relaxed);
    let recorded = dalaba_controller::broadcast::record_agent_receipts(
        s,
        vec![
            r("dong-1", ReceiptStatus::Playing, 10),
            r("dong-2", ReceiptStatus::Playing, 11),
            r("dong-1", ReceiptStatus::Done, 20),
            r("dong-1", ReceiptStatus::Playing, 30), // after its final state
            r("xi-1", ReceiptStatus::Playing, 12),   // not sent to it
        ],
    )
    .unwrap();
    assert_eq!(recorded, 3);
    let ignored = s
        .hub
        .metrics
        .receipts_ignored
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(ignored - ignored_before, 2);
    let dong1 = receipt(s, b, "dong-1");
    assert_eq!(
        (dong1.state, dong1.started_at),
        (ReceiptStatus::Done, Some(10))
    );
    assert_eq!(receipt(s, b, "dong-2").state, ReceiptStatus::Playing);
    assert!(
        s.storage
            .receipts(b)
            .unwrap()
            .iter()
            .all(|x| x.agent_id != "xi-1")
    );
}

/// A broadcast's receipts as counts (`?counts=true`, what a page following a county-wide
/// call or alert needs), without every speaker's receipt; and whether every speaker's is
/// over (`final`), in both forms.
#[tokio::test]
async fn a_broadcast_is_followed_by_its_counts() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let b = broadcast_to(s, &admin, &["dong-1", "xi-1"]).await;
    report(s, b, "dong-1", ReceiptStatus::Playing, 10);
    let path = format!("/api/broadcasts/{b}?counts=true");
    let (status, counted) = call(s, Some(&admin), "GET", &path, None).await;
    assert_eq!(status, StatusCode::OK, "{counted}");
    assert_eq!(
        counted["receipt_counts"],
        json!({"playing": 1, "unreachable": 1}),
        "{counted}"
    );
    assert_eq!(counted["targeted"], 2, "{counted}");
    assert_eq!(counted["final"], false, "{counted}");
    assert!(
        counted.get("receipts").is_none() && counted.get("agents").is_none(),
        "counts only: {counted}"
    );

    report(s, b, "dong-1", ReceiptStatus::Done, 20);
    let (_, counted) = call(s, Some(&admin), "GET", &path, None).await;
    assert_eq!(
        counted["receipt_counts"],
        json!({"done": 1, "unreachable": 1})
    );
    assert_eq!(counted["final"], true, "{counted}");
    // The whole form says the same, with each speaker's receipt.
    let (_, whole) = call(
        s,
        Some(&admin),
        "GET",
        &format!("/api/broadcasts/{b}"),
        None,
    )
    .await;
    assert_eq!(whole["final"], true, "{whole}");
    assert_eq!(whole["receipt_counts"], counted["receipt_counts"]);
    assert_eq!(
        whole["receipts"].as_array().map(Vec::len),
        Some(2),
        "{whole}"
    );
}
