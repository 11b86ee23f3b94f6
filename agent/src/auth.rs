//! Request signatures (docs/agent-protocol.md, "Every server → agent
//! request"): each request carries an EdDSA JWT from the server this agent
//! joined. Anything else is 401 problem+json and a `warn!` naming the peer
//! and the reason, never the token.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use berth_api::agent::{AgentRequestClaims, MAX_REQUEST_TOKEN_LIFETIME_SECS, SERVER_ISSUER};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::http::error::problem_response;
use crate::join::JoinState;

/// Seconds of clock skew tolerated on `exp`.
pub const LEEWAY_SECS: u64 = 30;

/// The key and host id requests are checked against.
struct Verifier {
    host_id: String,
    key: DecodingKey,
    validation: Validation,
}

/// The agent's request authenticator; empty until joined and after leave.
#[derive(Clone, Default)]
pub struct Auth {
    inner: Arc<RwLock<Option<Arc<Verifier>>>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("host_id", &self.host_id())
            .finish()
    }
}

impl Auth {
    /// An authenticator for a joined agent.
    pub fn from_join(join: &JoinState) -> Result<Self, jsonwebtoken::errors::Error> {
        let auth = Self::default();
        auth.set(join)?;
        Ok(auth)
    }

    /// Accepts signatures of `join`'s server from now on.
    pub fn set(&self, join: &JoinState) -> Result<(), jsonwebtoken::errors::Error> {
        berth_net::jwt::install();
        let key = DecodingKey::from_ed_pem(join.server_public_key_pem.as_bytes())?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[SERVER_ISSUER]);
        validation.set_audience(&[&join.host_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        let v = Verifier {
            host_id: join.host_id.clone(),
            key,
            validation,
        };
        if let Ok(mut g) = self.inner.write() {
            *g = Some(Arc::new(v));
        }
        Ok(())
    }

    /// Forgets the key: every request is refused from now on.
    pub fn clear(&self) {
        if let Ok(mut g) = self.inner.write() {
            *g = None;
        }
    }

    /// The host id this agent answers for, once joined.
    pub fn host_id(&self) -> Option<String> {
        self.current().map(|v| v.host_id.clone())
    }

    fn current(&self) -> Option<Arc<Verifier>> {
        self.inner.read().ok().and_then(|g| g.clone())
    }

    /// Checks an `Authorization` header value; the error is the reason for
    /// the log and the 401 detail.
    pub fn check(&self, authorization: Option<&str>) -> Result<AgentRequestClaims, String> {
        let v = self
            .current()
            .ok_or("this agent has not joined a server (or has left it)")?;
        let value = authorization.ok_or("no Authorization header")?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or("the Authorization header is not a Bearer token")?
            .trim();
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(format!("token algorithm {:?} is not EdDSA", header.alg));
        }
        let data = jsonwebtoken::decode::<AgentRequestClaims>(token, &v.key, &v.validation)
            .map_err(|e| format!("token rejected: {e}"))?;
        let c = data.claims;
        if c.exp - c.iat > MAX_REQUEST_TOKEN_LIFETIME_SECS {
            return Err(format!(
                "token lifetime {} s exceeds {MAX_REQUEST_TOKEN_LIFETIME_SECS} s",
                c.exp - c.iat
            ));
        }
        Ok(c)
    }
}

/// Middleware: only signed requests pass.
pub async fn require_signature(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match auth.check(value) {
        Ok(claims) => {
            tracing::debug!(sub = %claims.sub, method = %req.method(), path = %req.uri().path(), "request");
            next.run(req).await
        }
        Err(reason) => {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.to_string())
                .unwrap_or_else(|| "unknown".into());
            tracing::warn!(%peer, %reason, path = %req.uri().path(), "refused an unsigned or badly signed request");
            problem_response(axum::http::StatusCode::UNAUTHORIZED, reason)
        }
    }
}
