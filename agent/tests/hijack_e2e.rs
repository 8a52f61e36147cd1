//! A real agent process against a controller played by the test, which holds the pinned
//! command key (as if commands had been captured off the wire) and a forger's key. The
//! agent obeys only fresh, correctly signed commands addressed to it, and says why it
//! refuses the rest: replayed, unknown key, bad signature, stale, or for someone else.

use std::process::Stdio;
use std::time::Duration;

use dalaba_protocol::command::{Command as Cmd, SetVolume, SignedCommand};
use dalaba_protocol::control::*;
use dalaba_protocol::envelope::SignedEnvelope;
use dalaba_protocol::keys::Challenge;
use dalaba_protocol::{
    AgentMessage, CommandSigner, ControllerMessage, Timestamp, Volume, decode_agent_message,
};
use ed25519_dalek::SigningKey;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn command(seq: u64, audience: &str, not_after: u64, volume: u8) -> SignedCommand {
    let now = now_us();
    SignedCommand {
        seq,
        audience: audience.parse().expect("id"),
        issued_at: Timestamp(now),
        not_before: Timestamp(now.saturating_sub(60_000_000).min(not_after)),
        not_after: Timestamp(not_after),
        command: Cmd::SetVolume(SetVolume {
            volume: Volume::new(volume).expect("volume"),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_stale_commands_are_refused() {
    let controller = CommandSigner::new(SigningKey::from_bytes(&[5; 32]));
    let forger = CommandSigner::new(SigningKey::from_bytes(&[6; 32]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[identity]\narea_code = \"330106001001\"\n[controller]\nurl = \"ws://{addr}/agent/ws\"\npublic_key = \"{}\"\nenrolment_token = \"t0ken\"\n[audio]\ndevice = \"null\"\n[cache]\ndir = \"{}\"\n",
            controller.public_key(),
            dir.path().join("cache").display()
        ),
    )
    .expect("config");
    let mut agent = tokio::process::Command::new(env!("CARGO_BIN_EXE_dalaba-agent"))
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

    let (stream, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
        .await
        .expect("agent connects")
        .expect("accept");
    let mut ws = tokio_tungstenite::accept_async(stream)
        .await
        .expect("websocket");
    let send = |m: ControllerMessage| Message::Text(m.to_json().into());

    // Reads agent messages, answering pings, until `pred` picks one.
    macro_rules! expect {
        ($ws:expr, $pred:expr) => {{
            let found = tokio::time::timeout(Duration::from_secs(20), async {
                loop {
                    let Some(Ok(Message::Text(t))) = $ws.next().await else {
                        continue;
                    };
                    let m =
                        decode_agent_message(t.as_bytes()).expect("the agent speaks the protocol");
                    if let AgentMessage::Ping(p) = &m {
                        let t2 = now_us();
                        $ws.send(send(ControllerMessage::Pong(Pong {
                            id: p.id,
                            t1: p.t1,
                            t2,
                            t3: t2,
                        })))
                        .await
                        .expect("pong");
                        continue;
                    }
                    if let Some(v) = $pred(&m) {
                        break v;
                    }
                }
            })
            .await;
            found.expect("the expected message did not come")
        }};
    }

    expect!(ws, |m: &AgentMessage| matches!(m, AgentMessage::Hello(_))
        .then_some(()));
    ws.send(send(ControllerMessage::Welcome(Welcome {
        version: 1,
        controller_id: "rogue-test".into(),
        challenge: Challenge([1; 32]),
        server_time: Timestamp(now_us()),
    })))
    .await
    .expect("welcome");
    expect!(ws, |m: &AgentMessage| matches!(m, AgentMessage::Enrol(_))
        .then_some(()));
    ws.send(send(ControllerMessage::Enrolled(Enrolled {
        agent_id: "village-9".parse().expect("id"),
        heartbeat_interval_ms: 10_000,
        status_interval_ms: 60_000,
    })))
    .await
    .expect("enrolled");

    let volume_is = |v: u8| {
        move |m: &AgentMessage| match m {
            AgentMessage::Status(s) if s.volume.percent() == v => Some(()),
            _ => None,
        }
    };
    let rejected = |m: &AgentMessage| match m {
        AgentMessage::Rejected(r) => Some(r.clone()),
        _ => None,
    };
    let later = now_us() + 60_000_000;

    // A genuine command is obeyed.
    let genuine = controller.sign(&command(1, "village-9", later, 55));
    ws.send(send(ControllerMessage::Signed(genuine.clone())))
        .await
        .expect("send");
    expect!(ws, volume_is(55));

    // The same bytes again: a replay.
    ws.send(send(ControllerMessage::Signed(genuine)))
        .await
        .expect("send");
    let r = expect!(ws, rejected);
    assert_eq!(
        (r.reason, r.seq),
        (RejectReason::Replayed, Some(1)),
        "{}",
        r.detail
    );

    // Signed by someone else.
    ws.send(send(ControllerMessage::Signed(forger.sign(&command(
        2,
        "village-9",
        later,
        100,
    )))))
    .await
    .expect("send");
    assert_eq!(expect!(ws, rejected).reason, RejectReason::UnknownKey);

    // Someone else's signature under the pinned key's id.
    let forged = SignedEnvelope {
        key_id: controller.key_id(),
        ..forger.sign(&command(3, "village-9", later, 100))
    };
    ws.send(send(ControllerMessage::Signed(forged)))
        .await
        .expect("send");
    assert_eq!(expect!(ws, rejected).reason, RejectReason::BadSignature);

    // Genuine but expired a minute ago.
    ws.send(send(ControllerMessage::Signed(controller.sign(&command(
        4,
        "village-9",
        now_us() - 60_000_000,
        100,
    )))))
    .await
    .expect("send");
    assert_eq!(expect!(ws, rejected).reason, RejectReason::Stale);

    // Genuine but for the neighbouring speaker.
    ws.send(send(ControllerMessage::Signed(controller.sign(&command(
        5,
        "village-10",
        later,
        100,
    )))))
    .await
    .expect("send");
    assert_eq!(expect!(ws, rejected).reason, RejectReason::WrongAudience);

    // Still obeys the real controller afterwards.
    ws.send(send(ControllerMessage::Signed(controller.sign(&command(
        6,
        "village-9",
        later,
        33,
    )))))
    .await
    .expect("send");
    expect!(ws, volume_is(33));

    let _ = agent.kill().await;
}
