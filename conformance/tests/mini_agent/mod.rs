//! A small agent built only for these tests: it speaks the protocol (no audio; "playing"
//! is time passing), and can be built with one fault, so the kit can be shown to fail it
//! on exactly that rule. It runs inside the test binary: the kit starts the binary again
//! with `--exact mini_agent --ignored` and the environment below.
//!
//! - `MINI_CONFIG`, `MINI_STATE`: the kit's configuration file and state directory;
//! - `MINI_FAULT`: `none`, `replays` (forgets finished broadcasts at every start),
//!   `no_signature_check` (checks everything of 7.2 but the signature), or
//!   `small_order_key` (takes any key, and verifies without the small-order checks), or
//!   `no_pin` (accepts any TLS certificate).

#![allow(unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use dalaba_agent::ledger::{Admit, Ledger};
use dalaba_protocol::audio_frame::decode_message;
use dalaba_protocol::auth::{enrol_message, login_message, sign_proof};
use dalaba_protocol::command::Command;
use dalaba_protocol::control::*;
use dalaba_protocol::envelope::COMMAND_SIGNING_DOMAIN;
use dalaba_protocol::keys::PublicKey;
use dalaba_protocol::{
    AgentId, AgentMessage, BroadcastId, CommandVerifier, ControllerMessage, FrameFlags, MediaHash,
    SignedCommand, SignedEnvelope, StreamId, Timestamp, Volume, decode_controller_message,
};
use ed25519_dalek::{SigningKey, Verifier as _, VerifyingKey};
use futures_util::{SinkExt as _, StreamExt as _};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Replays,
    NoSignatureCheck,
    SmallOrderKey,
    NoPin,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Replays => "replays",
            Self::NoSignatureCheck => "no_signature_check",
            Self::SmallOrderKey => "small_order_key",
            Self::NoPin => "no_pin",
        }
    }
}

/// Runs the mini agent if the environment asks for it.
pub fn main_if_asked() {
    let (Ok(config), Ok(state)) = (std::env::var("MINI_CONFIG"), std::env::var("MINI_STATE"))
    else {
        return;
    };
    let fault = match std::env::var("MINI_FAULT").as_deref() {
        Ok("replays") => Fault::Replays,
        Ok("no_signature_check") => Fault::NoSignatureCheck,
        Ok("small_order_key") => Fault::SmallOrderKey,
        Ok("no_pin") => Fault::NoPin,
        _ => Fault::None,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if let Err(e) = rt.block_on(run(Path::new(&config), &PathBuf::from(state), fault)) {
        eprintln!("mini agent: {e}");
        std::process::exit(1);
    }
}

fn value<'a>(config: &'a str, key: &str) -> Option<&'a str> {
    config.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

struct Agent {
    fault: Fault,
    state: PathBuf,
    key: SigningKey,
    agent_id: Option<AgentId>,
    last_seq: u64,
    /// The pinned key as configured (raw: the small-order fault takes any).
    pinned: [u8; 32],
    volume: Volume,
    /// Controller time minus ours, once measured.
    offset: Arc<Mutex<i64>>,
    ledger: Arc<Mutex<Ledger>>,
    out: mpsc::UnboundedSender<Message>,
    /// Live streams: stream id → broadcast, and whether audio has played.
    live: std::collections::HashMap<StreamId, (BroadcastId, bool)>,
}

