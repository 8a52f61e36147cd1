//! PROTOCOL.md section 3: the controller considers an agent offline when nothing arrived
//! from it for three heartbeat intervals, and closes the connection — whatever it is
//! sending the agent meanwhile. A speaker whose power or link died in the middle of a live
//! call, or whose agent hangs and reads nothing more, must not stay "online" for as long
//! as the call or TCP's own retries last.

mod common;

use std::time::Duration;

use common::router::{World, world};
use dalaba_controller::hub::Outgoing;
use dalaba_controller::storage::AgentRecord;
use dalaba_protocol::auth::{login_message, sign_proof};
use dalaba_protocol::control::{Hello, Login};
use dalaba_protocol::keys::PublicKey;
use dalaba_protocol::{AgentId, AgentMessage, ControllerMessage};
use ed25519_dalek::SigningKey;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The heartbeat interval these controllers give their agents: offline after 600 ms.
const HEARTBEAT: Duration = Duration::from_millis(200);
/// Far longer than three intervals: still online then is a failure.
const LIMIT: Duration = Duration::from_secs(10);

/// The next message from the controller, within 5 s.
async fn next(ws: &mut Ws) -> ControllerMessage {
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("the controller answers")
        .expect("a frame")
        .expect("no error");
    let Message::Text(text) = frame else {
        panic!("a text frame: {frame:?}");
    };
    dalaba_protocol::decode_controller_message(text.as_bytes()).expect("a message")
}

/// A controller whose heartbeat interval is [`HEARTBEAT`], and agent `quiet-1` logged in
/// to it: the world, the agent's socket, its id, and when it last sent anything.
async fn logged_in() -> (World, Ws, AgentId, Instant) {
    let mut w = world();
    w.state.heartbeat = HEARTBEAT;
    let key = SigningKey::from_bytes(&[7; 32]);
    let id: AgentId = "quiet-1".parse().expect("id");
    let mut record = AgentRecord::new(
        id.clone(),
        "静默村".into(),
        "330106001009".parse().expect("area"),
        Vec::new(),
    );
    record.public_key = Some((&PublicKey::from(key.verifying_key())).into());
    w.state.storage.create_agent(&record).expect("agent");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = dalaba_controller::http::api::agents_router(w.state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/agent/ws"))
        .await
        .expect("connect");
    let hello = AgentMessage::Hello(Hello {
        versions: vec![1],
        software: "test".into(),
        agent_id: Some(id.clone()),
    });
    ws.send(Message::Text(hello.to_json().into()))
        .await
        .expect("hello");
    let ControllerMessage::Welcome(welcome) = next(&mut ws).await else {
        panic!("welcome");
    };
    let proof = login_message(&welcome.controller_id, &welcome.challenge, &id);
    let login = AgentMessage::Login(Login {
        agent_id: id.clone(),
        signature: sign_proof(&key, &proof),
        last_command_seq: 0,
    });
    ws.send(Message::Text(login.to_json().into()))
        .await
        .expect("login");
    let last_sent = Instant::now();
    let ControllerMessage::LoginOk(ok) = next(&mut ws).await else {
        panic!("login_ok");
    };
    assert_eq!(
        u128::from(ok.heartbeat_interval_ms),
        HEARTBEAT.as_millis(),
        "the agent is told the interval it is held to"
    );
    assert!(w.state.hub.is_online(&id));
    (w, ws, id, last_sent)
}

/// Sends `message()` to `id` every `every` until it is offline; how long after `since`.
async fn keep_sending(
    w: &World,
    id: &AgentId,
    since: Instant,
    every: Duration,
    message: impl Fn() -> Outgoing,
) -> Duration {
    let mut pace = tokio::time::interval(every);
    while w.state.hub.is_online(id) {
        assert!(
            since.elapsed() < LIMIT,
            "still online {:?} after the agent last sent anything (offline after {:?})",
            since.elapsed(),
            HEARTBEAT * 3
        );
        // A full queue is a slow agent's: dropped and counted, as in a live call.
        let _ = w.state.hub.send(id, message());
        pace.tick().await;
    }
    since.elapsed()
}

/// The agent reads everything it is sent and says nothing (a speaker that lost power
/// with its modem still up, or an agent whose sending side is stuck), while commands keep
/// going to it.
#[tokio::test]
async fn an_agent_silent_for_three_intervals_is_offline_though_commands_keep_going_to_it() {
    let (w, ws, id, last_sent) = logged_in().await;
    let (_sink, mut read) = ws.split();
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = read.next().await {} });

    let command = || Outgoing::Text(r#"{"type":"stop_all"}"#.into());
    let offline_after = keep_sending(&w, &id, last_sent, Duration::from_millis(50), command).await;

    assert!(
        offline_after >= HEARTBEAT * 3,
        "offline after {offline_after:?}, before three intervals"
    );
    tokio::time::timeout(LIMIT, reader)
        .await
        .expect("the controller closes the connection")
        .expect("reader");
}

/// The agent reads nothing more and sends nothing (its process hung; its kernel still
/// acknowledges): the controller's writes fill the socket's buffers and then wait, and
/// the agent is offline all the same after three intervals.
#[tokio::test]
async fn an_agent_that_stops_reading_is_offline_after_three_intervals() {
    let (w, _ws, id, last_sent) = logged_in().await;

    let large = || Outgoing::Binary(bytes::Bytes::from(vec![0u8; 64 * 1024]));
    let offline_after = keep_sending(&w, &id, last_sent, Duration::from_millis(5), large).await;

    assert!(
        offline_after >= HEARTBEAT * 3,
        "offline after {offline_after:?}, before three intervals"
    );
}
