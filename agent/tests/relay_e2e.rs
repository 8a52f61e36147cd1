//! A real agent process with an LCUS relay board on a pseudo-terminal: the amplifier is
//! switched off at start-up, on for a live call, off after it (hold 0 here), and off again
//! on the signed "all off" command.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::Line;
use dalaba_audio::codec::{Encoder, EncoderSettings};
use dalaba_protocol::audio_frame::{AudioHeader, FrameFlags};
use dalaba_protocol::command::{Command as Cmd, SignedCommand, StartLive, StopLive};
use dalaba_protocol::control::*;
use dalaba_protocol::keys::Challenge;
use dalaba_protocol::{
    AgentMessage, BroadcastId, CommandSigner, ControllerMessage, Mode, PlatformLevel, Priority,
    StreamId, Timestamp, decode_agent_message,
};
use ed25519_dalek::SigningKey;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn signed(signer: &CommandSigner, seq: u64, command: Cmd) -> Message {
    let now = now_us();
    let envelope = signer.sign(&SignedCommand {
        seq,
        audience: "pole-1".parse().expect("id"),
        issued_at: Timestamp(now),
        not_before: Timestamp(now - 1_000_000),
        not_after: Timestamp(now + 60_000_000),
        command,
    });
    Message::Text(ControllerMessage::Signed(envelope).to_json().into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplifier_power_follows_the_audio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut line = Line::new(dir.path());
    let controller = CommandSigner::new(SigningKey::from_bytes(&[5; 32]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[identity]\narea_code = \"330106001001\"\n[controller]\nurl = \"ws://{addr}/agent/ws\"\npublic_key = \"{}\"\nenrolment_token = \"t0ken\"\n[audio]\ndevice = \"null\"\n[cache]\ndir = \"{}\"\n[relay]\nboard = \"lcus\"\nport = \"{}\"\nchannels = [1]\nwarm_up_ms = 0\nhold_ms = 0\n",
            controller.public_key(),
            dir.path().join("cache").display(),
            line.path.display()
        ),
    )
    .expect("config");
    let _agent = tokio::process::Command::new(env!("CARGO_BIN_EXE_dalaba-agent"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("agent");

    let off = [0xA0, 1, 0, 0xA1];
    let on = [0xA0, 1, 1, 0xA2];
    assert_eq!(line.read_exact(4), off, "off at start-up");

    let (stream, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
        .await
        .expect("connects")
        .expect("accept");
    let mut ws = tokio_tungstenite::accept_async(stream)
        .await
        .expect("websocket");
    let next = |m: Option<Result<Message, _>>| -> Option<AgentMessage> {
        match m {
            Some(Ok(Message::Text(t))) => decode_agent_message(t.as_bytes()).ok(),
            _ => None,
        }
    };
    while !matches!(next(ws.next().await), Some(AgentMessage::Hello(_))) {}
    let welcome = ControllerMessage::Welcome(Welcome {
        version: 1,
        controller_id: "test".into(),
        challenge: Challenge([1; 32]),
        server_time: Timestamp(now_us()),
    });
    ws.send(Message::Text(welcome.to_json().into()))
        .await
        .expect("welcome");
    while !matches!(next(ws.next().await), Some(AgentMessage::Enrol(_))) {}
    let enrolled = ControllerMessage::Enrolled(Enrolled {
        agent_id: "pole-1".parse().expect("id"),
        heartbeat_interval_ms: 10_000,
        status_interval_ms: 60_000,
    });
    ws.send(Message::Text(enrolled.to_json().into()))
        .await
        .expect("enrolled");

    let start = Cmd::StartLive(StartLive {
        broadcast_id: BroadcastId(7),
        stream_id: StreamId(99),
        priority: Priority::Live,
        level: PlatformLevel::County,
        volume: None,
        mode: Mode::Real,
        latency_ms: 150,
        idle_timeout_ms: 5000,
    });
    ws.send(signed(&controller, 1, start))
        .await
        .expect("start_live");
    let mut encoder = Encoder::new(&EncoderSettings::live()).expect("encoder");
    let tone: Vec<f32> = (0..960).map(|i| ((i as f32) * 0.13).sin() * 0.3).collect();
    for seq in 0..10u32 {
        let header = AudioHeader {
            stream_id: StreamId(99),
            seq,
            capture_time: Timestamp(now_us() + u64::from(seq) * 20_000),
            samples: 960,
            flags: FrameFlags::FEC,
        };
        let frame = header
            .to_frame(encoder.encode(&tone).expect("encode"))
            .expect("frame");
        ws.send(Message::Binary(frame.into())).await.expect("frame");
    }
    let end = AudioHeader {
        stream_id: StreamId(99),
        seq: 10,
        capture_time: Timestamp(now_us() + 200_000),
        samples: 0,
        flags: FrameFlags::END_OF_STREAM,
    };
    ws.send(Message::Binary(end.to_frame(&[]).expect("frame").into()))
        .await
        .expect("eos");
    ws.send(signed(
        &controller,
        2,
        Cmd::StopLive(StopLive {
            broadcast_id: BroadcastId(7),
            stream_id: StreamId(99),
        }),
    ))
    .await
    .expect("stop_live");

    assert_eq!(line.read_exact(4), on, "on for the call");
    assert_eq!(line.read_exact(4), off, "off after it (hold 0)");

    ws.send(signed(&controller, 3, Cmd::RelayAllOff))
        .await
        .expect("all off");
    assert_eq!(line.read_exact(4), off, "all off always reaches the board");
    line.assert_quiet();
}
