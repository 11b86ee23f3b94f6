//! Everything about talking to agents: the request-signing key, the pinned
//! per-host clients, joining, health checks, the local agent, and whether
//! an agent is older than this server.

pub mod api;
pub mod client;
pub mod health;
pub mod join;
pub mod keys;
pub mod local;
pub mod version;

pub use api::{AgentCall, ImportUpload};
pub use client::{Agents, HostClient};
