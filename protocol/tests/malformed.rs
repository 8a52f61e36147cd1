//! Malformed input, and the exact error each must give. The error texts are part of what
//! an operator sees in logs, so they are pinned here.

use dalaba_protocol::audio_frame::{self, FrameError};
use dalaba_protocol::limits::MAX_CONTROL_MESSAGE;
use dalaba_protocol::{ControlError, decode_agent_message, decode_controller_message};

/// Decodes `input` as an agent message and checks the error's text.
#[track_caller]
fn check_agent(input: &[u8], expected: &str) {
    match decode_agent_message(input) {
        Ok(msg) => panic!(
            "{:?} decoded to {msg:?}, expected error {expected:?}",
            String::from_utf8_lossy(input)
        ),
        Err(e) => assert_eq!(
            e.to_string(),
            expected,
            "input {:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

#[track_caller]
fn check_controller(input: &[u8], expected: &str) {
    match decode_controller_message(input) {
        Ok(msg) => panic!(
            "{:?} decoded to {msg:?}, expected error {expected:?}",
            String::from_utf8_lossy(input)
        ),
        Err(e) => assert_eq!(
            e.to_string(),
            expected,
            "input {:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

#[test]
fn oversized_control_message_is_refused_before_parsing() {
    // Not even JSON: the size check must come first.
    let big = vec![b'x'; MAX_CONTROL_MESSAGE + 1];
    assert!(
        matches!(decode_agent_message(&big), Err(ControlError::TooLarge { len }) if len == MAX_CONTROL_MESSAGE + 1)
    );
    check_agent(
        &big,
        "control message of 262145 bytes exceeds the limit of 262144 bytes",
    );
    check_controller(
        &big,
        "control message of 262145 bytes exceeds the limit of 262144 bytes",
    );
}

#[test]
fn malformed_agent_messages() {
    let hello_ok = br#"{"type":"hello","versions":[1],"software":"x"}"#;
    assert!(
        decode_agent_message(hello_ok).is_ok(),
        "the baseline is valid"
    );

    let table: &[(&[u8], &str)] = &[
        (b"", "control message is not a JSON object"),
        (b"   ", "control message is not a JSON object"),
        (
            b"[\"hello\",[1],\"x\"]",
            "control message is not a JSON object",
        ),
        (b"\"hello\"", "control message is not a JSON object"),
        (
            b"{",
            "control message is not valid JSON: EOF while parsing an object at line 1 column 1",
        ),
        (
            b"{\"type\":\"hello\"",
            "control message is not valid JSON: EOF while parsing an object at line 1 column 15",
        ),
        (
            b"{} trailing",
            "control message is not valid JSON: trailing characters at line 1 column 4",
        ),
        (b"{}", "control message has no \"type\" field"),
        (
            br#"{"kind":"hello"}"#,
            "control message has no \"type\" field",
        ),
        (
            br#"{"type":5}"#,
            "control message is not valid JSON: invalid type: integer `5`, expected a string at line 1 column 9",
        ),
        (
            br#"{"type":"bogus"}"#,
            "unknown control message type \"bogus\"",
        ),
        (
            br#"{"type":"HELLO"}"#,
            "unknown control message type \"HELLO\"",
        ),
        // A controller message sent by an agent is unknown in this direction.
        (
            br#"{"type":"welcome"}"#,
            "unknown control message type \"welcome\"",
        ),
        (
            br#"{"type":"signed"}"#,
            "unknown control message type \"signed\"",
        ),
        (
            br#"{"type":"hello"}"#,
            "invalid \"hello\" message: missing field `versions` at line 1 column 16",
        ),
        (
            br#"{"type":"hello","versions":[],"software":"x"}"#,
            "hello.versions has 0 elements, the limit is 16",
        ),
        (
            br#"{"type":"hello","versions":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"software":"x"}"#,
            "hello.versions has 17 elements, the limit is 16",
        ),
        (
            br#"{"type":"hello","versions":[70000],"software":"x"}"#,
            "invalid \"hello\" message: invalid value: integer `70000`, expected u16 at line 1 column 33",
        ),
        (
            br#"{"type":"hello","versions":[1],"software":"x","agent_id":"a/b"}"#,
            "invalid \"hello\" message: agent id may only contain A-Z, a-z, 0-9, '.', '_' and '-' (found '/') at line 1 column 63",
        ),
        (
            br#"{"type":"hello","versions":[1],"software":"x","agent_id":""}"#,
            "invalid \"hello\" message: agent id must be 1 to 64 characters, got 0 at line 1 column 60",
        ),
        (
            br#"{"type":"ping","id":1,"t1":-5}"#,
            "invalid \"ping\" message: invalid value: integer `-5`, expected u64 at line 1 column 29",
        ),
        (
            br#"{"type":"ping","id":1}"#,
            "invalid \"ping\" message: missing field `t1` at line 1 column 22",
        ),
        (
            br#"{"type":"receipt","broadcast_id":1,"state":"exploded","at":0}"#,
            "invalid \"receipt\" message: unknown variant `exploded`, expected one of `waiting`, `playing`, `done`, `failed`, `preempted`, `cancelled` at line 1 column 61",
        ),
        (
            br#"{"type":"receipt","broadcast_id":1,"state":"failed","at":0}"#,
            "invalid \"receipt\" message: missing field `reason` at line 1 column 59",
        ),
        (
            br#"{"type":"receipt","broadcast_id":1,"state":"done"}"#,
            "invalid \"receipt\" message: missing field `at` at line 1 column 50",
        ),
        (
            br#"{"type":"enrol","token":"t","public_key":"AAAA","signature":""}"#,
            "invalid \"enrol\" message: expected 32 bytes, got 3 at line 1 column 47",
        ),
        (
            br#"{"type":"enrol","token":"t","public_key":"!!!!","signature":""}"#,
            "invalid \"enrol\" message: invalid base64: Invalid symbol 33, offset 0. at line 1 column 47",
        ),
        (
            br#"{"type":"cache","hash":"ABC","state":"cached"}"#,
            "invalid \"cache\" message: media hash must be 64 lowercase hex digits (SHA-256), got \"ABC\" at line 1 column 28",
        ),
        (
            br#"{"type":"heartbeat","uptime_s":"1"}"#,
            "invalid \"heartbeat\" message: invalid type: string \"1\", expected u64 at line 1 column 34",
        ),
        (
            b"{\"type\":\"goodbye\",\"reason\":\"\xff\"}",
            "control message is not UTF-8: invalid byte at offset 28",
        ),
    ];
    for (input, expected) in table {
        check_agent(input, expected);
    }
}

#[test]
fn out_of_range_status_fields() {
    let status = |volume: &str| {
        format!(
            r#"{{"type":"status","playing":null,"relays":[],"volume":{volume},"last_error":null,"firmware_version":"1","config_version":"1","schedule_version":0,"cache":{{"used_bytes":0,"capacity_bytes":0,"items":0}},"clock_offset_us":null,"uptime_s":0}}"#
        )
    };
    assert!(decode_agent_message(status("100").as_bytes()).is_ok());
    check_agent(
        status("101").as_bytes(),
        "invalid \"status\" message: volume must be 0 to 100 (percent), got 101 at line 1 column 56",
    );
    check_agent(
        status("-1").as_bytes(),
        "invalid \"status\" message: invalid value: integer `-1`, expected u16 at line 1 column 55",
    );
}

#[test]
fn malformed_controller_messages() {
    let table: &[(&[u8], &str)] = &[
        (br#"{"type":"hello","versions":[1],"software":"x"}"#, "unknown control message type \"hello\""),
        (br#"{"type":"play_media"}"#, "unknown control message type \"play_media\""),
        (br#"{"type":"pong","id":1,"t1":1,"t2":2}"#, "invalid \"pong\" message: missing field `t3` at line 1 column 36"),
        (br#"{"type":"welcome","version":1,"controller_id":"c","challenge":"AAAA","server_time":0}"#, "invalid \"welcome\" message: expected 32 bytes, got 3 at line 1 column 68"),
        (br#"{"type":"signed","key_id":"0011223344556677","payload":"%%%","signature":""}"#, "invalid \"signed\" message: invalid base64: Invalid symbol 37, offset 0. at line 1 column 60"),
        (br#"{"type":"signed","key_id":"00112233445566ZZ","payload":"","signature":""}"#, "invalid \"signed\" message: key id must be 16 lowercase hex digits, got \"00112233445566ZZ\" at line 1 column 44"),
        (br#"{"type":"signed","key_id":"0011223344556677","payload":"","signature":"AAAA"}"#, "invalid \"signed\" message: expected 64 bytes, got 3 at line 1 column 77"),
        (br#"{"type":"error","code":"unsupported_version"}"#, "invalid \"error\" message: missing field `message` at line 1 column 45"),
    ];
    for (input, expected) in table {
        check_controller(input, expected);
    }
}

#[test]
fn unknown_codes_from_newer_peers_are_kept_as_other() {
    let msg =
        decode_controller_message(br#"{"type":"error","code":"quota_exceeded","message":"m"}"#)
            .expect("forward compatible");
    let dalaba_protocol::ControllerMessage::Error(e) = msg else {
        panic!("not an error: {msg:?}")
    };
    assert_eq!(e.code, dalaba_protocol::control::ErrorCode::Other);
    // Unknown fields are ignored, so a newer peer may add optional ones.
    assert!(decode_agent_message(br#"{"type":"heartbeat","uptime_s":1,"battery":"low"}"#).is_ok());
}

/// A valid header followed by `payload_len` bytes of payload, with the header's length
/// field saying `declared`.
fn frame(version: u8, flags: u8, samples: u16, declared: u16, payload_len: usize) -> Vec<u8> {
    let mut f = vec![
        b'D', b'L', version, flags, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3,
    ];
    f.extend_from_slice(&samples.to_be_bytes());
    f.extend_from_slice(&declared.to_be_bytes());
    f.resize(f.len() + payload_len, 0x55);
    f
}

#[test]
fn malformed_audio_frames() {
    assert!(
        audio_frame::decode_message(&frame(1, 0, 960, 10, 10)).is_ok(),
        "the baseline is valid"
    );
    let table: Vec<(Vec<u8>, FrameError)> = vec![
        (vec![], FrameError::Truncated { needed: 24, got: 0 }),
        (
            frame(1, 0, 960, 10, 10)[..10].to_vec(),
            FrameError::Truncated {
                needed: 24,
                got: 10,
            },
        ),
        (
            frame(1, 0, 960, 10, 5),
            FrameError::Truncated {
                needed: 34,
                got: 29,
            },
        ),
        (
            frame(1, 0, 960, 10, 12),
            FrameError::TrailingBytes { extra: 2 },
        ),
        (b"OggS".to_vec(), FrameError::BadMagic { found: *b"Og" }),
        (
            {
                let mut f = frame(1, 0, 960, 10, 10);
                f[0] = b'd';
                f
            },
            FrameError::BadMagic { found: *b"dL" },
        ),
        (
            frame(2, 0, 960, 10, 10),
            FrameError::UnsupportedVersion { found: 2 },
        ),
        (
            frame(0, 0, 960, 10, 10),
            FrameError::UnsupportedVersion { found: 0 },
        ),
        (
            frame(1, 0x10, 960, 10, 10),
            FrameError::ReservedFlags { flags: 0x10 },
        ),
        (
            frame(1, 0x81, 960, 10, 10),
            FrameError::ReservedFlags { flags: 0x81 },
        ),
        (
            frame(1, 0, 960, 4001, 4001),
            FrameError::PayloadTooLarge { len: 4001 },
        ),
        // The length is refused from the header alone, without waiting for the bytes.
        (
            frame(1, 0, 960, 65535, 0),
            FrameError::PayloadTooLarge { len: 65535 },
        ),
        (frame(1, 0, 960, 0, 0), FrameError::EmptyPayload),
        (
            frame(1, 0, 0, 10, 10),
            FrameError::BadDuration { samples: 0 },
        ),
        (
            frame(1, 0, 100, 10, 10),
            FrameError::BadDuration { samples: 100 },
        ),
        (
            frame(1, 0, 5880, 10, 10),
            FrameError::BadDuration { samples: 5880 },
        ),
        (
            frame(1, 0x02, 960, 0, 0),
            FrameError::BadDuration { samples: 960 },
        ),
    ];
    for (input, expected) in table {
        assert_eq!(
            audio_frame::decode_message(&input),
            Err(expected.clone()),
            "input {input:02x?}"
        );
    }
}

#[test]
fn audio_frame_error_texts() {
    let table = [
        (
            FrameError::BadMagic { found: *b"Og" },
            "not an audio frame: magic bytes [4f, 67], expected \"DL\" (44 4c)",
        ),
        (
            FrameError::UnsupportedVersion { found: 2 },
            "unsupported audio frame version 2 (this side reads version 1)",
        ),
        (
            FrameError::ReservedFlags { flags: 0x10 },
            "reserved flag bits set: flags byte 0x10, only 0x0f are defined",
        ),
        (
            FrameError::PayloadTooLarge { len: 4001 },
            "Opus payload of 4001 bytes exceeds the limit of 4000 bytes",
        ),
        (
            FrameError::Truncated {
                needed: 34,
                got: 29,
            },
            "truncated audio frame: 29 bytes, the header declares 34",
        ),
    ];
    for (error, text) in table {
        assert_eq!(error.to_string(), text);
    }
}

#[test]
fn stream_decoding_refuses_garbage_early() {
    // Two bytes are enough to know it is not a frame; no need to buffer 24.
    assert_eq!(
        audio_frame::decode(b"GE"),
        Err(FrameError::BadMagic { found: *b"GE" })
    );
    assert_eq!(audio_frame::decode(b"D"), Ok(None));
    assert_eq!(audio_frame::decode(b"DL"), Ok(None));
}
