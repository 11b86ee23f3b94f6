//! The server ↔ agent protocol: join tokens, registration, and the claims of
//! the signed requests the server sends to agents (docs/agent-protocol.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::hosts::HostFacts;

/// Prefix of an encoded join token.
pub const JOIN_TOKEN_PREFIX: &str = "berthjoin1.";
/// Issuer of every request signature the server makes.
pub const SERVER_ISSUER: &str = "berth-server";
/// Longest lifetime an agent accepts for a request signature, in seconds.
pub const MAX_REQUEST_TOKEN_LIFETIME_SECS: i64 = 300;

/// What a join token carries. Encoded as `berthjoin1.` + base64url(JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenPayload {
    /// The server's HTTPS base URL, e.g. `https://10.0.0.1:8080`.
    pub url: String,
    /// Lowercase hex SHA-256 of the server certificate's DER.
    pub fingerprint: String,
    /// The single-use secret; the server keeps only its hash.
    pub secret: String,
}

/// `POST /api/v1/hosts/register`, sent by `berth-agent join` over a TLS
/// connection whose server certificate matched the token's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// The join token's secret.
    pub secret: String,
    /// The host's name (its hostname unless told otherwise).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::host_name))]
    pub name: String,
    /// The agent's HTTPS base URL, as the server should reach it.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::https_url))]
    pub address: String,
    pub facts: HostFacts,
    #[serde(default)]
    pub runtimes: Vec<String>,
    /// The agent's self-signed TLS certificate (PEM); the server pins it.
    pub certificate_pem: String,
    #[serde(default)]
    pub agent_version: String,
}

/// Answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterResponse {
    pub host_id: String,
    /// The Ed25519 public key (SPKI PEM) whose signatures the agent accepts.
    pub server_public_key_pem: String,
}

/// Claims of the EdDSA JWT on every server → agent request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRequestClaims {
    /// Always [`SERVER_ISSUER`].
    pub iss: String,
    /// The host id this request is for; an agent refuses any other.
    pub aud: String,
    /// The user on whose behalf the server calls (for the agent's log).
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
}

/// `GET /v1/info` on an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub host_id: String,
    pub version: String,
    pub facts: HostFacts,
    pub runtimes: Vec<String>,
    pub started_at: DateTime<Utc>,
}
