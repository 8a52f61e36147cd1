//! What each broadcast is, stored with it: [`BroadcastSpec`], one enum by kind (stored
//! media, a live call, an alert, a scheduled item), written and read back typed. Its JSON
//! (`kind` and the kind's fields) is the `spec_json` column.

use dalaba_protocol::command::PlayMedia;
use dalaba_protocol::types::Severity;
use dalaba_protocol::{Mode, Priority};
use serde::{Deserialize, Serialize};

/// Who a broadcast is for. Any mix; an agent matching any part is included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Target {
    /// Agent ids (point to point).
    #[serde(default)]
    pub agents: Vec<String>,
    /// Area-code prefixes: 6 digits for a county, 9 for a township, 12 for a village.
    #[serde(default)]
    pub areas: Vec<String>,
    /// Group names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Everyone.
    #[serde(default)]
    pub all: bool,
}

/// A broadcast of a library item, made by an operator (or held for approval).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaSpec {
    /// The item.
    pub media_id: u64,
    /// Its file's SHA-256.
    pub media_hash: String,
    /// Who it was for.
    pub target: Target,
    /// The agents that target selected.
    pub agents: Vec<String>,
    /// Its priority.
    pub priority: Priority,
    /// When it starts, µs.
    pub start_at: u64,
    /// Why it waits for a second person's approval, while it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// Who approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Who turned it down while it was held (it was never sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
    /// The command each agent gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play: Option<PlayMedia>,
}

/// A live call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSpec {
    /// The stream its frames carry.
    pub stream_id: u32,
    /// Capture to playout, ms.
    pub latency_ms: u32,
    /// Who it was for.
    pub target: Target,
    /// The agents that target selected.
    pub agents: Vec<String>,
    /// When it was announced, µs.
    pub start_at: u64,
}

/// An emergency alert's broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSpec {
    /// The alert.
    pub alert_id: u64,
    /// Real, test or drill.
    pub mode: Mode,
    /// Its severity.
    pub severity: Severity,
    /// What happened (the alert's event).
    pub event: String,
    /// Its areas.
    pub target: Target,
    /// The agents in them.
    pub agents: Vec<String>,
    /// When it starts, µs.
    pub start_at: u64,
    /// The alert's audio (prelude and message).
    pub media_id: u64,
}

/// One item of one start of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduledSpec {
    /// The schedule.
    pub schedule_id: u64,
    /// The run's planned start.
    pub fire_at: u64,
    /// Position in the run.
    pub item: u32,
    /// The media item.
    pub media_id: u64,
    /// The schedule's target.
    pub target: Target,
    /// The agents it was sent to.
    pub agents: Vec<String>,
    /// Agents left out, with why.
    #[serde(default)]
    pub excluded: Vec<(String, String)>,
    /// When this item starts.
    pub start_at: u64,
    /// The command every agent gets.
    pub play: PlayMedia,
}

/// What a broadcast is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BroadcastSpec {
    /// Being made: the row exists (its id is in the command), its description follows.
    Pending,
    /// Stored media.
    Media(MediaSpec),
    /// A live call.
    Live(LiveSpec),
    /// An alert.
    Alert(AlertSpec),
    /// A scheduled item.
    Scheduled(ScheduledSpec),
}

/// What kind of broadcast it is, as the API shows it and the log is filtered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastKind {
    /// Being made.
    Pending,
    /// Stored media played by an operator.
    Media,
    /// A live call.
    Live,
    /// An emergency alert.
    Alert,
    /// An item of a schedule.
    Scheduled,
}

impl BroadcastKind {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Media => "media",
            Self::Live => "live",
            Self::Alert => "alert",
            Self::Scheduled => "scheduled",
        }
    }
}

impl BroadcastSpec {
    /// Its kind.
    pub fn kind(&self) -> BroadcastKind {
        match self {
            Self::Pending => BroadcastKind::Pending,
            Self::Media(_) => BroadcastKind::Media,
            Self::Live(_) => BroadcastKind::Live,
            Self::Alert(_) => BroadcastKind::Alert,
            Self::Scheduled(_) => BroadcastKind::Scheduled,
        }
    }

