//! The controller in process on a loopback port (port 0), serving its real router over
//! real HTTP and WebSocket, and [`SimAgent`]: a simulated speaker that speaks the
//! protocol through the agent's own `Session` (enrolment, login, clock sync, signature
//! checks) but plays nothing. API and protocol tests run here without spawning
//! processes; the few `*_e2e.rs` tests keep the real binaries.

use std::net::SocketAddr;
use std::time::Duration;

use dalaba_agent::clock::AgentClock;
use dalaba_agent::session::{Event, Session, SessionConfig};
use dalaba_controller::auth;
use dalaba_controller::state::AppState;
use dalaba_controller::storage::AgentRecord;
use dalaba_protocol::command::Command;
use dalaba_protocol::control::AgentMessage;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A running controller.
pub struct Harness {
    /// Its state (storage, hub, clock): tests may look inside.
    pub state: AppState,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The first admin's password.
    pub admin_password: String,
    stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Opens a controller in a new data directory and serves it on 127.0.0.1:0.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, first) = dalaba_controller::open(&dir.path().join("c")).expect("open");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let limits = dalaba_controller::http::server::EdgeLimits {
            pace: dalaba_controller::http::server::BodyPace::default(),
            edge: std::sync::Arc::clone(&state.edge),
        };
        // As `serve` does: receipts are recorded by one writer.
        tokio::spawn(dalaba_controller::broadcast::write_receipts(state.clone()));
        tokio::spawn(dalaba_controller::http::server::serve(
            listener,
            dalaba_controller::http::api::router(state.clone()),
            limits,
            stopped,
        ));
        Self {
            state,
            addr,
            admin_password: first.admin_password.expect("first admin"),
            stop,
            _dir: dir,
        }
    }

    /// An operator `op` in `scope` made by `admin`; their session token.
    pub async fn operator(&self, admin: &str, scope: &str) -> String {
        let (status, made) = self
            .call(
                Some(admin),
                "POST",
                "/api/users",
                Some(
                    serde_json::json!({"name": "op", "role": "operator", "scopes": [scope],
                    "password": "operator pass 123"}),
                ),
            )
            .await;
        assert_eq!(status, axum::http::StatusCode::CREATED, "{made}");
        super::router::login(&self.state, "op", "operator pass 123").await
    }

    /// The admin's session token.
    pub async fn admin(&self) -> String {
        super::router::login(&self.state, "admin", &self.admin_password).await
    }

    /// A request through the router (no network), as `super::router::call`.
    pub async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (axum::http::StatusCode, Value) {
        super::router::call(&self.state, token, method, path, body).await
    }

    /// `request` through the router (no network): status, headers and the body's bytes.
    async fn send(
        &self,
        request: axum::http::Request<axum::body::Body>,
    ) -> (u16, axum::http::HeaderMap, Vec<u8>) {
        use tower::ServiceExt as _;
        let response = dalaba_controller::http::api::router(self.state.clone())
            .oneshot(request)
            .await
            .expect("response");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .expect("body");
        (status, headers, bytes.to_vec())
    }

    /// `GET path` through the router: status and body text.
    pub async fn text(&self, path: &str) -> (u16, String) {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("request");
        let (status, _, body) = self.send(request).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// `POST path` with a JSON `body` through the router, as `token`: status, headers
    /// and the body's bytes (for answers that are not JSON, such as audio).
    pub async fn post_bytes(
        &self,
        token: &str,
        path: &str,
        body: Value,
    ) -> (u16, axum::http::HeaderMap, Vec<u8>) {
        let request = axum::http::Request::post(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::from(body.to_string()))
            .expect("request");
        self.send(request).await
    }

    /// `method path` with `body` of `content_type` through the router, as `token`: status
    /// and the JSON answer.
    pub async fn send_body(
        &self,
        token: &str,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, Value) {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::from(body.to_owned()))
            .expect("request");
        let (status, _, bytes) = self.send(request).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A speaker `id` in `area`, created with an enrolment token, enrolled and in session.
    pub async fn speaker(&self, id: &str, area: &str) -> SimAgent {
        let token = auth::random_secret(18);
        let mut record = AgentRecord::new(
            id.parse().expect("agent id"),
            id.into(),
            area.parse().expect("area code"),
            Vec::new(),
        );
        record.token_hash = Some(auth::token_hash(&token));
        record.token_expires_at = Some(dalaba_controller::now_us() + 3_600_000_000);
        self.state.storage.create_agent(&record).expect("agent");
        SimAgent::connect(self, &token).await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A simulated speaker: the agent's protocol engine on a real WebSocket.
pub struct SimAgent {
    ws: Socket,
    session: Session,
    clock: AgentClock,
    closed: Option<String>,
    seed: [u8; 32],
    id: Option<dalaba_protocol::AgentId>,
}

/// Longest wait for anything from the controller.
const PATIENCE: Duration = Duration::from_secs(10);

impl SimAgent {
    async fn connect(h: &Harness, token: &str) -> Self {
        let mut agent = Self::open(h, rand::random(), None, Some(token.to_owned())).await;
        let mut enrolled = None;
        agent
            .until(|event| match event {
                Event::Enrolled(id) => {
                    enrolled = Some(id);
                    None
                }
                Event::Ready => Some(()),
                _ => None,
            })
            .await
            .expect("in session");
        agent.id = enrolled;
        agent
    }

    /// A new connection and session for the speaker with key `seed`.
    async fn open(
        h: &Harness,
        seed: [u8; 32],
        id: Option<dalaba_protocol::AgentId>,
        token: Option<String>,
    ) -> Self {
        let clock = AgentClock::new();
        let session = Session::new(
            SessionConfig {
                agent_id: id.clone(),
                enrolment_token: token,
                controller_key: h.state.identity.signer.public_key(),
                software: "sim-agent/1".into(),
                last_command_seq: 0,
            },
            ed25519_dalek::SigningKey::from_bytes(&seed),
            clock.now(),
        );
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/agent/ws", h.addr))
            .await
            .expect("connect");
        Self {
            ws,
            session,
            clock,
            closed: None,
            seed,
            id,
        }
    }

    /// Connects again as the same speaker (its id and key): `Ok` once in session, or why
    /// the controller refused it.
    pub async fn reconnect(&mut self, h: &Harness) -> Result<(), String> {
        let _ = self.ws.close(None).await;
        *self = Self::open(h, self.seed, self.id.clone(), None).await;
        match self
            .until(|event| matches!(event, Event::Ready).then_some(()))
            .await
        {
            Some(()) => Ok(()),
            None => Err(self.closed.clone().unwrap_or_default()),
        }
    }

    /// Drives the session until `want` picks an event, the connection ends, or
    /// [`PATIENCE`] passes.
    async fn until<T>(&mut self, mut want: impl FnMut(Event) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            while let Some(message) = self.session.poll_transmit(self.clock.now()) {
                if self
                    .ws
                    .send(Message::Text(message.to_json().into()))
                    .await
                    .is_err()
                {
                    self.closed = Some("send failed".into());
                    return None;
                }
            }
            while let Some(event) = self.session.poll_event() {
                if let Event::Closed { reason, .. } = &event {
                    self.closed = Some(reason.clone());
                }
                if let Some(found) = want(event) {
                    return Some(found);
                }
            }
            if self.closed.is_some() {
                return None;
            }
            let wake = self
                .session
                .poll_timeout()
                .map(|t| self.clock.instant_of(t))
                .unwrap_or_else(|| std::time::Instant::now() + PATIENCE);
            tokio::select! {
                frame = self.ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        self.session.handle_message(text.as_bytes(), self.clock.now());
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        self.closed.get_or_insert_with(|| "connection closed".into());
                        return None;
                    }
                    Some(Ok(_)) => {}
                },
                () = tokio::time::sleep_until(wake.into()) => {}
                () = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    /// The next verified command that `pick` takes (others, such as the schedule sent at
    /// login, are passed over), if one comes within [`PATIENCE`].
    pub async fn command<T>(&mut self, mut pick: impl FnMut(Command) -> Option<T>) -> Option<T> {
        self.until(|event| match event {
            Event::Command(signed) => pick(signed.command),
            _ => None,
        })
        .await
    }

    /// The next `play_media` command, if one comes within [`PATIENCE`].
    pub async fn play_media(&mut self) -> Option<dalaba_protocol::command::PlayMedia> {
        self.command(|c| match c {
            Command::PlayMedia(play) => Some(play),
            _ => None,
        })
        .await
    }

    /// Sends `message` (a receipt, a status) once in session.
    pub async fn send(&mut self, message: AgentMessage) {
        self.session.send(message);
        while let Some(message) = self.session.poll_transmit(self.clock.now()) {
            self.ws
                .send(Message::Text(message.to_json().into()))
                .await
                .expect("send");
        }
    }

    /// Reports `states` for `broadcast`, in turn, each at this speaker's controller time.
    pub async fn report(
        &mut self,
        broadcast: dalaba_protocol::BroadcastId,
        states: &[dalaba_protocol::control::ReceiptState],
    ) {
        for state in states {
            let at = self.now();
            self.send(AgentMessage::Receipt(dalaba_protocol::control::Receipt {
                broadcast_id: broadcast,
                entry_id: None,
                state: state.clone(),
                at,
            }))
            .await;
        }
    }

    /// Why the controller ended the session, once it has (waits up to [`PATIENCE`]).
    pub async fn closed(&mut self) -> Option<String> {
        if self.closed.is_none() {
            self.until(|event| match event {
                Event::Closed { reason, .. } => Some(reason),
                _ => None,
            })
            .await;
        }
        self.closed.clone()
    }

    /// Controller time as this speaker's clock estimate has it.
    pub fn now(&self) -> dalaba_protocol::Timestamp {
        self.session
            .controller_time(self.clock.now())
            .unwrap_or(dalaba_protocol::Timestamp(self.clock.now()))
    }
}
