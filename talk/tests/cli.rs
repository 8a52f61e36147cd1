//! The `dalaba-talk` command's own checks, before it reaches any controller: arguments,
//! and recordings it cannot read out. (Calls end to end are in
//! `controller/tests/talk_e2e.rs`.)

use std::process::Command;

fn talk() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dalaba-talk"))
}

#[test]
fn help_names_every_option() {
    let out = talk().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--controller",
        "--user",
        "--area",
        "--agent",
        "--device",
        "--input",
        "--seconds",
        "--list-devices",
    ] {
        assert!(text.contains(option), "{option} missing from:\n{text}");
    }
}

#[test]
fn missing_arguments_and_unreadable_recordings_are_refused_with_the_reason() {
    let out = talk().args(["--user", "li"]).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--controller"));

    let dir = tempfile::tempdir().expect("tempdir");
    let not_wav = dir.path().join("notice.mp3");
    std::fs::write(&not_wav, b"not audio").expect("write");
    let wrong_rate = dir.path().join("cd.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wrong_rate, spec).expect("wav");
    w.write_sample(0i16).expect("sample");
    w.write_sample(0i16).expect("sample");
    w.finalize().expect("finalize");
    for (file, want) in [
        (&not_wav, "not a readable WAV file"),
        (
            &wrong_rate,
            "44100 Hz, 2 channels, 16 bits; a 48 kHz mono 16-bit WAV is needed",
        ),
    ] {
        let out = talk()
            // Never reached: the recording is checked first.
            .args([
                "--controller",
                "http://127.0.0.1:9",
                "--user",
                "li",
                "--input",
            ])
            .arg(file)
            .env("DALABA_PASSWORD", "x")
            .output()
            .expect("runs");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{want}: {err}");
    }
}
