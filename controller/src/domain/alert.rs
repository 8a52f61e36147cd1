//! Emergency alerts: severity, event, areas, a validity window, text and audio (an
//! attention-tone prelude, then the message), sent at `emergency` priority to every speaker
//! in the areas, over everything else and through quiet hours and volume caps.
//!
//! Rules the code keeps:
//! - An alert's mode (real, test, drill) is required, travels to every agent and into
//!   status, and picks a different prelude: a real alert opens with the two-tone attention
//!   signal, a test or drill with an alternating 440/660 Hz pattern that is never used for
//!   real ones, and its text is marked. A real alert must also say `confirm_real: true`, so
//!   an exercise cannot be sent as real by a slip; the mode of an alert never changes.
//! - An alert that has expired never starts: refused on creation or approval, and each
//!   agent refuses to start or resume it after `expires_at`.
//! - Only its issuer or an admin (the highest level on this controller) may cancel it. A
//!   cancel stops it on every agent (a signed `stop`), queued or playing.
//! - Alerts from CAP feeds may be held for review (`held`) and sent by `approve`.

use dalaba_audio::tone::{Pattern, ToneSpec};
use dalaba_protocol::command::{Command, OnPreempt, PlayMedia};
use dalaba_protocol::types::Severity;
use dalaba_protocol::{BroadcastId, MediaHash, Mode, PlatformLevel, Priority, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::access::{Action, Role};
use crate::auth::AuthUser;
use crate::broadcast_spec::{AlertSpec, BroadcastSpec, Target};
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::{Document, MediaState, Stored};

/// Time between the call and the first sound, for agents to fetch the audio.
pub const LEAD_US: u64 = 2_000_000;

/// What an operator (or a CAP feed) asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRequest {
    /// Red, orange, yellow or blue.
    #[schema(value_type = String, example = "orange")]
    pub severity: Severity,
    /// What happens, e.g. `flood`, `暴雨`.
    pub event: String,
    /// Area-code prefixes it covers (2 to 12 digits each).
    pub areas: Vec<String>,
    /// When it may start (µs); default now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<u64>,
    /// When it expires (µs); nothing starts or resumes after.
    pub expires_at: u64,
    /// The text (console, log).
    #[serde(default)]
    pub text: String,
    /// The voices `text` is spoken in, in turn (Mandarin, then Cantonese); default the
    /// deployment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>, example = json!(["mandarin", "cantonese"]))]
    pub voices: Option<Vec<crate::tts::Voice>>,
    /// The spoken message; none: the attention tone alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<u64>,
    /// Times to play prelude + message (1 to 10).
    #[serde(default = "one")]
    pub repeat: u16,
    /// Real, test or drill. Required.
    #[schema(value_type = String, example = "drill")]
    pub mode: Mode,
    /// Must be true for a real alert.
    #[serde(default)]
    pub confirm_real: bool,
}

fn one() -> u16 {
    1
}

fn county() -> PlatformLevel {
    PlatformLevel::County
}

/// Where an alert stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Waiting for a reviewer (from a CAP feed under the review policy).
    Held,
    /// Sent to its speakers.
    Sent,
    /// Cancelled.
    Cancelled,
    /// Refused by a reviewer.
    Rejected,
}

/// A stored alert.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Alert {
    /// What was asked.
    pub request: AlertRequest,
    /// Where it stands.
    pub state: AlertState,
    /// The user who issued it; `None` for a CAP feed.
    pub issuer: Option<i64>,
    /// `api`, or `cap:<sender>:<identifier>`.
    pub source: String,
    /// The issuing platform level (tie-break between simultaneous alerts): the issuer's
    /// scope ([`AuthUser::level_over`]) or the CAP sender's, never the request's.
    #[serde(default = "county")]
    pub level: PlatformLevel,
    /// The broadcast it made, once sent.
    pub broadcast_id: Option<u64>,
    /// The media played (prelude + message), once sent.
    pub audio_media_id: Option<u64>,
    /// When it was received, µs.
    pub created_at: u64,
    /// Who cancelled, approved or rejected it, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When it was cancelled, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<u64>,
    /// Why its text could not be spoken (it went out with its tone alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_error: Option<String>,
}

