//! The authorize middleware: enforces the [`Access`] a route declares (an
//! extension on the route, see `http::api_routes`) before its handler runs,
//! and hands host routes their authorized host through [`OnHost`].
//!
//! - `Public`, `JoinSecret`: nothing (the register handler checks the
//!   secret, as it consumes the join token);
//! - `MetricsToken`: 404 when no token is configured, 401 without it;
//! - everything else needs a logged-in caller (401), then the role the row
//!   names: on the `{host}` of the path (by id, or by name when exactly one
//!   host has it; unknown or out of scope is 404), in some scope, or
//!   globally (403). `QueryHosts` routes check each host of their query
//!   through [`HostsInQuery`], with the row's action.
//!
//! Checks that depend on the body (bind mounts, the host's network, what a
//! user may change of itself) stay in the handlers, through [`crate::rbac`].

use std::sync::Arc;

use crate::extract::PathParams;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::agents::HostClient;
use crate::audit::AuditCtx;
use crate::auth::Principal;
use crate::db::{self, hosts::HostRecord};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{self, Access, Action, Target};
use crate::state::AppState;

/// The host a path names: by id, else by name when exactly one host has it.
pub async fn find_host(state: &AppState, host: &str) -> ApiResult<Option<HostRecord>> {
    if let Some(h) = db::hosts::get(&state.db, host).await? {
        return Ok(Some(h));
    }
    let mut named: Vec<_> = db::hosts::list(&state.db)
        .await?
        .into_iter()
        .filter(|h| h.name == host)
        .collect();
    Ok(if named.len() == 1 { named.pop() } else { None })
}

/// The host `host` names, if `p` may do `action` on it. Out of scope is
/// 404, like unknown. The audited host becomes its id.
async fn authorized_host(
    state: &AppState,
    p: &Principal,
    host: &str,
    action: Action,
    audit: Option<&AuditCtx>,
) -> ApiResult<HostRecord> {
    let h = find_host(state, host)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no host {host}")))?;
    if let Some(ctx) = audit {
        ctx.set_host(&h.id);
    }
    rbac::authorize(p, action, rbac::host_target(&h))?;
    Ok(h)
}

/// The middleware (see the module docs). A route without an [`Access`]
/// extension (the method router's 405 answer) passes through.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(access) = req.extensions().get::<Access>().copied() else {
        return next.run(req).await;
    };
    match check(&state, access, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn check(state: &AppState, access: Access, mut req: Request) -> ApiResult<Request> {
    if access == Access::MetricsToken {
        metrics_token(state, req.headers())?;
    }
    if !access.needs_login() {
        return Ok(req);
    }
    let params = PathParams::of(&mut req).await;
    let param = |name: &str| params.get(name);
    let (mut parts, body) = req.into_parts();
    let p = Principal::from_request_parts(&mut parts, state).await?;
    let audit = parts.extensions.get::<AuditCtx>().cloned();
    if let Some(ctx) = &audit {
        ctx.set_actor(&p.username);
    }
    let own = |p: &Principal| param("id") == Some(p.user_id.as_str());
    match access {
        Access::Public | Access::JoinSecret | Access::MetricsToken => {}
        Access::User | Access::QueryHosts(_) => {}
        Access::Host(action) => {
            let host = param("host").ok_or_else(|| {
                ApiError::Internal("a host route without a {host} in its path".into())
            })?;
            let h = authorized_host(state, &p, host, action, audit.as_ref()).await?;
            parts.extensions.insert(AuthorizedHost(h));
        }
        Access::Anywhere(action) => rbac::authorize(&p, action, Target::Anywhere)?,
        Access::Global(action) => rbac::authorize(&p, action, Target::Global)?,
        Access::SelfOrAnywhere(action) if !own(&p) => {
            rbac::authorize(&p, action, Target::Anywhere)?;
        }
        Access::SelfOrGlobal(action) if !own(&p) => {
            rbac::authorize(&p, action, Target::Global)?;
        }
        Access::SelfOrAnywhere(_) | Access::SelfOrGlobal(_) => {}
    }
    Ok(Request::from_parts(parts, body))
}

/// `GET /metrics` on the main port needs `Authorization: Bearer
/// <BERTH_METRICS_TOKEN>`; without a configured token it is not served.
fn metrics_token(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let Some(want) = state
        .config
        .metrics_token
        .as_deref()
        .filter(|t| !t.is_empty())
    else {
        return Err(ApiError::NotFound(
            "metrics are not served on this port: set BERTH_METRICS_TOKEN (then send it as a bearer token) or --metrics-listen"
                .into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .unwrap_or("");
    if given.is_empty() || !constant_time_eq(given, want) {
        return Err(ApiError::Unauthorized(
            "GET /metrics needs Authorization: Bearer <the BERTH_METRICS_TOKEN>".into(),
        ));
    }
    Ok(())
}

/// Equal strings, in time that does not depend on where they differ (both
/// are hashed first, so on their lengths neither).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// The host the middleware authorized (request extension).
#[derive(Debug, Clone)]
struct AuthorizedHost(HostRecord);

/// The caller of a route that needs a login (request extension set by the
/// middleware; a handler outside such a route gets a 500, never a panic).
fn principal_of(parts: &Parts) -> ApiResult<Principal> {
    parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("no authenticated caller on this route".into()))
}

/// The `{host}` of a `Host` route, authorized for the row's action, and
/// the caller. The handler never names the action.
#[derive(Debug, Clone)]
pub struct OnHost {
    pub host: HostRecord,
    pub principal: Principal,
}

impl OnHost {
    /// The client of the host's agent.
    pub fn client(&self, state: &AppState) -> ApiResult<Arc<HostClient>> {
        state.agents.client(&self.host)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OnHost {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .extensions
            .get::<AuthorizedHost>()
            .map(|h| h.0.clone())
            .ok_or_else(|| ApiError::Internal("not a host route".into()))?;
        Ok(OnHost {
            host,
            principal: principal_of(parts)?,
        })
    }
}

/// The caller of a `QueryHosts` route, which checks each host its query
/// names with [`HostsInQuery::host`].
#[derive(Debug, Clone)]
pub struct HostsInQuery {
    pub principal: Principal,
    action: Action,
}

impl HostsInQuery {
    /// The host `host` names, if the caller may do the row's action on it
    /// (404 when unknown or out of scope).
    pub async fn host(&self, state: &AppState, host: &str) -> ApiResult<HostRecord> {
        authorized_host(state, &self.principal, host, self.action, None).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for HostsInQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(Access::QueryHosts(action)) = parts.extensions.get::<Access>().copied() else {
            return Err(ApiError::Internal("not a QueryHosts route".into()));
        };
        Ok(HostsInQuery {
            principal: principal_of(parts)?,
            action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
