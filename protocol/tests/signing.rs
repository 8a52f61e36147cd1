//! The signing envelope: a speaker obeys the controller's signed, fresh, unreplayed
//! commands addressed to it, and nothing else.

use dalaba_protocol::command::{Command, FetchMedia, MediaRef, SetVolume, SignedCommand};
use dalaba_protocol::control::RejectReason;
use dalaba_protocol::envelope::{CommandSigner, CommandVerifier, SignedEnvelope, VerifyError};
use dalaba_protocol::keys::Base64Bytes;
use dalaba_protocol::limits::{MAX_MEDIA_ITEMS, MAX_VALIDITY_WINDOW_MICROS};
use dalaba_protocol::types::{AgentId, MediaHash, Timestamp, Volume};
use dalaba_protocol::{ControllerMessage, decode_controller_message};
use ed25519_dalek::SigningKey;

const T0: u64 = 1_800_000_000_000_000; // 2027-01-15, µs
const MINUTE: u64 = 60_000_000;
const TOLERANCE: u64 = CommandVerifier::DEFAULT_TOLERANCE_MICROS;

fn agent() -> AgentId {
    "village-7".parse().expect("valid id")
}

fn signer() -> CommandSigner {
    CommandSigner::new(SigningKey::from_bytes(&[42; 32]))
}

fn verifier(last_seq: u64) -> CommandVerifier {
    CommandVerifier::new(signer().public_key(), agent(), last_seq)
}

fn command(seq: u64) -> SignedCommand {
    SignedCommand {
        seq,
        audience: agent(),
        issued_at: Timestamp(T0),
        not_before: Timestamp(T0),
        not_after: Timestamp(T0 + MINUTE),
        command: Command::SetVolume(SetVolume {
            volume: Volume::new(80).expect("in range"),
        }),
    }
}

fn now() -> Timestamp {
    Timestamp(T0 + 1_000)
}

#[test]
fn accepts_a_good_command_once() {
    let env = signer().sign(&command(5));
    let mut v = verifier(4);
    assert_eq!(v.accept(&env, now()).expect("valid"), command(5));
    assert_eq!(v.last_seq(), 5);
    let err = v.accept(&env, now()).expect_err("replay");
    assert!(
        matches!(
            err,
            VerifyError::Replayed {
                seq: 5,
                last_seq: 5
            }
        ),
        "{err}"
    );
    assert_eq!(err.reason(), RejectReason::Replayed);
    assert_eq!(
        err.to_string(),
        "replayed command: sequence 5 is not above the last accepted 5"
    );
}

#[test]
fn older_sequence_numbers_are_replays_even_if_never_seen() {
    let mut v = verifier(0);
    v.accept(&signer().sign(&command(10)), now())
        .expect("valid");
    // seq 7 was skipped (lost in transit), but is now below the high-water mark.
    let err = v
        .accept(&signer().sign(&command(7)), now())
        .expect_err("replay");
    assert!(
        matches!(
            err,
            VerifyError::Replayed {
                seq: 7,
                last_seq: 10
            }
        ),
        "{err}"
    );
    // check() alone never advances the high-water mark.
    let v = verifier(0);
    v.check(&signer().sign(&command(3)), now()).expect("valid");
    assert_eq!(v.last_seq(), 0);
}

