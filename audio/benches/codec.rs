//! How fast the audio pipeline runs, as multiples of real time (higher is better).
//!
//! `cargo bench -p dalaba-audio` prints one line per stage: the median of several runs over
//! 10 s of a speech-like signal. A speaker agent must decode well above 1x on a small ARM
//! board; the controller transcodes uploads in the background.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dalaba_audio::codec::{Decoder, Encoder, EncoderSettings};
use dalaba_audio::resample::Resampler48k;
use dalaba_audio::transcode::{TranscodeOptions, transcode_file};

const SECONDS: f64 = 10.0;
const RUNS: usize = 9;

fn speech(rate: u32) -> Vec<f32> {
    let n = (SECONDS * f64::from(rate)) as usize;
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let f0 = 165.0 + 55.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
            phase += 2.0 * std::f64::consts::PI * f0 / f64::from(rate);
            let v: f64 = (1..=12)
                .map(|k| (f64::from(k) * phase).sin() / f64::from(k))
                .sum();
            (0.2 * v * (2.0 * std::f64::consts::PI * 2.0 * t).sin().abs()) as f32
        })
        .collect()
}

/// Runs `f` RUNS times and returns the median duration.
fn median(mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn report(stage: &str, d: Duration) {
    println!(
        "{stage:<44} {:>9.1} ms per {SECONDS} s  {:>8.0}x real time",
        d.as_secs_f64() * 1e3,
        SECONDS / d.as_secs_f64()
    );
}

fn main() {
    // `cargo test --benches` runs this with --bench absent; only measure under cargo bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let pcm48 = speech(48_000);
    let pcm44 = speech(44_100);

    for (name, settings) in [
        (
            "Opus encode, 32 kbps voice (stored media)",
            EncoderSettings::default(),
        ),
        (
            "Opus encode, 24 kbps voice + FEC (live)",
            EncoderSettings::live(),
        ),
    ] {
        let d = median(|| {
            let mut enc = Encoder::new(&settings).expect("encoder");
            for frame in pcm48.chunks_exact(960) {
                black_box(enc.encode(frame).expect("encode").len());
            }
        });
        report(name, d);
    }

    let mut enc = Encoder::new(&EncoderSettings::live()).expect("encoder");
    let packets: Vec<Vec<u8>> = pcm48
        .chunks_exact(960)
        .map(|f| enc.encode(f).expect("encode").to_vec())
        .collect();
    let d = median(|| {
        let mut dec = Decoder::new().expect("decoder");
        let mut out = Vec::with_capacity(pcm48.len());
        for p in &packets {
            dec.decode(p, &mut out).expect("decode");
        }
        black_box(out.len());
    });
    report("Opus decode, 24 kbps (agent playback)", d);

    let d = median(|| {
        let mut r = Resampler48k::new(44_100).expect("resampler");
        let mut out = Vec::new();
        for block in pcm44.chunks(1152) {
            r.push(block, &mut out).expect("resample");
        }
        r.finish(&mut out).expect("flush");
        black_box(out.len());
    });
    report("resample 44.1 -> 48 kHz", d);

    let dir = std::env::temp_dir().join(format!("dalaba-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let wav = dir.join("in.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).expect("wav");
    for &s in &pcm44 {
        let v = (s * 32767.0) as i16;
        w.write_sample(v).expect("write");
        w.write_sample(v).expect("write");
    }
    w.finalize().expect("finalize");
    let out = dir.join("out.opus");
    let d = median(|| {
        transcode_file(&wav, &out, &TranscodeOptions::default(), &mut |_| {}).expect("transcode");
    });
    report("transcode WAV 44.1 kHz stereo -> Ogg Opus", d);
    let _ = std::fs::remove_dir_all(&dir);
}
