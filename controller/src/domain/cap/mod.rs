//! Common Alerting Protocol 1.2 import: through the API (`POST /api/alerts/cap`) and from a
//! watched directory (`DALABA_CAP_DIR`).
//!
//! Mapping onto an [`crate::alert::AlertRequest`] (the first `<info>` block is used):
//!
//! | CAP | Dalaba |
//! |---|---|
//! | `status` Actual / Exercise / Test | mode real / drill / test; System: accepted, nothing plays; Draft: refused |
//! | `msgType` Alert | a new alert |
//! | `msgType` Update | cancels the alerts it `references` (same sender only), then a new alert |
//! | `msgType` Cancel | cancels the alerts it `references` (same sender only) |
//! | `msgType` Ack, Error | accepted, nothing plays |
//! | `severity` Extreme / Severe / Moderate / Minor / Unknown | red / orange / yellow / blue / blue |
//! | `expires` | expires (absent: `sent` + 1 hour) |
//! | `onset`, else `effective` | starts_at |
//! | `area/geocode` named `GB2260`, `GB/T 2260` or `ADCODE` | area-code prefixes (`330106000000` → `330106`, `330100` → `3301`) |
//! | `resource` with an `audio/*` mimeType and `derefUri` | the spoken message (transcoded); none: the text, spoken (`tts`) |
//! | `headline`, `description`, `instruction` | text (at most `tts::MAX_TEXT_CHARS` characters) |
//!
//! Who may send: every message must name a configured sender and act as it (its own key, or
//! for an unsigned feed the watched directory or a user covering all its areas), inside its
//! areas: [`crate::cap_senders`]. Signatures are detached Ed25519 over the exact bytes
//! (header `X-Dalaba-Signature: <base64>`, or `<file>.sig` beside a watched file); XML-DSig
//! inside the message is not verified. Policy (environment): `DALABA_CAP_POLICY` = `review`
//! (default: held until an operator approves) or `auto` (broadcast at once);
//! `DALABA_CAP_REQUIRE_SIGNATURE=1` refuses unsigned messages from every sender.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::DateTime;
use dalaba_protocol::Mode;
use dalaba_protocol::types::Severity;
use serde_json::{Value, json};

use crate::alert::{self, Alert, AlertRequest, AlertState};
use crate::auth::AuthUser;
use crate::cap_senders::{self, Importer, Policy};
use crate::error::AppError;
use crate::state::AppState;

mod xml;
use xml::{Node, tree};

/// The CAP 1.2 namespace.
pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// Largest CAP message (embedded audio included).
pub const MAX_CAP_BYTES: usize = 16 * 1024 * 1024;
/// How long an import waits for a free slot before it is refused.
pub const IMPORT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A CAP message, as far as Dalaba reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cap {
    /// Its identifier.
    pub identifier: String,
    /// Who sent it.
    pub sender: String,
    /// When it was sent, µs.
    pub sent: u64,
    /// `Actual`, `Exercise`, `System`, `Test`, `Draft`.
    pub status: String,
    /// `Alert`, `Update`, `Cancel`, `Ack`, `Error`.
    pub msg_type: String,
    /// Earlier messages it refers to: (sender, identifier).
    pub references: Vec<(String, String)>,
    /// The first `<info>`, if any.
    pub info: Option<Info>,
}

/// One `<info>` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// The event.
    pub event: String,
    /// `Extreme` … `Unknown`.
    pub severity: String,
    /// When it takes effect, µs.
    pub starts_at: Option<u64>,
    /// When it expires, µs.
    pub expires: Option<u64>,
    /// Headline and description.
    pub text: String,
    /// Area-code prefixes.
    pub areas: Vec<String>,
    /// Embedded audio: (mime type, bytes).
    pub audio: Option<(String, Vec<u8>)>,
}

fn time(s: &str, field: &str) -> Result<u64, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_micros().max(0) as u64)
        .map_err(|e| format!("CAP: <{field}> {s:?} is not a date and time: {e}"))
}

