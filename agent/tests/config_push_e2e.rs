//! Pushing a configuration to a real agent: applied after validation, kept once the agent
//! reaches the controller with it; one that would change the pinned controller URL or key
//! is refused. (Rolling back a push that never reaches the controller is in
//! `config_push.rs`: with the controller pinned, no push can make the agent lose it.)
//! A signed `move_controller` does hand it over, and brings it back if the other
//! controller is not reached.

mod common;

use common::fake_controller::{Ws, accept, expect, now_us, spawn_agent};
use dalaba_protocol::command::{Command as Cmd, ConfigPush, MoveController, SignedCommand};
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
    let command = Cmd::ConfigPush(ConfigPush {
        config_version: version.into(),
        document,
    });
    send(ws, signer, seq, command).await;
}

async fn send(ws: &mut Ws, signer: &CommandSigner, seq: u64, command: Cmd) {
    let now = now_us();
    let envelope = signer.sign(&SignedCommand {
        seq,
        audience: "pole-1".parse().expect("id"),
        issued_at: Timestamp(now),
        not_before: Timestamp(now - 1_000_000),
        not_after: Timestamp(now + 60_000_000),
        command,
    });
    ws.send(Message::Text(
        ControllerMessage::Signed(envelope).to_json().into(),
    ))
    .await
    .expect("send");
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
        !dir.path().join("state/agent.toml.previous").exists(),
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
        std::fs::read_to_string(dir.path().join("state/agent.toml"))
            .expect("read")
            .contains("volume = 45"),
        "the working copy in the state directory holds the push"
    );
}

fn move_to(url: &str, signer: &CommandSigner, version: &str) -> Cmd {
    Cmd::MoveController(MoveController {
        config_version: version.into(),
        url: url.into(),
        public_key: signer.public_key(),
        tls_fingerprint: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_move_hands_the_speaker_over_and_an_unreached_one_comes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let county = CommandSigner::new(SigningKey::from_bytes(&[5; 32]));
    let city = CommandSigner::new(SigningKey::from_bytes(&[6; 32]));
    let a = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url_a = format!("ws://{}/agent/ws", a.local_addr().expect("addr"));
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        config(&url_a, &county.public_key().to_base64(), dir.path(), 80),
    )
    .expect("config");
    let _agent = spawn_agent(
        &path,
        &dir.path().join("state"),
        &[("DALABA_CONFIG_CONFIRM_S", "2")],
    );
    let mut ws = accept(&a, "pole-1").await;
    expect(&mut ws, status).await;

    // Moved to a controller that is not there (its port closed): after the trial the
    // agent is back with the old pins, and says what happened.
    let gone = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url_gone = format!("ws://{}/agent/ws", gone.local_addr().expect("addr"));
    drop(gone);
    send(&mut ws, &county, 1, move_to(&url_gone, &city, "move-1")).await;
    let mut ws = accept(&a, "pole-1").await;
    let s = expect(&mut ws, status).await;
    assert_eq!(s.config_version, "local", "{s:?}");
    assert!(
        s.last_error
            .as_deref()
            .is_some_and(|e| e.contains("move-1 rolled back")),
        "{s:?}"
    );
    assert!(
        !std::fs::read_to_string(&path)
            .expect("read")
            .contains(&url_gone)
    );

    // A move signed by a key the agent does not pin is refused: it stays.
    send(&mut ws, &city, 2, move_to(&url_gone, &city, "forged")).await;
    let rejected = expect(&mut ws, |m| match m {
        AgentMessage::Rejected(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert_eq!(rejected.reason, RejectReason::UnknownKey, "{rejected:?}");

    // Moved to the city controller, which is there: the agent logs in, keeps the new pins
    // once in session, and obeys the city's key from then on.
    let b = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url_b = format!("ws://{}/agent/ws", b.local_addr().expect("addr"));
    send(&mut ws, &county, 3, move_to(&url_b, &city, "move-3")).await;
    let mut ws = accept(&b, "pole-1").await;
    let s = expect(&mut ws, status).await;
    assert_eq!(s.config_version, "move-3", "{s:?}");
    let written = std::fs::read_to_string(dir.path().join("state/agent.toml")).expect("read");
    assert!(written.contains(&url_b), "{written}");
    assert!(
        !std::fs::read_to_string(&path)
            .expect("read")
            .contains(&url_b),
        "the installed file is never written"
    );
    assert!(
        written.contains(&city.public_key().to_base64()),
        "{written}"
    );
    push(
        &mut ws,
        &city,
        4,
        "city-1",
        written.replace("volume = 80", "volume = 30"),
    )
    .await;
    let mut ws = accept(&b, "pole-1").await;
    let s = expect(&mut ws, status).await;
    assert_eq!(
        (s.config_version.as_str(), s.volume.percent()),
        ("city-1", 30)
    );
}
