//! The configuration file as written: every field optional (defaults fill the gaps) and
//! carrying its position in the file, so a bad value can be reported with its line.
//! Unknown keys are refused, so a misspelt key is caught instead of silently ignored.

use serde::Deserialize;
use toml::Spanned;

pub(crate) type Field<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) identity: RawIdentity,
    #[serde(default)]
    pub(crate) controller: RawController,
    #[serde(default)]
    pub(crate) audio: RawAudio,
    #[serde(default)]
    pub(crate) relay: RawRelay,
    #[serde(default)]
    pub(crate) cache: RawCache,
    #[serde(default)]
    pub(crate) schedule: RawSchedule,
    #[serde(default)]
    pub(crate) log: RawLog,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentity {
    pub(crate) agent_id: Field<String>,
    pub(crate) area_code: Field<String>,
    pub(crate) name: Field<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawController {
    pub(crate) url: Field<String>,
    pub(crate) public_key: Field<String>,
    pub(crate) tls_fingerprint: Field<String>,
    pub(crate) enrolment_token: Field<String>,
    pub(crate) reconnect_max_s: Field<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAudio {
    pub(crate) device: Field<String>,
    pub(crate) volume: Field<i64>,
    #[serde(default)]
    pub(crate) max_volume: RawCaps,
    pub(crate) quiet_hours: Option<RawQuietHours>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCaps {
    pub(crate) live: Field<i64>,
    pub(crate) scheduled: Field<i64>,
    pub(crate) background: Field<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuietHours {
    pub(crate) start: Field<String>,
    pub(crate) end: Field<String>,
    pub(crate) max_volume: Field<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRelay {
    pub(crate) board: Field<String>,
    pub(crate) port: Field<String>,
    pub(crate) baud: Field<i64>,
    pub(crate) unit_id: Field<i64>,
    pub(crate) channels: Field<Vec<i64>>,
    pub(crate) warm_up_ms: Field<i64>,
    pub(crate) hold_ms: Field<i64>,
    pub(crate) max_on_s: Field<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub(crate) dir: Field<String>,
    pub(crate) max_mb: Field<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    pub(crate) offline: Field<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub(crate) level: Field<String>,
    pub(crate) format: Field<String>,
}
