//! Joining hosts without trust on first use (docs/agent-protocol.md,
//! "Joining"): join tokens carry the server's URL, its certificate's
//! fingerprint and a single-use secret; registration redeems the secret,
//! creates the host and pins the agent's certificate.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_api::agent::{JOIN_TOKEN_PREFIX, JoinTokenPayload, RegisterRequest, RegisterResponse};
use berth_api::hosts::JoinTokenResponse;

use crate::auth::secret_hash;
use crate::db::{self, hosts::HostRecord, join_tokens};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tls;

/// Default lifetime of a join token.
pub const DEFAULT_JOIN_TTL: Duration = Duration::from_secs(3600);
/// Longest lifetime of a join token.
pub const MAX_JOIN_TTL: Duration = Duration::from_secs(berth_api::hosts::MAX_JOIN_TTL_SECS);

/// `berthjoin1.` + base64url(JSON payload).
pub fn encode_token(payload: &JoinTokenPayload) -> String {
    let json = serde_json::to_vec(payload).unwrap_or_default();
    format!("{JOIN_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
}

/// The payload of an encoded token.
pub fn decode_token(token: &str) -> Option<JoinTokenPayload> {
    let b = URL_SAFE_NO_PAD
        .decode(token.trim().strip_prefix(JOIN_TOKEN_PREFIX)?)
        .ok()?;
    serde_json::from_slice(&b).ok()
}

/// Makes a join token for hosts that will carry `groups`.
pub async fn create_token(
    state: &AppState,
    groups: &[String],
    ttl: Duration,
    created_by: &str,
) -> Result<JoinTokenResponse, ApiError> {
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let expires_at = db::now_ms() + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    join_tokens::create(
        &state.db,
        &secret_hash(&secret),
        groups,
        created_by,
        expires_at,
    )
    .await?;
    let token = encode_token(&JoinTokenPayload {
        url: state.config.public_url(),
        fingerprint: state.fingerprint().to_string(),
        secret,
    });
    Ok(JoinTokenResponse {
        command: format!("berth-agent join {token}"),
        install_command: crate::packages::script::install_command(
            &state.config.public_url(),
            &state.server_cert,
            &token,
        ),
        token,
        expires_at: db::time(expires_at),
    })
}

/// Checks a group name: 1–64 of `[a-zA-Z0-9_.-]`.
pub fn validate_group(g: &str) -> Result<(), ApiError> {
    if berth_api::hosts::is_valid_group(g) {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(format!(
            "invalid group {g:?}: use 1 to 64 letters, digits, '_', '.' or '-'"
        )))
    }
}

/// Redeems a join secret: creates the host and pins its certificate.
pub async fn register(
    state: &AppState,
    req: RegisterRequest,
) -> Result<RegisterResponse, ApiError> {
    if req.secret.trim().is_empty() {
        return Err(ApiError::Unauthorized("the join secret is missing".into()));
    }
    let name = req.name.trim();
    let max = berth_api::hosts::MAX_HOST_NAME_LEN;
    if name.is_empty() || name.chars().count() > max {
        return Err(ApiError::Unprocessable(format!(
            "name must have 1 to {max} characters"
        )));
    }
    let url = reqwest::Url::parse(&req.address).map_err(|e| {
        ApiError::Unprocessable(format!("address {:?} is not a URL: {e}", req.address))
    })?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(ApiError::Unprocessable(format!(
            "address {:?} must be an https:// URL with a host",
            req.address
        )));
    }
    let der = tls::first_cert_der(&req.certificate_pem).ok_or_else(|| {
        ApiError::Unprocessable("certificate_pem holds no PEM certificate".into())
    })?;
    let host = HostRecord {
        id: join_tokens::new_host_id(),
        name: name.to_string(),
        address: req.address.trim_end_matches('/').to_string(),
        groups: Vec::new(),
        labels: Default::default(),
        facts: req.facts,
        runtimes: req.runtimes,
        agent_version: req.agent_version,
        cert_pem: req.certificate_pem,
        cert_sha256: tls::fingerprint(&der),
        created_at: 0,
        last_seen: None,
    };
    let host = join_tokens::redeem(&state.db, &secret_hash(req.secret.trim()), host)
        .await?
        .map_err(|r| ApiError::Unauthorized(r.detail().to_string()))?;
    tracing::info!(host = %host.id, name = %host.name, address = %host.address, "host joined");
    state.kick_health_check();
    Ok(RegisterResponse {
        host_id: host.id,
        server_public_key_pem: state.agents.public_key_pem().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let p = JoinTokenPayload {
            url: "https://127.0.0.1:8080".into(),
            fingerprint: "ab".repeat(32),
            secret: "s3cret".into(),
        };
        let t = encode_token(&p);
        assert!(t.starts_with("berthjoin1."));
        assert_eq!(decode_token(&t), Some(p));
        assert_eq!(decode_token("berthjoin1.!!"), None);
    }
}
