//! `dalaba-agent self-test`, as a real process on a relay board simulated on a
//! pseudo-terminal and a WAV file for the sound card: each relay channel clicks on in turn,
//! the amplifier warms up, a tone plays, and everything is switched off; a board that is
//! not there fails the test with the port named and what to check.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Line;

fn config(dir: &Path, port: &Path) -> std::path::PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[identity]\narea_code = \"330106001001\"\n[controller]\nurl = \"ws://127.0.0.1:9/agent/ws\"\npublic_key = \"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=\"\nenrolment_token = \"t0ken\"\n[audio]\ndevice = \"wav:{}\"\n[cache]\ndir = \"{}\"\n[relay]\nboard = \"lcus\"\nport = \"{}\"\nchannels = [1, 2]\nwarm_up_ms = 100\n",
            dir.join("out.wav").display(),
            dir.join("cache").display(),
            port.display()
        ),
    )
    .expect("config");
    path
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn each_relay_clicks_and_a_tone_plays_through_the_amplifier() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut line = Line::new(dir.path());
    let config = config(dir.path(), &line.path);
    let child = Command::new(env!("CARGO_BIN_EXE_dalaba-agent"))
        .arg("self-test")
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("self-test");
    assert_eq!(line.read_exact(4), [0xA0, 1, 1, 0xA2], "channel 1 on");
    assert_eq!(line.read_exact(4), [0xA0, 2, 1, 0xA3], "channel 2 on");
    assert_eq!(line.read_exact(4), [0xA0, 1, 0, 0xA1], "channel 1 off");
    assert_eq!(line.read_exact(4), [0xA0, 2, 0, 0xA2], "channel 2 off");
    let out = child.wait_with_output().expect("wait");
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("relay channel 1: on"), "{said}");
    assert!(said.contains("sound:"), "{said}");
    assert!(said.contains("ready"), "{said}");
    line.assert_quiet();

    let wav = hound::WavReader::open(dir.path().join("out.wav")).expect("the tone");
    let samples: Vec<f32> = wav
        .into_samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32768.0)
        .collect();
    assert!(samples.len() >= 48_000, "{} samples", samples.len());
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let hz = crossings as f64 / 2.0 / (samples.len() as f64 / 48_000.0);
    assert!((hz - 1000.0).abs() < 20.0, "{hz} Hz");
}

#[test]
fn a_missing_relay_board_fails_with_its_port_and_what_to_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = dir.path().join("ttyUSB7");
    let config = config(dir.path(), &port);
    let out = Command::new(env!("CARGO_BIN_EXE_dalaba-agent"))
        .arg("self-test")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("self-test");
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains(&port.display().to_string()), "{said}");
    assert!(said.contains("/dev/serial/by-id"), "{said}");
    assert!(!said.contains("ready"), "{said}");
}
