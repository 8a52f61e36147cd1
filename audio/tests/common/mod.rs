//! Test signals and helpers, all made here (no audio files from elsewhere).

#![allow(dead_code, unreachable_pub)]

use std::f64::consts::PI;
use std::path::Path;
use std::process::Command;

/// A logarithmic sine sweep from `f0` to `f1` Hz over `seconds`, at `rate`, peak `amp`.
pub fn sweep(rate: u32, seconds: f64, f0: f64, f1: f64, amp: f64) -> Vec<f32> {
    let n = (seconds * f64::from(rate)) as usize;
    let k = (f1 / f0).ln();
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let phase = 2.0 * PI * f0 * seconds / k * ((t / seconds * k).exp() - 1.0);
            (amp * phase.sin()) as f32
        })
        .collect()
}

/// A speech-like signal: a voiced source (harmonics of a gliding 110–220 Hz pitch, falling
/// 1/k) shaped into syllables (about 4 per second) with short pauses, at `rate`, scaled so
/// its peak is `amp`.
pub fn speech_like(rate: u32, seconds: f64, amp: f64) -> Vec<f32> {
    let n = (seconds * f64::from(rate)) as usize;
    let mut phase = 0.0f64;
    let mut out: Vec<f64> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let f0 = 165.0 + 55.0 * (2.0 * PI * 0.7 * t).sin();
            phase += 2.0 * PI * f0 / f64::from(rate);
            let voiced: f64 = (1..=20)
                .map(|k| {
                    let k = f64::from(k);
                    // Two broad "formant" bumps near 700 Hz and 1.8 kHz.
                    let f = k * f0;
                    let formant = 1.0 / (1.0 + ((f - 700.0) / 300.0).powi(2))
                        + 0.5 / (1.0 + ((f - 1800.0) / 400.0).powi(2));
                    (k * phase).sin() * formant / k.sqrt()
                })
                .sum();
            let syllable = (2.0 * PI * 2.0 * t).sin().abs().powf(0.7);
            let pause = if (t % 2.0) > 1.7 { 0.0 } else { 1.0 };
            voiced * syllable * pause
        })
        .collect();
    let peak = out.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    out.iter_mut().for_each(|x| *x *= amp / peak);
    out.into_iter().map(|x| x as f32).collect()
}

/// Writes interleaved samples as a 16-bit WAV file.
pub fn write_wav(path: &Path, rate: u32, channels: u16, interleaved: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in interleaved {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .expect("write");
    }
    w.finalize().expect("finalize wav");
}

/// Reads a mono or stereo 16-bit WAV as mono f32.
pub fn read_wav_mono(path: &Path) -> (u32, Vec<f32>) {
    let mut r = hound::WavReader::open(path).expect("open wav");
    let spec = r.spec();
    let ch = usize::from(spec.channels);
    let s: Vec<f32> = r
        .samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32768.0)
        .collect();
    let mono = s
        .chunks(ch)
        .map(|c| c.iter().sum::<f32>() / ch as f32)
        .collect();
    (spec.sample_rate, mono)
}

/// Duplicates mono into stereo, the right channel slightly quieter.
pub fn to_stereo(mono: &[f32]) -> Vec<f32> {
    mono.iter().flat_map(|&s| [s, s * 0.9]).collect()
}

/// The best normalised cross-correlation of `a` against `b` over lags in ±`max_lag`,
/// compared on the middle of the signals (at most 2 s of it). Returns (correlation, lag).
pub fn best_correlation(a: &[f32], b: &[f32], max_lag: isize) -> (f64, isize) {
    let n = a.len().min(b.len());
    let half = (n * 4 / 10).min(48_000);
    let (start, end) = (n / 2 - half, n / 2 + half);
    let mut best = (f64::MIN, 0);
    for lag in -max_lag..=max_lag {
        let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
        for (i, &x) in a.iter().enumerate().take(end).skip(start) {
            let j = i as isize + lag;
            if j < 0 || j as usize >= b.len() {
                continue;
            }
            let (x, y) = (f64::from(x), f64::from(b[j as usize]));
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        let c = ab / (aa.sqrt() * bb.sqrt()).max(1e-12);
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}

/// Runs a tool the test suite installs (./test.sh); a missing one fails the test loudly.
pub fn tool(name: &str, args: &[&str]) -> std::process::Output {
    Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {name} ({e}): ./test.sh installs it (scripts/install-deps.sh)")
    })
}
