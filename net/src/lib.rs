//! Native code the Berth server and agent share (never compiled to wasm).
//!
//! - [`jwt`]: the process-wide crypto provider of `jsonwebtoken`, with only
//!   the two algorithms Berth signs with (HS256 sessions, EdDSA agent
//!   requests), so no RSA or aws-lc code is linked;
//! - [`install_providers`]: that provider and ring for rustls;
//! - [`tls`]: certificate identities, private files, and the verifier that
//!   pins one certificate by fingerprint;
//! - [`serve`]: the HTTP(S) listener with a connection limit and a drain;
//! - [`fs`]: atomic file writes;
//! - [`problem`]: the problem+json error answer;
//! - [`agent_service`]: the agent's API as a trait ([`agent_service::AgentService`],
//!   implemented by the agent and by the server tests' fake agent) and the
//!   one router that serves it;
//! - [`daemon`]: what both daemons share: the config file, logging with a
//!   filter SIGHUP reloads, systemd readiness.

pub mod agent_service;
pub mod daemon;
pub mod fs;
pub mod jwt;
pub mod problem;
pub mod serve;
pub mod tls;

/// Installs the process-wide crypto providers Berth uses: ring for rustls
/// (every HTTPS client and server; reqwest is built without a provider of
/// its own) and [`jwt::PROVIDER`]. Idempotent; call it first thing in a
/// `main` or a test that builds an HTTP client.
pub fn install_providers() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    jwt::install();
}
