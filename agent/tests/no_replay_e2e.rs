//! A real agent process plays a broadcast to the end, is killed and started again, and is
//! sent the same broadcast again (fresh sequence number, fresh signature), as a controller
//! that never heard the final receipt would. It answers with the receipt it sent the
//! first time and plays nothing (PROTOCOL.md rule A10).

mod common;

use common::fake_controller::{accept, expect, now_us, spawn_agent};
use dalaba_audio::transcode::{TranscodeOptions, transcode_file, write_wav};
use dalaba_protocol::command::{Command as Cmd, MediaRef, OnPreempt, PlayMedia, SignedCommand};
use dalaba_protocol::control::{Receipt, ReceiptState};
use dalaba_protocol::{
    AgentMessage, BroadcastId, CommandSigner, ControllerMessage, MediaHash, Mode, PlatformLevel,
    Priority, Timestamp,
};
use ed25519_dalek::SigningKey;
use futures_util::SinkExt as _;
use tokio_tungstenite::tungstenite::Message;

fn signed(signer: &CommandSigner, seq: u64, command: Cmd) -> Message {
    let now = now_us();
    let envelope = signer.sign(&SignedCommand {
        seq,
        audience: "pole-3".parse().expect("id"),
        issued_at: Timestamp(now),
        not_before: Timestamp(now - 1_000_000),
        not_after: Timestamp(now + 60_000_000),
        command,
    });
    Message::Text(ControllerMessage::Signed(envelope).to_json().into())
}

fn receipt_of(id: u64) -> impl Fn(&AgentMessage) -> Option<Receipt> {
    move |m| match m {
        AgentMessage::Receipt(r) if r.broadcast_id == BroadcastId(id) => Some(r.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_answers_a_finished_broadcast_and_plays_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    // Half a second of tone, already in the cache (no download needed).
    let wav = dir.path().join("tone.wav");
    let tone: Vec<f32> = (0..24_000)
        .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0).sin() * 0.3)
        .collect();
    write_wav(&wav, &tone).expect("wav");
    let opus = dir.path().join("tone.opus");
    transcode_file(&wav, &opus, &TranscodeOptions::default(), &mut |_| {}).expect("transcode");
    let bytes = std::fs::read(&opus).expect("opus");
    let hash = MediaHash::of(&bytes);
    std::fs::write(cache.join(format!("{hash}.opus")), &bytes).expect("cached");

    let controller = CommandSigner::new(SigningKey::from_bytes(&[5; 32]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let out = dir.path().join("out.wav");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[identity]\narea_code = \"330106001001\"\n[controller]\nurl = \"ws://{addr}/agent/ws\"\npublic_key = \"{}\"\nenrolment_token = \"t0ken\"\n[audio]\ndevice = \"wav:{}\"\n[cache]\ndir = \"{}\"\n",
            controller.public_key(),
            out.display(),
            cache.display()
        ),
    )
    .expect("config");
    let state = dir.path().join("state");
    let play = |start_at: u64| {
        Cmd::PlayMedia(PlayMedia {
            broadcast_id: BroadcastId(7),
            media: MediaRef {
                hash,
                size: bytes.len() as u64,
                duration_ms: 500,
                url: format!("/media/{hash}"),
            },
            start_at: Timestamp(start_at),
            priority: Priority::Scheduled,
            level: PlatformLevel::County,
            volume: None,
            repeat: 1,
            gap_ms: 0,
            mode: Mode::Real,
            severity: None,
            on_preempt: OnPreempt::Resume,
            expires_at: Some(Timestamp(now_us() + 600_000_000)),
        })
    };

    let mut agent = spawn_agent(&config, &state, &[]);
    let mut ws = accept(&listener, "pole-3").await;
    let start_at = now_us() + 500_000;
    ws.send(signed(&controller, 1, play(start_at)))
        .await
        .expect("play_media");
    let done = expect(&mut ws, |m| receipt_of(7)(m).filter(|r| r.state.is_final())).await;
    assert_eq!(done.state, ReceiptState::Done, "{done:?}");
    let played = dir.path().join("out-b7.wav");
    let recording = std::fs::read(&played).expect("the first play was written");
    let written = std::fs::metadata(&played)
        .and_then(|m| m.modified())
        .expect("mtime");

    // Killed (a power cut), started again; the controller re-sends the same broadcast,
    // still inside its window, with a number from a fresh block.
    agent.kill().await.expect("kill");
    let _agent = spawn_agent(&config, &state, &[]);
    let mut ws = accept(&listener, "pole-3").await;
    ws.send(signed(&controller, 1_025, play(start_at)))
        .await
        .expect("play_media again");
    let again = expect(&mut ws, receipt_of(7)).await;
    assert_eq!(
        again, done,
        "the first message about it is the final receipt it sent before"
    );
    // Something after it, so anything it would have played is in the log by now: a
    // second broadcast that does play.
    ws.send(signed(
        &controller,
        1_026,
        match play(now_us() + 300_000) {
            Cmd::PlayMedia(p) => Cmd::PlayMedia(PlayMedia {
                broadcast_id: BroadcastId(8),
                ..p
            }),
            _ => unreachable!(),
        },
    ))
    .await
    .expect("another broadcast");
    let other = expect(&mut ws, |m| receipt_of(8)(m).filter(|r| r.state.is_final())).await;
    assert_eq!(other.state, ReceiptState::Done);
    assert!(dir.path().join("out-b8.wav").exists());
    // A second play of 7 would have opened its recording again (a restarted player
    // starts its file names afresh) and rewritten it.
    assert_eq!(
        std::fs::metadata(&played)
            .and_then(|m| m.modified())
            .expect("mtime"),
        written,
        "broadcast 7's recording was not touched"
    );
    assert_eq!(std::fs::read(&played).expect("recording"), recording);
}
