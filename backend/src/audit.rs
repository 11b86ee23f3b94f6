//! The audit trail: a route layer that appends one row per mutating call
//! (and per exec session): who, what, which host and object, when, the
//! outcome and status, and the client's address.
//!
//! The action name comes from the [`Audit`] value each route declares (an
//! extension on the route, see `http::api_routes`); the actor and the
//! host's id are filled in by the authorize middleware once it has resolved
//! the caller and the `{host}` (or by the login handler for failed logins);
//! handlers may add the object and a detail through [`AuditCtx`].

use std::sync::{Arc, Mutex};

use crate::extract::PathParams;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use berth_api::containers::ContainerAction;
use http_body_util::BodyExt;

use crate::db::{self, audit::NewEvent};
use crate::server::ConnInfo;
use crate::state::AppState;

/// What a route records in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    /// Not audited (reads).
    Not,
    /// Recorded under this action name.
    Named(&'static str),
    /// `container.<action>` for the `{action}` of the path when it is a
    /// [`ContainerAction`]; any other `{action}` is not recorded.
    ContainerAction,
}

impl Audit {
    /// Reads: not audited.
    pub const NONE: Audit = Audit::Not;

    /// Recorded as `action`.
    pub const fn new(action: &'static str) -> Self {
        Audit::Named(action)
    }

    /// The action recorded for a call whose path parameters are `param`,
    /// or `None` when the call is not recorded.
    pub fn action<'a>(&self, param: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
        match self {
            Audit::Not => None,
            Audit::Named(name) => Some((*name).to_string()),
            Audit::ContainerAction => {
                let a: ContainerAction = param("action")?.parse().ok()?;
                Some(format!("container.{}", a.as_str()))
            }
        }
    }

    /// What every action this route records starts with (`None`: not
    /// audited).
    pub fn prefix(&self) -> Option<&'static str> {
        match self {
            Audit::Not => None,
            Audit::Named(name) => Some(name),
            Audit::ContainerAction => Some("container."),
        }
    }
}

#[derive(Debug, Default)]
struct Info {
    actor: Option<String>,
    target: Option<String>,
    host: Option<String>,
    detail: Option<String>,
}

/// What a handler knows about the call being audited.
#[derive(Debug, Clone, Default)]
pub struct AuditCtx(Arc<Mutex<Info>>);

impl AuditCtx {
    fn with<R>(&self, f: impl FnOnce(&mut Info) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_actor(&self, actor: &str) {
        self.with(|i| i.actor = Some(actor.to_string()));
    }
    pub fn set_target(&self, target: &str) {
        self.with(|i| i.target = Some(target.to_string()));
    }
    pub fn set_host(&self, host: &str) {
        self.with(|i| i.host = Some(host.to_string()));
    }
    pub fn set_detail(&self, detail: impl Into<String>) {
        self.with(|i| i.detail = Some(detail.into()));
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AuditCtx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        // Outside an audited route the context is a detached one.
        Ok(parts
            .extensions
            .get::<AuditCtx>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Largest problem body read back to keep its detail in the log.
const MAX_DETAIL_BODY: usize = 16 * 1024;

/// The route layer: records the call when the route's [`Audit`] extension
/// says so.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(audit) = req.extensions().get::<Audit>().copied() else {
        return next.run(req).await;
    };
    if audit == Audit::NONE {
        return next.run(req).await;
    }
    let params = PathParams::of(&mut req).await;
    let param = |name: &str| params.get(name);
    let Some(action) = audit.action(param) else {
        return next.run(req).await;
    };
    let source = req
        .extensions()
        .get::<ConnInfo>()
        .map(|c| c.remote.ip().to_string())
        .unwrap_or_else(|| "-".to_string());
    let ctx = AuditCtx::default();
    // The `{host}` as given; the authorize middleware replaces it with the
    // host's id once it has found the host (a host named by its name
    // cannot dodge a filter by host id).
    if let Some(h) = param("host") {
        ctx.set_host(h);
    }
    if let Some(v) = ["c", "image", "user_id", "id"].into_iter().find_map(param) {
        ctx.set_target(v);
    }
    req.extensions_mut().insert(ctx.clone());

    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let resp = if status >= 400 && is_problem {
        let (parts, body) = resp.into_parts();
        match http_body_util::Limited::new(body, MAX_DETAIL_BODY)
            .collect()
            .await
        {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                if let Ok(p) = serde_json::from_slice::<berth_api::Problem>(&bytes)
                    && ctx.with(|i| i.detail.is_none())
                {
                    ctx.set_detail(p.detail);
                }
                Response::from_parts(parts, Body::from(bytes))
            }
            Err(_) => Response::from_parts(parts, Body::empty()),
        }
    } else {
        resp
    };
    let info = ctx.with(std::mem::take);
    let event = NewEvent {
        time: db::now_ms(),
        actor: info.actor.unwrap_or_else(|| "-".to_string()),
        action,
        host: info.host,
        target: info.target,
        status,
        source,
        detail: info.detail,
    };
    if let Err(e) = db::audit::insert(&state.db, &event).await {
        tracing::error!(error = %e, action = %event.action, "could not write the audit log");
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_actions_are_typed() {
        let params = |action: &'static str| move |k: &str| (k == "action").then_some(action);
        assert_eq!(
            Audit::ContainerAction.action(params("stop")).as_deref(),
            Some("container.stop")
        );
        assert_eq!(Audit::ContainerAction.action(params("bogus")), None);
        assert_eq!(Audit::ContainerAction.action(|_| None), None);
        assert_eq!(
            Audit::new("host.update").action(params("x")).as_deref(),
            Some("host.update")
        );
        assert_eq!(Audit::NONE.action(params("stop")), None);
    }
}
