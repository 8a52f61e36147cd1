//! `dalaba-talk` for real: a process logged in as a village head speaks to the village's
//! speaker through the controller, from a recording (`--input`, checked exactly: the 1 kHz
//! tone comes out) and from an ALSA capture device (cpal through the `file` plugin reading
//! a tone); the other village stays silent, and a target outside the village is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::json;

/// An ALSA configuration whose default capture device reads `raw` (16-bit mono 48 kHz).
fn alsa_config(raw: &Path) -> String {
    format!(
        r#"
pcm.!default {{
    type plug
    slave {{
        pcm "mic_file"
        format S16_LE
        channels 1
        rate 48000
    }}
}}
pcm.mic_file {{
    type file
    slave.pcm "silence"
    file "/dev/null"
    infile "{raw}"
    format "raw"
}}
pcm.silence {{
    type null
}}
"#,
        raw = raw.display()
    )
}

fn talk_bin() -> PathBuf {
    let path = controller_bin().with_file_name("dalaba-talk");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

#[test]
fn dalaba_talk_speaks_to_its_village_from_a_recording_and_from_alsa() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Two minutes of a 1 kHz tone as the microphone: ALSA's `null` slave does not keep time, so the
    // file plugin reads it faster than real time, and dalaba-talk keeps to real time.
    let raw = dir.path().join("mic.raw");
    let bytes: Vec<u8> = (0..48_000 * 120)
        .flat_map(|i| {
            let s = (2.0 * std::f64::consts::PI * 1000.0 * f64::from(i) / 48_000.0).sin() * 0.3;
            ((s * 32767.0) as i16).to_le_bytes()
        })
        .collect();
    std::fs::write(&raw, bytes).expect("raw");
    let conf = dir.path().join("asound.conf");
    std::fs::write(&conf, alsa_config(&raw)).expect("conf");

    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let api = Api::login(&ctl.addr, &password.expect("password"));
    let agents = start_agents(dir.path(), &ctl, &api, TWO_VILLAGES, "wav");
    let (status, _) = api.call(
        "POST",
        "/api/users",
        Some(json!({"name": "head-dong", "role": "village_head", "scopes": ["330106001001"], "password": "village head 123"})),
    );
    assert_eq!(status, 201);

    let talk = |args: &[&str], conf: &Path| {
        let out = Command::new(talk_bin())
            .args([
                "--controller",
                &format!("http://{}", ctl.addr),
                "--user",
                "head-dong",
            ])
            .args(args)
            .env("DALABA_PASSWORD", "village head 123")
            .env("ALSA_CONFIG_PATH", conf)
            .output()
            .expect("dalaba-talk runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stdout}\n{stderr}");
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("live call "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{stdout}"))
    };
    let heard = |call: u64| -> (usize, f64, f32) {
        let (_, done) = api.call(
            "GET",
            &format!("/api/broadcasts/{call}?wait_ms=20000"),
            None,
        );
        assert_eq!(
            done["agents"],
            json!(["dong-1"]),
            "the village head's own village"
        );
        assert_eq!(done["receipts"][0]["state"], "done", "{done}");
        assert!(
            !agents[1].0.join(format!("speaker-b{call}.wav")).exists(),
            "xi-1 stayed silent"
        );
        let wav = agents[0].0.join(format!("speaker-b{call}.wav"));
        let s: Vec<f32> = hound::WavReader::open(&wav)
            .expect("dong-1 played the call")
            .into_samples::<i16>()
            .map(|x| f32::from(x.expect("sample")) / 32768.0)
            .collect();
        let mid = &s[s.len() / 4..s.len() * 3 / 4];
        let crossings = mid
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        let hz = crossings as f64 / 2.0 / (mid.len() as f64 / 48_000.0);
        let rms = (mid.iter().map(|x| x * x).sum::<f32>() / mid.len() as f32).sqrt();
        (s.len(), hz, rms)
    };

    // A recorded announcement read out live: exactly the tone, at the village only.
    let wav = dir.path().join("announcement.wav");
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&wav, spec).expect("wav");
        for i in 0..(48_000 * 2) {
            let s = (2.0 * std::f64::consts::PI * 1000.0 * f64::from(i) / 48_000.0).sin() * 0.3;
            w.write_sample((s * 32767.0) as i16).expect("sample");
        }
        w.finalize().expect("finalize");
    }
    let call = talk(
        &["--input", wav.to_str().expect("utf-8"), "--seconds", "2"],
        &conf,
    );
    let (n, hz, rms) = heard(call);
    eprintln!("recording: dong-1 heard {n} samples, {hz:.0} Hz, rms {rms:.3}");
    assert!(n > 48_000, "{n} samples for 2 s of talk");
    assert!((hz - 1000.0).abs() < 20.0, "{hz} Hz");
    assert!(rms > 0.1, "rms {rms}");

    // The microphone through ALSA (cpal → the `file` plugin). Its `null` slave keeps no
    // time and delivers the file faster than real time (dalaba-talk clamps to real time),
    // and at a rate the file plugin does not convert exactly: the test checks that the
    // captured sound arrives, not its pitch.
    let call = talk(&["--seconds", "2"], &conf);
    let (n, hz, rms) = heard(call);
    eprintln!("ALSA microphone: dong-1 heard {n} samples, {hz:.0} Hz, rms {rms:.3}");
    assert!(n > 48_000, "{n} samples for 2 s of talk");
    assert!(rms > 0.05, "the captured tone arrived: rms {rms}");

    // A target outside the village: refused before any audio is sent (its microphone is a
    // plain file of silence).
    let silent = dir.path().join("silent.raw");
    std::fs::write(&silent, vec![0u8; 48_000 * 2]).expect("raw");
    let conf = dir.path().join("asound-silent.conf");
    std::fs::write(&conf, alsa_config(&silent)).expect("conf");
    let out = Command::new(talk_bin())
        .args([
            "--controller",
            &format!("http://{}", ctl.addr),
            "--user",
            "head-dong",
            "--agent",
            "xi-1",
            "--seconds",
            "1",
        ])
        .env("DALABA_PASSWORD", "village head 123")
        .env("ALSA_CONFIG_PATH", &conf)
        .output()
        .expect("dalaba-talk runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("outside your areas"),
        "{stderr}"
    );
}
