//! Role-based access: the one `authorize(subject, action, target)` the
//! authorize middleware (`http::authorize`) and the handlers' fine-grained
//! checks call (docs/api.md, "Users, teams, roles"), and the [`Access`] a
//! route declares.
//!
//! Roles are ordered (viewer < operator < deployer < admin < owner) and each
//! action needs a minimum role. A subject's role on a host is the highest role
//! of every grant (its own bindings and its teams') whose scope covers the
//! host: `global`, a group the host carries, or the host itself. A host no
//! grant covers does not exist for the subject: 404, never 403.

use berth_api::auth::{Role, RoleGrant, Scope};
pub use berth_api::rbac::{Action, Target, covers, role_on};

use crate::db::hosts::HostRecord;
use crate::error::ApiError;

/// Whoever holds grants: the caller (`auth::Principal` implements it, so
/// this module does not depend on authentication).
pub trait Subject {
    /// Every grant the subject holds (its own and its teams').
    fn grants(&self) -> &[RoleGrant];

    /// Does the subject hold the owner role globally?
    fn is_owner(&self) -> bool {
        self.grants()
            .iter()
            .any(|g| g.role == Role::Owner && g.scope == Scope::Global)
    }
}

/// Who may call a route: declared with the route (`http::api_routes`) and
/// enforced by the authorize middleware before the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not.
    Public,
    /// An agent holding a join secret (checked by the handler, which
    /// consumes the join token).
    JoinSecret,
    /// A scraper holding the metrics token (`BERTH_METRICS_TOKEN`); not
    /// served when none is configured.
    MetricsToken,
    /// Any logged-in user; the answer covers what the user may see.
    User,
    /// A role on the `{host}` in the path (404 when the host is unknown or
    /// out of scope).
    Host(Action),
    /// A role on every host the query names (`container=<host>/<c>`); one
    /// out of scope makes the call 404, as with `Host`. The handler checks
    /// each host through the row's action.
    QueryHosts(Action),
    /// A role in some scope; the answer is narrowed to the caller's scopes.
    Anywhere(Action),
    /// A global role.
    Global(Action),
    /// Like `Anywhere`, except that a user may always reach its own `{id}`.
    SelfOrAnywhere(Action),
    /// Like `Global`, except that a user may always reach its own `{id}`
    /// (what the body asks may still need the role: the handler checks).
    SelfOrGlobal(Action),
}

impl Access {
    /// Does the route need a logged-in caller?
    pub fn needs_login(self) -> bool {
        !matches!(
            self,
            Access::Public | Access::JoinSecret | Access::MetricsToken
        )
    }
}

/// The target of a record the server holds: a host by its id and groups.
pub fn host_target(h: &HostRecord) -> Target<'_> {
    Target::Host {
        id: &h.id,
        groups: &h.groups,
    }
}

/// The target of a grant's scope; a host scope uses the host's groups when
/// the host is known.
pub fn scope_target<'a>(scope: &'a Scope, host: Option<&'a HostRecord>) -> Target<'a> {
    match (scope, host) {
        (Scope::Host(_), Some(h)) => host_target(h),
        _ => Target::scope(scope),
    }
}

/// May `subject` do `action` on `target`? `Err` is 404 for a host the subject
/// cannot see, else 403 naming the role needed.
pub fn authorize(
    subject: &(impl Subject + ?Sized),
    action: Action,
    target: Target<'_>,
) -> Result<(), ApiError> {
    let need = action.min_role();
    let have = role_on(subject.grants(), target);
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
            target.describe()
        ))),
        (None, _) => Err(ApiError::Forbidden(format!(
            "{} needs the {need} role {}",
            action.describe(),
            target.describe()
        ))),
    }
}

/// May `subject` grant `role` in `scope`? Owners may grant anything; others
/// need admin over the scope and may grant at most admin.
pub fn authorize_grant(
    subject: &(impl Subject + ?Sized),
    role: Role,
    scope: &Scope,
    host: Option<&HostRecord>,
) -> Result<(), ApiError> {
    let target = scope_target(scope, host);
    // A host the subject cannot see stays invisible, whatever the role asked.
    if let Target::Host { .. } = target
        && role_on(subject.grants(), target).is_none()
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
pub fn can_see(subject: &(impl Subject + ?Sized), host: &HostRecord) -> bool {
    role_on(subject.grants(), host_target(host)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Who {
        grants: Vec<RoleGrant>,
    }

    impl Subject for Who {
        fn grants(&self) -> &[RoleGrant] {
            &self.grants
        }
    }

    fn who(grants: Vec<(Role, Scope)>) -> Who {
        Who {
            grants: grants
                .into_iter()
                .map(|(role, scope)| RoleGrant { role, scope })
                .collect(),
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