async fn run(config: &Path, state: &Path, fault: Fault) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config)?;
    let url = value(&text, "url").ok_or_else(|| anyhow::anyhow!("no url"))?;
    let key_text = value(&text, "public_key").ok_or_else(|| anyhow::anyhow!("no key"))?;
    let token = value(&text, "enrolment_token")
        .unwrap_or_default()
        .to_owned();
    if fault != Fault::SmallOrderKey {
        // The check the small-order fault leaves out.
        PublicKey::from_base64(key_text)?;
    }
    let pinned: [u8; 32] = B64
        .decode(key_text)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("not 32 bytes"))?;
    std::fs::create_dir_all(state)?;
    let seed_path = state.join("mini.key");
    let seed: [u8; 32] = match std::fs::read(&seed_path) {
        Ok(b) => b.try_into().map_err(|_| anyhow::anyhow!("bad key file"))?,
        Err(_) => {
            let seed = rand::random();
            std::fs::write(&seed_path, seed)?;
            seed
        }
    };
    let agent_id = std::fs::read_to_string(state.join("mini.id"))
        .ok()
        .and_then(|t| t.trim().parse().ok());
    let last_seq = std::fs::read_to_string(state.join("mini.seq"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let ledger = if fault == Fault::Replays {
        // Forgets: a fresh directory every start.
        let fresh = state.join(format!("forgetful-{}", now_us()));
        std::fs::create_dir_all(&fresh)?;
        Ledger::load(&fresh)
    } else {
        Ledger::load(state)
    };

    let parts = Parts {
        fault,
        state: state.to_owned(),
        seed,
        agent_id,
        last_seq,
        pinned,
        ledger,
        token,
        base: url
            .replace("ws://", "http://")
            .trim_end_matches("/agent/ws")
            .to_owned(),
    };
    match url.strip_prefix("wss://") {
        Some(rest) => {
            let pin = value(&text, "tls_fingerprint")
                .and_then(dalaba_protocol::keys::parse_tls_fingerprint)
                .ok_or_else(|| anyhow::anyhow!("wss needs tls_fingerprint"))?;
            let host = rest.split('/').next().unwrap_or_default();
            let tcp = tokio::net::TcpStream::connect(host).await?;
            let config = if fault == Fault::NoPin {
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate))
                .with_no_client_auth()
            } else {
                dalaba_agent::tls::client_config(pin)?
            };
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config));
            let name = rustls::pki_types::ServerName::try_from("localhost")?;
            let stream = tls.connect(name, tcp).await?;
            let (ws, _) = tokio_tungstenite::client_async(url, stream).await?;
            session(ws, parts).await
        }
        None => {
            let (ws, _) = tokio_tungstenite::connect_async(url).await?;
            session(ws, parts).await
        }
    }
}

/// What a session starts from.
struct Parts {
    fault: Fault,
    state: PathBuf,
    seed: [u8; 32],
    agent_id: Option<AgentId>,
    last_seq: u64,
    pinned: [u8; 32],
    ledger: Ledger,
    token: String,
    base: String,
}