/// Checks an alert request at `now`.
pub fn check(req: &AlertRequest, now: u64) -> Result<(), String> {
    if req.event.trim().is_empty() || req.event.chars().count() > 100 {
        return Err("event: 1 to 100 characters".into());
    }
    if req.text.chars().count() > crate::tts::MAX_TEXT_CHARS {
        return Err(format!(
            "text: at most {} characters (it is spoken when the alert has no media)",
            crate::tts::MAX_TEXT_CHARS
        ));
    }
    if let Some(voices) = &req.voices {
        crate::tts::check_voices(voices)?;
    }
    if req.areas.is_empty() || req.areas.len() > 256 {
        return Err("areas: 1 to 256 area-code prefixes".into());
    }
    for a in &req.areas {
        if !(2..=12).contains(&a.len()) || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("area {a:?}: 2 to 12 digits"));
        }
    }
    if req.expires_at <= now {
        return Err("the alert has already expired".into());
    }
    if req.starts_at.is_some_and(|s| s >= req.expires_at) {
        return Err("starts_at is not before expires_at".into());
    }
    if !(1..=10).contains(&req.repeat) {
        return Err("repeat: 1 to 10".into());
    }
    if req.mode == Mode::Real && !req.confirm_real {
        return Err(
            "a real alert needs \"confirm_real\": true; for an exercise use mode \"drill\" or \"test\""
                .into(),
        );
    }
    Ok(())
}

/// The prelude for an alert of `mode`.
pub fn prelude(mode: Mode) -> ToneSpec {
    match mode {
        Mode::Real => ToneSpec {
            duration_ms: 5000,
            level_dbfs: -9.0,
            ..ToneSpec::default()
        },
        Mode::Test | Mode::Drill => ToneSpec {
            frequencies_hz: vec![440.0, 660.0],
            pattern: Pattern::Alternate { step_ms: 250 },
            duration_ms: 3000,
            level_dbfs: -9.0,
            fade_ms: 10,
        },
    }
}

/// How an exercise is marked: in its stored text, and in words in its speech.
fn mark(mode: Mode) -> (&'static str, &'static str) {
    match mode {
        Mode::Real => ("", ""),
        Mode::Drill => ("【演练 DRILL】", "这是演练。"),
        Mode::Test => ("【测试 TEST】", "这是测试。"),
    }
}

/// What an alert's speech says: its text, an exercise's marked as such in words.
fn spoken(req: &AlertRequest) -> String {
    let (written, word) = mark(req.mode);
    let text = req.text.strip_prefix(written).unwrap_or(&req.text);
    format!("{word}{text}")
}

