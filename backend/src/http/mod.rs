//! The REST API (docs/api.md): the endpoint table and the router built
//! from it.
//!
//! [`ENDPOINTS`] lists every endpoint with the access it needs and the audit
//! action it records. The router is built through [`Routes::add`], which
//! refuses a route without a row, and [`Routes::finish`] refuses a row
//! without a route; the RBAC matrix test (tests/rbac_matrix.rs) walks the
//! table, so an endpoint can't be added without being tested.

pub mod audit_log;
pub mod bindings;
pub mod container_queries;
pub mod containers;
pub mod exec;
pub mod guard;
pub mod hosts;
pub mod images;
pub mod inventory;
pub mod proxy;
pub mod session;
pub mod setup;
pub mod stats;
pub mod system;
pub mod teams;
pub mod tokens;
pub mod users;

use axum::Router;
use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::routing::{MethodFilter, on};

use crate::error::ApiError;
use crate::rbac::Action;
use crate::state::AppState;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not.
    Public,
    /// An agent holding a join secret.
    JoinSecret,
    /// A scraper holding the metrics token (`BERTH_METRICS_TOKEN`); not
    /// served when none is configured.
    MetricsToken,
    /// Any logged-in user; the answer covers what the user may see.
    User,
    /// A role on the `{host}` in the path (404 when the host is out of scope).
    Host(Action),
    /// A role on every host the query names (`container=<host>/<c>`); one
    /// out of scope makes the call 404, as with `Host`.
    QueryHosts(Action),
    /// A role in some scope; the answer is narrowed to the caller's scopes.
    Anywhere(Action),
    /// A global role.
    Global(Action),
}

/// One row of the endpoint table.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub method: &'static str,
    /// The axum path, `{param}` style.
    pub path: &'static str,
    pub access: Access,
    /// The audit action (`{param}` filled in from the path), or "" when the
    /// call is not audited (reads).
    pub audit: &'static str,
}

const fn ep(
    method: &'static str,
    path: &'static str,
    access: Access,
    audit: &'static str,
) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        audit,
    }
}

use Access::*;
use Action::*;