    /// The agents it was sent to.
    pub fn agents(&self) -> &[String] {
        match self {
            Self::Pending => &[],
            Self::Media(s) => &s.agents,
            Self::Live(s) => &s.agents,
            Self::Alert(s) => &s.agents,
            Self::Scheduled(s) => &s.agents,
        }
    }

    /// When it starts (a live call: when it was announced), µs.
    pub fn start_at(&self) -> Option<u64> {
        match self {
            Self::Pending => None,
            Self::Media(s) => Some(s.start_at),
            Self::Live(s) => Some(s.start_at),
            Self::Alert(s) => Some(s.start_at),
            Self::Scheduled(s) => Some(s.start_at),
        }
    }

    /// Who it was for.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Self::Pending => None,
            Self::Media(s) => Some(&s.target),
            Self::Live(s) => Some(&s.target),
            Self::Alert(s) => Some(&s.target),
            Self::Scheduled(s) => Some(&s.target),
        }
    }

    /// The library item it plays.
    pub fn media_id(&self) -> Option<u64> {
        match self {
            Self::Pending | Self::Live(_) => None,
            Self::Media(s) => Some(s.media_id),
            Self::Alert(s) => Some(s.media_id),
            Self::Scheduled(s) => Some(s.media_id),
        }
    }

    /// As stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"kind":"pending"}"#.into())
    }

    /// Reads a stored description. Rows written before broadcasts were typed are read too:
    /// `{}` (a broadcast being made) and an alert's `{"kind": "alert"}` alone are
    /// [`BroadcastSpec::Pending`], and stored media without a `kind` is media.
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        let mut value: serde_json::Value = serde_json::from_str(json)?;
        if let Some(object) = value.as_object_mut() {
            let placeholder = object.is_empty()
                || (object.len() == 1 && object.get("kind").is_some_and(|k| k == "alert"));
            if placeholder {
                return Ok(Self::Pending);
            }
            object
                .entry("kind")
                .or_insert_with(|| serde_json::Value::from("media"));
        }
        serde_json::from_value(value)
    }
}

impl rusqlite::types::ToSql for BroadcastSpec {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.to_json().into())
    }
}

impl rusqlite::types::FromSql for BroadcastSpec {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        Self::parse(value.as_str()?).map_err(|e| rusqlite::types::FromSqlError::Other(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_written() {
        let target = Target {
            areas: vec!["330106".into()],
            ..Target::default()
        };
        let specs = [
            BroadcastSpec::Pending,
            BroadcastSpec::Live(LiveSpec {
                stream_id: 7,
                latency_ms: 150,
                target: target.clone(),
                agents: vec!["dong-1".into()],
                start_at: 5,
            }),
            BroadcastSpec::Alert(AlertSpec {
                alert_id: 3,
                mode: Mode::Drill,
                severity: Severity::Orange,
                event: "flood".into(),
                target,
                agents: vec!["dong-1".into(), "xi-1".into()],
                start_at: 9,
                media_id: 4,
            }),
        ];
        for spec in specs {
            assert_eq!(BroadcastSpec::parse(&spec.to_json()).unwrap(), spec);
        }
    }

    #[test]
    fn rows_from_before_the_enum_are_read() {
        assert_eq!(BroadcastSpec::parse("{}").unwrap(), BroadcastSpec::Pending);
        assert_eq!(
            BroadcastSpec::parse(r#"{"kind":"alert"}"#).unwrap(),
            BroadcastSpec::Pending
        );
        let old_media = r#"{"media_id":1,"media_hash":"ab","target":{"all":true},
            "agents":["dong-1"],"priority":"scheduled","start_at":10}"#;
        let spec = BroadcastSpec::parse(old_media).unwrap();
        assert_eq!(spec.kind(), BroadcastKind::Media);
        assert_eq!(spec.agents(), ["dong-1"]);
        assert!(BroadcastSpec::parse(r#"{"kind":"teleport"}"#).is_err());
    }
}
