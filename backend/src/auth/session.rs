//! Session tokens: HS256 JWTs (jsonwebtoken) naming a row of `sessions`, so
//! every replica can check them and revoke them at once. The 256-bit secret
//! lives in a 0600 file in the secrets dir, which replicas share.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::secrets::{self, SecretError};
use crate::db::Db;
use crate::error::ApiError;

/// `iss` of session tokens.
pub const SESSION_ISSUER: &str = "berth-server/session";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub iss: String,
    /// The user's id.
    pub sub: String,
    /// The session's id (a row of `sessions`).
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

impl SessionKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        berth_net::jwt::install();
        SessionKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// The shared secret from `<secrets dir>/session-secret` (see
    /// [`crate::auth::secrets`]), made by the first replica.
    pub async fn load(db: &Db, dir: &std::path::Path) -> Result<Self, SecretError> {
        let stored = secrets::load(db, dir, secrets::SESSION_SECRET, || {
            STANDARD.encode(rand::random::<[u8; 32]>())
        })
        .await?;
        let secret = STANDARD
            .decode(stored.trim())
            .ok()
            .filter(|s| s.len() >= 32)
            .ok_or_else(|| SecretError::Io {
                path: dir.join(secrets::SESSION_SECRET.file),
                source: std::io::Error::other("not the base64 of at least 32 bytes"),
            })?;
        Ok(Self::from_secret(&secret))
    }

    pub fn issue(&self, claims: &SessionClaims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// Checks the signature, the algorithm (HS256 only: `none` and every
    /// other algorithm are refused), the issuer and the expiry.
    pub fn verify(&self, token: &str) -> Result<SessionClaims, ApiError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.set_issuer(&[SESSION_ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "the session has expired",
                    ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
                    ErrorKind::InvalidSignature => "the token's signature is invalid",
                    _ => "the token is not a valid session token",
                };
                ApiError::Unauthorized(why.to_string())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn claims(exp_offset: i64) -> SessionClaims {
        let now = chrono::Utc::now().timestamp();
        SessionClaims {
            iss: SESSION_ISSUER.into(),
            sub: "u1".into(),
            sid: "s1".into(),
            iat: now,
            exp: now + exp_offset,
        }
    }

    #[test]
    fn round_trip() {
        let k = SessionKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let t = k.issue(&claims(60)).unwrap();
        assert_eq!(k.verify(&t).unwrap().sid, "s1");
    }

    #[test]
    fn refuses_expired_none_wrong_alg_and_other_keys() {
        let k = SessionKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let expired = k.issue(&claims(-60)).unwrap();
        assert!(
            k.verify(&expired)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );

        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(60)).unwrap());
        let none = format!(
            "{}.{body}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
        );
        assert!(k.verify(&none).is_err());

        // A well-signed HS384 token with the same secret (made by hand: the
        // JWT provider signs HS256 and EdDSA only).
        let hs384 = {
            use hmac::Mac;
            let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS384","typ":"JWT"}"#);
            let mut mac =
                hmac::Hmac::<sha2::Sha384>::new_from_slice(b"0123456789abcdef0123456789abcdef")
                    .unwrap();
            mac.update(format!("{head}.{body}").as_bytes());
            let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            format!("{head}.{body}.{sig}")
        };
        assert!(k.verify(&hs384).is_err());

        let other = SessionKeys::from_secret(b"another secret of thirty-two b!!");
        assert!(k.verify(&other.issue(&claims(60)).unwrap()).is_err());
    }
}
