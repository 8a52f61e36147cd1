//! Commands signed for many agents at once (a live call's end, an alert, a county-wide
//! broadcast) must not hold up the agents' connections: one Ed25519 signature per agent
//! is ≈ 15 µs, 75 ms for 5,000, and a connection task waiting behind it writes the live
//! frames already queued to it that much later (the fan-out benchmark saw the last
//! second of every call to 5,000 speakers late).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dalaba_controller::hub::Outgoing;
use dalaba_controller::storage::AgentRecord;
use dalaba_protocol::ControllerMessage;
use dalaba_protocol::command::{Command, SignedCommand, StopLive};
use dalaba_protocol::{AgentId, BroadcastId, StreamId};

/// On a runtime of one thread (a controller held to one core), a connection with a frame
/// queued is served while a command is signed for 500 agents, not after.
#[tokio::test(flavor = "current_thread")]
async fn connections_are_served_while_a_command_is_signed_for_many_agents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, _) = dalaba_controller::open(dir.path()).expect("open");
    let mut agents: Vec<AgentId> = Vec::new();
    let mut queues = Vec::new();
    for i in 0..500 {
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
    // One agent's connection task, with a live frame waiting for it.
    let mut queue = queues.pop().expect("a queue");
    let last = agents.last().expect("an agent").clone();
    state
        .hub
        .send(&last, Outgoing::Binary(bytes::Bytes::from_static(b"frame")))
        .expect("queued");
    let served = Arc::new(AtomicBool::new(false));
    let connection = tokio::spawn({
        let served = served.clone();
        async move {
            let first = queue.recv().await;
            served.store(true, Ordering::SeqCst);
            (first, queue)
        }
    });

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
    assert!(matches!(first, Some(Outgoing::Binary(_))), "{first:?}");
    let Some(Outgoing::Text(next)) = queue.recv().await else {
        panic!("a command after the frame");
    };
    let ControllerMessage::Signed(envelope) =
        dalaba_protocol::decode_controller_message(next.as_bytes()).expect("a message")
    else {
        panic!("a signed command: {next}");
    };
    let signed: SignedCommand = serde_json::from_slice(&envelope.payload.0).expect("command");
    assert_eq!(signed.audience, last);
    assert!(matches!(signed.command, Command::StopLive(_)), "{signed:?}");
}
