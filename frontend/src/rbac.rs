//! What the signed-in user may do on each host, computed from the grants of
//! `GET /api/v1/auth/me` and the hosts' groups with the very policy the
//! server enforces (`berth_api::rbac`: the highest role of every grant whose
//! scope covers the host). The server stays the judge; this only hides
//! buttons that would be refused.

use berth_api::auth::{Me, Role, RoleGrant};
use berth_api::hosts::Host;
use berth_api::rbac::{Action, Target};

/// The user's role on `host`, if any grant covers it.
pub fn role_on(grants: &[RoleGrant], host: &Host) -> Option<Role> {
    berth_api::rbac::role_on(
        grants,
        Target::Host {
            id: &host.id,
            groups: &host.groups,
        },
    )
}

/// The highest role anywhere: decides which admin pages appear.
pub fn highest(me: &Me) -> Option<Role> {
    berth_api::rbac::role_on(&me.roles, Target::Anywhere)
}

/// Owners only: users, teams (server-wide settings).
pub fn is_owner(me: &Me) -> bool {
    allows(highest(me), Action::ManageAccounts.min_role())
}

/// Admin somewhere (role bindings and the audit log, inside that scope).
pub fn is_admin_somewhere(me: &Me) -> bool {
    allows(highest(me), Role::Admin)
}

/// May join hosts: an admin anywhere (globally, or into the groups they
/// administer, as the server checks when the token is made).
pub fn may_join_hosts(me: &Me) -> bool {
    allows(highest(me), Action::JoinHost.min_role())
}

/// The role needed for each thing a page offers (the server's
/// [`Action::min_role`]).
pub mod need {
    use berth_api::auth::Role;
    use berth_api::rbac::Action;
    /// Start, stop, restart, kill, pause, unpause.
    pub const LIFECYCLE: Role = Action::OperateContainer.min_role();
    /// Logs.
    pub const LOGS: Role = Action::ReadLogs.min_role();
    /// Create and remove containers, pull, import, remove images, exec.
    pub const DEPLOY: Role = Action::CreateContainer.min_role();
    /// Host bind mounts, removing hosts.
    pub const ADMIN: Role = Action::ManageHost.min_role();
}

/// Is `have` at least `need`?
pub fn allows(have: Option<Role>, need: Role) -> bool {
    have.is_some_and(|r| r >= need)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::auth::Scope;
    use berth_api::hosts::{CgroupMode, HostFacts, HostStatus};

    fn host(id: &str, groups: &[&str]) -> Host {
        Host {
            id: id.into(),
            name: format!("{id}-name"),
            address: String::new(),
            status: HostStatus::Online,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            labels: Default::default(),
            facts: HostFacts {
                kernel: String::new(),
                os: String::new(),
                cgroup: CgroupMode::V2,
                cpus: 1,
                memory_bytes: 1,
                hostname: String::new(),
                arch: String::new(),
            },
            runtimes: vec![],
            last_seen: None,
            agent_version: None,
            agent_outdated: false,
            allow_internal_registries: false,
            bind_mount_allowlist: vec![],
        }
    }

    fn grant(role: Role, scope: Scope) -> RoleGrant {
        RoleGrant { role, scope }
    }

    #[test]
    fn highest_covering_grant_wins() {
        let grants = vec![
            grant(Role::Viewer, Scope::Global),
            grant(Role::Deployer, Scope::Group("prod".into())),
            grant(Role::Admin, Scope::Host("h3".into())),
        ];
        assert_eq!(role_on(&grants, &host("h1", &[])), Some(Role::Viewer));
        assert_eq!(
            role_on(&grants, &host("h2", &["prod"])),
            Some(Role::Deployer)
        );
        assert_eq!(role_on(&grants, &host("h3", &["prod"])), Some(Role::Admin));
    }

    #[test]
    fn as_the_server_decides() {
        // An owner grant covers its scope only, and a host scope names the
        // host's id, not its name (berth_api::rbac, which the server uses).
        let grants = vec![grant(Role::Owner, Scope::Group("prod".into()))];
        assert_eq!(role_on(&grants, &host("h1", &["dev"])), None);
        let grants = vec![grant(Role::Operator, Scope::Host("h1-name".into()))];
        assert_eq!(role_on(&grants, &host("h1", &[])), None);
        // A group admin may join hosts into their groups.
        let me = |roles| Me {
            id: "u".into(),
            username: "u".into(),
            roles,
        };
        assert!(may_join_hosts(&me(vec![grant(
            Role::Admin,
            Scope::Group("prod".into())
        )])));
        assert!(!may_join_hosts(&me(vec![grant(
            Role::Deployer,
            Scope::Global
        )])));
    }

    #[test]
    fn no_grant_no_role() {
        let grants = vec![grant(Role::Admin, Scope::Group("dev".into()))];
        assert_eq!(role_on(&grants, &host("h1", &["prod"])), None);
        assert!(!allows(role_on(&grants, &host("h1", &[])), need::LIFECYCLE));
        assert!(allows(Some(Role::Deployer), need::LIFECYCLE));
        assert!(!allows(Some(Role::Operator), need::DEPLOY));
    }
}
