//! A real agent process with an LCUS relay board on a pseudo-terminal: the amplifier is
//! switched off at start-up, on for a live call, off 0.3 s after it (its hold), and off again
//! on the signed "all off" command; each switch is in a status report when it happens.

mod common;

use common::Line;
use common::fake_controller::{accept, expect, now_us, spawn_agent};
use dalaba_audio::codec::{Encoder, EncoderSettings};
use dalaba_protocol::audio_frame::{AudioHeader, FrameFlags};
use dalaba_protocol::command::{Command as Cmd, SignedCommand, StartLive, StopLive};
use dalaba_protocol::types::RelayState;
use dalaba_protocol::{
    AgentMessage, BroadcastId, CommandSigner, ControllerMessage, Mode, PlatformLevel, Priority,
    StreamId, Timestamp,
};
use ed25519_dalek::SigningKey;
use futures_util::SinkExt as _;
use tokio_tungstenite::tungstenite::Message;

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

/// A real agent process with an LCUS board (channel 1, no warm-up, `hold_ms`) on a pty
/// `line`, configured for the fake controller listening on `listener`, which signs with
/// `controller`.
struct Rig {
    _dir: tempfile::TempDir,
    line: Line,
    controller: CommandSigner,
    listener: tokio::net::TcpListener,
    agent: tokio::process::Child,
}

impl Rig {
    async fn start(hold_ms: u32) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let line = Line::new(dir.path());
        let controller = CommandSigner::new(SigningKey::from_bytes(&[5; 32]));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = dir.path().join("agent.toml");
        std::fs::write(
            &config,
            format!(
                "[identity]\narea_code = \"330106001001\"\n[controller]\nurl = \"ws://{addr}/agent/ws\"\npublic_key = \"{}\"\nenrolment_token = \"t0ken\"\n[audio]\ndevice = \"null\"\n[cache]\ndir = \"{}\"\n[relay]\nboard = \"lcus\"\nport = \"{}\"\nchannels = [1]\nwarm_up_ms = 0\nhold_ms = {hold_ms}\n",
                controller.public_key(),
                dir.path().join("cache").display(),
                line.path.display()
            ),
        )
        .expect("config");
        let agent = spawn_agent(&config, &dir.path().join("state"), &[]);
        Self {
            _dir: dir,
            line,
            controller,
            listener,
            agent,
        }
    }
}

/// Starts a live call on stream 99 and sends it ten frames of tone (0.2 s).
async fn live_call(ws: &mut common::fake_controller::Ws, controller: &CommandSigner, seq: u64) {
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
    ws.send(signed(controller, seq, start))
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
}

const OFF: [u8; 4] = [0xA0, 1, 0, 0xA1];
const ON: [u8; 4] = [0xA0, 1, 1, 0xA2];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplifier_power_follows_the_audio() {
    let Rig {
        mut line,
        controller,
        listener,
        agent: _agent,
        _dir,
    } = Rig::start(300).await;

    assert_eq!(line.read_exact(4), OFF, "off at start-up");

    let mut ws = accept(&listener, "pole-1").await;

    live_call(&mut ws, &controller, 1).await;
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

    assert_eq!(line.read_exact(4), ON, "on for the call");
    assert_eq!(line.read_exact(4), OFF, "off after it (hold 0.3 s)");
    // The console hears of each switch when it happens (statuses otherwise come every
    // 60 s, and the relays are read back every 5 s: the call lasts 0.2 s).
    let relay_is = |want: RelayState| {
        move |m: &AgentMessage| match m {
            AgentMessage::Status(s)
                if s.relays
                    .iter()
                    .any(|r| r.channel == 1 && r.state == Some(want)) =>
            {
                Some(())
            }
            _ => None,
        }
    };
    expect(&mut ws, relay_is(RelayState::On)).await;
    expect(&mut ws, relay_is(RelayState::Off)).await;

    ws.send(signed(&controller, 3, Cmd::RelayAllOff))
        .await
        .expect("all off");
    assert_eq!(line.read_exact(4), OFF, "all off always reaches the board");
    line.assert_quiet();
}

/// SIGTERM (systemd stopping the service) in the middle of a call: the agent says goodbye
/// to the controller, switches the amplifier off at once (not after its 60 s hold), and
/// exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_switches_the_amplifier_off_and_says_goodbye() {
    let Rig {
        mut line,
        controller,
        listener,
        mut agent,
        _dir,
    } = Rig::start(60_000).await;
    assert_eq!(line.read_exact(4), OFF, "off at start-up");
    let mut ws = accept(&listener, "pole-1").await;
    live_call(&mut ws, &controller, 1).await;
    assert_eq!(line.read_exact(4), ON, "on for the call");

    let pid = nix::unistd::Pid::from_raw(agent.id().expect("running") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let reason = expect(&mut ws, |m| match m {
        AgentMessage::Goodbye(g) => Some(g.reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, "shutdown");
    assert_eq!(
        line.read_exact(4),
        OFF,
        "off on SIGTERM, without waiting out the hold"
    );
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), agent.wait())
        .await
        .expect("the agent exits within 10 s of SIGTERM")
        .expect("wait");
    assert!(status.success(), "exit status {status}");
    line.assert_quiet();
}
