//! Plain records that cross the server/browser boundary.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a signed-in user may do. Checked by [`crate::authorize`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages users, datasets and training runs; can do everything a member can.
    Admin,
    /// Inspects images and runs evaluations.
    Member,
    /// Reads and reviews explanations.
    Reviewer,
}

impl Role {
    /// Every role, in the order the UI lists them.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Member, Role::Reviewer];

    /// The name stored in the database and shown in the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Reviewer => "reviewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of admin, member, reviewer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected admin, member or reviewer)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "reviewer" => Ok(Role::Reviewer),
            _ => Err(UnknownRole(s.to_string())),
        }
    }
}

/// A user account as the UI and the CLI see it (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// A background job (training, evaluation, batch inference) as listed on the home page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    pub id: i64,
    pub kind: String,
    pub state: String,
    /// 0.0 ..= 1.0
    pub progress: f64,
    pub owner: String,
    /// Unix seconds.
    pub created_at: i64,
    pub error: Option<String>,
}

/// A model the server can run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub path: String,
}

/// A dataset the server has imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub id: i64,
    pub name: String,
    pub layout: String,
    pub image_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!(" Admin ".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
    }
}