/// Makes (or finds) the alert's audio: prelude, half a second of silence, the message
/// (its media, or its text spoken). Speech that cannot be made never holds the alert
/// back: it goes out with its tone, and why is returned for its record.
///
/// The made file is remembered under a key of the mode and the message's *content*
/// (meta `alert_audio.<mode>.<media hash | speech key | none>`), which only this function
/// writes; it is never looked up by name, since an upload's name is whatever its uploader
/// called the file. Spoken text is composed from the engine's samples, encoded once (no
/// separate speech item decoded again): that is most of the time before the tone.
async fn audio(state: &AppState, req: &AlertRequest) -> Result<(u64, Option<String>), AppError> {
    let mode = match req.mode {
        Mode::Real => "real",
        Mode::Test => "test",
        Mode::Drill => "drill",
    };
    let tone_only = || (format!("alert_audio.{mode}.none"), None);
    let (key, message) = match req.media_id {
        Some(id) => {
            let m = state
                .storage
                .media(id)?
                .ok_or_else(|| AppError::BadRequest(format!("no media {id}")))?;
            let hash: MediaHash = m
                .hash
                .as_deref()
                .ok_or_else(|| AppError::BadRequest(format!("media {id} is not ready")))?
                .parse()
                .map_err(|e| AppError::Internal(anyhow::anyhow!("stored hash: {e}")))?;
            (
                format!("alert_audio.{mode}.{hash}"),
                Some(Message::Media(id, hash)),
            )
        }
        None if !req.text.trim().is_empty() => {
            let speech = crate::tts::Speech::of(state, &spoken(req), req.voices.as_deref())?;
            (
                format!("alert_audio.{mode}.{}", speech.key),
                Some(Message::Speech(speech)),
            )
        }
        None => tone_only(),
    };
    if let Some(id) = crate::media::remembered(state, &key)? {
        return Ok((id, None));
    }
    let mut speech_error = None;
    let (key, name, message) = match message {
        Some(Message::Media(id, hash)) => {
            let path = crate::media::media_file(&state.media_dir, &hash);
            let decoded = tokio::task::spawn_blocking(move || {
                dalaba_audio::transcode::decode_ogg_opus_file(
                    &path,
                    std::time::Duration::from_secs(3600),
                )
            })
            .await
            .map_err(|e| AppError::Internal(e.into()))?
            .map_err(|e| AppError::Internal(e.into()))?;
            (
                key,
                format!("alert audio ({mode} prelude + media {id})"),
                Some(decoded.samples),
            )
        }
        Some(Message::Speech(speech)) => match speech.samples(state).await {
            Ok(samples) => {
                let preview: String = req.text.chars().take(20).collect();
                (
                    key,
                    format!("alert audio ({mode} prelude + speech: {preview})"),
                    Some(samples),
                )
            }
            Err(e) => {
                let why = match e {
                    AppError::Internal(e) => format!("{e:#}"),
                    other => other.to_string(),
                };
                tracing::warn!("alert text not spoken, the tone goes out alone: {why}");
                crate::edge::Edge::count(&state.edge.speech_failures);
                speech_error = Some(why);
                let (key, _) = tone_only();
                if let Some(id) = crate::media::remembered(state, &key)? {
                    return Ok((id, speech_error));
                }
                (key, format!("alert audio ({mode} prelude)"), None)
            }
        },
        None => (key, format!("alert audio ({mode} prelude)"), None),
    };
    let tone = prelude(req.mode);
    let samples = tokio::task::spawn_blocking(move || {
        let mut samples = tone.render()?;
        if let Some(message) = message {
            samples.extend(std::iter::repeat_n(0.0, 24_000));
            samples.extend(message);
        }
        anyhow::Ok(samples)
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?
    .map_err(AppError::Internal)?;
    let id = crate::media::make_from_samples(state, &name, samples)
        .await
        .map_err(|e| match e {
            AppError::Internal(e) => AppError::Internal(e.context("alert audio")),
            other => other,
        })?;
    crate::media::remember(state, &key, id)?;
    Ok((id, speech_error))
}

/// What follows an alert's prelude.
enum Message {
    /// A library item (its id and content hash).
    Media(u64, MediaHash),
    /// Its text, spoken.
    Speech(crate::tts::Speech),
}

impl Document for Alert {
    const KIND: &'static str = "alert";
}

fn load(state: &AppState, id: u64) -> Result<Alert, AppError> {
    Ok(state
        .storage
        .load::<Alert>(id)?
        .ok_or_else(|| AppError::NotFound(format!("alert {id}")))?
        .doc)
}

fn save(state: &AppState, id: u64, alert: &Alert) -> Result<(), AppError> {
    state.storage.save(id, alert, state.clock.now_us())?;
    Ok(())
}

/// Every alert, oldest first.
pub fn all(state: &AppState) -> Result<Vec<Stored<Alert>>, AppError> {
    Ok(state.storage.load_all::<Alert>()?)
}

/// Stores a new alert; returns its id. The text of an exercise is marked as such.
pub fn store(state: &AppState, alert: &Alert) -> Result<u64, AppError> {
    let mut alert = alert.clone();
    let (mark, _) = mark(alert.request.mode);
    if !alert.request.text.starts_with(mark) {
        alert.request.text = format!("{mark}{}", alert.request.text);
    }
    Ok(state.storage.insert(&alert, state.clock.now_us())?)
}

/// Sends stored alert `id` to its speakers; `by` is the user who sent or approved it
/// (`None`: a CAP feed under the automatic policy).
pub async fn send(state: &AppState, id: u64, by: Option<i64>) -> Result<Alert, AppError> {
    let mut alert = load(state, id)?;
    let now = state.clock.now_us();
    check(&alert.request, now).map_err(AppError::BadRequest)?;
    let req = alert.request.clone();
    let agents = Target {
        areas: req.areas.clone(),
        ..Target::default()
    }
    .reach(state, None)
    .await?
    .chosen;
    let (media_id, speech_error) = audio(state, &req).await?;
    alert.speech_error = speech_error;
    let media = state
        .storage
        .media(media_id)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("alert audio vanished")))?;
    let media = media
        .media_ref()?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("alert audio not ready")))?;
    // The lead for speakers to fetch the audio counts from when it is ready: making it
    // (speech above all) must not eat into it.
    let ready = state.clock.now_us();
    let start_at = req.starts_at.unwrap_or(0).max(ready + LEAD_US);
    let broadcast = state
        .storage
        .create_broadcast(by, now, &BroadcastSpec::Pending)?;
    let play = PlayMedia {
        broadcast_id: BroadcastId(broadcast),
        media,
        start_at: Timestamp(start_at),
        priority: Priority::Emergency,
        level: alert.level,
        volume: None,
        repeat: req.repeat,
        gap_ms: 2000,
        mode: req.mode,
        severity: Some(req.severity),
        on_preempt: OnPreempt::Resume,
        expires_at: Some(Timestamp(req.expires_at)),
    };
    let spec = BroadcastSpec::Alert(AlertSpec {
        alert_id: id,
        mode: req.mode,
        severity: req.severity,
        event: req.event.clone(),
        target: Target {
            areas: req.areas.clone(),
            ..Target::default()
        },
        agents: agents.iter().map(ToString::to_string).collect(),
        start_at,
        media_id,
    });
    state.storage.set_broadcast_spec(broadcast, &spec)?;
    crate::dispatch::launch(
        state,
        broadcast,
        &agents,
        Command::PlayMedia(play.clone()),
        req.expires_at,
    )
    .await?;
    alert.state = AlertState::Sent;
    alert.broadcast_id = Some(broadcast);
    alert.audio_media_id = Some(media_id);
    save(state, id, &alert)?;
    tracing::warn!(alert = id, broadcast, severity = ?req.severity, mode = ?req.mode, event = %req.event, agents = agents.len(), "ALERT sent");
    Ok(alert)
}

