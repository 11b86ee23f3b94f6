//! Berth's wire types: the JSON the dashboard, the server and the agent
//! exchange (docs/api.md is the contract these types implement).
//!
//! Only types live here, never logic that depends on a side of the wire
//! (docs/architecture.md, rule 5). The crate compiles to wasm for the dashboard;
//! the `openapi` feature adds the utoipa schema derives the server needs.

pub mod agent;
pub mod agent_api;
pub mod auth;
pub mod containers;
pub mod error;
pub mod hosts;
pub mod image_ref;
pub mod images;
pub mod inventory;
pub mod limits;
pub mod metrics;
pub mod nav;
#[cfg(test)]
mod pattern_tests;
pub mod rbac;
#[cfg(feature = "openapi")]
pub mod schema;

pub use error::Problem;

use serde::{Deserialize, Serialize};

/// Version of the Berth wire protocol and binaries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// A failure of one host during a fan-out: the rest of the answer stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostError {
    /// The host's id.
    pub host: String,
    /// The HTTP status that stands for the failure (502 failed, 504 timed out).
    pub status: u16,
    pub detail: String,
}

/// Every list answer: `{ items, errors }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct List<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub errors: Vec<HostError>,
}

impl<T> List<T> {
    pub fn new(items: Vec<T>) -> Self {
        Self {
            items,
            errors: Vec::new(),
        }
    }
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}
