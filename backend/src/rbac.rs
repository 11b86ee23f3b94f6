//! Role-based access: the one `authorize(subject, action, target)` every
//! handler calls (docs/api.md, "Users, teams, roles").
//!
//! Roles are ordered (viewer < operator < deployer < admin < owner) and each
//! action needs a minimum role. A subject's role on a host is the highest role
//! of every grant (its own bindings and its teams') whose scope covers the
//! host: `global`, a group the host carries, or the host itself. A host no
//! grant covers does not exist for the subject: 404, never 403.

use berth_api::auth::{Role, RoleGrant, Scope};

use crate::auth::Principal;
use crate::db::hosts::HostRecord;
use crate::error::ApiError;

/// What a handler is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See hosts, containers, images, stats, metrics, namespaces, cgroups.
    ViewHost,
    /// Read container logs.
    ReadLogs,
    /// See secrets in views: env values of container specs and full command
    /// lines (containers' and host processes'). Below it they are redacted.
    ReadSecrets,
    /// start, stop, restart, kill, pause, unpause.
    OperateContainer,
    CreateContainer,
    RemoveContainer,
    /// Pull, import and remove images.
    ManageImages,
    Exec,
    /// Host bind mounts in a container spec.
    BindMount,
    /// `network: host` in a container spec (or joining the network of a
    /// container that has it): the host's loopback services and raw sockets.
    HostNetwork,
    /// Create join tokens for hosts that land in the scope.
    JoinHost,
    /// Rename, regroup, relabel and remove hosts.
    ManageHost,
    /// Set a host's bind-mount allowlist.
    SetBindMountPolicy,
    /// Create and delete role bindings (up to admin) inside the scope.
    GrantRoles,
    ReadAudit,
    /// List users and teams (to grant them roles).
    ViewAccounts,
    /// Create, change and delete users and teams.
    ManageAccounts,
}

impl Action {
    pub fn min_role(self) -> Role {
        match self {
            Action::ViewHost => Role::Viewer,
            Action::ReadLogs | Action::OperateContainer => Role::Operator,
            Action::CreateContainer
            | Action::RemoveContainer
            | Action::ManageImages
            | Action::ReadSecrets
            | Action::Exec => Role::Deployer,
            Action::BindMount
            | Action::HostNetwork
            | Action::JoinHost
            | Action::ManageHost
            | Action::GrantRoles
            | Action::ReadAudit
            | Action::ViewAccounts => Role::Admin,
            Action::ManageAccounts | Action::SetBindMountPolicy => Role::Owner,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Action::ViewHost => "seeing this host",
            Action::ReadLogs => "reading logs",
            Action::ReadSecrets => "seeing env values and command lines",
            Action::OperateContainer => "starting and stopping containers",
            Action::CreateContainer => "creating containers",
            Action::RemoveContainer => "removing containers",
            Action::ManageImages => "pulling, importing and removing images",
            Action::Exec => "exec in containers",
            Action::BindMount => "host bind mounts",
            Action::HostNetwork => "the host's network (network \"host\")",
            Action::JoinHost => "joining hosts",
            Action::ManageHost => "changing and removing hosts",
            Action::GrantRoles => "granting roles",
            Action::ReadAudit => "reading the audit log",
            Action::ViewAccounts => "listing users and teams",
            Action::ManageAccounts => "managing users and teams",
            Action::SetBindMountPolicy => "setting the bind-mount allowlist",
        }
    }
}

/// What an action applies to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// One host (its id and groups decide which grants cover it).
    Host { id: &'a str, groups: &'a [String] },
    /// Every host carrying a group.
    Group(&'a str),
    /// Everything: needs a global grant.
    Global,
    /// Anywhere: a grant in any scope will do (the handler then narrows
    /// what it shows to the grant's scopes).
    Anywhere,
}

impl<'a> Target<'a> {
    pub fn host(h: &'a HostRecord) -> Self {
        Target::Host {
            id: &h.id,
            groups: &h.groups,
        }
    }

    pub fn scope(scope: &'a Scope, host: Option<&'a HostRecord>) -> Self {
        match (scope, host) {
            (Scope::Global, _) => Target::Global,
            (Scope::Group(g), _) => Target::Group(g),
            (Scope::Host(_), Some(h)) => Target::host(h),
            (Scope::Host(id), None) => Target::Host { id, groups: &[] },
        }
    }
}

/// Does a grant's scope cover the target?
pub fn covers(scope: &Scope, target: Target<'_>) -> bool {
    match (scope, target) {
        (Scope::Global, _) => true,
        (Scope::Group(g), Target::Host { groups, .. }) => groups.iter().any(|x| x == g),
        (Scope::Group(g), Target::Group(t)) => g == t,
        (Scope::Host(h), Target::Host { id, .. }) => h == id,
        (_, Target::Anywhere) => true,
        _ => false,
    }
}