/// Cancels alert `id`: stops it everywhere. `by` names who, for the record.
pub async fn cancel(state: &AppState, id: u64, by: &str) -> Result<Alert, AppError> {
    let mut alert = load(state, id)?;
    if alert.state == AlertState::Cancelled {
        return Ok(alert);
    }
    let now = state.clock.now_us();
    if let Some(b) = alert.broadcast_id {
        let spec = state
            .storage
            .broadcast_spec(b)?
            .unwrap_or(BroadcastSpec::Pending);
        crate::dispatch::end(state, b, spec.agents()).await?;
    }
    alert.state = AlertState::Cancelled;
    alert.decided_by = Some(by.to_owned());
    alert.cancelled_at = Some(now);
    save(state, id, &alert)?;
    tracing::warn!(alert = id, by, "ALERT cancelled");
    Ok(alert)
}

fn view(state: &AppState, id: u64, alert: &Alert) -> Value {
    let now = state.clock.now_us();
    let shown = match alert.state {
        AlertState::Sent if alert.request.expires_at <= now => "expired",
        AlertState::Sent => "sent",
        AlertState::Held => "held",
        AlertState::Cancelled => "cancelled",
        AlertState::Rejected => "rejected",
    };
    let mut v = serde_json::to_value(alert).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(id));
        o.insert("status".into(), json!(shown));
        if let Some(r) = o.get_mut("request").and_then(Value::as_object_mut) {
            r.remove("confirm_real");
        }
    }
    v
}

/// Whether `user` sees `alert`: its areas and the user's overlap.
fn sees(user: &AuthUser, alert: &Alert) -> bool {
    user.unscoped()
        || alert
            .request
            .areas
            .iter()
            .any(|a| user.covers_area(a) || user.scopes.iter().any(|s| s.starts_with(a.as_str())))
}

/// Issues an alert now.
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    req: AlertRequest,
) -> Result<Value, AppError> {
    user.require(Action::Alert)?;
    user.check_areas(&req.areas)?;
    check(&req, state.clock.now_us()).map_err(AppError::BadRequest)?;
    if let Some(m) = req.media_id {
        let media = state
            .storage
            .media(m)?
            .ok_or_else(|| AppError::BadRequest(format!("no media {m}")))?;
        if media.state != MediaState::Ready {
            return Err(AppError::BadRequest(format!("media {m} is not ready")));
        }
    }
    let level = user.level_over(req.areas.iter().map(String::as_str));
    let alert = Alert {
        request: req,
        state: AlertState::Held,
        issuer: Some(user.id),
        source: "api".into(),
        level,
        broadcast_id: None,
        audio_media_id: None,
        created_at: state.clock.now_us(),
        decided_by: None,
        cancelled_at: None,
        speech_error: None,
    };
    let id = store(state, &alert)?;
    tracing::info!(user = %user.name, alert = id, "alert issued");
    let alert = send(state, id, Some(user.id)).await?;
    Ok(view(state, id, &alert))
}

