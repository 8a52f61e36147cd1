//! The stored-media pipeline end to end: signals made here go through
//! transcode → Ogg Opus → decode, and must come back the same length, the same shape and
//! at the target loudness; standard tools must accept our files and we must read theirs.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use dalaba_audio::loudness::measure;
use dalaba_audio::transcode::{TranscodeOptions, decode_ogg_opus_file, transcode_file};
use dalaba_audio::{MediaErrorKind, SAMPLE_RATE};

/// Correlation a transcoded signal must keep with its source. Opus at 32 kbps in voice mode
/// is perceptual, not waveform-exact, but keeps the waveform of voiced sounds and tones well;
/// a resampling, alignment or channel bug drops the figure far below (a one-sample shift of
/// a 4 kHz component costs a lot, a wrong rate gives near 0).
const MIN_CORRELATION: f64 = 0.90;

fn transcode(input: &Path, output: &Path) -> dalaba_audio::transcode::TranscodeReport {
    transcode_file(input, output, &TranscodeOptions::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("transcode failed: {e}"))
}

fn decode(path: &Path) -> Vec<f32> {
    decode_ogg_opus_file(path, Duration::from_secs(600))
        .unwrap_or_else(|e| panic!("decode failed: {e}"))
        .samples
}

/// Transcodes `signal` (mono, at `rate`, written as stereo WAV) and checks length, shape and
/// loudness against `reference` (the same signal generated at 48 kHz).
fn round_trip(name: &str, rate: u32, signal: &[f32], reference: &[f32]) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join(format!("{name}.wav"));
    let opus = dir.path().join(format!("{name}.opus"));
    write_wav(&wav, rate, 2, &to_stereo(signal));
    let report = transcode(&wav, &opus);
    assert_eq!(report.input_rate, rate);
    assert_eq!(report.input_channels, 2);
    let out = decode(&opus);

    let expected = (signal.len() as f64 * 48_000.0 / f64::from(rate)).round() as isize;
    assert!(
        (out.len() as isize - expected).abs() <= 960,
        "{name}: {} samples out, expected {expected} ± 960",
        out.len()
    );
    let (corr, lag) = best_correlation(&out, reference, 48);
    assert!(
        corr >= MIN_CORRELATION,
        "{name}: correlation {corr:.3} at lag {lag}"
    );
    // Opus's voice mode does not keep exact phase, so the best match may sit a few samples
    // off; getting the pre-skip wrong would shift it by ~312.
    assert!(lag.abs() <= 8, "{name}: output is shifted by {lag} samples");

    let m = measure(&out, SAMPLE_RATE).expect("measure");
    (corr, m.integrated_lufs)
}

#[test]
fn sweep_and_speech_survive_transcode_at_target_loudness() {
    for (rate, amp) in [(44_100, 0.02), (22_050, 0.9), (48_000, 0.3)] {
        let sweep_in = sweep(rate, 4.0, 100.0, 4000.0, amp);
        let sweep_ref = sweep(48_000, 4.0, 100.0, 4000.0, amp);
        let (corr, lufs) = round_trip("sweep", rate, &sweep_in, &sweep_ref);
        eprintln!("sweep {rate} Hz amp {amp}: correlation {corr:.3}, {lufs:.2} LUFS");
        assert!(
            (lufs + 16.0).abs() <= 1.0,
            "sweep at {rate} Hz, amp {amp}: {lufs:.2} LUFS"
        );

        let speech_in = speech_like(rate, 4.0, amp);
        let speech_ref = speech_like(48_000, 4.0, amp);
        let (corr, lufs) = round_trip("speech", rate, &speech_in, &speech_ref);
        eprintln!("speech {rate} Hz amp {amp}: correlation {corr:.3}, {lufs:.2} LUFS");
        assert!(
            (lufs + 16.0).abs() <= 1.0,
            "speech at {rate} Hz, amp {amp}: {lufs:.2} LUFS"
        );
    }
}

