//! Setup, sessions, users, teams, roles, role bindings, API tokens and the
//! audit log (docs/api.md, "Setup and sessions" and "Users, teams, ...").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Name of the session cookie set by login.
pub const SESSION_COOKIE: &str = "berth_session";
/// Header a cookie-authenticated mutating request must carry, with value `1`.
pub const CSRF_HEADER: &str = "x-berth-csrf";
// The limits and name shapes are declared in `limits` (the OpenAPI
// schemas read them there); they are part of this module's API.
pub use crate::limits::{
    MAX_AUDIT_LIMIT, MAX_NAME_LEN, MAX_PASSWORD_LEN, MAX_TOKEN_NAME_LEN, MIN_PASSWORD_LEN,
    is_valid_name, name_pattern,
};

/// `POST /api/v1/setup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupRequest {
    pub setup_token: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::account_name))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::password))]
    pub password: String,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Answer to a login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: Me,
}

/// The permission tiers, lowest to highest; each has every right of those
/// below it, so they compare with `<`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Deployer,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Operator,
        Role::Deployer,
        Role::Admin,
        Role::Owner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?}: expected viewer, operator, deployer, admin or owner")
            })
    }
}

/// Where a role binding applies: `"global"`, `{"group": "<name>"}` or
/// `{"host": "<id>"}`.
/// (Its OpenAPI schema is written by hand below: a group name has a pattern.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Global,
    Group(String),
    Host(String),
}

#[cfg(feature = "openapi")]
/// `"global"`, `{"group": "<name>"}` or `{"host": "<id>"}`.
impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        let one = |key: &str, value: utoipa::openapi::Object| {
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Object)
                .property(key, value)
                .required(key)
                .additional_properties(Some(
                    utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                ))
        };
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(crate::schema::string().enum_values(Some(["global"])))
            .item(one("group", crate::schema::group()))
            .item(one("host", crate::schema::string().build()))
            .description(Some(
                "where a role applies: \"global\", {\"group\": name} or {\"host\": id}",
            ))
            .into()
    }
}
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Scope {}

/// One role a subject holds, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleGrant {
    pub role: Role,
    pub scope: Scope,
}

/// `GET /api/v1/auth/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub id: String,
    pub username: String,
    /// Every grant: the user's own bindings and those of its teams.
    pub roles: Vec<RoleGrant>,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUser {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::account_name))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::password))]
    pub password: String,
}

/// `PATCH /api/v1/users/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PatchUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::password))]
    pub password: Option<String>,
    /// Required when users change their own password (with a session, not
    /// an API token): the password they have now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::current_password))]
    pub current_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// A team and its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Team {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub members: Vec<TeamMember>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamMember {
    pub id: String,
    pub username: String,
}

/// `POST /api/v1/teams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTeam {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::account_name))]
    pub name: String,
}

/// Who a role binding is for: `{"user": id}` or `{"team": id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    User(String),
    Team(String),
}

/// `POST /api/v1/role-bindings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateRoleBinding {
    pub subject: Subject,
    pub role: Role,
    pub scope: Scope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleBinding {
    pub id: String,
    pub subject: Subject,
    pub role: Role,
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateToken {
    /// 1 to 64 characters, surrounding white space trimmed.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::token_name))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Answer to `POST /api/v1/tokens`: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    pub id: String,
    pub token: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: String,
    pub time: DateTime<Utc>,
    /// Username of the actor (or `-` when unauthenticated).
    pub actor: String,
    /// What was done, e.g. `container.create`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The object acted on (container name, user id, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The client's address.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scope_wire_forms() {
        assert_eq!(
            serde_json::to_value(Scope::Global).unwrap(),
            json!("global")
        );
        assert_eq!(
            serde_json::to_value(Scope::Group("prod".into())).unwrap(),
            json!({"group": "prod"})
        );
        let s: Scope = serde_json::from_value(json!({"host": "h1"})).unwrap();
        assert_eq!(s, Scope::Host("h1".into()));
        assert!(serde_json::from_value::<Scope>(json!("everywhere")).is_err());
    }

    #[test]
    fn subject_wire_forms() {
        let s: Subject = serde_json::from_value(json!({"team": "t1"})).unwrap();
        assert_eq!(s, Subject::Team("t1".into()));
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Viewer < Role::Operator);
        assert!(Role::Admin < Role::Owner);
        assert_eq!("deployer".parse::<Role>().unwrap(), Role::Deployer);
        assert!("root".parse::<Role>().is_err());
    }
}
