//! Authentication: who is calling. A request carries a session JWT or an API
//! token as `Authorization: Bearer`, or the `berth_session` cookie set by
//! login; cookie-authenticated mutations must also send `X-Berth-CSRF: 1`.
//! The [`Principal`] extractor resolves the caller and its grants (once per
//! request: the authorize middleware resolves it first on every route that
//! needs a login, and handlers find it in the request's extensions).

pub mod client;
pub mod password;
pub mod rate_limit;
pub mod secrets;
pub mod session;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use berth_api::auth::{CSRF_HEADER, RoleGrant, SESSION_COOKIE};
use sha2::{Digest, Sha256};

use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// Prefix of API tokens (session tokens are JWTs: three dot-separated parts).
pub const API_TOKEN_PREFIX: &str = "berth_";

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Session { id: String, via_cookie: bool },
    ApiToken { id: String },
}

/// The authenticated caller and every grant it holds.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub grants: Vec<RoleGrant>,
    pub credential: Credential,
}

impl crate::rbac::Subject for Principal {
    fn grants(&self) -> &[RoleGrant] {
        &self.grants
    }
}

impl Principal {
    pub fn is_owner(&self) -> bool {
        crate::rbac::Subject::is_owner(self)
    }

    /// The session id, when the caller used a session.
    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session { id, .. } => Some(id),
            Credential::ApiToken { .. } => None,
        }
    }
}

/// SHA-256 hex of an API token or join secret, as stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The value of one cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// Where the credential is: the bearer token, else the cookie.
fn presented(parts: &Parts) -> Result<Option<(String, bool)>, ApiError> {
    if let Some(h) = parts.headers.get(header::AUTHORIZATION) {
        let v = h
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
        let (scheme, token) = v.split_once(' ').ok_or_else(|| {
            ApiError::Unauthorized("expected Authorization: Bearer <token>".into())
        })?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::Unauthorized(
                "expected Authorization: Bearer <token>".into(),
            ));
        }
        return Ok(Some((token.trim().to_string(), false)));
    }
    Ok(cookie(&parts.headers, SESSION_COOKIE)
        .filter(|v| !v.is_empty())
        .map(|v| (v, true)))
}

fn is_mutating(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Resolves a token (session JWT or API token) to its user, without grants.
pub async fn resolve(
    state: &AppState,
    token: &str,
    via_cookie: bool,
) -> Result<(db::users::UserRecord, Credential), ApiError> {
    if token.starts_with(API_TOKEN_PREFIX) {
        let (t, user) = db::tokens::authenticate(&state.db, &secret_hash(token))
            .await?
            .ok_or_else(|| {
                ApiError::Unauthorized("unknown, expired or revoked API token".into())
            })?;
        return Ok((user, Credential::ApiToken { id: t.id }));
    }
    let claims = state.sessions.verify(token)?;
    let user = db::sessions::active_user(&state.db, &claims.sid)
        .await?
        .filter(|u| u.id == claims.sub)
        .ok_or_else(|| ApiError::Unauthorized("the session has ended; log in again".into()))?;
    Ok((
        user,
        Credential::Session {
            id: claims.sid,
            via_cookie,
        },
    ))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let (token, via_cookie) =
            presented(parts)?.ok_or_else(|| ApiError::Unauthorized("not logged in".into()))?;
        if via_cookie
            && is_mutating(&parts.method)
            && parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1")
        {
            return Err(ApiError::Forbidden(format!(
                "a request authenticated by cookie must send the {CSRF_HEADER}: 1 header"
            )));
        }
        let (user, credential) = resolve(state, &token, via_cookie).await?;
        let grants = db::bindings::grants_for_user(&state.db, &user.id).await?;
        let p = Principal {
            user_id: user.id,
            username: user.username,
            grants,
            credential,
        };
        parts.extensions.insert(p.clone());
        Ok(p)
    }
}

/// The `Set-Cookie` value of a session (Secure when the request came over TLS).
pub fn session_cookie(token: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that clears the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_parse() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; berth_session=abc.def.ghi; b=2"),
        );
        assert_eq!(cookie(&h, "berth_session").as_deref(), Some("abc.def.ghi"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = session_cookie("t", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("; Secure"));
        assert!(!session_cookie("t", 60, false).contains("Secure"));
    }
}