#[test]
fn common_formats_decode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("source.wav");
    let speech = speech_like(44_100, 3.0, 0.5);
    write_wav(&wav, 44_100, 2, &to_stereo(&speech));
    let reference = speech_like(48_000, 3.0, 0.5);
    let wav_s = wav.to_str().expect("utf-8 path");
    for (ext, codec) in [
        ("mp3", "libmp3lame"),
        ("m4a", "aac"),
        ("flac", "flac"),
        ("ogg", "libvorbis"),
    ] {
        let input = dir.path().join(format!("source.{ext}"));
        let out = tool(
            "ffmpeg",
            &[
                "-v",
                "error",
                "-y",
                "-i",
                wav_s,
                "-c:a",
                codec,
                "-b:a",
                "128k",
                input.to_str().expect("utf-8"),
            ],
        );
        assert!(
            out.status.success(),
            "ffmpeg {codec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let opus = dir.path().join(format!("{ext}.opus"));
        transcode(&input, &opus);
        let decoded = decode(&opus);
        let expected = 3 * 48_000;
        // Lossy encoders add up to a frame or two of padding (MP3: 1,152 samples at
        // 44.1 kHz, AAC: 1,024) unless the container records it.
        assert!(
            (decoded.len() as isize - expected).abs() <= 2 * 1152,
            "{ext}: {} samples, expected about {expected}",
            decoded.len()
        );
        let (corr, lag) = best_correlation(&decoded, &reference, 2400);
        eprintln!("{ext}: correlation {corr:.3} at lag {lag}");
        assert!(corr >= 0.85, "{ext}: correlation {corr:.3} at lag {lag}");
    }
}

#[test]
fn standard_tools_accept_our_files_and_we_read_theirs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("in.wav");
    let ours = dir.path().join("ours.opus");
    let signal = sweep(48_000, 2.0, 200.0, 2000.0, 0.5);
    write_wav(&wav, 48_000, 1, &signal);
    transcode(&wav, &ours);
    let ours_s = ours.to_str().expect("utf-8");

    let info = tool("opusinfo", &[ours_s]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "opusinfo failed: {text}");
    assert!(
        !text.contains("WARNING") && !text.contains("ERROR"),
        "opusinfo complains: {text}"
    );
    assert!(
        text.contains("Playback length: 0m:02.000s"),
        "opusinfo length: {text}"
    );

    // ffmpeg decodes it without complaint, honouring pre-skip and the end trim.
    let ff_wav = dir.path().join("ffmpeg.wav");
    let out = tool(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-i",
            ours_s,
            ff_wav.to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (rate, theirs) = read_wav_mono(&ff_wav);
    assert_eq!(rate, 48_000);
    assert_eq!(theirs.len(), 96_000, "ffmpeg's decode has the exact length");
    let (corr, lag) = best_correlation(&theirs, &decode(&ours), 10);
    assert!(
        corr > 0.99 && lag == 0,
        "ffmpeg and we decode the same: {corr} at {lag}"
    );

    // A stereo file made by the reference encoder (opusenc) reads back.
    let stereo_wav = dir.path().join("stereo.wav");
    write_wav(&stereo_wav, 48_000, 2, &to_stereo(&signal));
    let theirs_opus = dir.path().join("opusenc.opus");
    let out = tool(
        "opusenc",
        &[
            "--quiet",
            stereo_wav.to_str().expect("utf-8"),
            theirs_opus.to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "opusenc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoded =
        decode_ogg_opus_file(&theirs_opus, Duration::from_secs(60)).expect("reads opusenc output");
    assert_eq!(decoded.head.channels, 2);
    assert_eq!(decoded.samples.len(), 96_000);
    let (corr, _) = best_correlation(&decoded.samples, &signal, 10);
    assert!(corr > MIN_CORRELATION, "opusenc file: correlation {corr}");

    // Opus is a common upload too (voice notes from phones): it transcodes like any other
    // input, through our own Ogg Opus reader since symphonia has no Opus decoder.
    let again = dir.path().join("again.opus");
    let report = transcode(&theirs_opus, &again);
    assert_eq!((report.input_rate, report.input_channels), (48_000, 2));
    let out = decode(&again);
    assert_eq!(out.len(), 96_000, "same length through a second transcode");
    let (corr, lag) = best_correlation(&out, &signal, 10);
    assert!(
        corr > MIN_CORRELATION && lag.abs() <= 2,
        "opus input: correlation {corr} at {lag}"
    );
}

#[test]
fn bad_inputs_give_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.opus");
    let opts = TranscodeOptions::default();
    let run = |input: &Path, opts: &TranscodeOptions| {
        let e = transcode_file(input, &out, opts, &mut |_| {}).expect_err("must fail");
        assert!(
            e.to_string().starts_with(&input.display().to_string()),
            "names the file: {e}"
        );
        assert!(!out.exists(), "no output left behind");
        e.kind
    };

    let missing = dir.path().join("missing.mp3");
    assert!(matches!(run(&missing, &opts), MediaErrorKind::Read(_)));

    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").expect("write");
    assert!(matches!(run(&empty, &opts), MediaErrorKind::Empty));

    let garbage = dir.path().join("garbage.mp3");
    let noise: Vec<u8> = (0u32..8192)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &noise).expect("write");
    let kind = run(&garbage, &opts);
    assert!(matches!(kind, MediaErrorKind::Unrecognised(_)), "{kind}");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "village meeting at 7pm\n".repeat(100)).expect("write");
    assert!(matches!(run(&text, &opts), MediaErrorKind::Unrecognised(_)));

    let wav = dir.path().join("full.wav");
    write_wav(&wav, 48_000, 1, &sweep(48_000, 3.0, 200.0, 2000.0, 0.5));
    let bytes = std::fs::read(&wav).expect("read");
    let truncated = dir.path().join("truncated.wav");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let kind = run(&truncated, &opts);
    assert!(
        matches!(
            kind,
            MediaErrorKind::Truncated { .. } | MediaErrorKind::TruncatedStream(_)
        ),
        "{kind}"
    );
    assert!(kind.to_string().contains("truncated"), "{kind}");

    let short_limit = TranscodeOptions {
        max_duration: Duration::from_secs(2),
        ..opts
    };
    let kind = run(&wav, &short_limit);
    assert!(matches!(kind, MediaErrorKind::TooLong { .. }), "{kind}");
    assert_eq!(
        kind.to_string(),
        "the audio is longer than the limit of 2 s"
    );

    // A header announcing 10 hours is refused before anything is decoded.
    let mut huge = bytes[..44].to_vec();
    let data_len: u32 = 10 * 3600 * 48_000 * 2;
    huge[40..44].copy_from_slice(&data_len.to_le_bytes());
    huge[4..8].copy_from_slice(&(data_len + 36).to_le_bytes());
    huge.extend_from_slice(&bytes[44..1044]);
    let huge_path = dir.path().join("huge.wav");
    std::fs::write(&huge_path, &huge).expect("write");
    assert!(matches!(
        run(&huge_path, &opts),
        MediaErrorKind::TooLong { .. }
    ));

    // A tiny file that decodes to hours: 100 Hz samples (an hour of them is 720 KB at
    // 16 bits) would cost as much CPU as any hour of audio; no real recording is below
    // 8 kHz, so it is refused before anything is decoded.
    let slow = dir.path().join("100hz.wav");
    write_wav(&slow, 100, 1, &vec![0.1; 100 * 60]);
    let kind = run(&slow, &opts);
    assert!(
        matches!(kind, MediaErrorKind::RateTooLow { rate: 100 }),
        "{kind}"
    );
    assert_eq!(
        kind.to_string(),
        "the sample rate of 100 Hz is below 8000 Hz: no recording is made that way"
    );

    // Silence is not an error, but digital nothing (zero samples) is.
    let no_samples = dir.path().join("nothing.wav");
    write_wav(&no_samples, 48_000, 1, &[]);
    assert!(matches!(
        run(&no_samples, &opts),
        MediaErrorKind::NoAudio | MediaErrorKind::NoAudioTrack
    ));
}

