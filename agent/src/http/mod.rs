//! The agent's HTTP API (docs/agent-protocol.md, "The agent's API"): each
//! resource module exposes `router()`; [`router`] merges them behind the
//! request-signature check.

pub mod containers;
pub mod error;
pub mod exec;
pub mod inventory;
pub mod metrics;
pub mod system;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
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

/// The whole API, signed requests only.
pub fn router(state: AppState) -> Router {
    let auth = state.auth.clone();
    let images = Arc::new(state.images.clone());
    Router::new()
        .merge(system::router())
        .merge(containers::router())
        .merge(exec::router())
        .merge(inventory::router())
        .merge(metrics::router())
        .with_state(state)
        .merge(crate::images::http::router().with_state(images))
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
