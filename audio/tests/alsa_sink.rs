//! The cpal sink for real: `dalaba-audio play` (a real process) plays through ALSA into a
//! test configuration whose default PCM is the `file` plugin over `null`, so the samples
//! cpal delivered land in a file we can read.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use dalaba_audio::transcode::{TranscodeOptions, decode_ogg_opus_file, transcode_file};

/// An ALSA configuration: everything played to `default` is converted to 16-bit mono
/// 48 kHz and written raw to `raw`, then discarded.
fn alsa_config(raw: &Path) -> String {
    format!(
        r#"
pcm.!default {{
    type plug
    slave {{
        pcm "capture_file"
        format S16_LE
        channels 1
        rate 48000
    }}
}}
pcm.capture_file {{
    type file
    slave.pcm "discard"
    file "{raw}"
    format "raw"
}}
pcm.discard {{
    type null
}}
"#,
        raw = raw.display()
    )
}

#[test]
fn cpal_plays_through_alsa_into_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("in.wav");
    let opus = dir.path().join("in.opus");
    let raw = dir.path().join("played.raw");
    let conf = dir.path().join("asound.conf");
    common::write_wav(&wav, 48_000, 1, &common::speech_like(48_000, 2.0, 0.5));
    transcode_file(&wav, &opus, &TranscodeOptions::default(), &mut |_| {}).expect("transcode");
    std::fs::write(&conf, alsa_config(&raw)).expect("write config");

    let out = Command::new(env!("CARGO_BIN_EXE_dalaba-audio"))
        .args([
            "play",
            opus.to_str().expect("utf-8"),
            "--sink",
            "cpal",
            "--volume",
            "100",
        ])
        .env("ALSA_CONFIG_PATH", &conf)
        .output()
        .expect("run dalaba-audio");
    assert!(
        out.status.success(),
        "play failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("on cpal (0 underruns)"), "{stdout}");

    let bytes = std::fs::read(&raw).expect("ALSA wrote the file");
    let played: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32767.0)
        .collect();
    let expected = decode_ogg_opus_file(&opus, Duration::from_secs(60))
        .expect("decode")
        .samples;

    // Silence before the first sample (the device starts before audio is written), then
    // the audio, contiguous, then the silent tail.
    // Find where the file starts in what was played: the offset at which a handful of
    // probe points well inside the signal all match.
    let tolerance = 2.0 / 32767.0 + 1e-6;
    let probes: Vec<usize> = (1..=16).map(|k| 4_800 + k * 4_000).collect();
    let offset = (0..played.len().saturating_sub(expected.len()))
        .find(|&o| {
            probes
                .iter()
                .all(|&i| (played[o + i] - expected[i]).abs() < tolerance)
        })
        .expect("the decoded audio appears in what ALSA received");
    // Skip the 20 ms volume ramp at the start; from there on, sample for sample.
    let window = 2_400..expected.len();
    let mut worst = 0f32;
    for i in window.clone() {
        let got = played.get(offset + i).copied().unwrap_or(f32::NAN);
        worst = worst.max((got - expected[i]).abs());
    }
    assert!(
        worst < tolerance,
        "played audio differs from the decoded file by up to {worst} (offset {offset})"
    );
    eprintln!(
        "{} samples played contiguously after {offset} samples of lead-in",
        window.len()
    );
}

#[test]
fn cpal_device_chosen_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("in.wav");
    let opus = dir.path().join("in.opus");
    let raw = dir.path().join("named.raw");
    let conf = dir.path().join("asound.conf");
    common::write_wav(&wav, 48_000, 1, &common::speech_like(48_000, 1.0, 0.5));
    transcode_file(&wav, &opus, &TranscodeOptions::default(), &mut |_| {}).expect("transcode");
    std::fs::write(
        &conf,
        format!(
            "pcm.village_speaker {{ type plug slave {{ pcm \"to_file\" format S16_LE channels 1 rate 48000 }} hint {{ show on description \"test\" }} }}\n\
             pcm.to_file {{ type file slave.pcm \"discard\" file \"{}\" format \"raw\" }}\n\
             pcm.discard {{ type null }}\n",
            raw.display()
        ),
    )
    .expect("write config");
    let play = |device: &str| {
        Command::new(env!("CARGO_BIN_EXE_dalaba-audio"))
            .args([
                "play",
                opus.to_str().expect("utf-8"),
                "--sink",
                &format!("cpal:{device}"),
            ])
            .env("ALSA_CONFIG_PATH", &conf)
            .output()
            .expect("run dalaba-audio")
    };
    let out = play("village_speaker");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let len = std::fs::metadata(&raw)
        .expect("the named device was used")
        .len();
    assert!(len >= 2 * 48_000, "{len} bytes for 1 s of 16-bit audio");

    let out = play("no_such_device");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no output device named \"no_such_device\"")
    );
}
