//! Who may do what, where. Every handler that acts asks here; nothing else decides.
//!
//! | role | may | where |
//! |---|---|---|
//! | `admin` | everything, including users, the audit log and settings | everywhere |
//! | `operator` | agents, media, broadcasts, live calls, stop, playlists, schedules, quiet hours, alerts, config push, approvals | speakers whose area code starts with one of their scopes |
//! | `village_head` | live calls, and broadcasts of approved media; stop them | the speakers of their one village (a 12-digit scope) |
//! | `viewer` | read | everything they can see (scoped viewers see their areas) |
//!
//! Scope is checked on the agents a request *resolves to*, not on how it was phrased: a
//! target of ids, groups, area prefixes or "all" is resolved first, and every resolved
//! speaker must lie inside the user's scopes.
//!
//! Priority and platform level come from the user, never from the request: the level is
//! the width of the user's scope ([`level_of_scope`]: 12 digits village, 9 township,
//! 6 county, 4 city, 2 province; an admin national), and [`AuthUser::check_priority`]
//! caps what each kind of content may claim (`emergency` belongs to alerts alone).

pub mod auth;

use dalaba_protocol::{AgentId, PlatformLevel, Priority};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::AgentRecord;

pub use crate::role::Role;

/// Something a user may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read anything visible.
    View,
    /// Create, change and disable users; read the audit log; change settings.
    Administer,
    /// Create, edit, retire agents; push configurations.
    ManageAgents,
    /// Upload media; approve media for village heads.
    ManageMedia,
    /// Play stored media to a target.
    Broadcast,
    /// Make a live call.
    Live,
    /// Playlists, schedules, quiet hours.
    Programme,
    /// Issue, approve, reject alerts; import CAP.
    Alert,
    /// Approve a held broadcast or schedule.
    Approve,
}

/// What a request plays, for the priority it may claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Stored media played to a target (a broadcast or a schedule).
    Media,
    /// A live call.
    Live,
}

/// The platform level that an area-code prefix `scope` speaks for: the widest division it
/// covers whole (a 7-digit prefix covers townships, not a county).
pub fn level_of_scope(scope: &str) -> PlatformLevel {
    match scope.len() {
        0 => PlatformLevel::National,
        1..=2 => PlatformLevel::Province,
        3..=4 => PlatformLevel::City,
        5..=6 => PlatformLevel::County,
        7..=9 => PlatformLevel::Township,
        _ => PlatformLevel::Village,
    }
}

/// The platform level of whoever holds `scopes` (a user, a CAP sender) over `areas` (each
/// inside one of them): for each area the widest scope that covers it; over all areas the
/// lowest. Outside every scope: village.
pub fn level_within<'a>(
    scopes: &[String],
    areas: impl IntoIterator<Item = &'a str>,
) -> PlatformLevel {
    areas
        .into_iter()
        .map(|area| {
            scopes
                .iter()
                .filter(|s| area.starts_with(s.as_str()))
                .map(|s| level_of_scope(s))
                .max()
                .unwrap_or(PlatformLevel::Village)
        })
        .min()
        .unwrap_or(PlatformLevel::Village)
}

/// Whether `role` may do `action` at all (scope is checked separately).
pub fn allowed(role: Role, action: Action) -> bool {
    use Action as A;
    match role {
        Role::Admin => true,
        Role::Operator => !matches!(action, A::Administer),
        Role::VillageHead => matches!(action, A::View | A::Broadcast | A::Live),
        Role::Viewer => matches!(action, A::View),
    }
}

