//! What the signed-in user may do on each host, computed from the grants of
//! `GET /api/v1/auth/me` and the hosts' groups, exactly as the server decides
//! (docs/api.md, "Roles" and "Scope"): the highest role of every grant
//! whose scope covers the host. The server stays the judge; this only hides
//! buttons that would be refused.

use berth_api::auth::{Me, Role, RoleGrant, Scope};
use berth_api::hosts::Host;

/// Does `scope` cover `host`?
pub fn covers(scope: &Scope, host: &Host) -> bool {
    match scope {
        Scope::Global => true,
        Scope::Group(g) => host.groups.iter().any(|hg| hg == g),
        Scope::Host(h) => *h == host.id || *h == host.name,
    }
}

/// The user's role on `host`, if any grant covers it.
pub fn role_on(grants: &[RoleGrant], host: &Host) -> Option<Role> {
    grants
        .iter()
        .filter(|g| g.role == Role::Owner || covers(&g.scope, host))
        .map(|g| g.role)
        .max()
}

/// The highest role anywhere: decides which admin pages appear.
pub fn highest(me: &Me) -> Option<Role> {
    me.roles.iter().map(|g| g.role).max()
}

/// Owners only: users, teams (server-wide settings).
pub fn is_owner(me: &Me) -> bool {
    me.roles.iter().any(|g| g.role == Role::Owner)
}

/// Admin somewhere (role bindings and the audit log, inside that scope).
pub fn is_admin_somewhere(me: &Me) -> bool {
    highest(me).is_some_and(|r| r >= Role::Admin)
}

/// May join hosts: an admin with a global grant, or an owner.
pub fn may_join_hosts(me: &Me) -> bool {
    me.roles
        .iter()
        .any(|g| g.role == Role::Owner || (g.role >= Role::Admin && g.scope == Scope::Global))
}

/// The role needed for each thing a page offers.
pub mod need {
    use berth_api::auth::Role;
    /// Start, stop, restart, kill, pause, unpause.
    pub const LIFECYCLE: Role = Role::Operator;
    /// Logs.
    pub const LOGS: Role = Role::Operator;
    /// Create and remove containers, pull, import, remove images, exec.
    pub const DEPLOY: Role = Role::Deployer;
    /// Host bind mounts, removing hosts.
    pub const ADMIN: Role = Role::Admin;
}

/// Is `have` at least `need`?
pub fn allows(have: Option<Role>, need: Role) -> bool {
    have.is_some_and(|r| r >= need)
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn no_grant_no_role() {
        let grants = vec![grant(Role::Admin, Scope::Group("dev".into()))];
        assert_eq!(role_on(&grants, &host("h1", &["prod"])), None);
        assert!(!allows(role_on(&grants, &host("h1", &[])), need::LIFECYCLE));
        assert!(allows(Some(Role::Deployer), need::LIFECYCLE));
        assert!(!allows(Some(Role::Operator), need::DEPLOY));
    }
}
