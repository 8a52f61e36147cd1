//! The kit against a controller: it plays an agent on the agents' listener and drives the
//! controller through Dalaba's operator API (log in, create the agent, upload a clip,
//! broadcast, read receipts, push a configuration). Rules about the handshake need only
//! the listener; rules about receipts and re-sending need the API. Another vendor's
//! controller needs an adapter for the API part.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use dalaba_protocol::auth::{enrol_message, login_message, sign_proof};
use dalaba_protocol::command::Command;
use dalaba_protocol::control::{Enrol, ErrorCode, Heartbeat, Hello, Login, Receipt, ReceiptState};
use dalaba_protocol::keys::PublicKey;
use dalaba_protocol::{
    AgentId, AgentMessage, BroadcastId, CommandVerifier, ControllerMessage, SignedCommand,
    Timestamp, decode_controller_message,
};
use ed25519_dalek::SigningKey;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::report::Report;
use crate::rules::CONTROLLER_RULES;

/// How the controller under test is reached.
#[derive(Clone, Debug)]
pub struct ControllerUnderTest {
    /// The operators' API, `http://host:port`.
    pub api: String,
    /// The admin's password.
    pub password: String,
    /// The agents' endpoint, `wss://host:port/agent/ws` (or `ws://`).
    pub agents_url: String,
    /// How long to wait for anything the controller should do.
    pub wait: Duration,
}

/// This machine's clock, µs: the controller under test runs on the same one.
fn now_us() -> u64 {
    crate::fake_controller::ControllerClock { offset_us: 0 }.now()
}

/// The id of the agent the kit creates.
const AGENT: &str = "conformance-agent";

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}
type Ws = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// What came from the controller.
#[derive(Debug)]
enum Got {
    Message(ControllerMessage),
    /// A close frame, with its code.
    Closed(Option<u16>),
    /// Nothing within the limit, or the connection broke.
    Nothing,
}

struct Kit<'a> {
    under_test: &'a ControllerUnderTest,
    report: Report,
    http: reqwest::Client,
    token: String,
    controller_id: String,
    controller_key: PublicKey,
    fingerprint: Option<[u8; 32]>,
}

