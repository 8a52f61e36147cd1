//! The controller's side of the handshake when the agent gets it wrong (PROTOCOL.md
//! sections 3 and 10, rules C5 and C6): a malformed frame before `hello` is answered with
//! `malformed_message` and the connection stays open for a proper `hello`; a well-formed
//! message that is not `hello` is answered with `unexpected_message` and a close frame.

mod common;

use std::time::Duration;

use common::router::world;
use dalaba_protocol::control::{ErrorCode, Hello};
use dalaba_protocol::{AgentMessage, ControllerMessage};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect() -> (Ws, common::router::World) {
    let w = world();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = dalaba_controller::http::api::agents_router(w.state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/agent/ws"))
        .await
        .unwrap();
    (ws, w)
}

/// The next frame, within 5 s.
async fn next(ws: &mut Ws) -> Message {
    tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("the controller answers")
        .expect("a frame")
        .expect("no error")
}

fn error_code(m: &Message) -> ErrorCode {
    match m {
        Message::Text(t) => match dalaba_protocol::decode_controller_message(t.as_bytes()) {
            Ok(ControllerMessage::Error(e)) => e.code,
            other => panic!("not an error: {other:?}"),
        },
        other => panic!("not a text frame: {other:?}"),
    }
}

fn assert_welcome(m: &Message) {
    match m {
        Message::Text(t) => assert!(
            matches!(
                dalaba_protocol::decode_controller_message(t.as_bytes()),
                Ok(ControllerMessage::Welcome(_))
            ),
            "{t}"
        ),
        other => panic!("{other:?}"),
    }
}

fn hello() -> Message {
    Message::Text(
        AgentMessage::Hello(Hello {
            versions: vec![1],
            software: "test".into(),
            agent_id: None,
        })
        .to_json()
        .into(),
    )
}

#[tokio::test]
async fn a_malformed_first_frame_is_answered_and_hello_still_works() {
    let (mut ws, _w) = connect().await;
    ws.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(
        error_code(&next(&mut ws).await),
        ErrorCode::MalformedMessage
    );
    ws.send(Message::Text(r#"{"type":"hullo"}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        error_code(&next(&mut ws).await),
        ErrorCode::MalformedMessage
    );
    ws.send(hello()).await.unwrap();
    assert_welcome(&next(&mut ws).await);
}

#[tokio::test]
async fn a_message_other_than_hello_first_is_refused_and_closed() {
    let (mut ws, _w) = connect().await;
    ws.send(Message::Text(
        AgentMessage::Heartbeat(dalaba_protocol::control::Heartbeat { uptime_s: 1 })
            .to_json()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        error_code(&next(&mut ws).await),
        ErrorCode::UnexpectedMessage
    );
    match next(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// A message longer than the controller's read buffer for agent sockets (1 KiB) is read
/// whole, over several reads: here a `hello` padded with 8,000 spaces of JSON whitespace.
#[tokio::test]
async fn a_message_longer_than_the_read_buffer_is_read_whole() {
    let (mut ws, _w) = connect().await;
    let Message::Text(hello) = hello() else {
        unreachable!()
    };
    let padded = format!("{}{}}}", hello.trim_end_matches('}'), " ".repeat(8000));
    assert!(padded.len() > 7 * 1024, "{}", padded.len());
    ws.send(Message::Text(padded.into())).await.unwrap();
    assert_welcome(&next(&mut ws).await);
}
