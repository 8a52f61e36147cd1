//! The `dalaba-audio` command as an installer uses it: a real process, real files.

mod common;

use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dalaba-audio"))
        .args(args)
        .output()
        .expect("run dalaba-audio")
}

#[test]
fn transcode_decode_and_tone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    common::write_wav(
        dir.path().join("notice.wav").as_path(),
        44_100,
        2,
        &common::to_stereo(&common::speech_like(44_100, 5.0, 0.1)),
    );

    let out = cli(&[
        "transcode",
        &p("notice.wav"),
        &p("notice.opus"),
        "--bitrate",
        "24000",
        "--lufs",
        "-18",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    // Progress, once per second of audio, through both passes to 100 %.
    assert!(stderr.contains("measuring 00:01 / 00:05"), "{stderr}");
    assert!(stderr.contains("[100%] encoding 00:05 / 00:05"), "{stderr}");
    assert!(stdout.contains("5.0 s, 44100 Hz x2 in"), "{stdout}");

    let out = cli(&["decode", &p("notice.opus"), &p("notice-out.wav")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("5.00 s"));
    let (rate, samples) = common::read_wav_mono(dir.path().join("notice-out.wav").as_path());
    assert_eq!((rate, samples.len()), (48_000, 240_000));
    let m = dalaba_audio::loudness::measure(&samples, rate).expect("measure");
    assert!((m.integrated_lufs + 18.0).abs() < 1.0, "{m:?}");

    let out = cli(&[
        "tone",
        &p("tone.wav"),
        "--freq",
        "1000",
        "--duration-ms",
        "1500",
    ]);
    assert!(out.status.success());
    let (_, tone) = common::read_wav_mono(dir.path().join("tone.wav").as_path());
    assert_eq!(tone.len(), 72_000);
}

#[test]
fn errors_are_one_clear_line_with_failure_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("scan.pdf");
    std::fs::write(&bad, b"%PDF-1.4 not audio at all").expect("write");
    let bad_s = bad.to_str().expect("utf-8");
    let out_s = dir.path().join("x.opus");
    let out = cli(&["transcode", bad_s, out_s.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: {bad_s}: not a recognised audio format")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let out = cli(&["play", bad_s, "--sink", "speaker"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown sink \"speaker\""));

    let out = cli(&["tone", out_s.to_str().expect("utf-8"), "--freq", "5"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("frequency 5 Hz is outside 20 Hz to 20 kHz")
    );
}
