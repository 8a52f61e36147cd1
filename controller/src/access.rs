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

use crate::api::AppError;
use crate::auth::AuthUser;
use crate::storage::AgentRecord;

/// A role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, everywhere.
    Admin,
    /// Runs the platform for their areas.
    Operator,
    /// Speaks to their own village.
    VillageHead,
    /// Reads.
    Viewer,
}

impl Role {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::VillageHead => "village_head",
            Self::Viewer => "viewer",
        }
    }

    /// Parses a stored name; unknown names are the least privileged role.
    pub fn parse(s: &str) -> Self {
        match s {
            "admin" => Self::Admin,
            "operator" => Self::Operator,
            "village_head" => Self::VillageHead,
            _ => Self::Viewer,
        }
    }
}

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

    /// Refuses unless every one of `agents` is inside the user's scope.
    pub fn check_agents<'a>(
        &self,
        agents: impl IntoIterator<Item = &'a AgentRecord>,
    ) -> Result<(), AppError> {
        let outside: Vec<String> = agents
            .into_iter()
            .filter(|a| !self.covers(a.area_code.as_str()))
            .map(|a| a.id.to_string())
            .collect();
        if outside.is_empty() {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "outside your areas: {}",
                outside.join(", ")
            )))
        }
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
