//! A controller played by the test: accepts a real agent process's connection, walks it
//! through `hello` → `welcome` → `enrol`/`login`, and answers its pings.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use dalaba_protocol::control::{Enrolled, LoginOk, Pong, Welcome};
use dalaba_protocol::keys::Challenge;
use dalaba_protocol::{AgentMessage, ControllerMessage, Timestamp, decode_agent_message};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// The agent's connection, server side.
pub type Ws = WebSocketStream<TcpStream>;

/// Microseconds since the epoch (the test's controller clock).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A controller message as a text frame.
pub fn text(m: &ControllerMessage) -> Message {
    Message::Text(m.to_json().into())
}

/// Starts `dalaba-agent run` with `config`, its state in `state`, and `env`.
pub fn spawn_agent(config: &Path, state: &Path, env: &[(&str, &str)]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dalaba-agent"));
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(state);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("agent")
}

/// Accepts the agent's next connection and lets it in as `agent_id`: enrolment on its
/// first connection, login on later ones.
pub async fn accept(listener: &TcpListener, agent_id: &str) -> Ws {
    let (stream, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
        .await
        .expect("agent connects")
        .expect("accept");
    let mut ws = tokio_tungstenite::accept_async(stream)
        .await
        .expect("websocket");
    expect(&mut ws, |m| {
        matches!(m, AgentMessage::Hello(_)).then_some(())
    })
    .await;
    let welcome = ControllerMessage::Welcome(Welcome {
        version: 1,
        controller_id: "test".into(),
        challenge: Challenge([1; 32]),
        server_time: Timestamp(now_us()),
    });
    ws.send(text(&welcome)).await.expect("welcome");
    let enrol = expect(&mut ws, |m| match m {
        AgentMessage::Enrol(_) => Some(true),
        AgentMessage::Login(_) => Some(false),
        _ => None,
    })
    .await;
    let (agent_id, heartbeat_interval_ms, status_interval_ms) =
        (agent_id.parse().expect("id"), 10_000, 60_000);
    let ok = if enrol {
        ControllerMessage::Enrolled(Enrolled {
            agent_id,
            heartbeat_interval_ms,
            status_interval_ms,
        })
    } else {
        ControllerMessage::LoginOk(LoginOk {
            agent_id,
            heartbeat_interval_ms,
            status_interval_ms,
        })
    };
    ws.send(text(&ok)).await.expect("enrolled or login_ok");
    ws
}

/// Reads agent messages (answering pings) until `pred` picks one.
pub async fn expect<T>(ws: &mut Ws, pred: impl Fn(&AgentMessage) -> Option<T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let t = match ws.next().await {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(_)) => continue,
                other => {
                    panic!("the agent's connection ended ({other:?}) before the expected message")
                }
            };
            let m = decode_agent_message(t.as_bytes()).expect("the agent speaks the protocol");
            if let AgentMessage::Ping(p) = &m {
                let t2 = now_us();
                let pong = ControllerMessage::Pong(Pong {
                    id: p.id,
                    t1: p.t1,
                    t2,
                    t3: t2,
                });
                // An agent that is leaving (SIGTERM) may be gone before its pong arrives;
                // what it sent before going is still read below.
                let _ = ws.send(text(&pong)).await;
                continue;
            }
            if let Some(v) = pred(&m) {
                return v;
            }
        }
    })
    .await
    .expect("the expected message did not come")
}
