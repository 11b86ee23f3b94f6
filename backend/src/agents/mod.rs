//! Everything about talking to agents: the request-signing key, the pinned
//! per-host clients, joining, health checks and the local agent.

pub mod api;
pub mod client;
pub mod health;
pub mod join;
pub mod keys;
pub mod local;

pub use api::{AgentCall, ImportUpload};
pub use client::{Agents, HostClient};
