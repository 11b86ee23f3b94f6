//! Helpers of the host-level endpoints: relay a call to the host's agent
//! (the authorize middleware has found the `{host}` and authorized the
//! caller on it, see `http::authorize`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api::agent_api::AgentRequest;

use crate::agents::HostClient;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::streams::{StreamKey, sse_response};

/// Deadline of calls that change something on a host (creating a container
/// may unpack an image).
pub const MUTATION_DEADLINE: Duration = Duration::from_secs(120);

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

/// Joins (or opens) the shared SSE stream of an agent request.
pub async fn shared_stream(
    state: &AppState,
    p: &Principal,
    c: Arc<HostClient>,
    request: AgentRequest,
    replay: usize,
) -> ApiResult<Response> {
    let events = shared_stream_events(state, p, c, request, replay).await?;
    Ok(sse_response(events))
}

/// Joins (or opens) the shared SSE stream of an agent request, as its event
/// blocks (see [`crate::streams::StreamHub::join`]). Viewers of the same
/// request (path and query) share one upstream.
pub async fn shared_stream_events(
    state: &AppState,
    p: &Principal,
    c: Arc<HostClient>,
    request: AgentRequest,
    replay: usize,
) -> ApiResult<futures::stream::BoxStream<'static, bytes::Bytes>> {
    let key = StreamKey {
        host: c.host_id.clone(),
        path: c.stream_path(&request),
    };
    let deadline = state.config.fanout_deadline();
    let sub = p.username.clone();
    let metrics = state.metrics.clone();
    state
        .streams
        .join(key, replay, metrics, move || async move {
            c.call(&sub, deadline).open_stream(&request).await
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
