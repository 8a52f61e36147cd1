//! Work over every agent (signing a command for each, the alarms' look at every agent)
//! must not hold up the agents' connections: a connection task waiting behind it writes
//! the live frames already queued to it that much later. One Ed25519 signature per agent
//! is ≈ 15 µs, 75 ms for 5,000 (the fan-out benchmark saw the last second of every call
//! to 5,000 speakers late). The scheduler's pass: `scheduler.rs`.

mod common;

use std::sync::atomic::Ordering;

use common::connection;
use dalaba_controller::hub::Outgoing;
use dalaba_controller::storage::AgentRecord;
use dalaba_protocol::ControllerMessage;
use dalaba_protocol::command::{Command, SignedCommand, StopLive};
use dalaba_protocol::{AgentId, BroadcastId, StreamId};

/// A controller with `n` agents, all connected: their ids and queues, and the first
/// admin's password.
fn county(
    dir: &std::path::Path,
    n: usize,
) -> (
    dalaba_controller::state::AppState,
    Vec<AgentId>,
    Vec<dalaba_controller::state::outbox::Receiver>,
    String,
) {
    let (state, first) = dalaba_controller::open(dir).expect("open");
    let mut agents: Vec<AgentId> = Vec::new();
    let mut queues = Vec::new();
    for i in 0..n {
        let id: AgentId = format!("a-{i}").parse().expect("id");
        let area = format!("330106001{:03}", i % 1000);
        state
            .storage
            .create_agent(&AgentRecord::new(
                id.clone(),
                id.to_string(),
                area.parse().expect("area"),
                Vec::new(),
            ))
            .expect("agent");
        queues.push(state.hub.register(id.clone()).1);
        agents.push(id);
    }
    let password = first.admin_password.expect("a first start");
    (state, agents, queues, password)
}

/// The signed command `message` carries; anything else fails the test.
fn signed(message: Outgoing) -> SignedCommand {
    let Outgoing::Text(text) = message else {
        panic!("a command, not {message:?}");
    };
    let ControllerMessage::Signed(envelope) =
        dalaba_protocol::decode_controller_message(text.as_bytes()).expect("a message")
    else {
        panic!("a signed command: {text}");
    };
    serde_json::from_slice(&envelope.payload.0).expect("command")
}

/// On a runtime of one thread (a controller held to one core), a connection with a frame
/// queued is served while a command is signed for 500 agents, not after.
#[tokio::test(flavor = "current_thread")]
async fn connections_are_served_while_a_command_is_signed_for_many_agents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, agents, mut queues, _) = county(dir.path(), 500);
    let last = agents.last().expect("an agent").clone();
    let (served, connection) = connection(&state, &last, queues.pop().expect("a queue"));

    let stop = Command::StopLive(StopLive {
        broadcast_id: BroadcastId(1),
        stream_id: StreamId(7),
    });
    let failed = dalaba_controller::dispatch::send_all(&state, agents, stop).await;
    let served_meanwhile = served.load(Ordering::SeqCst);

    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        served_meanwhile,
        "the connection waited until every command was signed"
    );
    let (first, mut queue) = connection.await.expect("connection task");
    assert!(matches!(first, Outgoing::Binary(_)), "{first:?}");
    let signed = signed(queue.recv().await);
    assert_eq!(signed.audience, last);
    assert!(matches!(signed.command, Command::StopLive(_)), "{signed:?}");
}

/// The alarms look at every agent once a second (offline, faults, failed broadcasts):
/// on a runtime of one thread, a connection with a frame queued is served meanwhile.
#[tokio::test(flavor = "current_thread")]
async fn connections_are_served_while_the_alarms_look_at_every_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, agents, mut queues, _) = county(dir.path(), 500);
    let last = agents.last().expect("an agent").clone();
    let (served, connection) = connection(&state, &last, queues.pop().expect("a queue"));

    let hooks = dalaba_controller::alarm_hooks::Sender::start();
    dalaba_controller::alarms::check(&state, &hooks).await;
    let served_meanwhile = served.load(Ordering::SeqCst);

    assert!(served_meanwhile, "the connection waited for the alarms");
    let (first, _) = connection.await.expect("connection task");
    assert!(matches!(first, Outgoing::Binary(_)), "{first:?}");
}

/// A speaker on a slow link whose queue is full of a live call's frames (five seconds of
/// them) is still sent an alert: queued, and written before the audio waiting, not dropped
/// as "queue full" or held behind the call it is about to cut in on.
#[tokio::test]
async fn a_command_to_an_agent_whose_queue_is_full_of_audio_goes_out_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, agents, mut queues, _) = county(dir.path(), 1);
    let agent = &agents[0];
    let frame = Outgoing::Binary(bytes::Bytes::from_static(b"frame"));
    while state.hub.send(agent, frame.clone()).is_ok() {}
    let dropped = state.hub.metrics.dropped.load(Ordering::Relaxed);
    assert_eq!(dropped, 1, "the queue is full of audio");

    let seq = dalaba_controller::dispatch::send_command(&state, agent, Command::StopAll)
        .expect("a command is queued whatever audio waits");

    let first = signed(queues[0].recv().await);
    assert_eq!((first.seq, first.command), (seq, Command::StopAll));
    assert!(matches!(queues[0].recv().await, Outgoing::Binary(_)));
}

