//! Text to speech: an announcement typed or received as text is read out. The engine is
//! chosen per deployment ([`TtsSettings`], admin-editable): eSpeak NG by default (works
//! offline, installed by the README's commands), a `command` that reads text on stdin
//! and writes WAV on stdout (a sherpa-onnx or Piper wrapper), or a speech server over
//! `http` ([`engine`]). Text is read as an
//! announcer would ([`normalise`]), with the deployment's lexicon applied first.
//! Speech goes through the media pipeline (loudness target, Ogg Opus, content address)
//! and is cached by engine, voice, rate, lexicon, normaliser version and text, so the
//! same notice is synthesised once and agents cache it like any clip.

pub mod engine;
pub mod normalise;

pub use engine::{phonemes, synthesise};

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::access::Action;
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::Setting;

/// Longest text spoken at once, characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// A voice that really reads Hanzi. (eSpeak NG 1.51's `cmn` reads most characters as
/// English-spelled pinyin, and `hak` says "Chinese letter" for each: neither is offered.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Voice {
    /// Mandarin (eSpeak NG `cmn-latn-pinyin`).
    Mandarin,
    /// Cantonese (eSpeak NG `yue`).
    Cantonese,
}

impl Voice {
    /// Every voice offered.
    pub const ALL: [Voice; 2] = [Voice::Mandarin, Voice::Cantonese];

    /// Its name for a `command` or `http` engine: `mandarin`, `cantonese`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mandarin => "mandarin",
            Self::Cantonese => "cantonese",
        }
    }

    /// eSpeak NG's name for it.
    pub fn espeak(self) -> &'static str {
        match self {
            Self::Mandarin => "cmn-latn-pinyin",
            Self::Cantonese => "yue",
        }
    }
}

/// Which engine speaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Engine {
    /// eSpeak NG (`espeak-ng` on the PATH).
    Espeak,
    /// A program that reads UTF-8 text on stdin and writes a WAV file on stdout; it is
    /// given the voice's name (`mandarin`, `cantonese`) as its last argument.
    Command {
        /// The program.
        program: String,
        /// Its arguments, before the voice.
        #[serde(default)]
        args: Vec<String>,
    },
    /// A speech server: the text is POSTed (`text/plain; charset=utf-8`) to `url` with
    /// `voice` (`mandarin`, `cantonese`) and `rate_wpm` added to its query, and the answer
    /// (200) is a WAV file.
    Http {
        /// `http://` or `https://` (a county's own server, usually on its LAN).
        url: String,
    },
}

/// How this deployment speaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TtsSettings {
    /// The engine.
    #[serde(default = "espeak")]
    pub engine: Engine,
    /// The voices an alert is spoken in, in turn (Mandarin, then Cantonese).
    #[serde(default = "mandarin")]
    pub voices: Vec<Voice>,
    /// Words a minute (80 to 300; eSpeak's default is 175, announcements read slower).
    #[serde(default = "rate")]
    pub rate_wpm: u32,
    /// Replacements applied before anything else: place names, polyphones (`长沙` read
    /// `常沙`), abbreviations.
    #[serde(default)]
    pub lexicon: Vec<(String, String)>,
    /// Longest a synthesis may take before it is given up, seconds (1 to 120).
    #[serde(default = "timeout_s")]
    pub timeout_s: u64,
}

fn timeout_s() -> u64 {
    30
}

fn espeak() -> Engine {
    Engine::Espeak
}

fn mandarin() -> Vec<Voice> {
    vec![Voice::Mandarin]
}

fn rate() -> u32 {
    140
}

impl Default for TtsSettings {
    fn default() -> Self {
        Self {
            engine: espeak(),
            voices: mandarin(),
            rate_wpm: rate(),
            lexicon: Vec::new(),
            timeout_s: timeout_s(),
        }
    }
}

impl Setting for TtsSettings {
    const KEY: &'static str = "tts";
}

