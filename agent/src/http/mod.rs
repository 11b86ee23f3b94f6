//! The agent's HTTP API: `berth_net::agent_service::router` over
//! [`AppState`], which implements `AgentService` (`service.rs`), behind the
//! request-signature check (docs/agent-protocol.md).
//!
//! A request about one container goes to the [`engine::Engine`] that holds
//! it ([`engine::Engines::engine_for`]: Berth's own, else Docker's); the
//! host-wide endpoints are in `system.rs`, `metrics.rs` and `inventory.rs`,
//! the image endpoints in `crate::images::http`.

pub mod engine;
pub mod error;
mod exec;
mod inventory;
mod metrics;
mod service;
mod system;

use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Utc};

use crate::auth::Auth;
use crate::containers::Containers;
use crate::images::ImageStore;
use engine::Engines;

/// What every endpoint can reach.
#[derive(Clone)]
pub struct AppState {
    pub auth: Auth,
    pub containers: Containers,
    pub images: ImageStore,
    pub metrics: crate::metrics::Metrics,
    /// The Docker engine on this host, when one answers.
    pub docker: Option<Arc<dyn crate::docker::Engine>>,
    /// Berth's containers and Docker's, as the API drives them.
    pub engines: Engines,
    pub config: Arc<crate::config::Config>,
    pub started_at: DateTime<Utc>,
}

impl AppState {
    /// The state of an agent started now.
    pub fn new(
        auth: Auth,
        containers: Containers,
        images: ImageStore,
        metrics: crate::metrics::Metrics,
        docker: Option<Arc<dyn crate::docker::Engine>>,
        config: Arc<crate::config::Config>,
    ) -> Self {
        let engines = Engines::new(
            containers.clone(),
            metrics.clone(),
            docker.clone(),
            auth.clone(),
        );
        Self {
            auth,
            containers,
            images,
            metrics,
            docker,
            engines,
            config,
            started_at: Utc::now(),
        }
    }
}

/// The whole API, signed requests only.
pub fn router(state: AppState) -> Router {
    let auth = state.auth.clone();
    berth_net::agent_service::router(state).layer(axum::middleware::from_fn_with_state(
        auth,
        crate::auth::require_signature,
    ))
}
