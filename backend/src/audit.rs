//! The audit trail: a route layer that appends one row per mutating call
//! (and per exec session): who, what, which host and object, when, the
//! outcome and status, and the client's address.
//!
//! The action name comes from the endpoint table (`http::ENDPOINTS`); the
//! actor is filled in by the [`crate::auth::Principal`] extractor (or by the
//! login handler for failed logins); handlers may add the object and a detail
//! through [`AuditCtx`].

use std::sync::{Arc, Mutex};

use axum::RequestExt;
use axum::body::Body;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

use crate::db::{self, audit::NewEvent};
use crate::server::ConnInfo;
use crate::state::AppState;

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

/// The id of the host a path names, resolved as the host routes resolve it
/// (`crate::http::proxy::find_host`: by id, or by its name when exactly one
/// host has it).
async fn resolve_host(state: &AppState, host: &str) -> Option<String> {
    crate::http::proxy::find_host(state, host)
        .await
        .ok()
        .flatten()
        .map(|h| h.id)
}

/// The route layer.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
    else {
        return next.run(req).await;
    };
    let Some(row) = crate::http::endpoint(req.method().as_str(), &path) else {
        return next.run(req).await;
    };
    if row.audit.is_empty() {
        return next.run(req).await;
    }
    let params: Vec<(String, String)> = req
        .extract_parts::<RawPathParams>()
        .await
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    // Host routes take a name when exactly one host has it: record the
    // host's id, so that naming a host cannot dodge a filter by host id.
    let mut params = params;
    for (k, v) in params.iter_mut() {
        if k == "host"
            && let Some(id) = resolve_host(&state, v).await
        {
            *v = id;
        }
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut action = row.audit.to_string();
    for (k, v) in &params {
        action = action.replace(&format!("{{{k}}}"), v);
    }
    let source = req
        .extensions()
        .get::<ConnInfo>()
        .map(|c| c.remote.ip().to_string())
        .unwrap_or_else(|| "-".to_string());
    let ctx = AuditCtx::default();
    if let Some(h) = param("host") {
        ctx.set_host(&h);
    }
    for name in ["c", "image", "user_id", "id"] {
        if let Some(v) = param(name) {
            ctx.set_target(&v);
            break;
        }
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
