//! Joining a server (docs/agent-protocol.md, "Joining"): decode the token,
//! talk to the server over TLS pinned to the token's fingerprint, register,
//! and keep what the server answered in `<data>/join.json` (mode 0600).

use std::path::Path;

use base64::Engine;
use berth_api::agent::{JOIN_TOKEN_PREFIX, JoinTokenPayload, RegisterRequest, RegisterResponse};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::tls::PinnedCert;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid join token: {0}")]
    Token(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    #[error("{0}")]
    Mismatch(String),
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the server refused the join ({status}): {detail}")]
    Refused { status: u16, detail: String },
    #[error("the server's answer is not a registration: {0}")]
    BadAnswer(String),
    #[error("the server's public key is not an Ed25519 PEM key: {0}")]
    BadKey(String),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the agent keeps after joining: `<data>/join.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinState {
    pub host_id: String,
    pub server_url: String,
    pub server_fingerprint: String,
    pub server_public_key_pem: String,
}

impl JoinState {
    /// Reads join.json; `None` when the agent has not joined (or left).
    pub fn load(path: &Path) -> Result<Option<Self>> {
        crate::fsutil::read_json(path).map_err(|source| Error::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        crate::fsutil::write_json(path, self, 0o600).map_err(|source| Error::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Decodes `berthjoin1.<base64url(JSON)>`.
pub fn decode_token(token: &str) -> Result<JoinTokenPayload> {
    let body = token
        .trim()
        .strip_prefix(JOIN_TOKEN_PREFIX)
        .ok_or_else(|| Error::Token(format!("it must start with {JOIN_TOKEN_PREFIX:?}")))?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body.trim_end_matches('='))
        .map_err(|e| Error::Token(format!("not base64url: {e}")))?;
    let p: JoinTokenPayload =
        serde_json::from_slice(&json).map_err(|e| Error::Token(format!("bad payload: {e}")))?;
    if !p.url.starts_with("https://") {
        return Err(Error::Token(format!("server url {:?} is not https", p.url)));
    }
    if p.fingerprint.len() != 64 || !p.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Token("fingerprint is not 64 hex digits".into()));
    }
    if p.secret.is_empty() {
        return Err(Error::Token("empty secret".into()));
    }
    Ok(p)
}

/// Joins the server named by `token`, saves join.json and returns it.
pub async fn join(config: &Config, token: &str) -> Result<JoinState> {
    let payload = decode_token(token)?;
    let paths = config.paths();
    let advertise = config.advertise_url();
    let host_in_url = advertise
        .trim_start_matches("https://")
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
        .unwrap_or_default();
    let identity =
        crate::tls::load_or_create(&paths.tls_dir(), &[host_in_url, config.host_name()])?;

    let pin = PinnedCert::new(&payload.fingerprint);
    berth_net::install_providers();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(pin.client_config()?)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Unreachable {
            url: payload.url.clone(),
            reason: e.to_string(),
        })?;

    let request = RegisterRequest {
        secret: payload.secret.clone(),
        name: config.host_name(),
        address: advertise,
        facts: crate::facts::host_facts(),
        runtimes: crate::runtimes_available(&config.docker_socket).await,
        certificate_pem: identity.cert_pem.clone(),
        agent_version: berth_api::VERSION.to_string(),
    };
    let url = format!(
        "{}/api/v1/hosts/register",
        payload.url.trim_end_matches('/')
    );
    let resp = match client.post(&url).json(&request).send().await {
        Ok(r) => r,
        Err(e) => {
            if let Some(seen) = pin.seen()
                && seen != payload.fingerprint.to_ascii_lowercase()
            {
                return Err(Error::Mismatch(format!(
                    "server certificate fingerprint mismatch: expected {}, got {seen}",
                    payload.fingerprint.to_ascii_lowercase()
                )));
            }
            return Err(Error::Unreachable {
                url,
                reason: error_chain(&e),
            });
        }
    };
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<berth_api::Problem>(&text)
            .map(|p| p.detail)
            .unwrap_or(text);
        return Err(Error::Refused {
            status: status.as_u16(),
            detail,
        });
    }
    let answer: RegisterResponse = resp
        .json()
        .await
        .map_err(|e| Error::BadAnswer(e.to_string()))?;
    jsonwebtoken::DecodingKey::from_ed_pem(answer.server_public_key_pem.as_bytes())
        .map_err(|e| Error::BadKey(e.to_string()))?;
    let state = JoinState {
        host_id: answer.host_id,
        server_url: payload.url,
        server_fingerprint: payload.fingerprint.to_ascii_lowercase(),
        server_public_key_pem: answer.server_public_key_pem,
    };
    state.save(&paths.join_file())?;
    Ok(state)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(p: &serde_json::Value) -> String {
        format!(
            "{JOIN_TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(p.to_string())
        )
    }

    #[test]
    fn decodes_and_rejects_tokens() {
        let fp = "ab".repeat(32);
        let t = encode(
            &serde_json::json!({"url": "https://s:8080", "fingerprint": fp, "secret": "s3"}),
        );
        assert_eq!(decode_token(&t).unwrap().secret, "s3");
        assert!(
            decode_token("nope")
                .unwrap_err()
                .to_string()
                .contains("berthjoin1.")
        );
        let t = encode(&serde_json::json!({"url": "http://s", "fingerprint": fp, "secret": "s"}));
        assert!(
            decode_token(&t)
                .unwrap_err()
                .to_string()
                .contains("not https")
        );
        let t =
            encode(&serde_json::json!({"url": "https://s", "fingerprint": "zz", "secret": "s"}));
        assert!(
            decode_token(&t)
                .unwrap_err()
                .to_string()
                .contains("fingerprint")
        );
        assert!(decode_token("berthjoin1.!!!").is_err());
    }
}