impl TtsSettings {
    /// Checks the settings before they are stored.
    pub fn check(&self) -> Result<(), String> {
        check_voices(&self.voices)?;
        if !(1..=120).contains(&self.timeout_s) {
            return Err("timeout_s: 1 to 120".into());
        }
        if !(80..=300).contains(&self.rate_wpm) {
            return Err("rate_wpm: 80 to 300".into());
        }
        if self.lexicon.len() > 2000 {
            return Err("lexicon: at most 2000 entries".into());
        }
        if let Some((from, _)) = self
            .lexicon
            .iter()
            .find(|(f, t)| f.is_empty() || f.chars().count() > 50 || t.chars().count() > 100)
        {
            return Err(format!(
                "lexicon entry {from:?}: 1 to 50 characters, read as at most 100"
            ));
        }
        match &self.engine {
            Engine::Command { program, .. } if program.trim().is_empty() => {
                Err("engine.program: the program to run".into())
            }
            Engine::Http { url } => engine::check_url(url),
            _ => Ok(()),
        }
    }
}

/// Why speech could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// The text is empty or too long.
    #[error("{0}")]
    Text(String),
    /// The engine could not be started.
    #[error(
        "cannot start {program}: {why}; install it (eSpeak NG: the README's set-up command) or choose another engine"
    )]
    Missing {
        /// What was run.
        program: String,
        /// Why not.
        why: String,
    },
    /// The engine failed or produced no audio.
    #[error("{program} failed: {why}")]
    Failed {
        /// What was run.
        program: String,
        /// What it said.
        why: String,
    },
    /// The speech server refused or failed.
    #[error("the speech server {url} answered {why}")]
    Server {
        /// Where.
        url: String,
        /// Its status and what it said, or why it could not be reached.
        why: String,
    },
    /// The engine took too long.
    #[error("{program} took longer than {seconds} s and was stopped")]
    TooSlow {
        /// What was run.
        program: String,
        /// The limit.
        seconds: u64,
    },
}

/// Checks the voices something is spoken in: 1 to 4, in turn.
pub fn check_voices(voices: &[Voice]) -> Result<(), String> {
    if voices.is_empty() || voices.len() > 4 {
        return Err(format!(
            "voices: 1 to 4 of {}, spoken in turn",
            Voice::ALL.map(Voice::name).join(", ")
        ));
    }
    Ok(())
}

/// Checks text to be spoken: 1 to [`MAX_TEXT_CHARS`] characters.
pub fn check_text(text: &str) -> Result<(), String> {
    let n = text.chars().count();
    if text.trim().is_empty() || n > MAX_TEXT_CHARS {
        return Err(format!(
            "text: 1 to {MAX_TEXT_CHARS} characters to speak (this one has {n})"
        ));
    }
    Ok(())
}

/// An engine's WAV file as mono samples at 48 kHz.
fn decode_48k(path: &std::path::Path) -> anyhow::Result<Vec<f32>> {
    let mut reader = dalaba_audio::decode::MediaReader::open(path, Duration::from_secs(3600))?;
    let mut resampler = dalaba_audio::resample::Resampler48k::new(reader.sample_rate())
        .map_err(|kind| anyhow::anyhow!("speech: {kind}"))?;
    let (mut block, mut out) = (Vec::new(), Vec::new());
    while reader.read(&mut block)? {
        resampler
            .push(&block, &mut out)
            .map_err(|kind| anyhow::anyhow!("speech: {kind}"))?;
        block.clear();
    }
    resampler
        .finish(&mut out)
        .map_err(|kind| anyhow::anyhow!("speech: {kind}"))?;
    Ok(out)
}

/// What `text` is spoken as in this deployment: the samples (48 kHz mono, each voice in
/// turn, half a second apart) made on demand, and the key that names them (engine,
/// voices, rate, lexicon, normaliser version, text).
#[derive(Debug)]
pub struct Speech {
    /// `tts.<sha-256>`: the same for the same text and settings.
    pub key: String,
    settings: TtsSettings,
    spoken: String,
}