/// Every endpoint of the server.
pub const ENDPOINTS: &[Endpoint] = &[
    // setup and sessions
    ep("GET", "/api/v1/health", Public, ""),
    ep("GET", "/api/v1/openapi.json", Public, ""),
    ep("GET", "/metrics", MetricsToken, ""),
    ep("POST", "/api/v1/setup", Public, "setup"),
    ep("POST", "/api/v1/auth/login", Public, "auth.login"),
    ep("POST", "/api/v1/auth/logout", Public, "auth.logout"),
    ep("GET", "/api/v1/auth/me", User, ""),
    // users, teams, roles, tokens, audit
    ep("GET", "/api/v1/users", Anywhere(ViewAccounts), ""),
    ep(
        "POST",
        "/api/v1/users",
        Global(ManageAccounts),
        "user.create",
    ),
    ep("GET", "/api/v1/users/{id}", Anywhere(ViewAccounts), ""),
    ep(
        "PATCH",
        "/api/v1/users/{id}",
        Global(ManageAccounts),
        "user.update",
    ),
    ep(
        "DELETE",
        "/api/v1/users/{id}",
        Global(ManageAccounts),
        "user.delete",
    ),
    ep("GET", "/api/v1/teams", Anywhere(ViewAccounts), ""),
    ep(
        "POST",
        "/api/v1/teams",
        Global(ManageAccounts),
        "team.create",
    ),
    ep("GET", "/api/v1/teams/{id}", Anywhere(ViewAccounts), ""),
    ep(
        "DELETE",
        "/api/v1/teams/{id}",
        Global(ManageAccounts),
        "team.delete",
    ),
    ep(
        "PUT",
        "/api/v1/teams/{id}/members/{user_id}",
        Global(ManageAccounts),
        "team.add_member",
    ),
    ep(
        "DELETE",
        "/api/v1/teams/{id}/members/{user_id}",
        Global(ManageAccounts),
        "team.remove_member",
    ),
    ep("GET", "/api/v1/role-bindings", Anywhere(GrantRoles), ""),
    ep(
        "POST",
        "/api/v1/role-bindings",
        Anywhere(GrantRoles),
        "role_binding.create",
    ),
    ep(
        "DELETE",
        "/api/v1/role-bindings/{id}",
        Anywhere(GrantRoles),
        "role_binding.delete",
    ),
    ep("GET", "/api/v1/tokens", User, ""),
    ep("POST", "/api/v1/tokens", User, "token.create"),
    ep("DELETE", "/api/v1/tokens/{id}", User, "token.delete"),
    ep("GET", "/api/v1/audit", Anywhere(ReadAudit), ""),
    // hosts
    ep("GET", "/api/v1/hosts", User, ""),
    ep(
        "POST",
        "/api/v1/hosts/join-tokens",
        Anywhere(JoinHost),
        "host.join_token",
    ),
    ep(
        "POST",
        "/api/v1/hosts/register",
        JoinSecret,
        "host.register",
    ),
    ep("GET", "/api/v1/hosts/{host}", Host(ViewHost), ""),
    ep(
        "PATCH",
        "/api/v1/hosts/{host}",
        Host(ManageHost),
        "host.update",
    ),
    ep(
        "DELETE",
        "/api/v1/hosts/{host}",
        Host(ManageHost),
        "host.delete",
    ),
    ep("GET", "/api/v1/hosts/{host}/metrics", Host(ViewHost), ""),
    ep(
        "GET",
        "/api/v1/hosts/{host}/metrics/stream",
        Host(ViewHost),
        "",
    ),
    ep("GET", "/api/v1/hosts/{host}/namespaces", Host(ViewHost), ""),
    ep("GET", "/api/v1/hosts/{host}/cgroups", Host(ViewHost), ""),
    // containers
    ep("GET", "/api/v1/containers", User, ""),
    ep("GET", "/api/v1/hosts/{host}/containers", Host(ViewHost), ""),
    ep(
        "POST",
        "/api/v1/hosts/{host}/containers",
        Host(CreateContainer),
        "container.create",
    ),
    ep(
        "GET",
        "/api/v1/hosts/{host}/containers/{c}",
        Host(ViewHost),
        "",
    ),
    ep(
        "DELETE",
        "/api/v1/hosts/{host}/containers/{c}",
        Host(RemoveContainer),
        "container.delete",
    ),
    ep(
        "POST",
        "/api/v1/hosts/{host}/containers/{c}/{action}",
        Host(OperateContainer),
        "container.{action}",
    ),
    ep(
        "GET",
        "/api/v1/hosts/{host}/containers/{c}/logs",
        Host(ReadLogs),
        "",
    ),
    ep(
        "GET",
        "/api/v1/hosts/{host}/containers/{c}/stats",
        Host(ViewHost),
        "",
    ),
    ep(
        "GET",
        "/api/v1/hosts/{host}/containers/{c}/stats/stream",
        Host(ViewHost),
        "",
    ),
    ep(
        "GET",
        "/api/v1/hosts/{host}/containers/{c}/namespaces",
        Host(ViewHost),
        "",
    ),
    ep("GET", "/api/v1/stats/stream", QueryHosts(ViewHost), ""),
    ep(
        "POST",
        "/api/v1/hosts/{host}/containers/{c}/exec-ticket",
        Host(Exec),
        "container.exec_ticket",
    ),
    ep(
        "GET",
        "/api/v1/hosts/{host}/containers/{c}/exec",
        Host(Exec),
        "container.exec",
    ),
    // images
    ep("GET", "/api/v1/hosts/{host}/images", Host(ViewHost), ""),
    ep(
        "POST",
        "/api/v1/hosts/{host}/images/pull",
        Host(ManageImages),
        "image.pull",
    ),
    ep(
        "POST",
        "/api/v1/hosts/{host}/images/import",
        Host(ManageImages),
        "image.import",
    ),
    ep(
        "DELETE",
        "/api/v1/hosts/{host}/images/{image}",
        Host(ManageImages),
        "image.delete",
    ),
];

/// The row of a method and axum path.
pub fn endpoint(method: &str, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .find(|e| e.method == method && e.path == path)
}

/// A router that only takes routes the table knows.
struct Routes {
    router: Router<AppState>,
    added: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            added: Vec::new(),
        }
    }

    fn add<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        assert!(
            endpoint(method, path).is_some(),
            "{method} {path} has no row in http::ENDPOINTS"
        );
        let m = Method::from_bytes(method.as_bytes()).expect("a valid method");
        let filter = MethodFilter::try_from(m).expect("a routable method");
        self.router = self.router.route(path, on(filter, handler));
        self.added.push((method, path));
        self
    }

    fn finish(self) -> Router<AppState> {
        let missing: Vec<_> = ENDPOINTS
            .iter()
            .filter(|e| !self.added.contains(&(e.method, e.path)))
            .map(|e| format!("{} {}", e.method, e.path))
            .collect();
        assert!(
            missing.is_empty(),
            "rows of http::ENDPOINTS without a route: {missing:?}"
        );
        self.router
    }
}

