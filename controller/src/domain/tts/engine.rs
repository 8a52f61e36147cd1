//! The engines: eSpeak NG, a `command`, a speech server over HTTP. Each turns normalised
//! text into a WAV file's bytes within the deployment's time limit.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Engine, TtsError, TtsSettings, Voice};

/// Runs `command` with `input` on stdin; its stdout, within `timeout`.
fn run(mut command: Command, input: &str, timeout: Duration) -> Result<Vec<u8>, TtsError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TtsError::Missing {
            program: program.clone(),
            why: e.to_string(),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    // Read in threads so a chatty engine cannot fill a pipe and stall.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TtsError::TooSlow {
                    program,
                    seconds: timeout.as_secs(),
                });
            }
        }
    };
    let audio = out.join().unwrap_or_default();
    let said = err.join().unwrap_or_default();
    if !status.success() || audio.len() < 44 {
        return Err(TtsError::Failed {
            program,
            why: format!("{status}; {}", said.trim()),
        });
    }
    Ok(audio)
}

/// Sets a streamed WAV's sizes (eSpeak NG's `--stdout` writes `0xFFFFFFFF`, the length
/// being unknown while it speaks) to those of the bytes it actually wrote.
fn close_streamed_wav(wav: &mut [u8]) {
    if wav.len() < 12 || &wav[0..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return;
    }
    let riff = u32::try_from(wav.len() - 8).unwrap_or(u32::MAX);
    wav[4..8].copy_from_slice(&riff.to_le_bytes());
    let mut at = 12;
    while at + 8 <= wav.len() {
        let size = u32::from_le_bytes([wav[at + 4], wav[at + 5], wav[at + 6], wav[at + 7]]);
        if &wav[at..at + 4] == b"data" {
            let data = u32::try_from(wav.len() - at - 8).unwrap_or(u32::MAX);
            wav[at + 4..at + 8].copy_from_slice(&data.to_le_bytes());
            return;
        }
        at += 8 + size as usize + (size as usize & 1);
    }
}

/// Synthesises `text` (already normalised) in `voice`: a WAV file's bytes.
pub fn synthesise(settings: &TtsSettings, text: &str, voice: Voice) -> Result<Vec<u8>, TtsError> {
    let timeout = Duration::from_secs(settings.timeout_s);
    let command = match &settings.engine {
        Engine::Http { url } => return post(url, settings.rate_wpm, text, voice, timeout),
        Engine::Espeak => {
            let mut c = Command::new("espeak-ng");
            // Not `-q`: that silences `--stdout` too.
            c.args(["--stdout", "-b", "1", "-v", voice.espeak()])
                .arg("-s")
                .arg(settings.rate_wpm.to_string());
            c
        }
        Engine::Command { program, args } => {
            let mut c = Command::new(program);
            c.args(args).arg(voice.name());
            c
        }
    };
    let mut wav = run(command, text, timeout)?;
    close_streamed_wav(&mut wav);
    Ok(wav)
}

/// eSpeak NG's phonemes for `text` in `voice` (`espeak-ng -x`): what a test reads to know
/// the voice reads Hanzi in its own language, never switching to English.
pub fn phonemes(text: &str, voice: Voice) -> Result<String, TtsError> {
    let mut c = Command::new("espeak-ng");
    c.args(["-q", "-x", "-b", "1", "-v", voice.espeak()]);
    let out = run_text(c, text)?;
    Ok(out)
}

fn run_text(mut command: Command, input: &str) -> Result<String, TtsError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.arg(input).output().map_err(|e| TtsError::Missing {
        program: program.clone(),
        why: e.to_string(),
    })?;
    if !output.status.success() {
        return Err(TtsError::Failed {
            program,
            why: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A speech server's URL is `http://` or `https://` with a host.
pub(super) fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(format!(
            "engine.url: an http:// or https:// address of the speech server, e.g. http://10.0.0.5:5002/tts (got {url:?})"
        )),
    }
}

/// Asks the speech server at `url` for `text` in `voice`; its WAV file.
fn post(
    url: &str,
    rate_wpm: u32,
    text: &str,
    voice: Voice,
    timeout: Duration,
) -> Result<Vec<u8>, TtsError> {
    let failed = |why: String| TtsError::Server {
        url: url.to_owned(),
        why,
    };
    // reqwest is built without a default crypto provider; ring is the process's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let mut address = reqwest::Url::parse(url).map_err(|e| failed(e.to_string()))?;
    address
        .query_pairs_mut()
        .append_pair("voice", voice.name())
        .append_pair("rate_wpm", &rate_wpm.to_string());
    let answer = client
        .post(address)
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(text.to_owned())
        .send()
        .map_err(|e| {
            if e.is_timeout() {
                TtsError::TooSlow {
                    program: url.to_owned(),
                    seconds: timeout.as_secs(),
                }
            } else {
                failed(format!("nothing: {e}"))
            }
        })?;
    let status = answer.status();
    let body = answer.bytes().map_err(|e| failed(e.to_string()))?;
    if !status.is_success() {
        let said: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(failed(format!("{status}: {}", said.trim())));
    }
    if body.len() < 44 || &body[0..4] != b"RIFF" || &body[8..12] != b"WAVE" {
        return Err(failed(format!(
            "{status} but not with a WAV file ({} bytes)",
            body.len()
        )));
    }
    Ok(body.to_vec())
}
