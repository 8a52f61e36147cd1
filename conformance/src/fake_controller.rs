//! The controller the kit plays: an HTTP server on loopback with the agents' endpoint
//! (`/agent/ws`) and media downloads (`/media/<hash>`, with ranges). Each agent connection
//! becomes a [`Link`]: pings are answered on the controller's clock (which runs
//! [`FakeController::offset_us`] ahead of this machine's, so the agent's clock sync can be
//! checked), everything else is handed to the checks in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dalaba_protocol::control::Pong;
use dalaba_protocol::{AgentMessage, ControllerMessage, decode_agent_message};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;

/// Media the controller serves, by hash (lowercase hex).
pub type MediaStore = Arc<Mutex<HashMap<String, Vec<u8>>>>;

#[derive(Clone)]
struct Shared {
    media: MediaStore,
    conns: mpsc::UnboundedSender<WebSocket>,
}

/// The controller's clock: this machine's, `offset_us` ahead.
#[derive(Clone, Copy, Debug)]
pub struct ControllerClock {
    /// Controller time minus this machine's time, µs.
    pub offset_us: i64,
}

impl ControllerClock {
    /// Controller time now, µs since the epoch.
    pub fn now(&self) -> u64 {
        let local = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        (local + self.offset_us).max(0) as u64
    }
}

/// The server and the connections waiting to be taken.
#[derive(Debug)]
pub struct FakeController {
    /// Its address, `127.0.0.1:port`.
    pub addr: std::net::SocketAddr,
    /// What it serves under `/media/<hash>`.
    pub media: MediaStore,
    /// Its clock.
    pub clock: ControllerClock,
    conns: mpsc::UnboundedReceiver<WebSocket>,
}

impl FakeController {
    /// Listens on a free loopback port.
    pub async fn start(clock: ControllerClock) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, conns) = mpsc::unbounded_channel();
        let media = MediaStore::default();
        let shared = Shared {
            media: Arc::clone(&media),
            conns: tx,
        };
        let app = Router::new()
            .route("/agent/ws", get(agent_ws))
            .route("/media/{hash}", get(download))
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            addr,
            media,
            clock,
            conns,
        })
    }

    /// The agents' endpoint.
    pub fn url(&self) -> String {
        format!("ws://{}/agent/ws", self.addr)
    }

    /// The next agent connection, within `limit`.
    pub async fn next_connection(&mut self, limit: Duration) -> Option<Link> {
        let socket = tokio::time::timeout(limit, self.conns.recv())
            .await
            .ok()??;
        Some(Link::new(socket, self.clock))
    }
}

async fn agent_ws(ws: WebSocketUpgrade, State(shared): State<Shared>) -> Response {
    ws.on_upgrade(move |socket| async move {
        let _ = shared.conns.send(socket);
    })
}

async fn download(
    State(shared): State<Shared>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(bytes) = shared
        .media
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&hash)
        .cloned()
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let from = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<usize>().ok());
    match from {
        Some(from) if from < bytes.len() => (
            StatusCode::PARTIAL_CONTENT,
            [(
                header::CONTENT_RANGE,
                format!("bytes {from}-{}/{}", bytes.len() - 1, bytes.len()),
            )],
            bytes[from..].to_vec(),
        )
            .into_response(),
        Some(_) => StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
        None => bytes.into_response(),
    }
}

/// What the reader saw besides the messages it hands on.
#[derive(Debug, Default)]
pub struct Seen {
    /// When each heartbeat arrived.
    pub heartbeats: Vec<Instant>,
    /// Pings answered.
    pub pings: u64,
    /// The connection is over (closed by the agent, or broken).
    pub closed: bool,
}

/// One agent connection.
#[derive(Debug)]
pub struct Link {
    out: mpsc::UnboundedSender<Message>,
    inbox: mpsc::UnboundedReceiver<AgentMessage>,
    /// Heartbeats, pings, closing.
    pub seen: Arc<Mutex<Seen>>,
    /// Every message handed on, in order.
    pub log: Vec<AgentMessage>,
}

impl Link {
    fn new(socket: WebSocket, clock: ControllerClock) -> Self {
        let (mut sink, mut stream) = socket.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        let (to_checks, inbox) = mpsc::unbounded_channel();
        let seen = Arc::new(Mutex::new(Seen::default()));
        tokio::spawn(async move {
            while let Some(m) = outgoing.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let (pongs, record) = (out.clone(), Arc::clone(&seen));
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let t2 = clock.now();
                let Message::Text(text) = frame else {
                    if matches!(frame, Message::Close(_)) {
                        break;
                    }
                    continue;
                };
                let Ok(message) = decode_agent_message(text.as_bytes()) else {
                    continue;
                };
                match &message {
                    AgentMessage::Ping(p) => {
                        let pong = ControllerMessage::Pong(Pong {
                            id: p.id,
                            t1: p.t1,
                            t2,
                            t3: clock.now(),
                        });
                        let _ = pongs.send(Message::Text(pong.to_json().into()));
                        lock(&record).pings += 1;
                        continue;
                    }
                    AgentMessage::Heartbeat(_) => lock(&record).heartbeats.push(Instant::now()),
                    _ => {}
                }
                if to_checks.send(message).is_err() {
                    break;
                }
            }
            lock(&record).closed = true;
        });
        Self {
            out,
            inbox,
            seen,
            log: Vec::new(),
        }
    }

    /// Sends a controller message.
    pub fn send(&self, message: &ControllerMessage) {
        self.send_text(message.to_json());
    }

    /// Sends any text frame.
    pub fn send_text(&self, text: String) {
        let _ = self.out.send(Message::Text(text.into()));
    }

    /// Sends a binary frame (audio).
    pub fn send_binary(&self, bytes: Vec<u8>) {
        let _ = self.out.send(Message::Binary(bytes.into()));
    }

    /// The next message (not a ping), within `limit`; `None` if none came or the
    /// connection ended.
    pub async fn recv(&mut self, limit: Duration) -> Option<AgentMessage> {
        let m = tokio::time::timeout(limit, self.inbox.recv())
            .await
            .ok()??;
        self.log.push(m.clone());
        Some(m)
    }

    /// Reads messages until `pick` chooses one, within `limit`; the messages read on the
    /// way are returned too, in order.
    pub async fn until<T>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(&AgentMessage) -> Option<T>,
    ) -> (Option<T>, Vec<AgentMessage>) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut passed = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(m) = self.recv(left).await else {
                return (None, passed);
            };
            if let Some(v) = pick(&m) {
                return (Some(v), passed);
            }
            passed.push(m);
        }
    }

    /// Pings answered so far.
    pub fn pings(&self) -> u64 {
        lock(&self.seen).pings
    }

    /// Whether the connection is over.
    pub fn closed(&self) -> bool {
        lock(&self.seen).closed
    }

    /// The longest silence between heartbeats from `since` (the session's start) until
    /// now, and how many heartbeats there were.
    pub fn heartbeat_gaps(&self, since: Instant) -> (Duration, usize) {
        let seen = lock(&self.seen);
        let mut times = vec![since];
        times.extend(seen.heartbeats.iter().copied().filter(|t| *t >= since));
        times.push(Instant::now());
        let gap = times
            .windows(2)
            .map(|w| w[1].duration_since(w[0]))
            .max()
            .unwrap_or_default();
        (gap, times.len() - 2)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
