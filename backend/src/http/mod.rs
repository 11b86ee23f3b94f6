//! The REST API (docs/api.md): every route declared once, in
//! [`api_routes`].
//!
//! A route is declared with its access ([`Access`], enforced by the
//! [`authorize`] middleware before the handler runs), its audit row
//! ([`Audit`]) and its handler, whose `#[utoipa::path]` alone gives the
//! method, the path and the OpenAPI operation (see [`route`]). The router,
//! the endpoint table ([`endpoints`], walked by the RBAC matrix test,
//! tests/rbac_matrix.rs) and the OpenAPI document ([`document_json`]) all
//! come from these declarations.

pub mod audit_log;
pub mod authorize;
pub mod bindings;
pub mod container_queries;
pub mod containers;
pub mod exec;
pub mod guard;
pub mod hosts;
pub mod images;
pub mod inventory;
pub mod proxy;
pub mod route;
pub mod session;
pub mod setup;
pub mod stats;
pub mod system;
pub mod teams;
pub mod tokens;
pub mod users;

use std::sync::OnceLock;

use axum::http::{Method, Uri};
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::routes;

pub use crate::audit::Audit;
use crate::error::ApiError;
use crate::openapi::{self, Document};
pub use crate::rbac::Access;
use crate::state::AppState;
pub use route::{Endpoint, Routes};

use crate::rbac::Action::*;
use Access::*;

/// Every route of the API (and `/metrics`), declared once.
pub fn api_routes(r: Routes) -> Routes {
    let r = account_routes(r);
    let r = host_routes(r);
    let r = container_routes(r);
    image_routes(r)
}

/// Setup, sessions, users, teams, roles, tokens, the audit log.
fn account_routes(r: Routes) -> Routes {
    r.route(Public, Audit::NONE, routes!(system::health))
        .route(Public, Audit::NONE, routes!(system::openapi_json))
        .route(MetricsToken, Audit::NONE, routes!(system::prometheus))
        .route(Public, Audit::new("setup"), routes!(setup::setup))
        .route(Public, Audit::new("auth.login"), routes!(session::login))
        .route(Public, Audit::new("auth.logout"), routes!(session::logout))
        .route(User, Audit::NONE, routes!(session::me))
        .route(Anywhere(ViewAccounts), Audit::NONE, routes!(users::list))
        .route(
            Global(ManageAccounts),
            Audit::new("user.create"),
            routes!(users::create),
        )
        .route(
            SelfOrAnywhere(ViewAccounts),
            Audit::NONE,
            routes!(users::get),
        )
        .route(
            SelfOrGlobal(ManageAccounts),
            Audit::new("user.update"),
            routes!(users::patch),
        )
        .route(
            Global(ManageAccounts),
            Audit::new("user.delete"),
            routes!(users::delete),
        )
        .route(Anywhere(ViewAccounts), Audit::NONE, routes!(teams::list))
        .route(
            Global(ManageAccounts),
            Audit::new("team.create"),
            routes!(teams::create),
        )
        .route(Anywhere(ViewAccounts), Audit::NONE, routes!(teams::get))
        .route(
            Global(ManageAccounts),
            Audit::new("team.delete"),
            routes!(teams::delete),
        )
        .route(
            Global(ManageAccounts),
            Audit::new("team.add_member"),
            routes!(teams::add_member),
        )
        .route(
            Global(ManageAccounts),
            Audit::new("team.remove_member"),
            routes!(teams::remove_member),
        )
        .route(Anywhere(GrantRoles), Audit::NONE, routes!(bindings::list))
        .route(
            Anywhere(GrantRoles),
            Audit::new("role_binding.create"),
            routes!(bindings::create),
        )
        .route(
            Anywhere(GrantRoles),
            Audit::new("role_binding.delete"),
            routes!(bindings::delete),
        )
        .route(User, Audit::NONE, routes!(tokens::list))
        .route(User, Audit::new("token.create"), routes!(tokens::create))
        .route(User, Audit::new("token.delete"), routes!(tokens::delete))
        .route(Anywhere(ReadAudit), Audit::NONE, routes!(audit_log::list))
}

/// Hosts: joining, settings, metrics and inventory.
fn host_routes(r: Routes) -> Routes {
    r.route(User, Audit::NONE, routes!(hosts::list))
        .route(
            Anywhere(JoinHost),
            Audit::new("host.join_token"),
            routes!(hosts::join_token),
        )
        .route(
            JoinSecret,
            Audit::new("host.register"),
            routes!(hosts::register),
        )
        .route(Host(ViewHost), Audit::NONE, routes!(hosts::get))
        .route(
            Host(ManageHost),
            Audit::new("host.update"),
            routes!(hosts::patch),
        )
        .route(
            Host(ManageHost),
            Audit::new("host.delete"),
            routes!(hosts::delete),
        )
        .route(Host(ViewHost), Audit::NONE, routes!(inventory::metrics))
        .route(
            Host(ViewHost),
            Audit::NONE,
            routes!(inventory::metrics_stream),
        )
        .route(Host(ViewHost), Audit::NONE, routes!(inventory::namespaces))
        .route(Host(ViewHost), Audit::NONE, routes!(inventory::cgroups))
}