impl AuthUser {
    /// Refuses unless the user's role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), AppError> {
        if allowed(self.role, action) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "a {} may not do this ({action:?})",
                self.role.as_str()
            )))
        }
    }

    /// Whether the user's scope covers everything.
    pub fn unscoped(&self) -> bool {
        match self.role {
            Role::Admin => true,
            // A viewer without scopes reads everything; anyone else without scopes reaches
            // nothing.
            Role::Viewer => self.scopes.is_empty(),
            Role::Operator | Role::VillageHead => false,
        }
    }

    /// Whether a speaker with `area_code` is inside the user's scope.
    pub fn covers(&self, area_code: &str) -> bool {
        self.unscoped()
            || self
                .scopes
                .iter()
                .any(|s| area_code.starts_with(s.as_str()))
    }

    /// Whether the whole area named by `prefix` lies inside the user's scope.
    pub fn covers_area(&self, prefix: &str) -> bool {
        self.unscoped() || self.scopes.iter().any(|s| prefix.starts_with(s.as_str()))
    }

    /// Refuses unless every one of `agents` is inside the user's scope. The refusal counts
    /// the speakers outside and never names them: what lies outside a user's areas is not
    /// theirs to learn, not even its ids.
    pub fn check_agents<'a>(
        &self,
        agents: impl IntoIterator<Item = &'a AgentRecord>,
    ) -> Result<(), AppError> {
        let outside = agents
            .into_iter()
            .filter(|a| !self.covers(a.area_code.as_str()))
            .count();
        match outside {
            0 => Ok(()),
            1 => Err(AppError::Forbidden(
                "the target reaches a speaker outside your areas".into(),
            )),
            n => Err(AppError::Forbidden(format!(
                "the target reaches {n} speakers outside your areas"
            ))),
        }
    }

    /// The platform level the user acts at over `areas` (area codes or prefixes, each
    /// inside the user's scope): for each, the widest of the user's scopes that covers it;
    /// over all of them, the lowest. An admin is national.
    pub fn level_over<'a>(&self, areas: impl IntoIterator<Item = &'a str>) -> PlatformLevel {
        if self.role == Role::Admin {
            return PlatformLevel::National;
        }
        level_within(&self.scopes, areas)
    }

    /// The highest priority the user may give `content`: `live` for a live call, and for
    /// stored media `live` (a village head: `scheduled`). `emergency` is for alerts, which
    /// take it without asking.
    pub fn max_priority(&self, content: Content) -> Priority {
        match (content, self.role) {
            (Content::Media, Role::VillageHead) => Priority::Scheduled,
            _ => Priority::Live,
        }
    }

    /// Refuses a `priority` above [`Self::max_priority`].
    pub fn check_priority(&self, content: Content, priority: Priority) -> Result<(), AppError> {
        let max = self.max_priority(content);
        if priority <= max {
            return Ok(());
        }
        let what = match content {
            Content::Media => "stored media",
            Content::Live => "a live call",
        };
        let hint = if priority == Priority::Emergency {
            ": emergency priority belongs to alerts (POST /api/alerts)"
        } else {
            ""
        };
        Err(AppError::Forbidden(format!(
            "a {} may play {what} at {} priority at most{hint}",
            self.role.as_str(),
            priority_name(max)
        )))
    }

    /// Refuses unless every area prefix lies inside the user's scope.
    pub fn check_areas<'a>(
        &self,
        areas: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), AppError> {
        for a in areas {
            if !self.covers_area(a) {
                return Err(AppError::Forbidden(format!(
                    "area {a} is outside your areas"
                )));
            }
        }
        Ok(())
    }
}

fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Background => "background",
        Priority::Scheduled => "scheduled",
        Priority::Live => "live",
        Priority::Emergency => "emergency",
    }
}

/// Checks a role's scopes when a user is created or changed.
pub fn check_scopes(role: Role, scopes: &[String]) -> Result<(), String> {
    for s in scopes {
        if s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("scope {s:?}: an area-code prefix, up to 12 digits"));
        }
    }
    match role {
        Role::Admin if !scopes.is_empty() => Err("an admin has no scopes".into()),
        Role::Operator if scopes.is_empty() || scopes.iter().any(|s| s.len() < 2) => {
            Err("an operator needs at least one area-code prefix of 2 or more digits".into())
        }
        Role::VillageHead if scopes.len() != 1 || scopes[0].len() != 12 => {
            Err("a village head has exactly one scope: a 12-digit village code".into())
        }
        _ => Ok(()),
    }
}