/// Every request that resolves a target reads and checks every agent (10,000 records for
/// a county, tens of milliseconds): a live call, a broadcast, an alert, and a scoped
/// operator's schedules and week. Each resolves it on the blocking pool, never on a thread
/// of the runtime that writes the live frames: `Target::resolve` checks where it runs in
/// debug builds, and panics on a runtime thread, failing the request's test.
#[tokio::test(flavor = "current_thread")]
async fn targets_are_resolved_off_the_runtime() {
    use axum::http::StatusCode;
    use common::router::{call, login, user, world};
    use serde_json::json;

    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let dong = user(s, &admin, "op-dong", "operator", json!(["330106001"])).await;
    let expires = dalaba_controller::now_us() + 3_600_000_000;
    let made = [
        ("/api/live", json!({"target": {"areas": ["330106001"]}})),
        (
            "/api/broadcasts",
            json!({"media_id": 1, "target": {"agents": ["dong-1"]}}),
        ),
        (
            "/api/alerts",
            json!({"severity": "blue", "event": "drill", "areas": ["330106001"],
                   "expires_at": expires, "mode": "drill"}),
        ),
        (
            "/api/playlists",
            json!({"name": "news", "items": [{"media_id": 1}]}),
        ),
    ];
    let mut playlist = 0;
    for (path, body) in made {
        let (status, out) = call(s, Some(&dong), "POST", path, Some(body)).await;
        assert!(status.is_success(), "{path}: {status} {out}");
        playlist = out["id"].as_u64().unwrap_or(0);
    }
    let schedule = json!({"name": "daily", "cron": "0 7 * * *", "playlist_id": playlist,
                          "target": {"areas": ["330106001"]}});
    let (status, out) = call(s, Some(&dong), "POST", "/api/schedules", Some(schedule)).await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    let id = out["id"].as_u64().expect("an id");
    for path in [
        "/api/schedules".to_owned(),
        format!("/api/schedules/{id}"),
        "/api/programme/week".to_owned(),
    ] {
        let (status, out) = call(s, Some(&dong), "GET", &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {out}");
    }
    let (status, out) = call(
        s,
        Some(&dong),
        "DELETE",
        &format!("/api/schedules/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{out}");
}

/// Stopping a broadcast to a county signs a `stop` for every speaker (≈ 19 µs each), as
/// does cancelling an alert, and the broadcast log reads every speaker's area and every
/// receipt: on a runtime of one thread, a connection with a frame queued is served while
/// each of them runs, not after.
#[tokio::test(flavor = "current_thread")]
async fn connections_are_served_while_a_county_wide_broadcast_is_stopped_or_listed() {
    use common::router::{call, login};
    use serde_json::json;

    let dir = tempfile::tempdir().expect("tempdir");
    let (state, agents, mut queues, password) = county(dir.path(), 500);
    let s = &state;
    let admin = login(s, "admin", &password).await;
    let last = agents.last().expect("an agent").clone();
    let mut queue = queues.pop().expect("a queue");
    let expires = dalaba_controller::now_us() + 3_600_000_000;
    let made = [
        (
            "/api/broadcasts",
            json!({"text": "防诈骗提醒", "target": {"all": true}}),
        ),
        (
            "/api/alerts",
            json!({"severity": "blue", "event": "演练", "areas": ["330106"],
                   "expires_at": expires, "mode": "drill"}),
        ),
    ];
    let mut ids = Vec::new();
    for (path, body) in made {
        let (status, out) = call(s, Some(&admin), "POST", path, Some(body)).await;
        assert!(status.is_success(), "{path}: {status} {out}");
        ids.push(out["id"].as_u64().expect("an id"));
    }
    let undo = [
        ("POST", format!("/api/broadcasts/{}/stop", ids[0])),
        ("POST", format!("/api/alerts/{}/cancel", ids[1])),
        ("GET", "/api/broadcasts".to_owned()),
    ];
    for (method, path) in undo {
        // What the calls above queued to the last agent, written: only the frame waits.
        while queue.try_recv().is_some() {}
        let (served, connection) = common::connection(s, &last, queue);
        let (status, out) = call(s, Some(&admin), method, &path, None).await;
        let served_meanwhile = served.load(Ordering::SeqCst);
        assert!(status.is_success(), "{path}: {status} {out}");
        assert!(served_meanwhile, "{path}: the connection waited for it");
        let (first, rest) = connection.await.expect("connection task");
        assert!(matches!(first, Outgoing::Binary(_)), "{first:?}");
        queue = rest;
        if method == "GET" {
            // A log of county-wide broadcasts counts their receipts rather than listing
            // 500 (or 10,000) of them each.
            let log = out.as_array().expect("the log");
            assert_eq!(log.len(), 2, "{out}");
            for b in log {
                assert_eq!(b["coverage"]["targeted"], 500, "{b}");
                assert_eq!(b["receipts_listed"], false, "{b}");
                assert_eq!(b["receipts"], json!([]), "{b}");
                assert!(b["receipt_counts"].is_object(), "{b}");
            }
        }
    }
}
