//! `dalaba-audio`: prepare and check audio offline.
//!
//! ```text
//! dalaba-audio transcode IN OUT.opus [--lufs -16] [--true-peak -1] [--bitrate 32000] [--application voice]
//! dalaba-audio decode IN.opus OUT.wav
//! dalaba-audio tone OUT.wav [--freq 853 --freq 960] [--alternate-ms 500] [--duration-ms 8000]
//! dalaba-audio play FILE.opus [--sink cpal[:DEVICE]|wav:PATH|null] [--volume 80]
//! dalaba-audio devices
//! ```

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dalaba_audio::codec::{Application, EncoderSettings};
use dalaba_audio::loudness::LoudnessTarget;
use dalaba_audio::sink::{SinkSpec, VolumeRamp, output_devices};
use dalaba_audio::tone::{Pattern, ToneSpec};
use dalaba_audio::transcode::{
    Phase, Progress, TranscodeOptions, decode_ogg_opus_file, transcode_file, write_wav,
};

#[derive(Parser)]
#[command(
    name = "dalaba-audio",
    version,
    about = "Prepare and check audio for Dalaba speakers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Any audio file (MP3, WAV, FLAC, AAC/M4A, Ogg Vorbis, Ogg Opus) to normalised mono Ogg Opus.
    Transcode {
        /// Input file.
        input: PathBuf,
        /// Output Ogg Opus file.
        output: PathBuf,
        /// Target integrated loudness, LUFS.
        #[arg(long, default_value_t = -16.0, allow_negative_numbers = true)]
        lufs: f64,
        /// Highest true peak after normalisation, dBTP.
        #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
        true_peak: f64,
        /// Opus bitrate, bits per second.
        #[arg(long, default_value_t = 32_000)]
        bitrate: u32,
        /// voice (speech) or audio (music).
        #[arg(long, default_value = "voice")]
        application: Application,
        /// Refuse inputs longer than this many seconds.
        #[arg(long, default_value_t = 3600)]
        max_duration: u64,
    },
    /// An Ogg Opus file to a 16-bit mono 48 kHz WAV file.
    Decode {
        /// Input Ogg Opus file.
        input: PathBuf,
        /// Output WAV file.
        output: PathBuf,
    },
    /// Render an attention tone to a WAV file.
    Tone {
        /// Output WAV file.
        output: PathBuf,
        /// Frequencies, Hz (repeat the option).
        #[arg(long = "freq", default_values_t = [853.0, 960.0])]
        frequencies: Vec<f32>,
        /// Alternate between the frequencies every this many ms (default: all together).
        #[arg(long)]
        alternate_ms: Option<u32>,
        /// Duration, ms.
        #[arg(long, default_value_t = 8000)]
        duration_ms: u32,
        /// Peak level, dBFS.
        #[arg(long, default_value_t = -6.0, allow_negative_numbers = true)]
        level_dbfs: f32,
    },
    /// Play an Ogg Opus file to a sink (to check a speaker).
    Play {
        /// Ogg Opus file.
        input: PathBuf,
        /// cpal[:DEVICE], wav:PATH or null.
        #[arg(long, default_value = "cpal")]
        sink: SinkSpec,
        /// Volume, percent.
        #[arg(long, default_value_t = 80)]
        volume: u8,
    },
    /// List the sound output devices.
    Devices,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out causes whose text the message
/// already contains (our errors spell out their cause).
fn describe(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Transcode {
            input,
            output,
            lufs,
            true_peak,
            bitrate,
            application,
            max_duration,
        } => {
            let opts = TranscodeOptions {
                loudness: LoudnessTarget {
                    integrated_lufs: lufs,
                    true_peak_dbtp: true_peak,
                },
                encoder: EncoderSettings {
                    bitrate_bps: bitrate,
                    application,
                    ..EncoderSettings::default()
                },
                max_duration: Duration::from_secs(max_duration),
            };
            let report = transcode_file(&input, &output, &opts, &mut print_progress)?;
            eprintln!();
            writeln!(
                out,
                "{}: {:.1} s, {} Hz x{} in, {:.1} LUFS / {:.1} dBTP, gain {:+.1} dB{}, limiter max {:.1} dB mean {:.2} dB on {:.1} % of samples, {} packets, {} bytes",
                output.display(),
                report.duration.as_secs_f64(),
                report.input_rate,
                report.input_channels,
                report.input_loudness.integrated_lufs,
                report.input_loudness.true_peak_dbtp,
                report.gain.db,
                if report.gain.peak_limited {
                    " (limited by true peak)"
                } else {
                    ""
                },
                report.limiter.max_reduction_db,
                report.limiter.mean_reduction_db,
                100.0 * report.limiter.active_share,
                report.packets,
                report.bytes
            )?;
        }
        Command::Decode { input, output } => {
            let decoded = decode_ogg_opus_file(&input, Duration::from_secs(6 * 3600))?;
            write_wav(&output, &decoded.samples)?;
            writeln!(
                out,
                "{}: {:.2} s",
                output.display(),
                decoded.samples.len() as f64 / f64::from(dalaba_audio::SAMPLE_RATE)
            )?;
        }
        Command::Tone {
            output,
            frequencies,
            alternate_ms,
            duration_ms,
            level_dbfs,
        } => {
            let spec = ToneSpec {
                frequencies_hz: frequencies,
                pattern: alternate_ms
                    .map_or(Pattern::Chord, |step_ms| Pattern::Alternate { step_ms }),
                duration_ms,
                level_dbfs,
                ..ToneSpec::default()
            };
            write_wav(&output, &spec.render()?)?;
            writeln!(out, "{}: {duration_ms} ms", output.display())?;
        }
        Command::Play {
            input,
            sink,
            volume,
        } => {
            let decoded = decode_ogg_opus_file(&input, Duration::from_secs(6 * 3600))?;
            let mut sink = sink.open().context("opening the sink")?;
            let mut ramp = VolumeRamp::new(0.0, 20);
            ramp.set_percent(volume);
            for block in decoded.samples.chunks(960) {
                let mut block = block.to_vec();
                ramp.apply(&mut block);
                sink.write(&block)?;
            }
            sink.finish()?;
            writeln!(
                out,
                "played {} on {} ({} underruns)",
                input.display(),
                sink.backend(),
                sink.underruns()
            )?;
        }
        Command::Devices => {
            for (name, description) in output_devices()? {
                writeln!(out, "{name}\t{description}")?;
            }
        }
    }
    Ok(())
}

fn print_progress(p: &Progress) {
    let phase = match p.phase {
        Phase::Measuring => "measuring",
        Phase::Encoding => "encoding",
    };
    let done = p.done.as_secs();
    match (p.fraction(), p.total) {
        (Some(f), Some(total)) => eprint!(
            "\r[{:3.0}%] {phase} {:02}:{:02} / {:02}:{:02}",
            f * 100.0,
            done / 60,
            done % 60,
            total.as_secs() / 60,
            total.as_secs() % 60
        ),
        _ => eprint!("\r{phase} {:02}:{:02}", done / 60, done % 60),
    }
}
