//! Any bytes as an uploaded media file: the whole upload path (format probe through
//! symphonia or our Ogg Opus reader, decode, loudness, resample, encode) must end in a
//! result or a `MediaError`, never a panic or a hang.
#![no_main]

use std::time::Duration;

use dalaba_audio::transcode::{TranscodeOptions, transcode_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("dalaba-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let input = dir.join("upload.bin");
    let output = dir.join("out.opus");
    if std::fs::write(&input, data).is_err() {
        return;
    }
    let opts = TranscodeOptions {
        // Short: a fuzz input claiming an hour is refused, not decoded.
        max_duration: Duration::from_secs(5),
        ..TranscodeOptions::default()
    };
    let _ = transcode_file(&input, &output, &opts, &mut |_| {});
});