/// Every API route (and `/metrics`).
pub fn api_router() -> Router<AppState> {
    Routes::new()
        .add("GET", "/api/v1/health", system::health)
        .add("GET", "/api/v1/openapi.json", system::openapi_json)
        .add("GET", "/metrics", system::prometheus)
        .add("POST", "/api/v1/setup", setup::setup)
        .add("POST", "/api/v1/auth/login", session::login)
        .add("POST", "/api/v1/auth/logout", session::logout)
        .add("GET", "/api/v1/auth/me", session::me)
        .add("GET", "/api/v1/users", users::list)
        .add("POST", "/api/v1/users", users::create)
        .add("GET", "/api/v1/users/{id}", users::get)
        .add("PATCH", "/api/v1/users/{id}", users::patch)
        .add("DELETE", "/api/v1/users/{id}", users::delete)
        .add("GET", "/api/v1/teams", teams::list)
        .add("POST", "/api/v1/teams", teams::create)
        .add("GET", "/api/v1/teams/{id}", teams::get)
        .add("DELETE", "/api/v1/teams/{id}", teams::delete)
        .add(
            "PUT",
            "/api/v1/teams/{id}/members/{user_id}",
            teams::add_member,
        )
        .add(
            "DELETE",
            "/api/v1/teams/{id}/members/{user_id}",
            teams::remove_member,
        )
        .add("GET", "/api/v1/role-bindings", bindings::list)
        .add("POST", "/api/v1/role-bindings", bindings::create)
        .add("DELETE", "/api/v1/role-bindings/{id}", bindings::delete)
        .add("GET", "/api/v1/tokens", tokens::list)
        .add("POST", "/api/v1/tokens", tokens::create)
        .add("DELETE", "/api/v1/tokens/{id}", tokens::delete)
        .add("GET", "/api/v1/audit", audit_log::list)
        .add("GET", "/api/v1/hosts", hosts::list)
        .add("POST", "/api/v1/hosts/join-tokens", hosts::join_token)
        .add("POST", "/api/v1/hosts/register", hosts::register)
        .add("GET", "/api/v1/hosts/{host}", hosts::get)
        .add("PATCH", "/api/v1/hosts/{host}", hosts::patch)
        .add("DELETE", "/api/v1/hosts/{host}", hosts::delete)
        .add("GET", "/api/v1/hosts/{host}/metrics", inventory::metrics)
        .add(
            "GET",
            "/api/v1/hosts/{host}/metrics/stream",
            inventory::metrics_stream,
        )
        .add(
            "GET",
            "/api/v1/hosts/{host}/namespaces",
            inventory::namespaces,
        )
        .add("GET", "/api/v1/hosts/{host}/cgroups", inventory::cgroups)
        .add("GET", "/api/v1/containers", containers::list_all)
        .add("GET", "/api/v1/hosts/{host}/containers", containers::list)
        .add(
            "POST",
            "/api/v1/hosts/{host}/containers",
            containers::create,
        )
        .add(
            "GET",
            "/api/v1/hosts/{host}/containers/{c}",
            containers::get,
        )
        .add(
            "DELETE",
            "/api/v1/hosts/{host}/containers/{c}",
            containers::delete,
        )
        .add(
            "POST",
            "/api/v1/hosts/{host}/containers/{c}/{action}",
            containers::action,
        )
        .add(
            "GET",
            "/api/v1/hosts/{host}/containers/{c}/logs",
            containers::logs,
        )
        .add(
            "GET",
            "/api/v1/hosts/{host}/containers/{c}/stats",
            containers::stats,
        )
        .add(
            "GET",
            "/api/v1/hosts/{host}/containers/{c}/stats/stream",
            containers::stats_stream,
        )
        .add(
            "GET",
            "/api/v1/hosts/{host}/containers/{c}/namespaces",
            containers::namespaces,
        )
        .add("GET", "/api/v1/stats/stream", stats::stream)
        .add(
            "POST",
            "/api/v1/hosts/{host}/containers/{c}/exec-ticket",
            exec::exec_ticket,
        )
        .add(
            "GET",
            "/api/v1/hosts/{host}/containers/{c}/exec",
            exec::exec,
        )
        .add("GET", "/api/v1/hosts/{host}/images", images::list)
        .add("POST", "/api/v1/hosts/{host}/images/pull", images::pull)
        .add("POST", "/api/v1/hosts/{host}/images/import", images::import)
        .add(
            "DELETE",
            "/api/v1/hosts/{host}/images/{image}",
            images::delete,
        )
        .finish()
}

/// Unknown API paths.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", uri.path()))
}

/// Known paths with the wrong method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> axum::response::Response {
    let p = berth_api::Problem::new(405, format!("{} does not take {method}", uri.path()));
    crate::error::problem_response(&p)
}
