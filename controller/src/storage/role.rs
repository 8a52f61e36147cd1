//! Users' roles, an enum from the database to the API: what each may do is `access`'s
//! table.

/// A role.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
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

    /// Parses a stored name; unknown names are the least privileged role (only a database
    /// edited by hand holds one).
    pub fn parse(s: &str) -> Self {
        match s {
            "admin" => Self::Admin,
            "operator" => Self::Operator,
            "village_head" => Self::VillageHead,
            _ => Self::Viewer,
        }
    }
}
