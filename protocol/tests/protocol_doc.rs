//! Keeps PROTOCOL.md true: every JSON example in it decodes, and its test vectors (keys,
//! signatures, proof bytes, the audio frame) are what this crate produces.

use dalaba_protocol::audio_frame::{self, AudioHeader, FrameFlags};
use dalaba_protocol::command::{Command, SetVolume, SignedCommand};
use dalaba_protocol::control::{Enrol, Login, Welcome};
use dalaba_protocol::keys::{Challenge, PublicKey};
use dalaba_protocol::{
    AgentMessage, CommandSigner, CommandVerifier, ControllerMessage, StreamId, Timestamp,
    VerifyError, Volume, auth, decode_agent_message, decode_controller_message,
};
use ed25519_dalek::SigningKey;

fn spec() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../PROTOCOL.md");
    std::fs::read_to_string(path).expect("PROTOCOL.md is readable")
}

/// Every ```json block of the document, with its line number.
fn json_blocks(doc: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in doc.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed == "```json" => current = Some((n + 1, String::new())),
            Some(_) if trimmed == "```" => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "unterminated json block");
    blocks
}

#[test]
fn every_json_example_decodes() {
    let doc = spec();
    let blocks = json_blocks(&doc);
    assert!(
        blocks.len() >= 25,
        "found only {} json blocks",
        blocks.len()
    );
    let mut examples = 0;
    for (line, block) in blocks {
        let values = serde_json::Deserializer::from_str(&block).into_iter::<serde_json::Value>();
        for value in values {
            let value = value.unwrap_or_else(|e| panic!("PROTOCOL.md line {line}: not JSON: {e}"));
            let bytes = serde_json::to_vec(&value).expect("serialises");
            let kind = value.get("type").and_then(|t| t.as_str());
            let ok = match kind {
                Some(_) => {
                    decode_agent_message(&bytes).is_ok()
                        || decode_controller_message(&bytes).is_ok()
                        || serde_json::from_slice::<Command>(&bytes).is_ok()
                }
                None => serde_json::from_slice::<SignedCommand>(&bytes).is_ok(),
            };
            assert!(
                ok,
                "PROTOCOL.md line {line}: example does not decode: {value}"
            );
            examples += 1;
        }
    }
    assert!(examples >= 30, "found only {examples} examples");
}

fn controller_key() -> SigningKey {
    SigningKey::from_bytes(&std::array::from_fn(|i| i as u8))
}

fn agent_key() -> SigningKey {
    SigningKey::from_bytes(&std::array::from_fn(|i| 0x20 + i as u8))
}

#[test]
fn test_vectors_hold() {
    let doc = spec();
    let must_contain = |what: &str, text: &str| {
        assert!(doc.contains(text), "PROTOCOL.md lacks the {what}: {text}");
    };

    let signer = CommandSigner::new(controller_key());
    must_contain("controller public key", &signer.public_key().to_base64());
    must_contain("controller key id", &signer.key_id().to_string());
    let agent_public = PublicKey::from(agent_key().verifying_key());
    must_contain("agent public key", &agent_public.to_base64());

    let agent = "village-7".parse().expect("valid id");
    let command = SignedCommand {
        seq: 42,
        audience: "village-7".parse().expect("valid id"),
        issued_at: Timestamp(1_800_000_000_000_000),
        not_before: Timestamp(1_800_000_000_000_000),
        not_after: Timestamp(1_800_000_060_000_000),
        command: Command::SetVolume(SetVolume {
            volume: Volume::new(80).expect("in range"),
        }),
    };
    let envelope = signer.sign(&command);
    must_contain(
        "signed payload",
        std::str::from_utf8(&envelope.payload.0).expect("utf-8"),
    );
    must_contain(
        "signed message",
        &ControllerMessage::Signed(envelope.clone()).to_json(),
    );
    let mut verifier = CommandVerifier::new(signer.public_key(), agent, 41);
    verifier
        .accept(&envelope, Timestamp(1_800_000_000_000_000))
        .expect("vector verifies");
    assert!(matches!(
        verifier.accept(&envelope, Timestamp(1_800_000_000_000_000)),
        Err(VerifyError::Replayed { .. })
    ));

    let challenge = Challenge([0xa5; 32]);
    let welcome = ControllerMessage::Welcome(Welcome {
        version: 1,
        controller_id: "county-330106".into(),
        challenge,
        server_time: Timestamp(1_800_000_000_000_000),
    });
    must_contain("welcome example", &welcome.to_json());

    let agent_id = "village-7".parse().expect("valid id");
    let login_bytes = auth::login_message("county-330106", &challenge, &agent_id);
    assert_eq!(login_bytes.len(), 71);
    let login = AgentMessage::Login(Login {
        agent_id,
        signature: auth::sign_proof(&agent_key(), &login_bytes),
        last_command_seq: 41,
    });
    must_contain("login example", &login.to_json());

    let enrol_bytes = auth::enrol_message("county-330106", &challenge, &agent_public, "k3J9-2Qx");
    let enrol = AgentMessage::Enrol(Enrol {
        token: "k3J9-2Qx".into(),
        public_key: agent_public,
        signature: auth::sign_proof(&agent_key(), &enrol_bytes),
    });
    must_contain("enrol example", &enrol.to_json());
}

#[test]
fn audio_frame_example_holds() {
    let frame = AudioHeader {
        stream_id: StreamId(7),
        seq: 0x0102_0304,
        capture_time: Timestamp(0x0011_2233_4455_6677),
        samples: 960,
        flags: FrameFlags::FEC,
    }
    .to_frame(&[0xaa, 0xbb])
    .expect("valid");
    let hex: Vec<String> = frame.iter().map(|b| format!("{b:02x}")).collect();
    let text = hex.join(" ");
    let doc = spec().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        doc.contains(&text),
        "PROTOCOL.md lacks the frame bytes {text}"
    );
    assert!(audio_frame::decode_message(&frame).is_ok());
}
