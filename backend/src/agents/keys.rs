//! The Ed25519 key that signs every server → agent request (EdDSA JWTs with
//! [`AgentRequestClaims`]). It lives in a 0600 file in the secrets dir
//! (see [`crate::auth::secrets`]), which every replica shares, so every
//! replica signs with the key the agents pinned at join.

use berth_api::agent::{AgentRequestClaims, SERVER_ISSUER};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::auth::secrets;
use crate::db::Db;

/// Lifetime of a request signature (agents accept at most 300 s).
pub const REQUEST_TOKEN_SECS: i64 = 120;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Secret(#[from] crate::auth::secrets::SecretError),
    #[error("the stored agent signing key is not an Ed25519 PKCS#8 key: {0}")]
    Decode(String),
    #[error("encoding the agent signing key: {0}")]
    Encode(String),
    #[error("signing: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

pub struct AgentSigner {
    encoding: EncodingKey,
    /// SPKI PEM of the public key, sent to agents at registration.
    pub public_key_pem: String,
}

impl std::fmt::Debug for AgentSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSigner").finish_non_exhaustive()
    }
}

impl AgentSigner {
    pub fn from_signing_key(key: &SigningKey) -> Result<Self, KeyError> {
        berth_net::jwt::install();
        let der = key
            .to_pkcs8_der()
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        let public_key_pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        Ok(AgentSigner {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            public_key_pem,
        })
    }

    /// The key in `<secrets dir>/agent-signing-key.pem`, made by the first
    /// replica to start.
    pub async fn load(db: &Db, dir: &std::path::Path) -> Result<Self, KeyError> {
        let fresh = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let pem = fresh
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))?
            .to_string();
        let stored = secrets::load(db, dir, secrets::AGENT_SIGNING_KEY, || pem).await?;
        let key =
            SigningKey::from_pkcs8_pem(&stored).map_err(|e| KeyError::Decode(e.to_string()))?;
        Self::from_signing_key(&key)
    }

    /// A request signature for `host_id`, on behalf of `sub`.
    pub fn sign(&self, host_id: &str, sub: &str) -> Result<(String, i64), KeyError> {
        let iat = chrono::Utc::now().timestamp();
        let claims = AgentRequestClaims {
            iss: SERVER_ISSUER.to_string(),
            aud: host_id.to_string(),
            sub: sub.to_string(),
            iat,
            exp: iat + REQUEST_TOKEN_SECS,
        };
        let t = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.encoding)?;
        Ok((t, iat))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn signatures_verify_with_the_published_key() {
        let k = AgentSigner::from_signing_key(&SigningKey::from_bytes(&[7u8; 32])).unwrap();
        let (t, iat) = k.sign("h1", "alice").unwrap();
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&["h1"]);
        v.set_issuer(&[SERVER_ISSUER]);
        let d = jsonwebtoken::decode::<AgentRequestClaims>(
            &t,
            &DecodingKey::from_ed_pem(k.public_key_pem.as_bytes()).unwrap(),
            &v,
        )
        .unwrap();
        assert_eq!(d.claims.sub, "alice");
        assert_eq!(d.claims.exp - iat, REQUEST_TOKEN_SECS);
        assert!(d.claims.exp - d.claims.iat <= berth_api::agent::MAX_REQUEST_TOKEN_LIFETIME_SECS);
    }
}
