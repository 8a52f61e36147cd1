//! Pushing a configuration to a real agent: applied after validation, kept once the agent
//! reaches the controller with it; one that would change the pinned controller URL or key
//! is refused. (Rolling back a push that never reaches the controller is in
//! `config_push.rs`: with the controller pinned, no push can make the agent lose it.)

mod common;

use common::fake_controller::{Ws, accept, expect, now_us, spawn_agent};
use dalaba_protocol::command::{Command as Cmd, ConfigPush, SignedCommand};
use dalaba_protocol::control::*;
use dalaba_protocol::{AgentMessage, CommandSigner, ControllerMessage, Timestamp};
use ed25519_dalek::SigningKey;
use futures_util::SinkExt as _;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

fn config(url: &str, key: &str, dir: &std::path::Path, volume: u8) -> String {
    format!(
        "[identity]\nagent_id = \"pole-1\"\narea_code = \"330106001001\"\n[controller]\nurl = \"{url}\"\npublic_key = \"{key}\"\nenrolment_token = \"t0ken\"\n[audio]\ndevice = \"null\"\nvolume = {volume}\n[cache]\ndir = \"{}\"\n",
        dir.join("cache").display()
    )
}

fn status(m: &AgentMessage) -> Option<StatusReport> {
    match m {
        AgentMessage::Status(s) => Some(s.clone()),
        _ => None,
    }
}

async fn push(ws: &mut Ws, signer: &CommandSigner, seq: u64, version: &str, document: String) {
    let now = now_us();
    let envelope = signer.sign(&SignedCommand {
        seq,
        audience: "pole-1".parse().expect("id"),
        issued_at: Timestamp(now),
        not_before: Timestamp(now - 1_000_000),
        not_after: Timestamp(now + 60_000_000),
        command: Cmd::ConfigPush(ConfigPush {
            config_version: version.into(),
            document,
        }),
    });
    ws.send(Message::Text(
        ControllerMessage::Signed(envelope).to_json().into(),
    ))
    .await
    .expect("push");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_config_is_kept_and_cannot_move_the_speaker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = CommandSigner::new(SigningKey::from_bytes(&[5; 32]));
    let key = signer.public_key().to_base64();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/agent/ws", listener.local_addr().expect("addr"));
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, config(&url, &key, dir.path(), 80)).expect("config");
    let _agent = spawn_agent(
        &path,
        &dir.path().join("state"),
        &[("DALABA_CONFIG_CONFIRM_S", "2")],
    );

    let mut ws = accept(&listener, "pole-1").await;
    let s = expect(&mut ws, status).await;
    assert_eq!(
        (s.config_version.as_str(), s.volume.percent()),
        ("local", 80)
    );

    // An invalid configuration changes nothing, and says why.
    push(
        &mut ws,
        &signer,
        1,
        "bad",
        config(&url, &key, dir.path(), 80).replace("volume = 80", "volume = 180"),
    )
    .await;
    let s = expect(&mut ws, status).await;
    assert_eq!(s.config_version, "local");
    assert!(
        s.last_error
            .as_deref()
            .is_some_and(|e| e.contains("audio.volume: 180 is out of range")),
        "{s:?}"
    );

    // A good one: the agent reconnects with it and keeps it.
    push(
        &mut ws,
        &signer,
        2,
        "v2",
        config(&url, &key, dir.path(), 45),
    )
    .await;
    let mut ws = accept(&listener, "pole-1").await;
    let s = expect(&mut ws, status).await;
    assert_eq!((s.config_version.as_str(), s.volume.percent()), ("v2", 45));
    assert!(
        !dir.path().join("agent.toml.previous").exists(),
        "confirmed"
    );

    // One that would move the speaker to another controller: refused, nothing changes,
    // the agent stays connected (a push cannot hand a speaker over; SECURITY.md).
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let other_url = format!("ws://{}/agent/ws", elsewhere.local_addr().expect("addr"));
    push(
        &mut ws,
        &signer,
        3,
        "v3",
        config(&other_url, &key, dir.path(), 20),
    )
    .await;
    let s = expect(&mut ws, status).await;
    assert_eq!((s.config_version.as_str(), s.volume.percent()), ("v2", 45));
    assert!(
        s.last_error
            .as_deref()
            .is_some_and(|e| e.contains("would change controller.url")),
        "{s:?}"
    );
    let other_key = CommandSigner::new(SigningKey::from_bytes(&[6; 32]))
        .public_key()
        .to_base64();
    push(
        &mut ws,
        &signer,
        4,
        "v4",
        config(&url, &other_key, dir.path(), 20),
    )
    .await;
    let s = expect(&mut ws, status).await;
    assert_eq!(s.config_version, "v2");
    assert!(
        s.last_error
            .as_deref()
            .is_some_and(|e| e.contains("would change controller.public_key")),
        "{s:?}"
    );
    assert!(
        std::fs::read_to_string(&path)
            .expect("read")
            .contains("volume = 45")
    );
}