#[test]
fn every_tampered_payload_byte_breaks_the_signature() {
    let env = signer().sign(&command(1));
    for i in 0..env.payload.0.len() {
        for bit in [0x01, 0x80] {
            let mut bad = env.clone();
            bad.payload.0[i] ^= bit;
            let err = verifier(0).check(&bad, now()).expect_err("tampered");
            assert!(matches!(err, VerifyError::BadSignature), "byte {i}: {err}");
        }
    }
    let mut truncated = env.clone();
    truncated.payload.0.pop();
    assert!(matches!(
        verifier(0).check(&truncated, now()),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn every_tampered_signature_byte_is_refused() {
    let env = signer().sign(&command(1));
    let sig = env.signature.to_bytes();
    for i in 0..sig.len() {
        let mut bytes = sig;
        bytes[i] ^= 0x04;
        let bad = SignedEnvelope {
            signature: ed25519_dalek::Signature::from_bytes(&bytes).into(),
            ..env.clone()
        };
        let err = verifier(0).check(&bad, now()).expect_err("tampered");
        assert!(matches!(err, VerifyError::BadSignature), "byte {i}: {err}");
        assert_eq!(err.reason(), RejectReason::BadSignature);
    }
}

#[test]
fn tampering_with_the_wire_text_is_caught() {
    let json = ControllerMessage::Signed(signer().sign(&command(1))).to_json();
    // Change one base64 character of the payload (keeping it valid base64).
    let start = json.find("\"payload\":\"").expect("has payload") + 11;
    let mut bytes = json.into_bytes();
    bytes[start + 10] = if bytes[start + 10] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let ControllerMessage::Signed(env) = decode_controller_message(&bytes).expect("still decodes")
    else {
        panic!("not a signed message")
    };
    assert!(matches!(
        verifier(0).check(&env, now()),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn wrong_key_is_refused() {
    let impostor = CommandSigner::new(SigningKey::from_bytes(&[7; 32]));
    let env = impostor.sign(&command(1));
    let err = verifier(0).check(&env, now()).expect_err("unknown key");
    assert!(matches!(err, VerifyError::UnknownKey { .. }), "{err}");
    assert_eq!(err.reason(), RejectReason::UnknownKey);

    // The impostor claims the pinned key's id: the signature still fails.
    let forged = SignedEnvelope {
        key_id: signer().key_id(),
        ..env
    };
    let err = verifier(0).check(&forged, now()).expect_err("forged");
    assert!(matches!(err, VerifyError::BadSignature), "{err}");
}

#[test]
fn a_command_for_another_agent_is_refused() {
    let mut cmd = command(1);
    cmd.audience = "village-8".parse().expect("valid");
    let err = verifier(0)
        .check(&signer().sign(&cmd), now())
        .expect_err("not ours");
    assert!(matches!(err, VerifyError::WrongAudience { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "command is for agent village-8, not for this agent (village-7)"
    );
}

#[test]
fn validity_window_with_clock_tolerance() {
    let env = signer().sign(&command(1));
    let check = |t: u64| verifier(0).check(&env, Timestamp(t));

    assert!(check(T0).is_ok(), "at not_before");
    assert!(check(T0 + MINUTE).is_ok(), "at not_after");
    assert!(check(T0 - TOLERANCE).is_ok(), "early, within tolerance");
    assert!(
        check(T0 + MINUTE + TOLERANCE).is_ok(),
        "late, within tolerance"
    );

    let err = check(T0 - TOLERANCE - 1).expect_err("future");
    assert!(matches!(err, VerifyError::NotYetValid { .. }), "{err}");
    assert_eq!(err.reason(), RejectReason::NotYetValid);

    let err = check(T0 + MINUTE + TOLERANCE + 1).expect_err("stale");
    assert!(matches!(err, VerifyError::Stale { .. }), "{err}");
    assert_eq!(err.reason(), RejectReason::Stale);
    assert_eq!(
        err.to_string(),
        format!(
            "stale command: valid until {}µs, now is {}µs",
            T0 + MINUTE,
            T0 + MINUTE + TOLERANCE + 1
        )
    );

    // A tighter tolerance for an agent whose clock estimate is good.
    let strict = verifier(0).with_tolerance_micros(0);
    assert!(matches!(
        strict.check(&env, Timestamp(T0 - 1)),
        Err(VerifyError::NotYetValid { .. })
    ));
}

#[test]
fn inverted_or_overlong_windows_are_refused() {
    let mut inverted = command(1);
    inverted.not_after = Timestamp(T0 - 1);
    let err = verifier(0)
        .check(&signer().sign(&inverted), now())
        .expect_err("inverted");
    assert!(matches!(err, VerifyError::BadWindow { .. }), "{err}");

    let mut long = command(1);
    long.not_after = Timestamp(T0 + MAX_VALIDITY_WINDOW_MICROS + 1);
    let err = verifier(0)
        .check(&signer().sign(&long), now())
        .expect_err("too long");
    assert!(matches!(err, VerifyError::BadWindow { .. }), "{err}");

    long.not_after = Timestamp(T0 + MAX_VALIDITY_WINDOW_MICROS);
    assert!(
        verifier(0).check(&signer().sign(&long), now()).is_ok(),
        "exactly the maximum"
    );
}

#[test]
fn verification_uses_the_exact_bytes_not_a_reserialisation() {
    // Same command, different but equivalent JSON: other key order, whitespace, escapes.
    let hand_made = format!(
        r#"{{ "not_after": {na}, "command": {{"volume": 80, "type": "set_volume"}},
            "audience": "village\u002d7", "seq": 9, "issued_at": {t0}, "not_before": {t0} }}"#,
        na = T0 + MINUTE,
        t0 = T0
    );
    let env = signer().sign_bytes(hand_made.into_bytes());
    let accepted = verifier(0)
        .check(&env, now())
        .expect("signed bytes verify as they are");
    assert_eq!(accepted, command(9));
}

#[test]
fn signed_garbage_is_malformed_not_obeyed() {
    let env = signer().sign_bytes(br#"{"seq":1,"command":{"type":"self_destruct"}}"#.to_vec());
    let err = verifier(0).check(&env, now()).expect_err("unknown command");
    assert!(matches!(err, VerifyError::Malformed(_)), "{err}");
    assert_eq!(err.reason(), RejectReason::Malformed);
}

#[test]
fn signed_commands_over_a_limit_are_refused() {
    let item = MediaRef {
        hash: MediaHash::of(b"clip"),
        size: 1,
        duration_ms: 1,
        url: String::new(),
    };
    let mut cmd = command(1);
    cmd.command = Command::FetchMedia(FetchMedia {
        items: vec![item; MAX_MEDIA_ITEMS + 1],
    });
    let err = verifier(0)
        .check(&signer().sign(&cmd), now())
        .expect_err("too many");
    assert!(matches!(err, VerifyError::Limit(_)), "{err}");

    let huge = SignedEnvelope {
        payload: Base64Bytes(vec![b' '; 200 * 1024]),
        ..signer().sign(&command(1))
    };
    let err = verifier(0).check(&huge, now()).expect_err("too large");
    assert!(matches!(err, VerifyError::TooLarge { .. }), "{err}");
}