/// An agent the user may see, or 404 (never "exists but not yours").
pub(crate) fn agent_in_scope(
    state: &AppState,
    user: &AuthUser,
    id: &AgentId,
) -> Result<AgentRecord, AppError> {
    state
        .storage
        .agent(id)?
        .filter(|a| user.covers(a.area_code.as_str()))
        .ok_or_else(|| AppError::NotFound(format!("agent {id}")))
}

pub(crate) fn parse_agent_id(id: &str) -> Result<AgentId, AppError> {
    id.parse()
        .map_err(|e| AppError::BadRequest(format!("agent id: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_the_table_says() {
        use Action as A;
        let all = [
            A::View,
            A::Administer,
            A::ManageAgents,
            A::ManageMedia,
            A::Broadcast,
            A::Live,
            A::Programme,
            A::Alert,
            A::Approve,
        ];
        let allowed_for = |r| all.iter().filter(|&&a| allowed(r, a)).count();
        assert_eq!(allowed_for(Role::Admin), 9);
        assert_eq!(allowed_for(Role::Operator), 8);
        assert!(!allowed(Role::Operator, A::Administer));
        assert_eq!(allowed_for(Role::VillageHead), 3);
        assert_eq!(allowed_for(Role::Viewer), 1);
        assert_eq!(
            Role::parse("root"),
            Role::Viewer,
            "unknown roles get least privilege"
        );
    }

    #[test]
    fn levels_follow_the_width_of_the_scope() {
        use PlatformLevel as L;
        for (scope, level) in [
            ("33", L::Province),
            ("3301", L::City),
            ("330106", L::County),
            ("3301060", L::Township),
            ("330106001", L::Township),
            ("330106001001", L::Village),
        ] {
            assert_eq!(level_of_scope(scope), level, "{scope}");
        }
        let user = |role, scopes: &[&str]| AuthUser {
            id: 1,
            name: "u".into(),
            role,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        let op = user(Role::Operator, &["330106", "330107001"]);
        assert_eq!(op.level_over(["330106001001"]), L::County);
        assert_eq!(op.level_over(["330107001002"]), L::Township);
        // Over both, the lower: the level never exceeds any speaker's.
        assert_eq!(op.level_over(["330106001001", "330107001002"]), L::Township);
        assert_eq!(user(Role::Admin, &[]).level_over(["33"]), L::National);
        let head = user(Role::VillageHead, &["330106001001"]);
        assert_eq!(head.level_over(["330106001001"]), L::Village);
        assert!(
            head.check_priority(Content::Media, Priority::Scheduled)
                .is_ok()
        );
        assert!(head.check_priority(Content::Media, Priority::Live).is_err());
        assert!(head.check_priority(Content::Live, Priority::Live).is_ok());
        for role in [Role::Admin, Role::Operator, Role::VillageHead] {
            for content in [Content::Media, Content::Live] {
                assert!(
                    user(role, &["330106001001"])
                        .check_priority(content, Priority::Emergency)
                        .is_err(),
                    "{role:?} {content:?}"
                );
            }
        }
    }

    #[test]
    fn scopes_fit_their_role() {
        assert!(check_scopes(Role::Admin, &[]).is_ok());
        assert!(check_scopes(Role::Admin, &["33".into()]).is_err());
        assert!(check_scopes(Role::Operator, &[]).is_err());
        assert!(check_scopes(Role::Operator, &["330106".into(), "330107".into()]).is_ok());
        assert!(check_scopes(Role::VillageHead, &["330106001".into()]).is_err());
        assert!(check_scopes(Role::VillageHead, &["330106001001".into()]).is_ok());
        assert!(check_scopes(Role::Viewer, &[]).is_ok());
        assert!(check_scopes(Role::Operator, &["33x".into()]).is_err());
    }
}
