//! Declaring a route once: [`Routes::route`] takes the route's access and
//! audit row and the handler (`routes!(handler)`, whose `#[utoipa::path]`
//! gives the method, the path and the OpenAPI operation). The row becomes
//! extensions of the route's method router, read by the audit and
//! authorize middleware that wrap it, and an [`Endpoint`] of the table the
//! RBAC matrix test walks and the OpenAPI completion reads.
//!
//! A route can't be added without a row: `route` is the only way in.

use axum::Extension;
use axum::middleware::from_fn_with_state;
use utoipa::openapi::path::PathItem;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use super::{authorize, guard};
use crate::audit::{self, Audit};
use crate::rbac::Access;
use crate::state::AppState;

/// One endpoint: a method and path with the row declared for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Upper case (`GET`).
    pub method: &'static str,
    /// The axum (and OpenAPI) path, `{param}` style.
    pub path: String,
    pub access: Access,
    pub audit: Audit,
}

/// The methods a path item has operations for.
fn methods(item: &PathItem) -> Vec<&'static str> {
    [
        ("GET", item.get.is_some()),
        ("PUT", item.put.is_some()),
        ("POST", item.post.is_some()),
        ("DELETE", item.delete.is_some()),
        ("OPTIONS", item.options.is_some()),
        ("HEAD", item.head.is_some()),
        ("PATCH", item.patch.is_some()),
        ("TRACE", item.trace.is_some()),
    ]
    .into_iter()
    .filter_map(|(m, has)| has.then_some(m))
    .collect()
}

/// The routes being declared. Built for serving (with the state the
/// middleware needs) or only for the table and the document.
pub struct Routes {
    router: OpenApiRouter<AppState>,
    endpoints: Vec<Endpoint>,
    state: Option<AppState>,
}

impl Routes {
    /// Routes that will be served: each gets the audit, cross-origin and
    /// authorize middleware.
    pub fn serving(state: AppState) -> Self {
        Routes {
            router: OpenApiRouter::new(),
            endpoints: Vec::new(),
            state: Some(state),
        }
    }

    /// Routes declared only for their table and document (never served:
    /// they have no middleware).
    pub fn table() -> Self {
        Routes {
            router: OpenApiRouter::new(),
            endpoints: Vec::new(),
            state: None,
        }
    }

    /// Declares a route: who may call it, what it records in the audit
    /// trail, and its handler (`routes!(handler)`).
    pub fn route(
        mut self,
        access: Access,
        audit: Audit,
        (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
    ) -> Self {
        for (path, item) in &paths.paths {
            for method in methods(item) {
                self.endpoints.push(Endpoint {
                    method,
                    path: path.clone(),
                    access,
                    audit,
                });
            }
        }
        // Outermost first when a request comes in: the row's extensions,
        // the audit (so refusals are recorded), the origin check, then
        // authorization; the handler last.
        let mut method_router = method_router;
        if let Some(state) = &self.state {
            method_router = method_router
                .route_layer(from_fn_with_state(state.clone(), authorize::layer))
                .route_layer(from_fn_with_state(state.clone(), guard::cross_origin))
                .route_layer(from_fn_with_state(state.clone(), audit::layer));
        }
        let method_router = method_router
            .route_layer(Extension(access))
            .route_layer(Extension(audit));
        self.router = self.router.routes((schemas, paths, method_router));
        self
    }

    /// The router, its generated document (paths and the schemas they
    /// use) and the endpoint table.
    pub fn finish(
        self,
    ) -> (
        axum::Router<AppState>,
        utoipa::openapi::OpenApi,
        Vec<Endpoint>,
    ) {
        let (router, doc) = self.router.split_for_parts();
        (router, doc, self.endpoints)
    }
}
