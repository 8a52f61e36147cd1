//! Alarms: what someone must be told about without looking. A speaker offline for longer
//! than `offline_after_s` (default 5 minutes), a speaker that reports a fault (its sound
//! device or relay board), a speaker whose clock is further than `clock_offset_ms` from
//! the controller's, a speaker whose last broadcast failed (until its next one ends). [`run`] looks every [`EVERY`] at what the speakers last said,
//! raises an alarm when a condition starts and clears it when it ends; each change goes to
//! the configured webhooks (`alarm_hooks`) and bumps the console's live status. An
//! operator acknowledges an alarm (who and when are kept); `/metrics` counts the active
//! ones.

use std::collections::HashMap;
use std::time::Duration;

use dalaba_protocol::control::StatusReport;
use serde::{Deserialize, Serialize};

use crate::access::Action;
use crate::alarm_hooks::{self, Event, Webhook};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::{AgentRecord, Alarm, AlarmKind, Setting};

/// How often the conditions are looked at.
pub const EVERY: Duration = Duration::from_secs(1);

/// The alarm settings (admins): thresholds and where alarms are sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlarmSettings {
    /// A speaker offline for longer than this raises an alarm (1 to 86,400 s; default 300).
    #[serde(default = "default_offline")]
    pub offline_after_s: u32,
    /// A speaker's clock further than this from the controller's raises an alarm
    /// (1 to 600,000 ms; default 1,000).
    #[serde(default = "default_clock")]
    pub clock_offset_ms: u32,
    /// Where alarms are sent as they are raised and cleared (at most 10).
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
}

fn default_offline() -> u32 {
    300
}

fn default_clock() -> u32 {
    1000
}

impl Default for AlarmSettings {
    fn default() -> Self {
        Self {
            offline_after_s: default_offline(),
            clock_offset_ms: default_clock(),
            webhooks: Vec::new(),
        }
    }
}

impl Setting for AlarmSettings {
    const KEY: &'static str = "alarms";
}

impl AlarmSettings {
    fn check(&self) -> Result<(), AppError> {
        if !(1..=86_400).contains(&self.offline_after_s) {
            return Err(AppError::BadRequest(
                "offline_after_s: 1 to 86400 seconds".into(),
            ));
        }
        if !(1..=600_000).contains(&self.clock_offset_ms) {
            return Err(AppError::BadRequest(
                "clock_offset_ms: 1 to 600000 milliseconds".into(),
            ));
        }
        if self.webhooks.len() > 10 {
            return Err(AppError::BadRequest("webhooks: at most 10".into()));
        }
        for (i, hook) in self.webhooks.iter().enumerate() {
            hook.check()
                .map_err(|why| AppError::BadRequest(format!("webhooks[{i}]: {why}")))?;
        }
        Ok(())
    }
}

/// The settings in force.
pub fn settings(state: &AppState, user: &AuthUser) -> Result<AlarmSettings, AppError> {
    user.require(Action::Administer)?;
    Ok(state.storage.setting::<AlarmSettings>()?)
}

/// Sets them, checked.
pub fn set_settings(
    state: &AppState,
    user: &AuthUser,
    settings: AlarmSettings,
) -> Result<AlarmSettings, AppError> {
    user.require(Action::Administer)?;
    settings.check()?;
    state.storage.set_setting(&settings)?;
    Ok(settings)
}

/// An alarm as the console shows it: with the speaker's name and village.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlarmView {
    #[serde(flatten)]
    alarm: Alarm,
    /// The speaker's name.
    agent_name: String,
    /// Its village's code.
    area_code: String,
    /// Its village by name (county, township, village), if named.
    area_name: Option<String>,
}

/// The active alarms and the latest 200 cleared ones in `user`'s areas, newest first.
pub fn list(state: &AppState, user: &AuthUser) -> Result<Vec<AlarmView>, AppError> {
    user.require(Action::View)?;
    let names = crate::areas::Names::load(state)?;
    let agents: HashMap<String, (String, String)> = state
        .storage
        .agents()?
        .into_iter()
        .map(|a| (a.id.to_string(), (a.name, a.area_code.to_string())))
        .collect();
    Ok(state
        .storage
        .alarms(200)?
        .into_iter()
        .filter_map(|alarm| {
            let (name, area) = agents.get(&alarm.agent_id)?.clone();
            user.covers(&area).then(|| AlarmView {
                alarm,
                agent_name: name,
                area_name: names.full(&area),
                area_code: area,
            })
        })
        .collect())
}

/// `user` acknowledges alarm `id` (a speaker in their areas).
pub fn acknowledge(state: &AppState, user: &AuthUser, id: u64) -> Result<(), AppError> {
    let alarm = list(state, user)?
        .into_iter()
        .find(|a| a.alarm.id == id)
        .ok_or_else(|| AppError::NotFound(format!("alarm {id}")))?;
    if alarm.alarm.acked_at.is_some() {
        return Ok(());
    }
    state
        .storage
        .ack_alarm(id, &user.name, state.clock.now_us())?;
    state.changes.bump();
    Ok(())
}

