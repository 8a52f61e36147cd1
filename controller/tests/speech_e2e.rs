//! A typed alert end to end with real processes and the real eSpeak NG: what the speaker
//! plays after its attention tone is the speech that was synthesised (by waveform
//! correlation with eSpeak NG's own output for the same text), not merely some sound.

mod common;

use std::path::Path;
use std::time::Instant;

use common::*;
use dalaba_controller::tts::{self, TtsSettings, Voice};
use serde_json::json;

const WARNING: &str = "山洪预警：请沿河村民立即转移到高处。";

/// eSpeak NG's speech for `text` as the controller prepares it (a drill's words first,
/// the default settings), at 48 kHz.
fn synthesised(text: &str, dir: &Path) -> Vec<f32> {
    let spoken = tts::normalise::normalise(&format!("这是演练。{text}"), &[]);
    let wav = tts::synthesise(&TtsSettings::default(), &spoken, Voice::Mandarin).expect("espeak");
    let path = dir.join("reference.wav");
    std::fs::write(&path, wav).expect("write");
    let samples = wav_samples(&path).expect("wav");
    let rate = hound::WavReader::open(&path)
        .expect("wav")
        .spec()
        .sample_rate;
    let mut resampler = dalaba_audio::resample::Resampler48k::new(rate).expect("rate");
    let mut out = Vec::new();
    resampler.push(&samples, &mut out).expect("resample");
    resampler.finish(&mut out).expect("resample");
    out
}

/// The first sample louder than -40 dBFS.
fn onset(s: &[f32]) -> usize {
    s.iter().position(|x| x.abs() > 0.01).expect("no sound")
}

/// The largest normalised correlation of `reference` with `played` (whose speech starts
/// at `near`, ± 10 ms), over 2 s of the reference from 2.5 s after its onset: past the
/// drill's own words, which every drill says (gain does not matter; shape does).
fn correlation(played: &[f32], reference: &[f32], near: usize) -> f64 {
    let from = onset(reference) + 120_000;
    let r = &reference[from..(from + 96_000).min(reference.len())];
    let near = near + 120_000;
    let r_energy: f64 = r.iter().map(|&x| f64::from(x).powi(2)).sum();
    (near.saturating_sub(480)..near + 480)
        .filter(|&at| at + r.len() <= played.len())
        .map(|at| {
            let p = &played[at..at + r.len()];
            let dot: f64 = p
                .iter()
                .zip(r)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let p_energy: f64 = p.iter().map(|&x| f64::from(x).powi(2)).sum();
            dot / (p_energy * r_energy).sqrt().max(1e-12)
        })
        .fold(f64::MIN, f64::max)
}

#[test]
fn a_speaker_plays_the_tone_then_the_synthesised_speech() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let api = Api::login(&ctl.addr, &password.expect("password"));
    let agents = start_agents(dir.path(), &ctl, &api, TWO_VILLAGES, "wav");
    let now = dalaba_controller::now_us();
    let (status, alert) = api.call(
        "POST",
        "/api/alerts",
        Some(
            json!({"severity": "orange", "event": "flood", "areas": ["330106001"],
                    "expires_at": now + 600_000_000, "mode": "drill", "text": WARNING}),
        ),
    );
    assert_eq!(status, 201, "{alert}");
    assert!(alert["speech_error"].is_null(), "{alert}");
    let broadcast = alert["broadcast_id"].as_u64().expect("broadcast");
    let played = wait_played(&agents[0].0, broadcast, Instant::now() + WAIT);

    // The drill's 3 s tone, half a second of silence, then the speech.
    let prelude = dalaba_controller::alert::prelude(dalaba_protocol::Mode::Drill);
    let tone_end = prelude.duration_ms as usize * 48;
    let speech_at = tone_end + 24_000 + onset(&played[tone_end + 24_000..]);
    assert!(
        speech_at - tone_end < 24_000 + 9_600,
        "speech starts {} ms after the tone",
        (speech_at - tone_end) / 48
    );
    let reference = synthesised(WARNING, dir.path());
    let same = correlation(&played, &reference, speech_at);
    let other = correlation(
        &played,
        &synthesised("今晚七点村委会开会。", dir.path()),
        speech_at,
    );
    eprintln!("correlation with its synthesis {same:.3}, with another sentence's {other:.3}");
    assert!(
        same > 0.8,
        "the speaker's speech is not the synthesised one: {same:.3}"
    );
    assert!(other < 0.5, "another sentence correlates too: {other:.3}");
    assert!(
        played
            .len()
            .abs_diff(speech_at + reference.len() - onset(&reference))
            < 9_600,
        "{} samples played, speech of {}",
        played.len(),
        reference.len()
    );
    // The other village heard nothing.
    assert!(played_nothing(&agents[1].0), "xi-1 played the alert");
}

fn played_nothing(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .all(|e| !e.file_name().to_string_lossy().starts_with("speaker-b"))
}
