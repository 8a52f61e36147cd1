//! Four eyes for wide or night broadcasts: a configurable rule holds a stored-media
//! broadcast until a second authorised user (not its author; an admin, or an operator
//! whose areas cover every speaker it reaches) approves it.
//!
//! The rule (`GET`/`PUT /api/settings/approval`, admins) can hold a broadcast that
//! targets everyone, that names an area prefix of `max_prefix_digits` digits or fewer
//! (6: a whole county or wider), that reaches `min_speakers` speakers or more, or that is
//! daily content (scheduled or background priority) starting during quiet hours for any
//! of its speakers. The default holds nothing; the README suggests a rule.
//!
//! Not held: live calls (they cannot wait) and emergency alerts, which have their own
//! policy (`DALABA_CAP_POLICY` for CAP feeds; an operator's alert is theirs to send).

use dalaba_protocol::Priority;
use serde::{Deserialize, Serialize};

use crate::access::Action;
use crate::auth::AuthUser;
use crate::broadcast_spec::Target;
use crate::error::AppError;
use crate::schedule::quiet_rule;
use crate::state::AppState;
use crate::storage::{AgentRecord, Setting};

/// When a broadcast needs a second person.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    /// Hold broadcasts to everyone.
    #[serde(default)]
    pub all_targets: bool,
    /// Hold broadcasts naming an area prefix this short or shorter (0: off).
    #[serde(default)]
    pub max_prefix_digits: usize,
    /// Hold broadcasts reaching this many speakers or more (0: off).
    #[serde(default)]
    pub min_speakers: usize,
    /// Hold daily content that starts during quiet hours for any of its speakers.
    #[serde(default)]
    pub quiet_hours: bool,
}

impl Setting for ApprovalRule {
    const KEY: &'static str = "approval_rule";
}

/// The rule in force.
pub fn rule(state: &AppState) -> Result<ApprovalRule, AppError> {
    Ok(state.storage.setting::<ApprovalRule>()?)
}

/// Why a broadcast of `priority` starting at `start_at` to `target` (resolved to
/// `reached`) must wait for approval, if it must.
pub fn reason(
    state: &AppState,
    target: &Target,
    reached: &[&AgentRecord],
    priority: Priority,
    start_at: u64,
) -> Result<Option<String>, AppError> {
    let rule = rule(state)?;
    if rule.all_targets && target.all {
        return Ok(Some("发给全部喇叭 / it targets every speaker".into()));
    }
    if rule.max_prefix_digits > 0 {
        if let Some(a) = target
            .areas
            .iter()
            .find(|a| a.len() <= rule.max_prefix_digits)
        {
            let name = crate::areas::Names::load(state)?
                .full(a)
                .map(|n| format!("{n} "))
                .unwrap_or_default();
            return Ok(Some(format!(
                "整个区域 {name}{a} / it targets the whole area {a} ({} digits or fewer)",
                rule.max_prefix_digits
            )));
        }
    }
    if rule.min_speakers > 0 && reached.len() >= rule.min_speakers {
        return Ok(Some(format!(
            "{n} 个喇叭 / it reaches {n} speakers ({} or more)",
            rule.min_speakers,
            n = reached.len(),
        )));
    }
    if rule.quiet_hours && priority <= Priority::Scheduled {
        let quiet = crate::scheduler::quiet_hours(state)?;
        if let Some(a) = reached.iter().find(|a| {
            quiet_rule(&quiet, a.area_code.as_str()).is_some_and(|r| r.contains(start_at))
        }) {
            return Ok(Some(format!(
                "在静音时段播放 / it starts during quiet hours for {} ({})",
                a.id, a.area_code
            )));
        }
    }
    Ok(None)
}

/// Replaces the rule (administrators); the rule now in force.
pub fn set_rule(
    state: &AppState,
    user: &AuthUser,
    new: ApprovalRule,
) -> Result<ApprovalRule, AppError> {
    user.require(Action::Administer)?;
    if new.max_prefix_digits > 12 {
        return Err(AppError::BadRequest("max_prefix_digits: 0 to 12".into()));
    }
    state.storage.set_setting(&new)?;
    tracing::info!(user = %user.name, rule = ?new, "approval rule set");
    Ok(new)
}
