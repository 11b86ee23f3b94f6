//! Helpers of the host-level endpoints: find the `{host}` of a path and
//! authorize the caller on it, then relay the call to the host's agent.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reqwest::Method;

use crate::agents::HostClient;
use crate::auth::Principal;
use crate::db::{self, hosts::HostRecord};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{self, Action};
use crate::state::AppState;
use crate::streams::{StreamKey, sse_response};

/// Deadline of calls that change something on a host (creating a container
/// may unpack an image).
pub const MUTATION_DEADLINE: Duration = Duration::from_secs(120);

/// The host a path names, by id (or by name when exactly one host has it),
/// if the caller may do `action` on it. Out of scope is 404, like unknown.
pub async fn host_for(
    state: &AppState,
    p: &Principal,
    host: &str,
    action: Action,
) -> ApiResult<HostRecord> {
    let h = find_host(state, host)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no host {host}")))?;
    rbac::authorize(p, action, rbac::host_target(&h))?;
    Ok(h)
}

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

/// The host and its client, authorized.
pub async fn client_for(
    state: &AppState,
    p: &Principal,
    host: &str,
    action: Action,
) -> ApiResult<(HostRecord, Arc<HostClient>)> {
    let h = host_for(state, p, host, action).await?;
    let c = state.agents.client(&h)?;
    Ok((h, c))
}

/// The error of an agent answer that is not the JSON the contract says.
pub fn not_json(c: &HostClient, why: impl std::fmt::Display) -> ApiError {
    ApiError::Host {
        status: 502,
        host: c.host_id.clone(),
        detail: format!(
            "host {} sent an answer that is not the expected JSON: {why}",
            c.name
        ),
    }
}

/// Relays a JSON call: the agent's status and JSON body go back. The body
/// must be JSON (else a 502 problem naming the host) and is always sent as
/// `application/json`: an agent's own content type is never relayed, so a
/// hostile agent cannot serve HTML or script on the dashboard's origin.
pub async fn relay(
    c: &HostClient,
    rb: reqwest::RequestBuilder,
    deadline: Duration,
) -> ApiResult<Response> {
    let (status, _agent_ct, body) = c.fetch(rb, deadline).await?;
    let status = match StatusCode::from_u16(status) {
        Ok(s) if s.is_success() => s,
        _ => StatusCode::OK,
    };
    if status == StatusCode::NO_CONTENT || body.is_empty() {
        return Ok(status.into_response());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&body).map_err(|e| not_json(c, e))?;
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `GET` an agent path and relay the answer.
pub async fn relay_get(
    state: &AppState,
    p: &Principal,
    host: &str,
    action: Action,
    segments: &[&str],
    query: &[(&str, String)],
) -> ApiResult<Response> {
    let (_, c) = client_for(state, p, host, action).await?;
    let rb = c.request(Method::GET, c.url(segments, query), &p.username)?;
    relay(&c, rb, state.config.fanout_deadline()).await
}

/// Joins (or opens) the shared SSE stream of an agent path.
pub async fn shared_stream(
    state: &AppState,
    p: &Principal,
    c: Arc<HostClient>,
    segments: &[&str],
    query: &[(&str, String)],
    replay: usize,
) -> ApiResult<Response> {
    let events = shared_stream_events(state, p, c, segments, query, replay).await?;
    Ok(sse_response(events))
}

/// Joins (or opens) the shared SSE stream of an agent path, as its event
/// blocks (see [`crate::streams::StreamHub::join`]).
pub async fn shared_stream_events(
    state: &AppState,
    p: &Principal,
    c: Arc<HostClient>,
    segments: &[&str],
    query: &[(&str, String)],
    replay: usize,
) -> ApiResult<futures::stream::BoxStream<'static, bytes::Bytes>> {
    let url = c.url(segments, query);
    let key = StreamKey {
        host: c.host_id.clone(),
        path: format!("{}?{}", url.path(), url.query().unwrap_or("")),
    };
    let deadline = state.config.fanout_deadline();
    let sub = p.username.clone();
    let metrics = state.metrics.clone();
    state
        .streams
        .join(key, replay, metrics, move || async move {
            let rb = c
                .request(Method::GET, url, &sub)?
                .header(reqwest::header::ACCEPT, "text/event-stream");
            c.send(rb, Some(deadline)).await
        })
        .await
}

/// Largest non-SSE answer [`relay_stream`] reads to check it is JSON.
const MAX_STREAM_JSON: usize = 4 << 20;

/// Relays an agent's streamed answer (a pull's progress) to one client: an
/// SSE stream goes out as `text/event-stream` (through the SSE framing);
/// anything else must be JSON and goes out as `application/json`. The
/// agent's content type is never relayed.
pub async fn relay_stream(c: &HostClient, resp: reqwest::Response) -> ApiResult<Response> {
    use futures::StreamExt;
    let status = match StatusCode::from_u16(resp.status().as_u16()) {
        Ok(s) if s.is_success() => s,
        _ => StatusCode::OK,
    };
    let is_sse = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if is_sse {
        let body = resp.bytes_stream().filter_map(|c| async move { c.ok() });
        let mut r = sse_response(body);
        *r.status_mut() = status;
        return Ok(r);
    }
    let mut body = Vec::new();
    let mut chunks = resp.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| c.transport_error(&e))?;
        if body.len() + chunk.len() > MAX_STREAM_JSON {
            return Err(not_json(c, "it is larger than 4 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Ok(status.into_response());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&body).map_err(|e| not_json(c, e))?;
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// Query pairs of the values that are set.
pub fn pairs<'a>(items: &[(&'a str, Option<String>)]) -> Vec<(&'a str, String)> {
    items
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (*k, v)))
        .collect()
}