/// Containers: the fleet list, the lifecycle, logs, stats and exec.
fn container_routes(r: Routes) -> Routes {
    r.route(User, Audit::NONE, routes!(containers::list_all))
        .route(Host(ViewHost), Audit::NONE, routes!(containers::list))
        .route(
            Host(CreateContainer),
            Audit::new("container.create"),
            routes!(containers::create),
        )
        .route(Host(ViewHost), Audit::NONE, routes!(containers::get))
        .route(
            Host(RemoveContainer),
            Audit::new("container.delete"),
            routes!(containers::delete),
        )
        .route(
            Host(OperateContainer),
            Audit::ContainerAction,
            routes!(containers::action),
        )
        .route(Host(ReadLogs), Audit::NONE, routes!(containers::logs))
        .route(Host(ViewHost), Audit::NONE, routes!(containers::stats))
        .route(
            Host(ViewHost),
            Audit::NONE,
            routes!(containers::stats_stream),
        )
        .route(Host(ViewHost), Audit::NONE, routes!(containers::namespaces))
        .route(QueryHosts(ViewHost), Audit::NONE, routes!(stats::stream))
        .route(
            Host(Exec),
            Audit::new("container.exec_ticket"),
            routes!(exec::exec_ticket),
        )
        .route(
            Host(Exec),
            Audit::new("container.exec"),
            routes!(exec::exec),
        )
}

/// Images of a host.
fn image_routes(r: Routes) -> Routes {
    r.route(Host(ViewHost), Audit::NONE, routes!(images::list))
        .route(
            Host(ManageImages),
            Audit::new("image.pull"),
            routes!(images::pull),
        )
        .route(
            Host(ManageImages),
            Audit::new("image.import"),
            routes!(images::import),
        )
        .route(
            Host(ManageImages),
            Audit::new("image.delete"),
            routes!(images::delete),
        )
}

/// The declarations, built once for their table and document.
fn declared() -> &'static (Vec<Endpoint>, String) {
    static DECLARED: OnceLock<(Vec<Endpoint>, String)> = OnceLock::new();
    DECLARED.get_or_init(|| {
        let (_, paths, endpoints) = api_routes(Routes::table()).finish();
        let mut doc = openapi::ApiDoc::openapi();
        doc.merge(paths);
        doc.info.version = berth_api::VERSION.to_string();
        let mut v = serde_json::to_value(&doc).unwrap_or_default();
        openapi::complete(&mut v, |method, path| {
            endpoint(&endpoints, method, path).map(|e| e.access)
        });
        let json = serde_json::to_string(&v).unwrap_or_else(|_| "{}".to_string());
        (endpoints, json)
    })
}

fn endpoint<'a>(endpoints: &'a [Endpoint], method: &str, path: &str) -> Option<&'a Endpoint> {
    endpoints
        .iter()
        .find(|e| e.method == method && e.path == path)
}

/// Every endpoint of the server, with its row.
pub fn endpoints() -> &'static [Endpoint] {
    &declared().0
}

/// The OpenAPI document as JSON (built once from the declarations).
pub fn document_json() -> &'static str {
    &declared().1
}

/// Every API route (and `/metrics`), with its middleware, over `state`.
pub fn api_router(state: &AppState) -> Router<AppState> {
    let (router, _, _) = api_routes(Routes::serving(state.clone())).finish();
    router.layer(Extension(Document(document_json())))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_table_is_consistent() {
        let all = endpoints();
        assert!(all.len() > 50, "{}", all.len());
        let unique: BTreeSet<_> = all.iter().map(|e| (e.method, e.path.as_str())).collect();
        assert_eq!(unique.len(), all.len(), "an endpoint is declared twice");
        for e in all {
            // A `{host}` in the path is authorized on that host, and only
            // such paths are.
            assert_eq!(
                e.path.contains("{host}"),
                matches!(e.access, Access::Host(_)),
                "{} {}",
                e.method,
                e.path
            );
            assert_eq!(
                e.method != "GET" || e.path.ends_with("/exec"),
                e.audit.prefix().is_some(),
                "{} {}: mutating calls (and exec) are audited, reads are not",
                e.method,
                e.path
            );
        }
        let doc: serde_json::Value = serde_json::from_str(document_json()).unwrap_or_default();
        for e in all {
            let op = &doc["paths"][&e.path][e.method.to_lowercase()];
            assert!(op.is_object(), "{} {} is not documented", e.method, e.path);
        }
    }
}
