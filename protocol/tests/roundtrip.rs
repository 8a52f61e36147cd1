//! Round-trip properties: whatever one side encodes, the other decodes to the same value.

mod common;

use common::*;
use dalaba_protocol::audio_frame::{self, AudioHeader, FrameFlags};
use dalaba_protocol::envelope::{CommandSigner, CommandVerifier};
use dalaba_protocol::limits::MAX_OPUS_PACKET;
use dalaba_protocol::types::{StreamId, Timestamp};
use dalaba_protocol::{SignedCommand, decode_agent_message, decode_controller_message};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn agent_messages(msg in agent_message()) {
        let json = msg.to_json();
        let back = decode_agent_message(json.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(back, msg);
    }

    #[test]
    fn controller_messages(msg in controller_message()) {
        let json = msg.to_json();
        let back = decode_controller_message(json.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(back, msg);
    }

    #[test]
    fn signed_commands_survive_sign_and_verify(cmd in signed_command(), seed in any::<[u8; 32]>()) {
        let signer = CommandSigner::new(SigningKey::from_bytes(&seed));
        let envelope = signer.sign(&cmd);
        // Through the wire form too: the envelope inside a controller message.
        let json = dalaba_protocol::ControllerMessage::Signed(envelope).to_json();
        let Ok(dalaba_protocol::ControllerMessage::Signed(received)) = decode_controller_message(json.as_bytes()) else {
            return Err(TestCaseError::fail("envelope did not decode"));
        };
        let payload: SignedCommand = serde_json::from_slice(&received.payload.0).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&payload, &cmd);

        // A verifier at a time inside a valid window accepts it and returns the same value.
        let valid = SignedCommand {
            seq: cmd.seq.max(1),
            not_after: cmd.not_before.saturating_add_micros(60_000_000),
            ..cmd
        };
        let mut verifier = CommandVerifier::new(signer.public_key(), valid.audience.clone(), valid.seq - 1);
        let now = Timestamp(valid.not_before.0.saturating_add(1));
        let accepted = verifier.accept(&signer.sign(&valid), now).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(accepted, valid);
    }

    #[test]
    fn audio_frames(
        stream in any::<u32>(),
        seq in any::<u32>(),
        t in any::<u64>(),
        units in 1u16..=48,
        bits in 0u8..=0x0f,
        payload in proptest::collection::vec(any::<u8>(), 1..=MAX_OPUS_PACKET),
    ) {
        let header = AudioHeader {
            stream_id: StreamId(stream),
            seq,
            capture_time: Timestamp(t),
            samples: units * 120,
            flags: FrameFlags::from_bits(bits).expect("known bits"),
        };
        let bytes = header.to_frame(&payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(bytes.len(), 24 + payload.len());
        let frame = audio_frame::decode_message(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(frame.header, header);
        prop_assert_eq!(frame.payload, &payload[..]);
    }
}

#[test]
fn empty_end_of_stream_frame_round_trips() {
    let header = AudioHeader {
        stream_id: StreamId(1),
        seq: 9,
        capture_time: Timestamp(5),
        samples: 0,
        flags: FrameFlags::END_OF_STREAM,
    };
    let bytes = header.to_frame(&[]).expect("valid");
    let frame = audio_frame::decode_message(&bytes).expect("valid");
    assert_eq!(frame.header, header);
    assert!(frame.payload.is_empty());
}
