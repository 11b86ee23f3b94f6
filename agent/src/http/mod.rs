//! The agent's HTTP API: the routes of `berth_api::agent_api::Endpoint`,
//! each served by a handler of a resource module ([`route`] says which),
//! behind the request-signature check (docs/agent-protocol.md).

pub mod containers;
pub mod error;
pub mod exec;
pub mod inventory;
pub mod metrics;
pub mod system;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{MethodFilter, MethodRouter, on};
use berth_api::agent_api::{Endpoint, Method};
use chrono::{DateTime, Utc};

use crate::auth::Auth;
use crate::containers::Containers;
use crate::images::ImageStore;
use error::problem_response;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub auth: Auth,
    pub containers: Containers,
    pub images: ImageStore,
    pub metrics: crate::metrics::Metrics,
    /// The Docker engine on this host, when one answers.
    pub docker: Option<Arc<dyn crate::docker::Engine>>,
    pub config: Arc<crate::config::Config>,
    pub started_at: DateTime<Utc>,
}

/// The method of an endpoint, for axum's router.
pub fn method_filter(m: Method) -> MethodFilter {
    match m {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Delete => MethodFilter::DELETE,
    }
}

/// The handler of each endpoint. The match is exhaustive: an endpoint
/// declared in berth-api and not served here does not compile.
fn route(e: Endpoint, images: &Arc<ImageStore>) -> MethodRouter<AppState> {
    use Endpoint as E;
    let m = method_filter(e.method());
    match e {
        E::Info => on(m, system::info),
        E::Leave => on(m, system::leave),
        E::ListContainers => on(m, containers::list),
        E::CreateContainer => on(m, containers::create),
        E::InspectContainer => on(m, containers::inspect),
        E::RemoveContainer => on(m, containers::remove),
        E::ContainerAction => on(m, containers::action),
        E::Logs => on(m, containers::logs),
        E::Stats => on(m, metrics::stats),
        E::StatsStream => on(m, metrics::stats_stream),
        E::ContainerNamespaces => on(m, inventory::container_namespaces),
        E::Exec => on(m, exec::exec),
        E::HostMetrics => on(m, metrics::host),
        E::HostMetricsStream => on(m, metrics::host_stream),
        E::Namespaces => on(m, inventory::namespaces),
        E::Cgroups => on(m, inventory::cgroups),
        E::Prometheus => on(m, metrics::prometheus),
        E::ListImages | E::ImageUsage | E::PullImage | E::ImportImage | E::RemoveImage => {
            match crate::images::http::route(e) {
                Some(r) => r.with_state(images.clone()),
                None => on(m, || async {
                    problem_response(StatusCode::NOT_FOUND, "no such endpoint")
                }),
            }
        }
    }
}

/// The whole API, signed requests only.
pub fn router(state: AppState) -> Router {
    let auth = state.auth.clone();
    let images = Arc::new(state.images.clone());
    Endpoint::ALL
        .iter()
        .copied()
        .fold(Router::new(), |r, e| {
            r.route(e.pattern(), route(e, &images))
        })
        .with_state(state)
        .fallback(|| async { problem_response(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            problem_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            auth,
            crate::auth::require_signature,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_module_serves_every_image_endpoint() {
        use Endpoint as E;
        for &e in Endpoint::ALL {
            let image = matches!(
                e,
                E::ListImages | E::ImageUsage | E::PullImage | E::ImportImage | E::RemoveImage
            );
            assert_eq!(crate::images::http::route(e).is_some(), image, "{e:?}");
        }
    }
}