/// Runs every check against the controller; the table of results.
pub async fn check_controller(under_test: &ControllerUnderTest) -> anyhow::Result<Report> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let login: Value = http
        .post(format!("{}/api/login", under_test.api))
        .json(&json!({"name": "admin", "password": under_test.password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login refused: {login}"))?
        .to_owned();
    let info: Value = http
        .get(format!("{}/api/controller", under_test.api))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let mut kit = Kit {
        under_test,
        report: Report::new(CONTROLLER_RULES),
        http,
        token,
        controller_id: info["controller_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        controller_key: PublicKey::from_base64(info["public_key"].as_str().unwrap_or_default())?,
        fingerprint: info["tls_fingerprint"]
            .as_str()
            .and_then(dalaba_protocol::keys::parse_tls_fingerprint),
    };
    if let Err(why) = kit.run().await {
        eprintln!("dalaba-conformance: stopped early: {why}");
    }
    Ok(kit.report)
}

impl Kit<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.under_test.api))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
            Err(e) => (0, json!({"error": e.to_string()})),
        }
    }

    async fn open(&self) -> anyhow::Result<Ws> {
        let url = &self.under_test.agents_url;
        let rest = url
            .strip_prefix("wss://")
            .or_else(|| url.strip_prefix("ws://"))
            .ok_or_else(|| anyhow::anyhow!("{url}: not ws:// or wss://"))?;
        let host = rest.split('/').next().unwrap_or_default();
        let tcp = tokio::net::TcpStream::connect(host).await?;
        let stream: Box<dyn Io> = if url.starts_with("wss://") {
            let pin = self.fingerprint.ok_or_else(|| {
                anyhow::anyhow!("wss:// but the controller shows no tls_fingerprint")
            })?;
            let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(
                dalaba_agent::tls::client_config(pin)?,
            ));
            let name = rustls::pki_types::ServerName::try_from("localhost")?;
            Box::new(tls.connect(name, tcp).await?)
        } else {
            Box::new(tcp)
        };
        Ok(tokio_tungstenite::client_async(url.as_str(), stream)
            .await?
            .0)
    }

    async fn next(&self, ws: &mut Ws) -> Got {
        let deadline = tokio::time::Instant::now() + self.under_test.wait;
        loop {
            let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, ws.next()).await else {
                return Got::Nothing;
            };
            match frame {
                Message::Text(t) => match decode_controller_message(t.as_bytes()) {
                    Ok(m) => return Got::Message(m),
                    Err(_) => continue,
                },
                Message::Close(frame) => return Got::Closed(frame.map(|f| f.code.into())),
                _ => continue,
            }
        }
    }

    async fn error_code(&self, ws: &mut Ws) -> Option<ErrorCode> {
        match self.next(ws).await {
            Got::Message(ControllerMessage::Error(e)) => Some(e.code),
            _ => None,
        }
    }

    async fn run(&mut self) -> anyhow::Result<()> {
        self.handshake_errors().await?;
        let created = self
            .call(
                reqwest::Method::POST,
                "/api/agents",
                Some(json!({"id": AGENT, "name": "conformance", "area_code": "330106001099"})),
            )
            .await;
        let token = created.1["enrolment_token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("creating the agent: {:?}", created))?
            .to_owned();
        let key = self.enrolment(&token).await?;
        self.sessions(&key).await?;
        self.config_push().await;
        Ok(())
    }

    /// C5, C6, C7.
    async fn handshake_errors(&mut self) -> anyhow::Result<()> {
        let text = |m: AgentMessage| Message::Text(m.to_json().into());
        // A version it cannot speak.
        let mut ws = self.open().await?;
        ws.send(text(AgentMessage::Hello(Hello {
            versions: vec![999],
            software: "conformance".into(),
            agent_id: None,
        })))
        .await?;
        match self.next(&mut ws).await {
            Got::Message(ControllerMessage::Error(e))
                if e.code == ErrorCode::UnsupportedVersion && !e.supported_versions.is_empty() =>
            {
                let closed = matches!(self.next(&mut ws).await, Got::Closed(_) | Got::Nothing);
                self.report.record(
                    "C7",
                    if closed {
                        Ok(format!(
                            "unsupported_version, supported {:?}, closed",
                            e.supported_versions
                        ))
                    } else {
                        Err("unsupported_version, but the connection stayed open".into())
                    },
                );
            }
            other => self
                .report
                .fail("C7", format!("hello with version 999: {other:?}")),
        }
        // Something other than hello first.
        let mut ws = self.open().await?;
        ws.send(text(AgentMessage::Heartbeat(Heartbeat { uptime_s: 1 })))
            .await?;
        let code = self.error_code(&mut ws).await;
        let close = self.next(&mut ws).await;
        match (code, close) {
            (Some(ErrorCode::UnexpectedMessage), Got::Closed(Some(1008))) => self
                .report
                .pass("C5", "a heartbeat first: unexpected_message, close 1008"),
            (code, close) => self
                .report
                .fail("C5", format!("a heartbeat first: {code:?}, then {close:?}")),
        }
        // A frame that does not decode, then a proper hello.
        let mut ws = self.open().await?;
        ws.send(Message::Text("{not json".into())).await?;
        let code = self.error_code(&mut ws).await;
        ws.send(text(AgentMessage::Hello(Hello {
            versions: vec![1],
            software: "conformance".into(),
            agent_id: None,
        })))
        .await?;
        match (code, self.next(&mut ws).await) {
            (Some(ErrorCode::MalformedMessage), Got::Message(ControllerMessage::Welcome(_))) => {
                self.report.pass(
                    "C6",
                    "a bad frame before hello: malformed_message, then welcome",
                )
            }
            (code, next) => self.report.fail(
                "C6",
                format!("a bad frame before hello: {code:?}, then {next:?}"),
            ),
        }
        Ok(())
    }

    /// Welcome on a fresh connection; its challenge.
    async fn welcome(&self, ws: &mut Ws) -> anyhow::Result<dalaba_protocol::keys::Challenge> {
        ws.send(Message::Text(
            AgentMessage::Hello(Hello {
                versions: vec![1],
                software: "conformance".into(),
                agent_id: None,
            })
            .to_json()
            .into(),
        ))
        .await?;
        match self.next(ws).await {
            Got::Message(ControllerMessage::Welcome(w)) => Ok(w.challenge),
            other => anyhow::bail!("no welcome: {other:?}"),
        }
    }

    /// C9 then C8; the key the agent is enrolled with.
    async fn enrolment(&mut self, token: &str) -> anyhow::Result<SigningKey> {
        // A small-order key, with a "signature" such a key accepts.
        let mut ws = self.open().await?;
        self.welcome(&mut ws).await?;
        let mut small = [0u8; 32];
        small[0] = 1;
        let mut signature = [0u8; 64];
        signature[0] = 1;
        let weak = json!({"type": "enrol", "token": token,
            "public_key": B64.encode(small), "signature": B64.encode(signature)});
        ws.send(Message::Text(weak.to_string().into())).await?;
        let answer = self.next(&mut ws).await;
        let weak_refused = !matches!(answer, Got::Message(ControllerMessage::Enrolled(_)));
        drop(ws);
        // A proper key with the same token.
        let key = SigningKey::from_bytes(&rand::random());
        let enrolled = self.enrol(token, &key).await?;
        match (weak_refused, enrolled) {
            (true, true) => self.report.pass(
                "C9",
                "a small-order key refused, and the token still enrolled a proper key",
            ),
            (false, _) => self.report.fail("C9", "a small-order key was enrolled"),
            (true, false) => self
                .report
                .fail("C9", "a small-order key refused, but it spent the token"),
        }
        // The token again, with another key.
        let again = self
            .enrol(token, &SigningKey::from_bytes(&rand::random()))
            .await?;
        self.report.record(
            "C8",
            if again {
                Err("a used token enrolled a second key".into())
            } else {
                Ok("a used token refused".into())
            },
        );
        Ok(key)
    }

    /// Enrols `key` with `token`; whether the controller said `enrolled`.
    async fn enrol(&self, token: &str, key: &SigningKey) -> anyhow::Result<bool> {
        let mut ws = self.open().await?;
        let challenge = self.welcome(&mut ws).await?;
        let public = PublicKey::from(key.verifying_key());
        let proof = enrol_message(&self.controller_id, &challenge, &public, token);
        ws.send(Message::Text(
            AgentMessage::Enrol(Enrol {
                token: token.to_owned(),
                public_key: public,
                signature: sign_proof(key, &proof),
            })
            .to_json()
            .into(),
        ))
        .await?;
        Ok(matches!(
            self.next(&mut ws).await,
            Got::Message(ControllerMessage::Enrolled(_))
        ))
    }

    async fn login(&self, key: &SigningKey, last_seq: u64) -> anyhow::Result<Ws> {
        let mut ws = self.open().await?;
        let challenge = self.welcome(&mut ws).await?;
        let id: AgentId = AGENT.parse()?;
        let proof = login_message(&self.controller_id, &challenge, &id);
        ws.send(Message::Text(
            AgentMessage::Login(Login {
                agent_id: id,
                signature: sign_proof(key, &proof),
                last_command_seq: last_seq,
            })
            .to_json()
            .into(),
        ))
        .await?;
        match self.next(&mut ws).await {
            Got::Message(ControllerMessage::LoginOk(_)) => Ok(ws),
            other => anyhow::bail!("login refused: {other:?}"),
        }
    }

    /// The commands that arrive until `pick` chooses one; each checked for C11.
    async fn commands_until(
        &mut self,
        ws: &mut Ws,
        mut pick: impl FnMut(&SignedCommand) -> bool,
    ) -> (Option<SignedCommand>, Vec<SignedCommand>) {
        let mut before = Vec::new();
        loop {
            match self.next(ws).await {
                Got::Message(ControllerMessage::Signed(envelope)) => {
                    let now = Timestamp(now_us());
                    let checked =
                        CommandVerifier::new(self.controller_key, AGENT.parse().expect("id"), 0)
                            .with_tolerance_micros(5_000_000)
                            .check(&envelope, now);
                    match checked {
                        Ok(c) => {
                            if pick(&c) {
                                return (Some(c), before);
                            }
                            before.push(c);
                        }
                        Err(e) => self
                            .report
                            .fail("C11", format!("a command that does not verify: {e}")),
                    }
                }
                Got::Message(_) => {}
                Got::Closed(_) | Got::Nothing => return (None, before),
            }
        }
    }

    async fn receipt(
        ws: &mut Ws,
        broadcast: u64,
        state: ReceiptState,
        at: u64,
    ) -> anyhow::Result<()> {
        ws.send(Message::Text(
            AgentMessage::Receipt(Receipt {
                broadcast_id: BroadcastId(broadcast),
                entry_id: None,
                state,
                at: Timestamp(at),
            })
            .to_json()
            .into(),
        ))
        .await?;
        Ok(())
    }

    async fn broadcast(&self, media_id: &Value) -> anyhow::Result<u64> {
        let (status, sent) = self
            .call(
                reqwest::Method::POST,
                "/api/broadcasts",
                Some(json!({"media_id": media_id, "target": {"agents": [AGENT]}})),
            )
            .await;
        sent["id"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("broadcast refused: {status} {sent}"))
    }

    /// C1–C4 and C11, over two sessions of the enrolled agent.
    async fn sessions(&mut self, key: &SigningKey) -> anyhow::Result<()> {
        let media_id = self.upload_clip().await?;
        let is_play = |id: u64| move |c: &SignedCommand| matches!(&c.command, Command::PlayMedia(p) if p.broadcast_id == BroadcastId(id));
        let mut ws = self.login(key, 0).await?;
        let first = self.broadcast(&media_id).await?;
        let (play, _) = self.commands_until(&mut ws, is_play(first)).await;
        let Some(play) = play else {
            anyhow::bail!("broadcast {first} never reached the agent");
        };
        let play_seq = play.seq;
        let t = now_us();
        Self::receipt(&mut ws, first, ReceiptState::Playing, t).await?;
        Self::receipt(&mut ws, first, ReceiptState::Done, t + 1_000_000).await?;
        // A late report after the final one.
        Self::receipt(&mut ws, first, ReceiptState::Playing, t + 2_000_000).await?;
        let shown = self.settled(first).await;
        self.report.record(
            "C2",
            if shown["state"] == "done" && shown["at"] == json!(t + 1_000_000) {
                Ok("a `playing` after `done` left it `done`".into())
            } else {
                Err(format!(
                    "after done and a late playing the receipt is {shown}"
                ))
            },
        );
        drop(ws);

        // Back, with a counter far above the controller's.
        let floor = 1_000_000_000;
        let mut ws = self.login(key, floor).await?;
        let second = self.broadcast(&media_id).await?;
        let (play, before) = self.commands_until(&mut ws, is_play(second)).await;
        let resent = before.iter().any(is_play(first));
        self.report.record(
            "C1",
            if resent {
                Err(format!(
                    "broadcast {first}, reported done, was sent again at login"
                ))
            } else {
                Ok(format!(
                    "broadcast {first}, reported done, not sent again at login"
                ))
            },
        );
        let Some(play) = play else {
            anyhow::bail!("broadcast {second} never reached the agent");
        };
        let seqs: Vec<u64> = before
            .iter()
            .chain(std::iter::once(&play))
            .map(|c| c.seq)
            .collect();
        let rising = seqs.iter().all(|s| *s > floor && *s > play_seq)
            && seqs.windows(2).all(|w| w[0] < w[1]);
        self.report.record(
            "C4",
            if rising {
                Ok(format!(
                    "after a login with last_command_seq {floor}, seq {seqs:?}"
                ))
            } else {
                Err(format!(
                    "after a login with last_command_seq {floor}, seq {seqs:?}"
                ))
            },
        );
        let t = now_us();
        Self::receipt(&mut ws, second, ReceiptState::Playing, t).await?;
        Self::receipt(
            &mut ws,
            second,
            ReceiptState::Preempted {
                by: BroadcastId(first),
            },
            t + 1_000_000,
        )
        .await?;
        Self::receipt(&mut ws, second, ReceiptState::Playing, t + 2_000_000).await?;
        Self::receipt(&mut ws, second, ReceiptState::Done, t + 3_000_000).await?;
        let shown = self.settled(second).await;
        self.report.record(
            "C3",
            if shown["started_at"] == json!(t) && shown["resumed_at"] == json!(t + 2_000_000) {
                Ok("started_at is the first start, resumed_at the resume".into())
            } else {
                Err(format!("after playing, preempted, playing, done: {shown}"))
            },
        );
        self.report.pass(
            "C11",
            "every command verified under the controller's key, windows at most 1 h",
        );
        Ok(())
    }

    /// The agent's receipt for broadcast `id`, once final (a long-poll within the wait).
    async fn settled(&self, id: u64) -> Value {
        let (_, b) = self
            .call(
                reqwest::Method::GET,
                &format!(
                    "/api/broadcasts/{id}?wait_ms={}",
                    self.under_test.wait.as_millis()
                ),
                None,
            )
            .await;
        b["receipts"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["agent_id"] == AGENT).cloned())
            .unwrap_or(Value::Null)
    }

    async fn upload_clip(&self) -> anyhow::Result<Value> {
        let mut wav = std::io::Cursor::new(Vec::new());
        {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 48_000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::new(&mut wav, spec)?;
            for i in 0..48_000 {
                let s = (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0).sin() * 0.3;
                w.write_sample((s * 32767.0) as i16)?;
            }
            w.finalize()?;
        }
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(wav.into_inner()).file_name("conformance.wav"),
        );
        let media: Value = self
            .http
            .post(format!("{}/api/media?wait=true", self.under_test.api))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await?
            .json()
            .await?;
        if media["state"] != "ready" {
            anyhow::bail!("uploading a clip: {media}");
        }
        Ok(media["id"].clone())
    }

    /// C10: a configuration that is not valid TOML is refused before it is sent.
    async fn config_push(&mut self) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/agents/{AGENT}/config"),
                Some(json!({"config_version": "conformance-bad", "document": "[audio\nvolume = "})),
            )
            .await;
        self.report.record(
            "C10",
            if (400..500).contains(&status) {
                Ok(format!("an invalid document refused with {status}"))
            } else {
                Err(format!("an invalid document answered {status}: {body}"))
            },
        );
    }
}
