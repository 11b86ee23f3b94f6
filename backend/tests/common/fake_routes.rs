//! The fake agent's routes: every `Endpoint` of berth-api, each with its
//! handler (an exhaustive match, like the agent's router), and the typed
//! query extractor its handlers share with nothing but berth-api's types.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use berth_api::agent_api::{Endpoint, Method, QueryParams};

use super::*;

/// A route's typed query, as the agent reads it (400 naming the parameter).
pub(super) struct Q<T>(pub(super) T);

impl<T: QueryParams, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| problem(400, &e.body_text()))?;
        T::from_pairs(&pairs.0)
            .map(Q)
            .map_err(|e| problem(400, &e.detail))
    }
}

/// The handler of each endpoint; the match is exhaustive, like the agent's.
pub(super) fn route(e: Endpoint) -> MethodRouter<Arc<FakeState>> {
    use Endpoint as E;
    let m = match e.method() {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Delete => MethodFilter::DELETE,
    };
    match e {
        E::Info => on(m, info),
        E::Leave => on(m, leave),
        E::ListContainers => on(m, list),
        E::CreateContainer => on(m, create),
        E::InspectContainer => on(m, inspect),
        E::RemoveContainer => on(m, remove),
        E::ContainerAction => on(m, action),
        E::Logs => on(m, logs),
        E::Stats => on(m, samples),
        E::HostMetrics => on(m, host_samples),
        E::StatsStream => on(m, stats_stream),
        E::ContainerNamespaces => on(m, container_namespaces),
        E::Namespaces => on(m, namespaces),
        E::Exec => on(m, exec),
        E::ListImages => on(m, images),
        E::ImageUsage => on(m, image_usage),
        E::PullImage => on(m, pull),
        E::ImportImage => on(m, import),
        E::RemoveImage => on(m, delete_image),
        E::HostMetricsStream => on(m, metrics_stream),
        E::Cgroups => on(m, cgroups),
        E::Prometheus => on(m, || async { "berth_containers{state=\"running\"} 0\n" }),
    }
}