impl Speech {
    /// The speech of `text` under the deployment's settings, in `voices` when given (an
    /// alert or notice that asks for its own), else the deployment's (nothing is
    /// synthesised yet).
    pub fn of(state: &AppState, text: &str, voices: Option<&[Voice]>) -> Result<Self, AppError> {
        check_text(text).map_err(AppError::BadRequest)?;
        let mut settings = state.storage.setting::<TtsSettings>()?;
        if let Some(voices) = voices {
            check_voices(voices).map_err(AppError::BadRequest)?;
            settings.voices = voices.to_vec();
        }
        let spoken = normalise::normalise(text, &settings.lexicon);
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&settings).unwrap_or_default());
        h.update(normalise::VERSION.to_le_bytes());
        h.update(spoken.as_bytes());
        Ok(Self {
            key: format!("tts.{}", hex::encode(h.finalize())),
            settings,
            spoken,
        })
    }

    /// Synthesises it: each voice's WAV decoded to 48 kHz, the voices in turn.
    pub async fn samples(&self, state: &AppState) -> Result<Vec<f32>, AppError> {
        // Each voice's WAV goes through a scratch file (the decoder reads files).
        let scratch = crate::media::scratch_file(state).await?;
        let job = {
            let (settings, spoken, scratch) =
                (self.settings.clone(), self.spoken.clone(), scratch.clone());
            tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<f32>> {
                let mut samples = Vec::new();
                for (i, voice) in settings.voices.iter().enumerate() {
                    std::fs::write(&scratch, synthesise(&settings, &spoken, *voice)?)?;
                    if i > 0 {
                        samples.extend(std::iter::repeat_n(0.0, 24_000));
                    }
                    samples.extend(decode_48k(&scratch)?);
                }
                Ok(samples)
            })
        };
        let made = job.await.map_err(|e| AppError::Internal(e.into()));
        let _ = tokio::fs::remove_file(&scratch).await;
        made?.map_err(AppError::Internal)
    }
}

/// The library item that speaks `text` in each of the deployment's voices in turn: made
/// once, then found by its [`Speech::key`].
pub async fn speak(
    state: &AppState,
    text: &str,
    voices: Option<&[Voice]>,
) -> Result<u64, AppError> {
    let speech = Speech::of(state, text, voices)?;
    if let Some(id) = crate::media::remembered(state, &speech.key)? {
        return Ok(id);
    }
    let samples = speech.samples(state).await?;
    let preview: String = text.chars().take(20).collect();
    let id = crate::media::make_from_samples(state, &format!("speech: {preview}"), samples)
        .await
        .map_err(|e| match e {
            AppError::Internal(e) => AppError::Internal(e.context("speech")),
            other => other,
        })?;
    crate::media::remember(state, &speech.key, id)?;
    Ok(id)
}

/// How this deployment speaks.
pub fn settings(state: &AppState, user: &AuthUser) -> Result<TtsSettings, AppError> {
    user.require(Action::View)?;
    Ok(state.storage.setting::<TtsSettings>()?)
}

/// Replaces how this deployment speaks (administrators).
pub fn set_settings(
    state: &AppState,
    user: &AuthUser,
    new: TtsSettings,
) -> Result<TtsSettings, AppError> {
    user.require(Action::Administer)?;
    new.check().map_err(AppError::BadRequest)?;
    state.storage.set_setting(&new)?;
    tracing::info!(user = %user.name, engine = ?new.engine, voices = ?new.voices, "speech settings set");
    Ok(new)
}

/// Speaks `text` for an operator to listen to before sending it: the library item (a
/// broadcast can play it) and its file.
pub async fn preview(
    state: &AppState,
    user: &AuthUser,
    text: &str,
    voices: Option<&[Voice]>,
) -> Result<(u64, std::path::PathBuf), AppError> {
    if !(crate::access::allowed(user.role, Action::Broadcast)
        || crate::access::allowed(user.role, Action::Alert))
    {
        return Err(AppError::Forbidden(
            "speech is made for broadcasts and alerts: a viewer may not".into(),
        ));
    }
    let id = speak(state, text, voices).await.map_err(|e| match e {
        AppError::Internal(e) => AppError::Conflict(format!("the text could not be spoken: {e:#}")),
        other => other,
    })?;
    let hash = state
        .storage
        .media(id)?
        .and_then(|m| m.hash)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("speech {id} has no file")))?;
    Ok((id, crate::media::file_of(state, &hash).await?))
}
