//! The role policy the server enforces and the dashboard mirrors: which
//! role each action needs, and which grants cover which target. Pure and
//! wasm-safe; the server's `rbac::authorize` turns it into 404/403 answers
//! and the dashboard uses the same code to hide what would be refused
//! (docs/api.md, "Users, teams, roles").
//!
//! Roles are ordered (viewer < operator < deployer < admin < owner). A
//! subject's role on a host is the highest role of every grant whose scope
//! covers the host: `global`, a group the host carries, or the host itself
//! (by id). A host no grant covers does not exist for the subject.

use crate::auth::{Role, RoleGrant, Scope};

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
    /// The lowest role that may do it.
    pub const fn min_role(self) -> Role {
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

    /// What the action is, in words (for "… needs the X role").
    pub fn describe(self) -> &'static str {
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
    /// The target a grant's scope names; a host scope of a host whose
    /// groups are unknown is matched by id alone.
    pub fn scope(scope: &'a Scope) -> Self {
        match scope {
            Scope::Global => Target::Global,
            Scope::Group(g) => Target::Group(g),
            Scope::Host(id) => Target::Host { id, groups: &[] },
        }
    }

    /// Where the target is, in words.
    pub fn describe(self) -> String {
        match self {
            Target::Host { id, .. } => format!("on host {id}"),
            Target::Group(g) => format!("on group {g:?}"),
            Target::Global => "globally".to_string(),
            Target::Anywhere => "in some scope".to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role: Role, scope: Scope) -> RoleGrant {
        RoleGrant { role, scope }
    }

    #[test]
    fn highest_covering_grant_wins() {
        let grants = [
            grant(Role::Viewer, Scope::Global),
            grant(Role::Deployer, Scope::Group("prod".into())),
            grant(Role::Admin, Scope::Host("h9".into())),
        ];
        let prod = ["prod".to_string()];
        let h1 = Target::Host {
            id: "h1",
            groups: &prod,
        };
        assert_eq!(role_on(&grants, h1), Some(Role::Deployer));
        let h9 = Target::Host {
            id: "h9",
            groups: &[],
        };
        assert_eq!(role_on(&grants, h9), Some(Role::Admin));
        assert_eq!(
            role_on(
                &grants[1..],
                Target::Host {
                    id: "h2",
                    groups: &[]
                }
            ),
            None
        );
    }

    #[test]
    fn an_owner_grant_covers_only_its_scope() {
        let grants = [grant(Role::Owner, Scope::Group("prod".into()))];
        let dev = ["dev".to_string()];
        assert_eq!(
            role_on(
                &grants,
                Target::Host {
                    id: "h",
                    groups: &dev
                }
            ),
            None
        );
    }

    #[test]
    fn a_host_scope_matches_the_id_not_a_name() {
        let grants = [grant(Role::Operator, Scope::Host("web-1".into()))];
        assert_eq!(
            role_on(
                &grants,
                Target::Host {
                    id: "3f2a",
                    groups: &[]
                }
            ),
            None
        );
        assert_eq!(
            role_on(
                &grants,
                Target::Host {
                    id: "web-1",
                    groups: &[]
                }
            ),
            Some(Role::Operator)
        );
    }

    #[test]
    fn anywhere_takes_any_grant() {
        let grants = [grant(Role::Admin, Scope::Group("prod".into()))];
        assert_eq!(role_on(&grants, Target::Anywhere), Some(Role::Admin));
        assert_eq!(role_on(&grants, Target::Global), None);
        assert_eq!(role_on(&grants, Target::Group("prod")), Some(Role::Admin));
    }

    #[test]
    fn min_roles_are_ordered_as_documented() {
        assert_eq!(Action::ViewHost.min_role(), Role::Viewer);
        assert_eq!(Action::OperateContainer.min_role(), Role::Operator);
        assert_eq!(Action::Exec.min_role(), Role::Deployer);
        assert_eq!(Action::HostNetwork.min_role(), Role::Admin);
        assert_eq!(Action::ManageAccounts.min_role(), Role::Owner);
    }
}