#[test]
fn corrupt_ogg_opus_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("in.wav");
    let opus = dir.path().join("ok.opus");
    write_wav(&wav, 48_000, 1, &sweep(48_000, 2.0, 200.0, 2000.0, 0.5));
    transcode(&wav, &opus);
    let mut bytes = std::fs::read(&opus).expect("read");
    let n = bytes.len();
    bytes[n / 2] ^= 0xff; // inside an audio page: its CRC no longer matches
    let bad = dir.path().join("bad.opus");
    std::fs::write(&bad, &bytes).expect("write");
    let Err(e) = decode_ogg_opus_file(&bad, Duration::from_secs(60)) else {
        panic!("a corrupt page decoded without error");
    };
    assert!(e.to_string().starts_with(&bad.display().to_string()), "{e}");
    assert!(
        matches!(
            e.kind,
            MediaErrorKind::Ogg(_) | MediaErrorKind::OggGap { .. }
        ),
        "{e}"
    );

    let wav_as_opus = dir.path().join("wav.opus");
    std::fs::copy(&wav, &wav_as_opus).expect("copy");
    let Err(e) = decode_ogg_opus_file(&wav_as_opus, Duration::from_secs(60)) else {
        panic!("a WAV file decoded as Ogg Opus");
    };
    assert!(
        matches!(
            e.kind,
            MediaErrorKind::Ogg(_) | MediaErrorKind::NotOggOpus(_)
        ),
        "{e}"
    );
}