/// The alerts `user` sees, newest first.
pub fn list(state: &AppState, user: &AuthUser) -> Result<Value, AppError> {
    user.require(Action::View)?;
    let mut out = Vec::new();
    for d in all(state)?.into_iter().rev() {
        if !sees(user, &d.doc) {
            continue;
        }
        out.push(view(state, d.id, &d.doc));
    }
    Ok(Value::Array(out))
}

/// Alert `id`, if `user` sees it.
pub fn get(state: &AppState, user: &AuthUser, id: u64) -> Result<Value, AppError> {
    user.require(Action::View)?;
    let alert = load(state, id)?;
    if !sees(user, &alert) {
        return Err(AppError::NotFound(format!("alert {id}")));
    }
    Ok(view(state, id, &alert))
}

/// Cancels alert `id`, if `user` is its issuer or an admin.
pub async fn cancel_for(state: &AppState, user: &AuthUser, id: u64) -> Result<Value, AppError> {
    let alert = load(state, id)?;
    if alert.issuer != Some(user.id) && user.role != Role::Admin {
        return Err(AppError::Forbidden(
            "only the alert's issuer or an admin may cancel it".into(),
        ));
    }
    let alert = cancel(state, id, &user.name).await?;
    Ok(view(state, id, &alert))
}

/// Alert `id`, if it is held for review and `user` may decide on it.
fn held_for(state: &AppState, user: &AuthUser, id: u64) -> Result<Alert, AppError> {
    user.require(Action::Alert)?;
    let alert = load(state, id)?;
    user.check_areas(&alert.request.areas)?;
    if alert.state != AlertState::Held {
        return Err(AppError::Conflict(format!(
            "alert {id} is not held for review"
        )));
    }
    Ok(alert)
}

/// Sends a held alert (refused once expired).
pub async fn approve(state: &AppState, user: &AuthUser, id: u64) -> Result<Value, AppError> {
    let mut alert = held_for(state, user, id)?;
    alert.decided_by = Some(user.name.clone());
    save(state, id, &alert)?;
    let alert = send(state, id, Some(user.id)).await?;
    tracing::info!(user = %user.name, alert = id, "held alert approved");
    Ok(view(state, id, &alert))
}

/// Refuses a held alert.
pub fn reject(state: &AppState, user: &AuthUser, id: u64) -> Result<Value, AppError> {
    let mut alert = held_for(state, user, id)?;
    alert.state = AlertState::Rejected;
    alert.decided_by = Some(user.name.clone());
    save(state, id, &alert)?;
    Ok(view(state, id, &alert))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(mode: Mode) -> AlertRequest {
        AlertRequest {
            severity: Severity::Red,
            event: "flood".into(),
            areas: vec!["330106".into()],
            starts_at: None,
            expires_at: 2_000,
            text: String::new(),
            voices: None,
            media_id: None,
            repeat: 1,
            mode,
            confirm_real: false,
        }
    }

    #[test]
    fn a_real_alert_must_be_confirmed_and_an_expired_one_is_refused() {
        assert!(check(&req(Mode::Drill), 1_000).is_ok());
        assert!(check(&req(Mode::Test), 1_000).is_ok());
        let err = check(&req(Mode::Real), 1_000).unwrap_err();
        assert!(err.contains("confirm_real"), "{err}");
        let mut real = req(Mode::Real);
        real.confirm_real = true;
        assert!(check(&real, 1_000).is_ok());
        assert_eq!(
            check(&real, 2_000).unwrap_err(),
            "the alert has already expired"
        );
        let mut bad = req(Mode::Drill);
        bad.areas = vec!["3".into()];
        assert!(check(&bad, 0).unwrap_err().contains("2 to 12 digits"));
        bad.areas.clear();
        assert!(check(&bad, 0).unwrap_err().contains("areas"));
    }

    #[test]
    fn exercises_have_their_own_prelude() {
        let real = prelude(Mode::Real).render().unwrap();
        let drill = prelude(Mode::Drill).render().unwrap();
        assert_ne!(prelude(Mode::Real), prelude(Mode::Drill));
        assert_eq!(prelude(Mode::Test), prelude(Mode::Drill));
        assert_eq!(real.len(), 5 * 48_000);
        assert_eq!(drill.len(), 3 * 48_000);
    }
}
