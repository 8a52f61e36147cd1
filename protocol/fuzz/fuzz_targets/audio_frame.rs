//! Any bytes as audio frames, both as a byte stream and as one WebSocket message: never a
//! panic, never a frame larger than the limit, and every decoded frame re-encodes to the
//! exact bytes it came from.
#![no_main]

use dalaba_protocol::audio_frame::{decode, decode_message};
use dalaba_protocol::limits::MAX_AUDIO_FRAME;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((frame, used))) = decode(rest) {
        assert!(used <= MAX_AUDIO_FRAME && used > 0);
        let bytes = frame.header.to_frame(frame.payload).expect("decoded frame re-encodes");
        assert_eq!(bytes, &rest[..used]);
        rest = &rest[used..];
    }
    if let Ok(frame) = decode_message(data) {
        let bytes = frame.header.to_frame(frame.payload).expect("decoded frame re-encodes");
        assert_eq!(bytes, data);
    }
});
