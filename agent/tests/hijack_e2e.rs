//! A real agent process against a controller played by the test, which holds the pinned
//! command key (as if commands had been captured off the wire) and a forger's key. The
//! agent obeys only fresh, correctly signed commands addressed to it, and says why it
//! refuses the rest: replayed, unknown key, bad signature, stale, or for someone else.

mod common;

use common::fake_controller::{accept, expect, now_us, spawn_agent, text};
use dalaba_protocol::command::{Command as Cmd, SetVolume, SignedCommand};
use dalaba_protocol::control::*;
use dalaba_protocol::envelope::SignedEnvelope;
use dalaba_protocol::{AgentMessage, CommandSigner, ControllerMessage, Timestamp, Volume};
use ed25519_dalek::SigningKey;
use futures_util::SinkExt as _;

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
    let mut agent = spawn_agent(&config, &dir.path().join("state"), &[]);
    let mut ws = accept(&listener, "village-9").await;
    let send = |m: ControllerMessage| text(&m);

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
    expect(&mut ws, volume_is(55)).await;

    // The same bytes again: a replay.
    ws.send(send(ControllerMessage::Signed(genuine)))
        .await
        .expect("send");
    let r = expect(&mut ws, rejected).await;
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
    assert_eq!(
        expect(&mut ws, rejected).await.reason,
        RejectReason::UnknownKey
    );

    // Someone else's signature under the pinned key's id.
    let forged = SignedEnvelope {
        key_id: controller.key_id(),
        ..forger.sign(&command(3, "village-9", later, 100))
    };
    ws.send(send(ControllerMessage::Signed(forged)))
        .await
        .expect("send");
    assert_eq!(
        expect(&mut ws, rejected).await.reason,
        RejectReason::BadSignature
    );

    // Genuine but expired a minute ago.
    ws.send(send(ControllerMessage::Signed(controller.sign(&command(
        4,
        "village-9",
        now_us() - 60_000_000,
        100,
    )))))
    .await
    .expect("send");
    assert_eq!(expect(&mut ws, rejected).await.reason, RejectReason::Stale);

    // Genuine but for the neighbouring speaker.
    ws.send(send(ControllerMessage::Signed(controller.sign(&command(
        5,
        "village-10",
        later,
        100,
    )))))
    .await
    .expect("send");
    assert_eq!(
        expect(&mut ws, rejected).await.reason,
        RejectReason::WrongAudience
    );

    // Still obeys the real controller afterwards.
    ws.send(send(ControllerMessage::Signed(controller.sign(&command(
        6,
        "village-9",
        later,
        33,
    )))))
    .await
    .expect("send");
    expect(&mut ws, volume_is(33)).await;

    let _ = agent.kill().await;
}