/// Normalises a GB/T 2260 code to the area-code prefix it names.
pub fn area_prefix(code: &str) -> Result<String, String> {
    let code = code.trim();
    if !code.bytes().all(|b| b.is_ascii_digit()) || !matches!(code.len(), 2 | 4 | 6 | 9 | 12) {
        return Err(format!(
            "CAP: geocode {code:?} is not a GB/T 2260 area code"
        ));
    }
    let mut c = code.to_owned();
    if c.len() == 12 && c.ends_with("000") {
        c.truncate(9);
    }
    if c.len() == 9 && c.ends_with("000") {
        c.truncate(6);
    }
    while c.len() > 2 && c.len() <= 6 && c.ends_with("00") {
        c.truncate(c.len() - 2);
    }
    Ok(c)
}

/// Parses a CAP 1.2 message.
pub fn parse(xml: &[u8]) -> Result<Cap, String> {
    let root = tree(xml)?;
    if root.name != "alert" {
        return Err(format!(
            "CAP: the root element is <{}>, not <alert>",
            root.name
        ));
    }
    if !root
        .attrs
        .iter()
        .any(|(k, v)| (k == "xmlns" || k.starts_with("xmlns:")) && v == CAP_NS)
    {
        return Err(format!("CAP: not in the CAP 1.2 namespace {CAP_NS}"));
    }
    let status = root.required("status", "alert/")?.to_owned();
    if !["Actual", "Exercise", "System", "Test", "Draft"].contains(&status.as_str()) {
        return Err(format!("CAP: unknown status {status:?}"));
    }
    let msg_type = root.required("msgType", "alert/")?.to_owned();
    if !["Alert", "Update", "Cancel", "Ack", "Error"].contains(&msg_type.as_str()) {
        return Err(format!("CAP: unknown msgType {msg_type:?}"));
    }
    let references = root
        .text_of("references")
        .unwrap_or_default()
        .split_whitespace()
        .map(|r| {
            let parts: Vec<&str> = r.split(',').collect();
            match parts.as_slice() {
                [sender, id, _sent] => Ok(((*sender).to_owned(), (*id).to_owned())),
                _ => Err(format!(
                    "CAP: reference {r:?} is not sender,identifier,sent"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if matches!(msg_type.as_str(), "Update" | "Cancel") && references.is_empty() {
        return Err(format!(
            "CAP: a {msg_type} must name the alerts it references"
        ));
    }
    let info = match root.child("info") {
        None => None,
        Some(info) => Some(parse_info(info)?),
    };
    if matches!(msg_type.as_str(), "Alert" | "Update") && info.is_none() {
        return Err(format!("CAP: an {msg_type} needs an <info> block"));
    }
    Ok(Cap {
        identifier: root.required("identifier", "alert/")?.to_owned(),
        sender: root.required("sender", "alert/")?.to_owned(),
        sent: time(root.required("sent", "alert/")?, "sent")?,
        status,
        msg_type,
        references,
        info,
    })
}

fn parse_info(info: &Node) -> Result<Info, String> {
    let severity = info.required("severity", "info/")?.to_owned();
    if !["Extreme", "Severe", "Moderate", "Minor", "Unknown"].contains(&severity.as_str()) {
        return Err(format!("CAP: unknown severity {severity:?}"));
    }
    let mut areas = Vec::new();
    for area in info.all("area") {
        for g in area.all("geocode") {
            let name = g
                .text_of("valueName")
                .unwrap_or_default()
                .to_ascii_uppercase();
            if ["GB2260", "GB/T2260", "GB/T 2260", "ADCODE"].contains(&name.as_str()) {
                areas.push(area_prefix(g.required("value", "geocode/")?)?);
            }
        }
    }
    if areas.is_empty() {
        return Err(
            "CAP: no <area><geocode> with valueName GB2260 (or GB/T 2260, ADCODE): nowhere to play"
                .into(),
        );
    }
    let mut audio = None;
    for r in info.all("resource") {
        let mime = r.text_of("mimeType").unwrap_or_default();
        if mime.starts_with("audio/") {
            if let Some(data) = r.text_of("derefUri") {
                let clean: String = data.chars().filter(|c| !c.is_whitespace()).collect();
                let bytes = B64
                    .decode(clean)
                    .map_err(|e| format!("CAP: resource derefUri is not base64: {e}"))?;
                audio = Some((mime.to_owned(), bytes));
                break;
            }
        }
    }
    // What is spoken when there is no audio resource; a long message is cut to what can
    // be spoken rather than refused.
    let text = [
        info.text_of("headline"),
        info.text_of("description"),
        info.text_of("instruction"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n")
    .chars()
    .take(crate::tts::MAX_TEXT_CHARS)
    .collect::<String>();
    Ok(Info {
        event: info.required("event", "info/")?.to_owned(),
        severity,
        starts_at: info
            .text_of("onset")
            .or_else(|| info.text_of("effective"))
            .map(|t| time(t, "onset"))
            .transpose()?,
        expires: info
            .text_of("expires")
            .map(|t| time(t, "expires"))
            .transpose()?,
        text,
        areas,
        audio,
    })
}

/// The severity colour of a CAP severity.
pub fn severity(cap: &str) -> Severity {
    match cap {
        "Extreme" => Severity::Red,
        "Severe" => Severity::Orange,
        "Moderate" => Severity::Yellow,
        _ => Severity::Blue,
    }
}

fn source(sender: &str, identifier: &str) -> String {
    format!("cap:{sender}:{identifier}")
}

/// Cancels the alerts `cap` references; only the same sender may (and the message has
/// been authenticated as that sender: [`crate::cap_senders`]).
async fn cancel_references(state: &AppState, cap: &Cap) -> Result<Vec<u64>, AppError> {
    let mut cancelled = Vec::new();
    for (sender, identifier) in &cap.references {
        if sender != &cap.sender {
            return Err(AppError::Forbidden(format!(
                "CAP: {} cannot cancel or update an alert sent by {sender}",
                cap.sender
            )));
        }
        let wanted = source(sender, identifier);
        for d in alert::all(state)? {
            let a = d.doc;
            if a.source == wanted && a.state != AlertState::Cancelled {
                alert::cancel(state, d.id, &format!("cap:{}", cap.sender)).await?;
                cancelled.push(d.id);
            }
        }
    }
    Ok(cancelled)
}

/// Imports one CAP message from `importer`; what happened, as JSON.
pub async fn import_bytes(
    state: &AppState,
    bytes: &[u8],
    signature: Option<&str>,
    importer: Importer<'_>,
) -> Result<Value, AppError> {
    let _slot = slot(state).await?;
    let cap = parse(bytes).map_err(AppError::BadRequest)?;
    import_parsed(state, &cap, bytes, signature, importer).await
}

/// One of the few import slots: parsing and transcoding are bounded, a few messages at
/// once (API and watched directory alike); the rest wait briefly, then are refused.
async fn slot(state: &AppState) -> Result<tokio::sync::SemaphorePermit<'_>, AppError> {
    match tokio::time::timeout(IMPORT_WAIT, state.edge.cap_imports.acquire()).await {
        Ok(Ok(slot)) => Ok(slot),
        _ => {
            crate::edge::Edge::count(&state.edge.busy_refused);
            Err(AppError::TooManyRequests(format!(
                "CAP: {} messages are being imported; send it again in a minute",
                crate::edge::CAP_IMPORTS
            )))
        }
    }
}

/// What the audit log keeps of a CAP message: identifier, sender, status, type and areas.
pub fn audit_detail(cap: &Cap) -> String {
    let areas = cap
        .info
        .as_ref()
        .map_or_else(String::new, |i| i.areas.join(","));
    format!(
        "CAP identifier={} sender={} status={} type={} areas={areas}",
        cap.identifier, cap.sender, cap.status, cap.msg_type
    )
}

/// Imports a parsed CAP message; `bytes` are what its signature covers.
async fn import_parsed(
    state: &AppState,
    cap: &Cap,
    bytes: &[u8],
    signature: Option<&str>,
    importer: Importer<'_>,
) -> Result<Value, AppError> {
    let policy = Policy::from_env().map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let senders = cap_senders::senders(state)?;
    let sender = policy.authenticate(&senders, &cap.sender, bytes, signature, importer)?;
    // The areas it alerts: inside the sender's, and the importing user's.
    if let Some(info) = &cap.info {
        if let Some(a) = info.areas.iter().find(|a| !sender.covers(a)) {
            return Err(AppError::Forbidden(format!(
                "CAP: area {a} is outside the areas of sender {}",
                cap.sender
            )));
        }
        if let Importer::User(user) = importer {
            user.check_areas(&info.areas)?;
        }
    }
    let src = source(&cap.sender, &cap.identifier);
    for d in alert::all(state)? {
        if d.doc.source == src {
            return Err(AppError::Conflict(format!(
                "CAP {} from {} was imported before (alert {})",
                cap.identifier, cap.sender, d.id
            )));
        }
    }
    if cap.status == "Draft" {
        return Err(AppError::BadRequest(
            "CAP: status Draft is never broadcast".into(),
        ));
    }
    if matches!(cap.msg_type.as_str(), "Ack" | "Error") || cap.status == "System" {
        return Ok(json!({"result": "accepted", "played": false,
                         "why": format!("{} / {} messages do not play", cap.status, cap.msg_type)}));
    }
    let cancelled = if matches!(cap.msg_type.as_str(), "Cancel" | "Update") {
        cancel_references(state, cap).await?
    } else {
        Vec::new()
    };
    if cap.msg_type == "Cancel" {
        return Ok(json!({"result": "cancelled", "cancelled": cancelled}));
    }
    let info = cap
        .info
        .as_ref()
        .ok_or_else(|| AppError::BadRequest("CAP: no <info>".into()))?;
    let mode = match cap.status.as_str() {
        "Actual" => Mode::Real,
        "Exercise" => Mode::Drill,
        _ => Mode::Test,
    };
    let media_id = match &info.audio {
        Some((mime, data)) => Some(import_audio(state, cap, mime, data).await?),
        None => None,
    };
    let request = AlertRequest {
        severity: severity(&info.severity),
        event: info.event.clone(),
        areas: info.areas.clone(),
        starts_at: info.starts_at,
        expires_at: info.expires.unwrap_or(cap.sent + 3_600_000_000),
        text: info.text.clone(),
        voices: None,
        media_id,
        repeat: 2,
        mode,
        // The feed's status is the confirmation: only `Actual` is real.
        confirm_real: mode == Mode::Real,
    };
    alert::check(&request, state.clock.now_us())
        .map_err(|e| AppError::BadRequest(format!("CAP: {e}")))?;
    let request_areas = request.areas.clone();
    let stored = Alert {
        request,
        state: AlertState::Held,
        issuer: None,
        source: src,
        level: sender.level_over(request_areas.iter().map(String::as_str)),
        broadcast_id: None,
        audio_media_id: None,
        created_at: state.clock.now_us(),
        decided_by: None,
        cancelled_at: None,
        speech_error: None,
    };
    let id = alert::store(state, &stored)?;
    tracing::warn!(alert = id, sender = %cap.sender, identifier = %cap.identifier, status = %cap.status, "CAP alert received");
    if policy.auto {
        let by = match importer {
            Importer::User(u) => Some(u.id),
            Importer::Directory => None,
        };
        alert::send(state, id, by).await?;
        Ok(json!({"result": "sent", "alert_id": id, "cancelled": cancelled}))
    } else {
        Ok(json!({"result": "held", "alert_id": id, "cancelled": cancelled}))
    }
}

async fn import_audio(
    state: &AppState,
    cap: &Cap,
    mime: &str,
    data: &[u8],
) -> Result<u64, AppError> {
    let name = format!("CAP {} ({mime})", cap.identifier);
    crate::media::make_from_bytes(state, &name, data)
        .await
        .map_err(|e| match e {
            AppError::Internal(e) => {
                AppError::BadRequest(format!("CAP: the audio resource cannot be played: {e:#}"))
            }
            other => other,
        })
}

/// Imports one CAP message that `user` sent (`signature`: an optional detached
/// signature). Refused before anything is read: the caller may not send alerts, no import
/// slot came free, or the message does not parse. Otherwise: what the audit log keeps of
/// the message, and what happened to it.
pub async fn import_for(
    state: &AppState,
    user: &AuthUser,
    bytes: &[u8],
    signature: Option<&str>,
) -> Result<(String, Result<Value, AppError>), AppError> {
    user.require(crate::access::Action::Alert)?;
    let _slot = slot(state).await?;
    let cap = parse(bytes).map_err(AppError::BadRequest)?;
    let result = import_parsed(state, &cap, bytes, signature, Importer::User(user)).await;
    if let Ok(result) = &result {
        tracing::info!(user = %user.name, result = %result["result"], "CAP imported");
    }
    Ok((audit_detail(&cap), result))
}

/// Watches `dir` for `*.xml` CAP files (every 2 s): each is imported, then moved to
/// `done/`, or to `rejected/` with a `.error.txt` saying why.
pub async fn watch(state: AppState, dir: PathBuf) {
    tracing::info!(dir = %dir.display(), "watching for CAP files");
    loop {
        if let Err(e) = sweep(&state, &dir).await {
            tracing::warn!(dir = %dir.display(), "CAP directory: {e}");
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// Imports every CAP file now in `dir`; returns what happened to each.
pub async fn sweep(state: &AppState, dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut report = BTreeMap::new();
    let mut names = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(e) = entries.next_entry().await? {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".xml") && e.file_type().await?.is_file() {
            names.push(name);
        }
    }
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let bytes = tokio::fs::read(&path).await?;
        let sig = tokio::fs::read_to_string(dir.join(format!("{name}.sig")))
            .await
            .ok();
        let outcome = if bytes.len() > MAX_CAP_BYTES {
            Err(format!("larger than {MAX_CAP_BYTES} bytes"))
        } else {
            import_bytes(state, &bytes, sig.as_deref(), Importer::Directory)
                .await
                .map_err(|e| e.to_string())
        };
        let (to, what) = match outcome {
            Ok(v) => ("done", v["result"].as_str().unwrap_or("ok").to_owned()),
            Err(e) => ("rejected", e),
        };
        let target = dir.join(to);
        tokio::fs::create_dir_all(&target).await?;
        tokio::fs::rename(&path, target.join(&name)).await?;
        if sig.is_some() {
            let _ = tokio::fs::rename(
                dir.join(format!("{name}.sig")),
                target.join(format!("{name}.sig")),
            )
            .await;
        }
        if to == "rejected" {
            tokio::fs::write(target.join(format!("{name}.error.txt")), &what).await?;
            tracing::warn!(file = %name, "CAP file rejected: {what}");
        }
        report.insert(name, format!("{to}: {what}"));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CAP message with `status`, `msg_type`, and the rest typical of a county feed.
    fn cap(status: &str, msg_type: &str, extra_alert: &str, info: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>33010620261123001</identifier>
  <sender>xihu.weather@example.cn</sender>
  <sent>2026-11-23T10:00:00+08:00</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {extra_alert}
  {info}
</alert>"#
        )
    }

    const INFO: &str = r#"<info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <onset>2026-11-23T10:05:00+08:00</onset>
    <expires>2026-11-23T16:00:00+08:00</expires>
    <headline>西湖区暴雨橙色预警 &amp; 转移通知</headline>
    <description>请低洼地区群众立即转移。</description>
    <area>
      <areaDesc>西湖区</areaDesc>
      <geocode><valueName>GB2260</valueName><value>330106</value></geocode>
      <geocode><valueName>other</valueName><value>x</value></geocode>
    </area>
    <area>
      <areaDesc>某村</areaDesc>
      <geocode><valueName>GB/T 2260</valueName><value>330107001002</value></geocode>
    </area>
  </info>"#;

    const REFS: &str = "<references>xihu.weather@example.cn,33010620261122009,2026-11-22T09:00:00+08:00</references>";

    #[test]
    fn every_status_and_message_type_parses() {
        for status in ["Actual", "Exercise", "System", "Test", "Draft"] {
            for msg_type in ["Alert", "Update", "Cancel", "Ack", "Error"] {
                let refs = if matches!(msg_type, "Update" | "Cancel") {
                    REFS
                } else {
                    ""
                };
                let xml = cap(status, msg_type, refs, INFO);
                let parsed =
                    parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{status} {msg_type}: {e}"));
                assert_eq!(parsed.status, status);
                assert_eq!(parsed.msg_type, msg_type);
            }
        }
        let c = parse(cap("Actual", "Update", REFS, INFO).as_bytes()).unwrap();
        assert_eq!(c.identifier, "33010620261123001");
        assert_eq!(c.sent, 1_795_399_200_000_000);
        assert_eq!(
            c.references,
            [(
                "xihu.weather@example.cn".to_owned(),
                "33010620261122009".to_owned()
            )]
        );
        let info = c.info.unwrap();
        assert_eq!(info.event, "暴雨");
        assert_eq!(severity(&info.severity), Severity::Orange);
        assert_eq!(info.areas, ["330106", "330107001002"]);
        assert_eq!(info.starts_at, Some(1_795_399_500_000_000));
        assert_eq!(info.expires, Some(1_795_420_800_000_000));
        assert_eq!(
            info.text,
            "西湖区暴雨橙色预警 & 转移通知\n请低洼地区群众立即转移。"
        );
        assert_eq!(info.audio, None);
        // A prefixed namespace and a cancel without info are fine too.
        let prefixed = r#"<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">
            <cap:identifier>a</cap:identifier><cap:sender>s</cap:sender>
            <cap:sent>2026-11-23T10:00:00+08:00</cap:sent><cap:status>Actual</cap:status>
            <cap:msgType>Cancel</cap:msgType><cap:references>s,b,2026-11-23T09:00:00+08:00</cap:references>
            </cap:alert>"#;
        assert_eq!(parse(prefixed.as_bytes()).unwrap().references.len(), 1);
    }

    #[test]
    fn embedded_audio_is_read() {
        let info = INFO.replace(
            "<area>",
            "<resource><resourceDesc>语音</resourceDesc><mimeType>audio/wav</mimeType>\
             <derefUri>UklG\n RkFC</derefUri></resource><area>",
        );
        let c = parse(cap("Actual", "Alert", "", &info).as_bytes()).unwrap();
        assert_eq!(
            c.info.unwrap().audio,
            Some(("audio/wav".into(), b"RIFFAB".to_vec()))
        );
    }

    #[test]
    fn malformed_messages_are_refused_with_the_reason() {
        let ok = cap("Actual", "Alert", "", INFO);
        let cases: Vec<(String, &str)> = vec![
            ("not xml at all".into(), "exactly one root element"),
            ("<alert><unclosed></alert>".into(), "not well-formed XML"),
            (ok.replace("cap:1.2", "cap:1.1"), "not in the CAP 1.2 namespace"),
            (ok.replace("<alert ", "<warning ").replace("</alert>", "</warning>"), "not <alert>"),
            (ok.replace("<identifier>33010620261123001</identifier>", ""), "<alert/identifier> is missing"),
            (ok.replace("<status>Actual", "<status>Real"), "unknown status \"Real\""),
            (ok.replace("<msgType>Alert", "<msgType>Warn"), "unknown msgType"),
            (ok.replace("2026-11-23T10:00:00+08:00", "yesterday"), "<sent> \"yesterday\" is not a date"),
            (cap("Actual", "Cancel", "", INFO), "must name the alerts it references"),
            (cap("Actual", "Alert", "", ""), "needs an <info> block"),
            (ok.replace("<severity>Severe", "<severity>Bad"), "unknown severity"),
            (ok.replace("GB2260", "FIPS").replace("GB/T 2260", "FIPS"), "no <area><geocode>"),
            (ok.replace("<value>330106</value>", "<value>33x1</value>"), "not a GB/T 2260 area code"),
            (
                ok.replace("<area>", "<resource><mimeType>audio/mpeg</mimeType><derefUri>***</derefUri></resource><area>"),
                "not base64",
            ),
            (
                format!("<!DOCTYPE alert [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{ok}"),
                "DOCTYPE is not allowed",
            ),
            (ok.replace("请低洼", "&x;请低洼"), "unknown entity &x;"),
            (
                format!("{}{}{}", "<a>".repeat(40), "x", "</a>".repeat(40)),
                "nested deeper than 32",
            ),
        ];
        for (xml, want) in cases {
            let err = parse(xml.as_bytes()).expect_err(want);
            assert!(err.contains(want), "want {want:?}, got {err:?}");
        }
    }

    #[test]
    fn geocodes_become_area_prefixes() {
        for (code, prefix) in [
            ("330106", "330106"),
            ("330100", "3301"),
            ("330000", "33"),
            ("330106000000", "330106"),
            ("330106001000", "330106001"),
            ("330106001002", "330106001002"),
            ("330106001", "330106001"),
        ] {
            assert_eq!(area_prefix(code).unwrap(), prefix, "{code}");
        }
        for bad in ["3", "3301061", "abcdef", ""] {
            assert!(area_prefix(bad).is_err(), "{bad}");
        }
    }
}