/// How many alarms of each kind are active, for `/metrics`.
pub fn active_counts(state: &AppState) -> Result<Vec<(AlarmKind, usize)>, AppError> {
    let open: Vec<Alarm> = state
        .storage
        .alarms(0)?
        .into_iter()
        .filter(|a| a.cleared_at.is_none())
        .collect();
    Ok(AlarmKind::ALL
        .into_iter()
        .map(|k| (k, open.iter().filter(|a| a.kind == k).count()))
        .collect())
}

/// What is wrong now: each speaker's conditions, with what was seen.
fn conditions(
    state: &AppState,
    agents: &[AgentRecord],
    settings: &AlarmSettings,
    now: u64,
) -> HashMap<(AlarmKind, String), String> {
    let mut found = HashMap::new();
    let offline_after = u64::from(settings.offline_after_s) * 1_000_000;
    let failing: HashMap<String, String> = state.outcomes.failing().into_iter().collect();
    for agent in agents {
        if agent.retired {
            continue;
        }
        let id = agent.id.to_string();
        if let Some(why) = failing.get(&id) {
            found.insert((AlarmKind::BroadcastFailed, id.clone()), why.clone());
        }
        if !state.hub.is_online(&agent.id) {
            // A speaker never heard from (not yet installed) is not missing.
            if let Some(seen) = agent.last_seen
                && now.saturating_sub(seen) > offline_after
            {
                found.insert(
                    (AlarmKind::Offline, id),
                    format!("最后在线 {}", local_time(seen)),
                );
            }
            continue;
        }
        let Some(status) = agent
            .status_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<StatusReport>(j).ok())
        else {
            continue;
        };
        if let Some(error) = status.last_error {
            found.insert((AlarmKind::Fault, id.clone()), error);
        }
        if let Some(offset) = status.clock_offset_us
            && offset.unsigned_abs() > u64::from(settings.clock_offset_ms) * 1000
        {
            found.insert(
                (AlarmKind::Clock, id),
                format!("时钟差 {} 毫秒", offset / 1000),
            );
        }
    }
    found
}

/// `us` (µs since 1970) as people read it, in the schedules' default time zone (Beijing
/// time).
fn local_time(us: u64) -> String {
    let tz = crate::schedule::parse_tz(crate::schedule::DEFAULT_TIME_ZONE)
        .unwrap_or(chrono_tz::Asia::Shanghai);
    chrono::DateTime::from_timestamp_micros(us as i64)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Raises and clears alarms as the conditions come and go, once every [`EVERY`], for
/// ever.
pub async fn run(state: AppState) {
    let hooks = alarm_hooks::Sender::start();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        check(&state, &hooks).await;
    }
}

/// One look, now. It reads every agent, so off the async runtime: connections go on
/// writing the live frames queued to them meanwhile.
pub async fn check(state: &AppState, hooks: &alarm_hooks::Sender) {
    let (state, hooks) = (state.clone(), hooks.clone());
    if let Ok(Err(e)) = crate::state::off_runtime(move || look(&state, &hooks)).await {
        tracing::warn!("alarms: {e}");
    }
}

/// One look: raise what started, clear what ended.
fn look(state: &AppState, hooks: &alarm_hooks::Sender) -> Result<(), AppError> {
    let settings = state.storage.setting::<AlarmSettings>()?;
    let now = state.clock.now_us();
    let agents = state.storage.agents()?;
    let mut now_wrong = conditions(state, &agents, &settings, now);
    // What changed: alarms whose cause went, and new ones.
    let mut events = Vec::new();
    for alarm in state.storage.alarms(0)? {
        if alarm.cleared_at.is_some() {
            continue;
        }
        // Still wrong: nothing to do. Else its cause went. A failed broadcast's cause goes
        // only when the speaker's next one ends (not because the controller restarted).
        let still = now_wrong
            .remove(&(alarm.kind, alarm.agent_id.clone()))
            .is_some()
            || (alarm.kind == AlarmKind::BroadcastFailed
                && state.outcomes.last(&alarm.agent_id).is_none());
        if !still {
            state.storage.clear_alarm(alarm.id, now)?;
            events.push((alarm, true));
        }
    }
    for ((kind, agent), detail) in now_wrong {
        let id = state
            .storage
            .raise_alarm(kind, &agent, Some(&detail), now)?;
        let alarm = Alarm {
            id,
            kind,
            agent_id: agent,
            detail: Some(detail),
            raised_at: now,
            cleared_at: None,
            acked_by: None,
            acked_at: None,
        };
        events.push((alarm, false));
    }
    if events.is_empty() {
        return Ok(());
    }
    // Each speaker as people know it: its village by name, then its own name.
    let areas = crate::areas::Names::load(state)?;
    let name = |id: &str| {
        agents
            .iter()
            .find(|a| a.id.as_str() == id)
            .map(|a| {
                let village = areas
                    .full(a.area_code.as_str())
                    .unwrap_or_else(|| a.area_code.to_string());
                format!("{village} {} ({})", a.name, a.id)
            })
            .unwrap_or_else(|| id.to_owned())
    };
    for (alarm, cleared) in events {
        let speaker = name(&alarm.agent_id);
        let event = if cleared {
            Event::cleared(&alarm, &speaker, now)
        } else {
            Event::raised(&alarm, &speaker)
        };
        hooks.send(&settings.webhooks, event);
    }
    state.changes.bump();
    Ok(())
}