/// The highest role any grant gives on the target, if any.
pub fn role_on(grants: &[RoleGrant], target: Target<'_>) -> Option<Role> {
    grants
        .iter()
        .filter(|g| covers(&g.scope, target))
        .map(|g| g.role)
        .max()
}

/// May `subject` do `action` on `target`? `Err` is 404 for a host the subject
/// cannot see, else 403 naming the role needed.
pub fn authorize(subject: &Principal, action: Action, target: Target<'_>) -> Result<(), ApiError> {
    let need = action.min_role();
    let have = role_on(&subject.grants, target);
    match (have, target) {
        (Some(r), _) if r >= need => Ok(()),
        (None, Target::Host { id, .. }) => Err(ApiError::NotFound(format!("no host {id}"))),
        (Some(r), Target::Host { .. }) => Err(ApiError::Forbidden(format!(
            "{} needs the {need} role on this host; you have {r}",
            action.describe()
        ))),
        (Some(r), _) => Err(ApiError::Forbidden(format!(
            "{} needs the {need} role {}; you have {r}",
            action.describe(),
            where_(target)
        ))),
        (None, _) => Err(ApiError::Forbidden(format!(
            "{} needs the {need} role {}",
            action.describe(),
            where_(target)
        ))),
    }
}

fn where_(target: Target<'_>) -> String {
    match target {
        Target::Host { id, .. } => format!("on host {id}"),
        Target::Group(g) => format!("on group {g:?}"),
        Target::Global => "globally".to_string(),
        Target::Anywhere => "in some scope".to_string(),
    }
}

/// May `subject` grant `role` in `scope`? Owners may grant anything; others
/// need admin over the scope and may grant at most admin.
pub fn authorize_grant(
    subject: &Principal,
    role: Role,
    scope: &Scope,
    host: Option<&HostRecord>,
) -> Result<(), ApiError> {
    let target = Target::scope(scope, host);
    // A host the subject cannot see stays invisible, whatever the role asked.
    if let Target::Host { .. } = target
        && role_on(&subject.grants, target).is_none()
    {
        return authorize(subject, Action::GrantRoles, target);
    }
    if role > Role::Admin && !subject.is_owner() {
        return Err(ApiError::Forbidden(format!(
            "only an owner may grant the {role} role"
        )));
    }
    authorize(subject, Action::GrantRoles, target)
}

/// Is the host visible to the subject (any role on it)?
pub fn can_see(subject: &Principal, host: &HostRecord) -> bool {
    role_on(&subject.grants, Target::host(host)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Credential;

    fn who(grants: Vec<(Role, Scope)>) -> Principal {
        Principal {
            user_id: "u".into(),
            username: "u".into(),
            grants: grants
                .into_iter()
                .map(|(role, scope)| RoleGrant { role, scope })
                .collect(),
            credential: Credential::ApiToken { id: "t".into() },
        }
    }

    fn host(id: &str, groups: &[&str]) -> (String, Vec<String>) {
        (
            id.to_string(),
            groups.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn highest_covering_role_wins() {
        let p = who(vec![
            (Role::Viewer, Scope::Global),
            (Role::Deployer, Scope::Group("prod".into())),
            (Role::Admin, Scope::Host("h9".into())),
        ]);
        let (id, groups) = host("h1", &["prod"]);
        let t = Target::Host {
            id: &id,
            groups: &groups,
        };
        assert_eq!(role_on(&p.grants, t), Some(Role::Deployer));
        assert!(authorize(&p, Action::CreateContainer, t).is_ok());
        assert!(matches!(
            authorize(&p, Action::ManageHost, t),
            Err(ApiError::Forbidden(_))
        ));
        let (id, groups) = host("h2", &["dev"]);
        let t = Target::Host {
            id: &id,
            groups: &groups,
        };
        assert_eq!(role_on(&p.grants, t), Some(Role::Viewer));
    }

    #[test]
    fn out_of_scope_hosts_do_not_exist() {
        let p = who(vec![(Role::Admin, Scope::Group("prod".into()))]);
        let (id, groups) = host("h2", &["dev"]);
        let t = Target::Host {
            id: &id,
            groups: &groups,
        };
        assert!(matches!(
            authorize(&p, Action::ViewHost, t),
            Err(ApiError::NotFound(_))
        ));
    }

    #[test]
    fn admins_grant_at_most_admin_inside_their_scope() {
        let p = who(vec![(Role::Admin, Scope::Group("prod".into()))]);
        assert!(authorize_grant(&p, Role::Admin, &Scope::Group("prod".into()), None).is_ok());
        assert!(authorize_grant(&p, Role::Owner, &Scope::Group("prod".into()), None).is_err());
        assert!(authorize_grant(&p, Role::Viewer, &Scope::Group("dev".into()), None).is_err());
        assert!(authorize_grant(&p, Role::Viewer, &Scope::Global, None).is_err());
        let owner = who(vec![(Role::Owner, Scope::Global)]);
        assert!(authorize_grant(&owner, Role::Owner, &Scope::Global, None).is_ok());
    }
}