async fn session<S>(ws: tokio_tungstenite::WebSocketStream<S>, parts: Parts) -> anyhow::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Parts {
        fault,
        state,
        seed,
        agent_id,
        last_seq,
        pinned,
        ledger,
        token,
        base,
    } = parts;
    let (mut sink, mut stream) = ws.split();
    let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
    tokio::spawn(async move {
        while let Some(m) = outgoing.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    let mut agent = Agent {
        fault,
        state,
        key: SigningKey::from_bytes(&seed),
        agent_id,
        last_seq,
        pinned,
        volume: Volume::new(80).expect("volume"),
        offset: Arc::default(),
        ledger: Arc::new(Mutex::new(ledger)),
        out,
        live: Default::default(),
    };
    agent.send(AgentMessage::Hello(Hello {
        versions: vec![1],
        software: format!("mini-agent/{}", fault.name()),
        agent_id: agent.agent_id.clone(),
    }));
    while let Some(Ok(frame)) = stream.next().await {
        match frame {
            Message::Text(t) => {
                let Ok(m) = decode_controller_message(t.as_bytes()) else {
                    continue;
                };
                agent.handle(m, &token, &base)?;
            }
            Message::Binary(b) => agent.frame(&b),
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(())
}

impl Agent {
    fn send(&self, m: AgentMessage) {
        let _ = self.out.send(Message::Text(m.to_json().into()));
    }

    fn controller_now(&self) -> Timestamp {
        Timestamp((now_us() as i64 + *self.offset.lock().unwrap()).max(0) as u64)
    }

    fn receipt(&self, broadcast: BroadcastId, state: ReceiptState) {
        send_receipt(&self.out, &self.ledger, &self.offset, broadcast, state);
    }

    fn status(&self) {
        self.send(AgentMessage::Status(StatusReport {
            playing: None,
            queued: Vec::new(),
            relays: Vec::new(),
            volume: self.volume,
            last_error: None,
            firmware_version: "mini".into(),
            config_version: "kit".into(),
            schedule_version: 0,
            cache: CacheUsage {
                used_bytes: 0,
                capacity_bytes: 0,
                items: 0,
            },
            clock_offset_us: Some(*self.offset.lock().unwrap()),
            uptime_s: 0,
        }));
    }

    fn handle(&mut self, m: ControllerMessage, token: &str, base: &str) -> anyhow::Result<()> {
        match m {
            ControllerMessage::Welcome(w) => match &self.agent_id {
                None => {
                    let public = PublicKey::from(self.key.verifying_key());
                    let proof = enrol_message(&w.controller_id, &w.challenge, &public, token);
                    self.send(AgentMessage::Enrol(Enrol {
                        token: token.to_owned(),
                        public_key: public,
                        signature: sign_proof(&self.key, &proof),
                    }));
                }
                Some(id) => {
                    let proof = login_message(&w.controller_id, &w.challenge, id);
                    self.send(AgentMessage::Login(Login {
                        agent_id: id.clone(),
                        signature: sign_proof(&self.key, &proof),
                        last_command_seq: self.last_seq,
                    }));
                }
            },
            ControllerMessage::Enrolled(e) => {
                std::fs::write(self.state.join("mini.id"), e.agent_id.as_str())?;
                self.agent_id = Some(e.agent_id);
                self.start(e.heartbeat_interval_ms);
            }
            ControllerMessage::LoginOk(l) => self.start(l.heartbeat_interval_ms),
            ControllerMessage::Pong(p) => {
                let t4 = now_us() as i64;
                let offset = ((p.t2 as i64 - p.t1 as i64) + (p.t3 as i64 - t4)) / 2;
                *self.offset.lock().unwrap() = offset;
            }
            ControllerMessage::Signed(envelope) => match self.verify(&envelope) {
                Ok(command) => {
                    self.last_seq = command.seq;
                    std::fs::write(self.state.join("mini.seq"), command.seq.to_string())?;
                    self.obey(command.command, base);
                }
                Err(reason) => self.send(AgentMessage::Rejected(Rejected {
                    seq: None,
                    reason,
                    detail: format!("{reason:?}"),
                })),
            },
            _ => {}
        }
        Ok(())
    }

    /// Pings and heartbeats from now on.
    fn start(&self, heartbeat_ms: u32) {
        let out = self.out.clone();
        tokio::spawn(async move {
            for id in 0..8u32 {
                let ping = AgentMessage::Ping(Ping { id, t1: now_us() });
                if out.send(Message::Text(ping.to_json().into())).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let out = self.out.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(u64::from(heartbeat_ms)));
            tick.tick().await;
            loop {
                tick.tick().await;
                let hb = AgentMessage::Heartbeat(Heartbeat { uptime_s: 0 });
                if out.send(Message::Text(hb.to_json().into())).is_err() {
                    return;
                }
            }
        });
    }

    fn verify(&self, envelope: &SignedEnvelope) -> Result<SignedCommand, RejectReason> {
        let audience = self.agent_id.clone().ok_or(RejectReason::WrongAudience)?;
        let now = self.controller_now();
        if !matches!(self.fault, Fault::NoSignatureCheck | Fault::SmallOrderKey) {
            let pinned = PublicKey::from_base64(&B64.encode(self.pinned)).expect("checked");
            return CommandVerifier::new(pinned, audience, self.last_seq)
                .with_tolerance_micros(5_000_000)
                .check(envelope, now)
                .map_err(|e| e.reason());
        }
        // The faulty agents' own checks: 7.2 with step 3 lenient or missing.
        let key_id = hex::encode(&Sha256::digest(self.pinned)[..8]);
        if envelope.key_id.to_string() != key_id {
            return Err(RejectReason::UnknownKey);
        }
        if self.fault == Fault::SmallOrderKey {
            let key =
                VerifyingKey::from_bytes(&self.pinned).map_err(|_| RejectReason::BadSignature)?;
            let sig = ed25519_dalek::Signature::from_bytes(&envelope.signature.to_bytes());
            let mut message = COMMAND_SIGNING_DOMAIN.to_vec();
            message.extend_from_slice(&envelope.payload.0);
            key.verify(&message, &sig)
                .map_err(|_| RejectReason::BadSignature)?;
        }
        let command: SignedCommand =
            serde_json::from_slice(&envelope.payload.0).map_err(|_| RejectReason::Malformed)?;
        if command.audience != audience {
            return Err(RejectReason::WrongAudience);
        }
        if command.seq <= self.last_seq {
            return Err(RejectReason::Replayed);
        }
        if command.not_after.0 < command.not_before.0
            || command.not_after.0 - command.not_before.0 > 3_600_000_000
        {
            return Err(RejectReason::BadWindow);
        }
        if now.0 + 5_000_000 < command.not_before.0 {
            return Err(RejectReason::NotYetValid);
        }
        if now.0 > command.not_after.0 + 5_000_000 {
            return Err(RejectReason::Stale);
        }
        Ok(command)
    }

    fn obey(&mut self, command: Command, base: &str) {
        let now = self.controller_now();
        match command {
            Command::SetVolume(v) => {
                self.volume = v.volume;
                self.status();
            }
            Command::PlayMedia(play) => {
                let admitted = self.ledger.lock().unwrap().admit_play(&play, now);
                match admitted {
                    Admit::Finished(r) => self.send(AgentMessage::Receipt(r)),
                    Admit::Already => {}
                    Admit::New => {
                        self.receipt(play.broadcast_id, ReceiptState::Waiting);
                        let (out, ledger, offset) = (
                            self.out.clone(),
                            Arc::clone(&self.ledger),
                            Arc::clone(&self.offset),
                        );
                        let url = format!("{base}{}", play.media.url);
                        tokio::spawn(async move {
                            let state = play_media(&url, &play, &offset, &out, &ledger).await;
                            send_receipt(&out, &ledger, &offset, play.broadcast_id, state);
                        });
                    }
                }
            }
            Command::StartLive(live) => {
                let admitted = self.ledger.lock().unwrap().admit_live(&live, now);
                match admitted {
                    Admit::Finished(r) => self.send(AgentMessage::Receipt(r)),
                    Admit::Already => {}
                    Admit::New => {
                        self.live.insert(live.stream_id, (live.broadcast_id, false));
                    }
                }
            }
            Command::StopLive(stop) => {
                if let Some((broadcast, played)) = self.live.remove(&stop.stream_id) {
                    self.receipt(broadcast, live_end(played));
                }
            }
            _ => {}
        }
    }

    fn frame(&mut self, bytes: &[u8]) {
        let Ok(frame) = decode_message(bytes) else {
            return;
        };
        let stream = frame.header.stream_id;
        let Some((broadcast, played)) = self.live.get(&stream).copied() else {
            return;
        };
        if frame.header.flags.contains(FrameFlags::END_OF_STREAM) {
            self.live.remove(&stream);
            self.receipt(broadcast, live_end(played));
        } else if !played {
            self.live.insert(stream, (broadcast, true));
            self.receipt(broadcast, ReceiptState::Playing);
        }
    }
}

fn live_end(played: bool) -> ReceiptState {
    if played {
        ReceiptState::Done
    } else {
        ReceiptState::Failed {
            reason: FailReason::StreamTimeout,
            detail: None,
        }
    }
}

fn send_receipt(
    out: &mpsc::UnboundedSender<Message>,
    ledger: &Mutex<Ledger>,
    offset: &Mutex<i64>,
    broadcast: BroadcastId,
    state: ReceiptState,
) {
    let at = Timestamp((now_us() as i64 + *offset.lock().unwrap()).max(0) as u64);
    let receipt = Receipt {
        broadcast_id: broadcast,
        entry_id: None,
        state,
        at,
    };
    let _ = ledger.lock().unwrap().settle(&receipt, at);
    let _ = out.send(Message::Text(
        AgentMessage::Receipt(receipt).to_json().into(),
    ));
}

/// Fetches, checks and "plays" (waits out) `play`; its final state.
async fn play_media(
    url: &str,
    play: &dalaba_protocol::command::PlayMedia,
    offset: &Mutex<i64>,
    out: &mpsc::UnboundedSender<Message>,
    ledger: &Mutex<Ledger>,
) -> ReceiptState {
    let failed = |reason, detail: String| ReceiptState::Failed {
        reason,
        detail: Some(detail),
    };
    let bytes = match http_get(url).await {
        Ok(b) => b,
        Err(e) => return failed(FailReason::FetchFailed, e.to_string()),
    };
    if MediaHash::of(&bytes) != play.media.hash {
        return failed(FailReason::MediaCorrupt, "hash mismatch".into());
    }
    let now = || (now_us() as i64 + *offset.lock().unwrap()).max(0) as u64;
    let repeat = u64::from(play.repeat.max(1));
    let length = (play.media.duration_ms * repeat + u64::from(play.gap_ms) * (repeat - 1)) * 1000;
    let end = play.start_at.0 + length;
    if now() >= end {
        return failed(FailReason::Expired, "its timeline has passed".into());
    }
    tokio::time::sleep(Duration::from_micros(play.start_at.0.saturating_sub(now()))).await;
    send_receipt(
        out,
        ledger,
        offset,
        play.broadcast_id,
        ReceiptState::Playing,
    );
    tokio::time::sleep(Duration::from_micros(end.saturating_sub(now()))).await;
    ReceiptState::Done
}

/// A plain HTTP/1.1 GET, whole body.
async fn http_get(url: &str) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut tcp = tokio::net::TcpStream::connect(host).await?;
    tcp.write_all(
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header"))?;
    if !response.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other("not 200"));
    }
    Ok(response[split + 4..].to_vec())
}

/// The no-pin fault: any certificate, any handshake signature.
#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
